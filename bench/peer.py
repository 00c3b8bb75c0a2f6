"""The peer: Airbyte's source-tiktok-marketing 4.7 reading our simulator, for side-by-side figures.

Installs ``airbyte-source-tiktok-marketing`` (4.7.x, from PyPI) into its own virtualenv outside the
repository (default ``/work/peer/venv``; ``TIKTOK_PEER_VENV`` or ``--venv`` say otherwise), writes a
copy of the connector's own ``manifest.yaml`` whose ``url_base`` is the simulator's (in a work
directory outside the repository: nothing of Airbyte's is vendored here), and runs the connector's
``read`` with a config and a configured catalog, counting records per stream, records/s, wall and
CPU seconds and the peak resident memory of its whole process tree.

Usage (from the repository root, with the project's virtualenv)::

    python -m bench.peer                                  # its own simulator (1,000 ads), a day, the import's streams
    python -m bench.peer --streams ads ads_reports_daily  # some streams
    python -m bench.peer --base-url http://127.0.0.1:PORT --start 2026-01-03 --end 2026-01-03
    python -m bench.peer --all-streams                    # every stream of the connector, one read each: which fail

The connector's own ``source-tiktok-marketing`` entry point loads ``manifest.yaml`` from its working
directory before its packaged copy, so the patched copy is used by running it from that directory.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from bench._common import LAST_FULL_DAY, simulator_process, write_results
from bench._proctree import TreeSampler, wait_with_usage

PEER_PACKAGE = "airbyte-source-tiktok-marketing"
PEER_VERSION = "4.7.0"
DEFAULT_VENV = Path(os.environ.get("TIKTOK_PEER_VENV", "/work/peer/venv"))
# The streams that cover what our import writes: advertisers, the three entity levels, ad-level daily + hourly.
IMPORT_STREAMS = ("advertisers", "campaigns", "ad_groups", "ads", "ads_reports_daily", "ads_reports_hourly")
# The simulator's fake app (bench/_sim_server.py starts it without app secrets: any id/secret pair is accepted).
SIM_APP_ID = "7000000000000000001"
SIM_APP_SECRET = "bench-peer-app-secret"
_STAT_DAY = re.compile(rb'"stat_time_(?:day|hour)":\s*"(\d{4}-\d{2}-\d{2})')
_URL_BASE_LINE = re.compile(r"^(?P<indent>[ ]+)url_base: .*$", re.MULTILINE)


class PeerUnavailable(RuntimeError):
    """The peer could not be installed or run here (no network, no matching Python...)."""


@dataclass
class Peer:
    venv: Path

    @property
    def executable(self) -> Path:
        return self.venv / "bin" / "source-tiktok-marketing"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def version(self) -> str:
        out = subprocess.run([str(self.python), "-c", "import importlib.metadata as m;"
                              f"print(m.version('{PEER_PACKAGE}'), m.version('airbyte-cdk'))"],
                             capture_output=True, text=True, check=True).stdout.split()
        return f"{PEER_PACKAGE} {out[0]} (airbyte-cdk {out[1]})"

    def packaged_manifest(self) -> Path:
        out = subprocess.run([str(self.python), "-c", "import source_tiktok_marketing as s, os;"
                              "print(os.path.join(os.path.dirname(s.__file__), 'manifest.yaml'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
        return Path(out)


def ensure_peer(venv: Path = DEFAULT_VENV, version: str = PEER_VERSION, quiet: bool = False) -> Peer:
    """The peer installed in ``venv`` (installing it there first if needed); PeerUnavailable if that fails."""
    peer = Peer(venv)
    if peer.executable.exists():
        try:
            installed = peer.version().split()[1]
        except (subprocess.CalledProcessError, IndexError) as error:
            raise PeerUnavailable(f"the peer venv {venv} is broken ({error}); remove it to reinstall") from None
        if installed.split(".")[:2] == version.split(".")[:2]:
            return peer
    if not quiet:
        print(f"installing {PEER_PACKAGE}=={version} into {venv} (own venv, outside the repository)...", flush=True)
    try:
        venv.parent.mkdir(parents=True, exist_ok=True)
        # The base interpreter, not this venv's: the peer must not see the project's packages.
        base_python = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base_python, "-m", "venv", str(venv)], check=True, capture_output=True, text=True)
        subprocess.run([str(peer.python), "-m", "pip", "install", "-q", f"{PEER_PACKAGE}=={version}"],
                       check=True, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        detail = getattr(error, "stderr", "") or str(error)
        raise PeerUnavailable(f"could not install {PEER_PACKAGE}=={version} into {venv}: "
                              f"{detail.strip().splitlines()[-1] if detail.strip() else error}") from None
    if not peer.executable.exists():
        raise PeerUnavailable(f"{PEER_PACKAGE}=={version} installed no source-tiktok-marketing entry point")
    return peer


def patched_manifest_dir(peer: Peer, base_url: str, workdir: Path) -> Path:
    """A directory holding the connector's manifest.yaml with ``url_base`` pointed at the simulator."""
    text = peer.packaged_manifest().read_text()
    matches = _URL_BASE_LINE.findall(text)
    if len(matches) != 1:
        raise PeerUnavailable(f"expected one url_base in the peer's manifest.yaml, found {len(matches)}: "
                              "the connector changed shape; update bench/peer.py")
    url = base_url.rstrip("/") + "/open_api/v1.3/"
    patched = _URL_BASE_LINE.sub(lambda m: f'{m["indent"]}url_base: "{url}"', text)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "manifest.yaml").write_text(patched)
    return workdir


