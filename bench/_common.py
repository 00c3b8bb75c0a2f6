"""Shared plumbing for the bench scripts: warehouses that clean up, the served simulator, figures out.

Not a test and not part of the package: timings depend on the machine, so the
scripts print figures and write them as JSON under ``bench/results/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

RESULTS_DIR = Path(__file__).resolve().parent / "results"
POSTGRES_URL = os.environ.get("TIKTOK_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# A fixed simulated "now": every run sees the same world, and the last day of a
# 365-day range is already served in full.
SIM_NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
LAST_FULL_DAY = date(2026, 1, 3)


def days_ending(last: date, days: int) -> tuple[date, date]:
    return last - timedelta(days=days - 1), last


def add_warehouse_argument(parser: argparse.ArgumentParser, default: str = "sqlite") -> None:
    parser.add_argument("--warehouse", choices=["sqlite", "postgres", "both"], default=default,
                        help="where rows are written (both runs the bench once per warehouse)")


def warehouses_of(choice: str) -> list[str]:
    return ["sqlite", "postgres"] if choice == "both" else [choice]


@contextmanager
def temporary_warehouse(kind: str) -> Iterator[str]:
    """A SQLAlchemy URL of an empty warehouse, removed afterwards: a temp SQLite file or a fresh Postgres schema."""
    if kind == "sqlite":
        directory = tempfile.mkdtemp(prefix="tiktok_bench_")
        try:
            yield f"sqlite:///{directory}/warehouse.sqlite"
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    if kind != "postgres":
        raise ValueError(f"warehouse must be sqlite or postgres, got {kind!r}")
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    try:
        with admin.begin() as connection:
            connection.execute(sa.text(f'create schema "{schema}"'))
    except sa.exc.OperationalError as error:
        admin.dispose()
        raise SystemExit(f"PostgreSQL is not reachable at {POSTGRES_URL} ({type(error).__name__}): start it, "
                         "set TIKTOK_BENCH_POSTGRES_URL, or pass --warehouse sqlite") from None
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'drop schema "{schema}" cascade'))
        admin.dispose()


@contextmanager
def temporary_dagster_home() -> Iterator[str]:
    directory = tempfile.mkdtemp(prefix="tiktok_bench_dagster_")
    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = directory
    try:
        yield directory
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def served_simulator(n_ads: int, n_advertisers: int = 2, seed: int = 7, now: datetime = SIM_NOW
                     ) -> Iterator[tuple[str, Any]]:
    """The simulator on a loopback socket with no rate limit: (base URL, simulator)."""
    from tiktok_assets.simulator import SimClock, Simulator, World, serve

    world = World.sized(n_ads=n_ads, n_advertisers=n_advertisers, seed=seed)
    sim = Simulator(world=world, clock=SimClock(fixed=now), qps=None)
    with serve(sim) as base_url:
        yield base_url, sim


@dataclass
class SimulatorProcess:
    base_url: str
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU the simulator process has used so far (Linux /proc)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def simulator_process(n_ads: int, n_advertisers: int = 2, seed: int = 7, now: datetime = SIM_NOW
                      ) -> Iterator[SimulatorProcess]:
    """The simulator served on loopback by a child process (its CPU stays out of ours); stopped afterwards."""
    child = subprocess.Popen(
        [sys.executable, "-m", "bench._sim_server", "--ads", str(n_ads), "--advertisers", str(n_advertisers),
         "--seed", str(seed), "--now", now.isoformat()],
        cwd=Path(__file__).resolve().parent.parent, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        line = child.stdout.readline() if child.stdout else ""
        if not line.startswith("READY "):
            raise SystemExit(f"The simulator process did not start (said {line!r}); run python -m bench._sim_server "
                             "to see why")
        yield SimulatorProcess(line.split()[1], child.pid)
    finally:
        if child.stdin:
            child.stdin.close()
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of process ``pid`` so far (Linux /proc); None when there is no such process here."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PostgresBackendCpu:
    """CPU of the PostgreSQL server processes serving connections named ``application_name``, sampled.

    A background thread lists those backends (pg_stat_activity) every ``interval`` seconds and keeps each
    one's latest CPU figure from /proc, so a backend whose connection closed (a map worker's) still counts,
    up to one interval short. Needs the server on this machine with its /proc readable: ``seconds()`` is
    NaN when backends were listed and none could be read (a server elsewhere, no permission).
    """

    def __init__(self, admin_url: str, application_name: str, interval: float = 0.1) -> None:
        import threading

        # Autocommit: within one transaction pg_stat_activity answers from one snapshot, however often asked.
        self._engine = sa.create_engine(admin_url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
        self._name = application_name
        self._interval = interval
        self._latest: dict[int, float] = {}
        self._listed = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="postgres-backend-cpu", daemon=True)

    def __enter__(self) -> PostgresBackendCpu:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._engine.dispose()

    def _run(self) -> None:
        with self._engine.connect() as connection:
            while True:
                self._sample(connection)
                if self._stop.wait(self._interval):
                    break

    def _sample(self, connection: sa.Connection) -> None:
        pids = connection.execute(sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
                                  {"name": self._name}).scalars().all()
        self._listed = self._listed or bool(pids)
        for pid in pids:
            try:
                seconds = proc_cpu_seconds(pid)
            except PermissionError:
                seconds = None
            if seconds is not None:
                self._latest[pid] = max(seconds, self._latest.get(pid, 0.0))

    def seconds(self) -> float:
        """The total so far, sampled now."""
        with self._engine.connect() as connection:
            self._sample(connection)
        return sum(self._latest.values()) if self._latest or not self._listed else float("nan")


@dataclass
class Stopwatch:
    """Wall and process CPU seconds of a block (CPU time is the steadier figure on a shared machine)."""

    wall: float = 0.0
    cpu: float = 0.0
    _started: tuple[float, float] = field(default=(0.0, 0.0), repr=False)

    def __enter__(self) -> Stopwatch:
        self._started = (time.perf_counter(), time.process_time())
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._started[0]
        self.cpu = time.process_time() - self._started[1]


def peak_rss_mib() -> float:
    """This process's peak resident memory since start, or since the last ``reset_peak_rss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    # ru_maxrss is KiB on Linux and never resets.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def release_memory_and_reset_peak_rss() -> None:
    """Hand freed memory back to the OS, then start a new high-water mark (Linux), so a
    figure measured next is not the bench's own set-up (e.g. a million generated events)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def machine() -> dict[str, Any]:
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    return {
        "cpus": os.cpu_count(),
        "processor": _cpu_model(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "load_average_1_5_15": [round(value, 2) for value in load],
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_results(name: str, figures: dict[str, Any]) -> Path:
    """Write ``figures`` (plus the machine) to bench/results/<name>-<timestamp>.json and <name>-latest.json."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    document = {"bench": name, "at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
                **figures}
    text = json.dumps(document, indent=2, default=str)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    path.write_text(text)
    (RESULTS_DIR / f"{name}-latest.json").write_text(text)
    print(f"figures written to {path.relative_to(RESULTS_DIR.parent.parent)}")
    return path


def rate(count: float, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")
