"""Bench 7, end to end: the whole import of one day for 1,000 ads (advertiser discovery, entities, daily +
hourly stats) as a user's process runs it, against Airbyte's source-tiktok-marketing 4.7 reading the same
frozen simulator for the same day (streams advertisers, campaigns, ad_groups, ads, ads_reports_daily,
ads_reports_hourly), in one run; prints both records/s, the ratio, and the ratio of process-tree peak RSS.

    python -m bench.end_to_end                       # 1,000 ads, 2026-01-03, SQLite; installs the peer if it can
    python -m bench.end_to_end --no-peer             # our figure alone
    python -m bench.end_to_end --repeat 3            # alternate ours / the peer's three times, report medians

Targets (issue 18): >= 10x the peer's records/s end to end, peak tree RSS <= 2x the peer's. Our side is a
fresh process (``bench/_e2e_import.py``) timed from spawn to exit, so Python and Dagster start-up count; the
simulator runs in a process of its own (bench/_sim_server.py) and is measured by neither side. Records are
what each side delivers: our rows written (stats, entity versions, advertisers), the peer's RECORD messages.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from bench._common import LAST_FULL_DAY, simulator_process, temporary_warehouse, write_results
from bench._proctree import TreeSampler, wait_with_usage

TARGET_RATIO = 10.0
TARGET_RSS_RATIO = 2.0
REPO = Path(__file__).resolve().parent.parent
TABLES = ("ad_stats_daily", "ad_stats_hourly", "ad_history", "adgroup_history", "campaign_history", "advertisers")


def run_ours(base_url: str, warehouse: str, day: date) -> dict[str, Any]:
    """Our whole import of ``day`` in a fresh process with a fresh Dagster home; wall, CPU, tree RSS, rows."""
    import sqlalchemy as sa

    with temporary_warehouse(warehouse) as url, tempfile.TemporaryDirectory(prefix="e2e_dagster_home_") as home:
        # The project's dagster.yaml, as a user's $DAGSTER_HOME has it (telemetry off, pools).
        shutil.copy(REPO / "dagster.yaml", Path(home) / "dagster.yaml")
        env = {**os.environ, "DAGSTER_HOME": home, "PYTHONPATH": str(REPO)}
        for name in ("TIKTOK_ACCESS_TOKEN", "TIKTOK_ADVERTISER_IDS", "TIKTOK_API_BASE_URL", "TIKTOK_WAREHOUSE_URL"):
            env.pop(name, None)
        started = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "bench._e2e_import", "--base-url", base_url,
                                  "--warehouse-url", url, "--day", day.isoformat()],
                                 cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        with TreeSampler(child.pid) as sampler:
            exit_code, cpu, largest = wait_with_usage(child.pid)
            child.returncode = exit_code
        wall = time.perf_counter() - started
        stdout = child.stdout.read().decode() if child.stdout else ""
        stderr = child.stderr.read().decode(errors="replace") if child.stderr else ""
        if exit_code != 0:
            raise SystemExit(f"our import failed (exit {exit_code}):\n{stderr[-3000:]}")
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            present = set(sa.inspect(connection).get_table_names())
            rows = {table: int(connection.execute(sa.text(f"select count(*) from {table}")).scalar_one())
                    for table in TABLES if table in present}
        engine.dispose()
    records = sum(rows.values())
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "peak_tree_rss_mib": round(sampler.peak_mib, 1),
            "peak_tree_pss_mib": round(sampler.peak_pss_mib, 1),
            "largest_process_peak_rss_mib": round(largest, 1), "max_processes": sampler.max_processes,
            "rows": rows, "records": records, "records_per_s": round(records / wall, 1), "said": stdout.strip()}


def run_peer(peer: Any, base_url: str, day: date) -> dict[str, Any]:
    from bench.peer import IMPORT_STREAMS, read

    run = read(peer, base_url, list(IMPORT_STREAMS), day, day)
    if run.exit_code != 0 or run.failed_streams:
        raise SystemExit(f"the peer's read failed (exit {run.exit_code}, failed {run.failed_streams}): {run.errors[:3]}")
    return {"wall_s": round(run.wall_seconds, 3), "cpu_s": round(run.cpu_seconds, 3),
            "peak_tree_rss_mib": round(run.peak_rss_mib, 1), "peak_tree_pss_mib": round(run.peak_pss_mib, 1),
            "largest_process_peak_rss_mib": round(run.largest_process_peak_rss_mib, 1),
            "records_by_stream": run.records, "records_by_day": run.records_by_day, "records": run.total_records,
            "records_per_s": round(run.records_per_second, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ads", type=int, default=1000)
    parser.add_argument("--day", type=date.fromisoformat, default=LAST_FULL_DAY)
    parser.add_argument("--warehouse", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--repeat", type=int, default=1, help="alternate the two sides this many times; medians")
    parser.add_argument("--no-peer", action="store_true", help="our figure alone")
    parser.add_argument("--peer-venv", type=Path, default=None, help="the peer's own venv (default /work/peer/venv)")
    options = parser.parse_args()

    peer = None
    peer_note = "not run (--no-peer)"
    if not options.no_peer:
        from bench.peer import DEFAULT_VENV, PeerUnavailable, ensure_peer

        try:
            peer = ensure_peer(options.peer_venv or DEFAULT_VENV)
            peer_note = peer.version()
        except PeerUnavailable as error:
            peer_note = f"unavailable: {error}"
            print(f"peer {peer_note}; printing our figure alone")
    ours_runs, peer_runs = [], []
    with simulator_process(options.ads) as simulator:
        for attempt in range(options.repeat):
            ours = run_ours(simulator.base_url, options.warehouse, options.day)
            ours_runs.append(ours)
            print(f"ours #{attempt + 1}: {ours['records']:,} records in {ours['wall_s']:.2f} s wall "
                  f"({ours['cpu_s']:.2f} s CPU): {ours['records_per_s']:,.0f} records/s; peak tree RSS "
                  f"{ours['peak_tree_rss_mib']:.0f} MiB, PSS {ours['peak_tree_pss_mib']:.0f} MiB ({ours['max_processes']} processes at most)", flush=True)
            if peer is not None:
                theirs = run_peer(peer, simulator.base_url, options.day)
                peer_runs.append(theirs)
                print(f"peer #{attempt + 1}: {theirs['records']:,} records in {theirs['wall_s']:.2f} s wall "
                      f"({theirs['cpu_s']:.2f} s CPU): {theirs['records_per_s']:,.0f} records/s; peak tree RSS "
                      f"{theirs['peak_tree_rss_mib']:.0f} MiB, PSS {theirs['peak_tree_pss_mib']:.0f} MiB", flush=True)

    def median(runs: list[dict[str, Any]], key: str) -> float:
        return statistics.median(run[key] for run in runs)

    figures: dict[str, Any] = {"ads": options.ads, "day": options.day, "warehouse": options.warehouse,
                               "peer": peer_note, "ours": ours_runs, "peer_runs": peer_runs}
    print(f"ours: {ours_runs[0]['rows']}")
    if peer_runs:
        print(f"peer: {peer_runs[0]['records_by_stream']}")
        ratio = median(ours_runs, "records_per_s") / median(peer_runs, "records_per_s")
        time_ratio = median(peer_runs, "wall_s") / median(ours_runs, "wall_s")
        cpu_ratio = median(peer_runs, "cpu_s") / median(ours_runs, "cpu_s")
        rss_ratio = median(ours_runs, "peak_tree_rss_mib") / median(peer_runs, "peak_tree_rss_mib")
        pss_ratio = median(ours_runs, "peak_tree_pss_mib") / median(peer_runs, "peak_tree_pss_mib")
        figures.update(records_per_s_ratio=round(ratio, 2), wall_ratio=round(time_ratio, 2),
                       cpu_ratio=round(cpu_ratio, 2), rss_ratio=round(rss_ratio, 2), pss_ratio=round(pss_ratio, 2),
                       meets_ratio_target=ratio >= TARGET_RATIO, meets_rss_target=rss_ratio <= TARGET_RSS_RATIO)
        print(f"records/s: ours {median(ours_runs, 'records_per_s'):,.0f} vs peer {median(peer_runs, 'records_per_s'):,.0f}"
              f" = {ratio:.1f}x (target >= {TARGET_RATIO:.0f}x: {'met' if ratio >= TARGET_RATIO else 'NOT met'}); "
              f"wall {time_ratio:.1f}x shorter, CPU {cpu_ratio:.1f}x less")
        print(f"peak tree RSS: ours {median(ours_runs, 'peak_tree_rss_mib'):.0f} MiB vs peer "
              f"{median(peer_runs, 'peak_tree_rss_mib'):.0f} MiB = {rss_ratio:.2f}x (target <= {TARGET_RSS_RATIO:.0f}x: "
              f"{'met' if rss_ratio <= TARGET_RSS_RATIO else 'NOT met'}); PSS (shared pages once) "
              f"{median(ours_runs, 'peak_tree_pss_mib'):.0f} vs {median(peer_runs, 'peak_tree_pss_mib'):.0f} MiB = {pss_ratio:.2f}x")
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    write_results("end_to_end", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