def config_for(start: date, end: date, include_deleted: bool = False) -> dict[str, Any]:
    from tiktok_assets.simulator import DEFAULT_ACCESS_TOKEN

    return {
        "credentials": {"auth_type": "oauth2.0", "app_id": SIM_APP_ID, "secret": SIM_APP_SECRET,
                        "access_token": DEFAULT_ACCESS_TOKEN},
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        # A daily sync of one settled day: no look-back re-read (the connector's default is 3 days).
        "attribution_window": 0,
        "include_deleted": include_deleted,
    }


def catalog_for(streams: list[str], sync_mode: str = "incremental") -> dict[str, Any]:
    return {"streams": [
        {"stream": {"name": name, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]},
         "sync_mode": sync_mode, "destination_sync_mode": "append"}
        for name in streams
    ]}


def all_stream_names(peer: Peer, base_url: str, start: date, end: date, workdir: Path) -> list[str]:
    """Every stream the connector's ``discover`` lists for this config."""
    directory = patched_manifest_dir(peer, base_url, workdir)
    (directory / "config.json").write_text(json.dumps(config_for(start, end)))
    out = subprocess.run([str(peer.executable), "discover", "--config", "config.json"], cwd=directory,
                         capture_output=True, text=True, timeout=300)
    for line in out.stdout.splitlines():
        if line.startswith("{") and '"CATALOG"' in line:
            return sorted(stream["name"] for stream in json.loads(line)["catalog"]["streams"])
    raise PeerUnavailable(f"discover printed no catalog (exit {out.returncode}): {out.stderr[-500:]}")


@dataclass
class PeerRun:
    streams: list[str]
    records: dict[str, int]
    wall_seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    peak_pss_mib: float
    largest_process_peak_rss_mib: float
    exit_code: int
    errors: list[str] = field(default_factory=list)
    failed_streams: list[str] = field(default_factory=list)
    records_by_day: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def total_records(self) -> int:
        return sum(self.records.values())

    @property
    def records_per_second(self) -> float:
        return self.total_records / self.wall_seconds if self.wall_seconds > 0 else float("inf")


