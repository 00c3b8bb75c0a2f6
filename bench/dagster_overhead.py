"""Bench 6, Dagster overhead: per-partition cost of one single-run backfill vs one run per partition.

    python -m bench.dagster_overhead                         # 30 days × 2 advertisers, 20 ads, SQLite instance
    python -m bench.dagster_overhead --days 10 --instance ephemeral

The stats work is kept tiny (few ads) so what is left is Dagster's own cost:
run creation, step launch, event log writes. The same partitions of
``ad_stats_daily`` are materialized once as one run over the whole range and
once as one run per (date, advertiser) partition, each into a fresh warehouse
and Dagster instance.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from bench._common import (
    LAST_FULL_DAY,
    Stopwatch,
    days_ending,
    rate,
    served_simulator,
    temporary_warehouse,
    write_results,
)

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _instance(kind: str) -> Any:
    import dagster as dg

    return dg.DagsterInstance.ephemeral() if kind == "ephemeral" else dg.DagsterInstance.local_temp()


def measure(days: int, ads: int, instance_kind: str, mode: str) -> dict[str, Any]:
    import dagster as dg

    from tiktok_assets.definitions import build_definitions
    from tiktok_assets.defs.resources import TikTokApiResource, WarehouseResource
    from tiktok_assets.partitions import ADVERTISER_PARTITIONS_NAME, advertiser_date_key, all_advertisers_range_tags

    start, end = days_ending(LAST_FULL_DAY, days)
    with served_simulator(ads) as (base_url, _sim), temporary_warehouse("sqlite") as url:
        defs = build_definitions(TikTokApiResource(base_url=base_url, qps=1000.0, backoff_seconds=0.05),
                                 WarehouseResource(url=url))
        job = defs.resolve_implicit_global_asset_job_def()
        instance = _instance(instance_kind)
        try:
            job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("tiktok_advertisers")],
                                   run_config=QUIET)
            advertisers = instance.get_dynamic_partitions(ADVERTISER_PARTITIONS_NAME)
            selection = [dg.AssetKey("ad_stats_daily")]
            keys = [advertiser_date_key(advertiser_id, start + timedelta(days=offset))
                    for offset in range(days) for advertiser_id in advertisers]
            with Stopwatch() as watch:
                if mode == "single_run":
                    results = [job.execute_in_process(instance=instance, asset_selection=selection, run_config=QUIET,
                                                      tags=all_advertisers_range_tags(advertisers, start, end))]
                else:
                    results = [job.execute_in_process(instance=instance, asset_selection=selection, run_config=QUIET,
                                                      partition_key=str(key)) for key in keys]
        finally:
            instance.dispose()
    materialized = sum(len(result.get_asset_materialization_events()) for result in results)
    if not all(result.success for result in results) or materialized != len(keys):
        raise SystemExit(f"{mode}: expected {len(keys)} materializations, got {materialized}")
    return {"mode": mode, "partitions": len(keys), "runs": len(results), "wall_s": round(watch.wall, 2),
            "cpu_s": round(watch.cpu, 2), "ms_per_partition": round(watch.wall / len(keys) * 1000, 1),
            "partitions_per_s": round(rate(len(keys), watch.wall), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--ads", type=int, default=20)
    parser.add_argument("--instance", choices=["sqlite", "ephemeral"], default="sqlite",
                        help="Dagster instance: a temporary SQLite one (as dagster dev) or in-memory")
    args = parser.parse_args()
    single = measure(args.days, args.ads, args.instance, "single_run")
    per_partition = measure(args.days, args.ads, args.instance, "run_per_partition")
    overhead_ms = per_partition["ms_per_partition"] - single["ms_per_partition"]
    for figures in (single, per_partition):
        print(f"{figures['mode']:18s}: {figures['partitions']} partitions in {figures['runs']} run(s): "
              f"{figures['wall_s']:.1f} s wall, {figures['cpu_s']:.1f} s CPU = {figures['ms_per_partition']:.0f} ms "
              f"per partition", flush=True)
    print(f"one run per partition costs {overhead_ms:.0f} ms more per partition "
          f"({per_partition['wall_s'] / single['wall_s']:.1f}× the single run) on a {args.instance} instance")
    write_results("dagster_overhead", {"days": args.days, "ads": args.ads, "instance": args.instance,
                                       "single_run": single, "run_per_partition": per_partition,
                                       "extra_ms_per_partition": round(overhead_ms, 1)})


if __name__ == "__main__":
    main()
