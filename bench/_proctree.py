"""Peak memory and CPU of a whole process tree (a command and every process it starts), from Linux /proc.

The figures an operator sees for "the import": Dagster's multiprocess executor starts a process per
step, and Airbyte's connector is one process, so a per-process peak would flatter the first. A
sampling thread sums the resident memory of the root and all its descendants every few
milliseconds and keeps the highest sum; CPU is the tree's user + system seconds, the exited
children included (they are counted into their parent's ``cutime``/``cstime`` once reaped).
No psutil: /proc is all it needs, and the bench must not add a dependency to the project.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    return text.rsplit(")", 1)[1].split()


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def descendants(root: int) -> list[int]:
    """``root`` and every live process below it."""
    children = _children_map()
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def pss_bytes(pid: int) -> int:
    """Proportional set size: shared pages split between the processes sharing them (a fork's copy-on-write
    pages, shared libraries), so a tree's sum counts each page once."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


def tree_cpu_seconds(root: int) -> float:
    """User + system seconds of ``root``, its live descendants and the children they have reaped."""
    total = 0.0
    for pid in descendants(root):
        fields = _stat_fields(pid)
        if fields is None:
            continue
        # utime stime cutime cstime are fields 14-17 of stat (index 11-14 after the command name).
        total += sum(int(value) for value in fields[11:15]) / _TICK
    return total


@dataclass
class TreeSampler:
    """Sample a process tree's summed RSS in a thread: ``with TreeSampler(pid) as s: ...; s.peak_mib``.

    ``exclude`` names pids (and their subtrees) left out, e.g. a simulator the measured process started.
    """

    root: int
    interval: float = 0.02
    exclude: frozenset[int] = frozenset()
    peak_bytes: int = 0
    peak_pss_bytes: int = 0
    peak_processes: int = 0
    max_processes: int = 0
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def sample(self) -> int:
        children = _children_map()
        total, pss, count, stack = 0, 0, 0, [self.root]
        while stack:
            pid = stack.pop()
            if pid in self.exclude:
                continue
            total += rss_bytes(pid)
            pss += pss_bytes(pid)
            count += 1
            stack.extend(children.get(pid, []))
        self.samples += 1
        self.max_processes = max(self.max_processes, count)
        self.peak_pss_bytes = max(self.peak_pss_bytes, pss)
        if total > self.peak_bytes:
            self.peak_bytes, self.peak_processes = total, count
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeSampler:
        self.sample()
        self._thread = threading.Thread(target=self._run, name="tree-rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def peak_mib(self) -> float:
        return self.peak_bytes / 2**20

    @property
    def peak_pss_mib(self) -> float:
        return self.peak_pss_bytes / 2**20


def wait_with_usage(pid: int) -> tuple[int, float, float]:
    """Reap child ``pid``: (exit status, its tree's user + system CPU seconds, its largest process's peak RSS MiB).

    ``os.wait4`` reports the child's own resources plus those of the descendants it waited for.
    """
    _, status, usage = os.wait4(pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024