def read(peer: Peer, base_url: str, streams: list[str], start: date, end: date,
         workdir: Path | None = None, include_deleted: bool = False) -> PeerRun:
    """One ``read`` of ``streams`` for [start, end]: records per stream, wall, CPU, peak tree RSS, errors."""
    own_dir = workdir is None
    directory = Path(tempfile.mkdtemp(prefix="peer_run_", dir=DEFAULT_VENV.parent if DEFAULT_VENV.parent.exists()
                                      else None)) if own_dir else workdir
    patched_manifest_dir(peer, base_url, directory)
    (directory / "config.json").write_text(json.dumps(config_for(start, end, include_deleted)))
    (directory / "catalog.json").write_text(json.dumps(catalog_for(streams)))
    records: Counter[str] = Counter()
    errors: list[str] = []
    failed: set[str] = set()
    days: dict[str, Counter[str]] = {}
    started = time.perf_counter()
    child = subprocess.Popen([str(peer.executable), "read", "--config", "config.json", "--catalog", "catalog.json"],
                             cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with TreeSampler(child.pid) as sampler:
        assert child.stdout is not None
        for raw in child.stdout:
            # Records are the bulk: count them by their stream name without parsing the whole line.
            if raw.startswith(b'{"type":"RECORD"') or b'"type": "RECORD"' in raw[:40]:
                name = re.search(rb'"stream":\s*"([^"]+)"', raw)
                stream = name.group(1).decode() if name else "?"
                records[stream] += 1
                day = _STAT_DAY.search(raw)
                if day:
                    days.setdefault(stream, Counter())[day.group(1).decode()] += 1
                continue
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            kind = message.get("type")
            if kind == "TRACE":
                trace = message.get("trace", {})
                if trace.get("type") == "ERROR":
                    errors.append(trace.get("error", {}).get("message", "")[:500])
                elif trace.get("type") == "STREAM_STATUS":
                    status = trace.get("stream_status", {})
                    if status.get("status") == "INCOMPLETE":
                        failed.add(status.get("stream_descriptor", {}).get("name", "?"))
            elif kind == "LOG" and message.get("log", {}).get("level") in ("ERROR", "FATAL"):
                errors.append(message["log"].get("message", "")[:500])
        exit_code, cpu, largest = wait_with_usage(child.pid)
        child.returncode = exit_code
    wall = time.perf_counter() - started
    stderr = child.stderr.read().decode(errors="replace") if child.stderr else ""
    if exit_code != 0 and stderr.strip():
        errors.append(stderr.strip()[-500:])
    if own_dir:
        for path in directory.iterdir():
            path.unlink()
        directory.rmdir()
    return PeerRun(streams=list(streams), records=dict(records), wall_seconds=wall, cpu_seconds=cpu,
                   peak_rss_mib=sampler.peak_mib, peak_pss_mib=sampler.peak_pss_mib, largest_process_peak_rss_mib=largest, exit_code=exit_code,
                   errors=errors, failed_streams=sorted(failed),
                   records_by_day={stream: dict(sorted(counts.items())) for stream, counts in days.items()})


def print_run(run: PeerRun, label: str = "peer") -> None:
    print(f"{label}: {run.total_records:,} records in {run.wall_seconds:.2f} s wall ({run.cpu_seconds:.2f} s CPU): "
          f"{run.records_per_second:,.0f} records/s; peak tree RSS {run.peak_rss_mib:.0f} MiB; exit {run.exit_code}")
    for name in run.streams:
        flag = "  FAILED" if name in run.failed_streams else ""
        by_day = run.records_by_day.get(name)
        days = f"  by day: {by_day}" if by_day else ""
        print(f"  {name:45s} {run.records.get(name, 0):>9,}{flag}{days}")
    for error in run.errors[:10]:
        print(f"  error: {error}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="the peer's own virtualenv")
    parser.add_argument("--version", default=PEER_VERSION, help=f"{PEER_PACKAGE} version (default {PEER_VERSION})")
    parser.add_argument("--base-url", help="a running simulator (default: start one in its own process)")
    parser.add_argument("--ads", type=int, default=1000, help="ads in the started simulator's world")
    parser.add_argument("--start", type=date.fromisoformat, default=LAST_FULL_DAY)
    parser.add_argument("--end", type=date.fromisoformat, default=LAST_FULL_DAY)
    parser.add_argument("--streams", nargs="+", default=list(IMPORT_STREAMS))
    parser.add_argument("--all-streams", action="store_true",
                        help="read every stream discover lists, one read per stream, and say which fail")
    parser.add_argument("--include-deleted", action="store_true", help="the connector's include_deleted option")
    options = parser.parse_args()
    try:
        peer = ensure_peer(options.venv, options.version)
    except PeerUnavailable as error:
        print(f"peer unavailable: {error}")
        return 2
    print(peer.version())
    with tempfile.TemporaryDirectory(prefix="peer_", dir=options.venv.parent) as work:
        def go(base_url: str) -> int:
            if not options.all_streams:
                run = read(peer, base_url, options.streams, options.start, options.end, Path(work),
                           options.include_deleted)
                print_run(run)
                write_results("peer", {"base_url": base_url, "start": options.start, "end": options.end,
                                       "peer": peer.version(), **asdict(run),
                                       "records_per_second": run.records_per_second})
                return 0 if run.exit_code == 0 and not run.failed_streams else 1
            names = all_stream_names(peer, base_url, options.start, options.end, Path(work))
            runs = {}
            for name in names:
                run = read(peer, base_url, [name], options.start, options.end, Path(work), options.include_deleted)
                runs[name] = run
                state = "FAILED" if (run.exit_code or run.failed_streams or run.errors) else "ok"
                first = f": {run.errors[0][:160]}" if run.errors else ""
                print(f"{name:45s} {state:6s} {run.total_records:>8,} records {run.wall_seconds:6.2f} s{first}",
                      flush=True)
            write_results("peer-streams", {"base_url": base_url, "peer": peer.version(),
                                           "streams": {name: asdict(run) for name, run in runs.items()}})
            return 0

        if options.base_url:
            return go(options.base_url)
        with simulator_process(options.ads) as simulator:
            return go(simulator.base_url)


if __name__ == "__main__":
    sys.exit(main())
