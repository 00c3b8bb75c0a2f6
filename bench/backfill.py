"""Bench 1, backfill: N days × M ads (entities, hourly and daily stats) in one Dagster run, against the
simulator served on loopback (its own process), into SQLite and/or PostgreSQL.

    python -m bench.backfill                                   # 30, 90 and 365 days × 1,000 ads, SQLite
    python -m bench.backfill --days 30 --ads 1000 --warehouse postgres

Each size runs in a fresh child process so its peak RSS is its own. Targets
(issue 8): 365 × 1,000 under 10 minutes on 2 cores, peak RSS under 1 GiB, cost
linear in days × ads.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench._common import (
    LAST_FULL_DAY,
    RESULTS_DIR,
    Stopwatch,
    add_warehouse_argument,
    days_ending,
    peak_rss_mib,
    rate,
    simulator_process,
    temporary_warehouse,
    warehouses_of,
    write_results,
)

TARGET_SECONDS_365 = 600
TARGET_RSS_MIB = 1024
# Dagster's console logger at DEBUG prints every event: noise, and time spent formatting it.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def backfill_once(days: int, ads: int, warehouse: str, qps: float) -> dict[str, Any]:
    """One backfill in this process: discover, entities per advertiser, then every stats partition in one run."""
    import dagster as dg
    import sqlalchemy as sa

    from tiktok_assets.definitions import build_definitions
    from tiktok_assets.defs.resources import TikTokApiResource, WarehouseResource
    from tiktok_assets.partitions import ADVERTISER_PARTITIONS_NAME, all_advertisers_range_tags
    from tiktok_assets.warehouse import make_engine

    start, end = days_ending(LAST_FULL_DAY, days)
    with simulator_process(ads) as sim, temporary_warehouse(warehouse) as url:
        defs = build_definitions(
            TikTokApiResource(base_url=sim.base_url, qps=qps, backoff_seconds=0.05),
            WarehouseResource(url=url),
        )
        instance = dg.DagsterInstance.ephemeral()
        job = defs.resolve_implicit_global_asset_job_def()
        sim_cpu_before = sim.cpu_seconds()
        phases: dict[str, dict[str, float]] = {}
        with Stopwatch() as total:
            with Stopwatch() as watch:
                job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("tiktok_advertisers")],
                                      run_config=QUIET)
                advertisers = instance.get_dynamic_partitions(ADVERTISER_PARTITIONS_NAME)
                for advertiser_id in advertisers:
                    job.execute_in_process(
                        instance=instance, partition_key=advertiser_id,
                        asset_selection=[dg.AssetKey(f"{kind}_history") for kind in ("campaign", "adgroup", "ad")],
                        run_config=QUIET,
                    )
            phases["advertisers_and_entities"] = {"wall_s": watch.wall, "cpu_s": watch.cpu}
            with Stopwatch() as watch:
                result = job.execute_in_process(
                    instance=instance,
                    asset_selection=[dg.AssetKey("ad_stats_daily"), dg.AssetKey("ad_stats_hourly")],
                    tags=all_advertisers_range_tags(advertisers, start, end),
                    run_config=QUIET,
                )
            phases["stats_one_run"] = {"wall_s": watch.wall, "cpu_s": watch.cpu}
        if not result.success:
            raise SystemExit("The stats run failed; rerun with a smaller --days to see the error quickly")
        engine = make_engine(url)
        with engine.connect() as connection:
            counts = {
                table: int(connection.execute(sa.text(f"select count(*) from {table}")).scalar_one())
                for table in ("ad_stats_hourly", "ad_stats_daily", "ad_history", "adgroup_history", "campaign_history")
            }
        engine.dispose()
        materializations = len(result.get_asset_materialization_events())
        sim_cpu = sim.cpu_seconds() - sim_cpu_before
    stats_rows = counts["ad_stats_hourly"] + counts["ad_stats_daily"]
    return {
        "days": days,
        "ads": ads,
        "warehouse": warehouse,
        "advertisers": len(advertisers),
        "client_qps": qps,
        "wall_s": round(total.wall, 2),
        "cpu_s": round(total.cpu, 2),
        "simulator_cpu_s": round(sim_cpu, 2),
        "phases": {name: {key: round(value, 2) for key, value in figures.items()} for name, figures in phases.items()},
        "rows": counts,
        "stats_rows": stats_rows,
        "partition_materializations": materializations,
        "rows_per_s": round(rate(stats_rows, phases["stats_one_run"]["wall_s"])),
        "us_per_day_ad": round(total.wall / (days * ads) * 1e6, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }


def _in_child(days: int, ads: int, warehouse: str, qps: float) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run(
            [sys.executable, "-m", "bench.backfill", "--single", "--days", str(days), "--ads", str(ads),
             "--warehouse", warehouse, "--qps", str(qps), "--json-out", out.name],
            cwd=Path(__file__).resolve().parent.parent, check=True,
        )
        return json.loads(Path(out.name).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, nargs="+", default=[30, 90, 365])
    parser.add_argument("--ads", type=int, default=1000)
    parser.add_argument("--qps", type=float, default=1000.0,
                        help="client-side rate ceiling; high so the bench measures our code, not the limiter")
    add_warehouse_argument(parser)
    parser.add_argument("--profile", action="store_true",
                        help="run the first size in this process under pyinstrument; writes bench/results/backfill-profile-*.txt")
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.005)
        with profiler:
            figures = backfill_once(args.days[0], args.ads, warehouses_of(args.warehouse)[0], args.qps)
        print(json.dumps(figures, indent=1))
        path = RESULTS_DIR / f"backfill-profile-{args.days[0]}d.txt"
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
        print(f"profile written to {path}")
        return
    if args.single:
        figures = backfill_once(args.days[0], args.ads, args.warehouse, args.qps)
        Path(args.json_out).write_text(json.dumps(figures))
        return
    runs = []
    for warehouse in warehouses_of(args.warehouse):
        for days in args.days:
            figures = _in_child(days, args.ads, warehouse, args.qps)
            runs.append(figures)
            print(f"backfill {warehouse:8s} {days:4d} days × {args.ads:,} ads: {figures['wall_s']:7.1f} s wall "
                  f"({figures['cpu_s']:.1f} s CPU here, {figures['simulator_cpu_s']:.1f} s in the simulator), "
                  f"{figures['stats_rows']:,} stats rows = {figures['rows_per_s']:,} rows/s, "
                  f"{figures['us_per_day_ad']:.0f} µs per day×ad, peak RSS {figures['peak_rss_mib']:.0f} MiB",
                  flush=True)
    write_results("backfill", {"runs": runs, "targets": {"seconds_365_days": TARGET_SECONDS_365,
                                                         "peak_rss_mib": TARGET_RSS_MIB}})


if __name__ == "__main__":
    main()
