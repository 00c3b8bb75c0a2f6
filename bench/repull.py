"""Bench 3, re-pull: a 28-day re-pull of 1,000 ads in which TikTok changed one day.

    python -m bench.repull                                  # 28 days × 1,000 ads, SQLite
    python -m bench.repull --days 28 --ads 1000 --warehouse postgres

One advertiser, the simulator served on loopback. The range ends on the last
day still inside the settle window, so after the simulated clock moves one day
exactly that day gets its final values and every other day is already final.
Prints the re-pull's time, the rows it wrote (should be only the changed
rows), and how many downstream partitions declarative automation then requests
(should be one per stats asset).
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench._common import (
    Stopwatch,
    add_warehouse_argument,
    served_simulator,
    temporary_warehouse,
    warehouses_of,
    write_results,
)

ROW_COUNTERS = ("rows_inserted", "rows_updated", "rows_deleted", "rows_unchanged")


def _last_revising_day(world: Any, advertiser_id: str, now: datetime) -> date:
    """The latest day that becomes final when the clock moves one day from ``now``."""
    day = now.date()
    while world.age_of(advertiser_id, day, now) != world.settle_days - 1:
        day -= timedelta(days=1)
    return day


def _row_counts(result: Any, asset: str) -> dict[str, int]:
    import dagster as dg

    totals = dict.fromkeys((*ROW_COUNTERS, "partitions", "partitions_changed"), 0)
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if materialization.asset_key != dg.AssetKey(asset):
            continue
        totals["partitions"] += 1
        totals["partitions_changed"] += int(bool(materialization.metadata["changed"].value))
        for name in ROW_COUNTERS:
            totals[name] += int(materialization.metadata[name].value)
    return totals


def repull(days: int, ads: int, warehouse: str) -> dict[str, Any]:
    import dagster as dg

    from tiktok_assets.defs.automation import change_only_eager
    from tiktok_assets.partitions import advertiser_date_partitions
    from tiktok_assets.partitions import all_advertisers_range_tags
    from tiktok_assets_tests.spend.harness import ENTITIES, STATS, SpendHarness

    @dg.asset(partitions_def=advertiser_date_partitions, deps=[dg.AssetKey("ad_stats_daily")],
              automation_condition=change_only_eager(timedelta(days=days + 14)))
    def daily_downstream_probe() -> None:
        """Stands for any asset derived from ad_stats_daily."""

    @dg.asset(partitions_def=advertiser_date_partitions, deps=[dg.AssetKey("ad_stats_hourly")],
              automation_condition=change_only_eager(timedelta(days=days + 14)))
    def hourly_downstream_probe() -> None:
        """Stands for any asset derived from ad_stats_hourly."""

    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    probes = [daily_downstream_probe, hourly_downstream_probe]
    # Automation windows are measured from the real clock: the simulated one starts at the real now.
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with served_simulator(ads, n_advertisers=1, now=now) as (base_url, sim), temporary_warehouse(warehouse) as url:
        harness = SpendHarness(base_url, url)
        defs = dg.Definitions.merge(harness.defs, dg.Definitions(assets=probes))
        [advertiser_id] = harness.discover()
        end = _last_revising_day(sim.world, advertiser_id, sim.clock.now())
        start = end - timedelta(days=days - 1)
        evaluation = dg.evaluate_automation_conditions(defs=defs, instance=harness.instance)
        tags = all_advertisers_range_tags([advertiser_id], start, end)
        with Stopwatch() as first:
            harness.run(ENTITIES, partition_key=advertiser_id, run_config=quiet)
            first_result = harness.run(STATS, tags=tags, run_config=quiet)
        evaluation = dg.evaluate_automation_conditions(defs=defs, instance=harness.instance, cursor=evaluation.cursor)
        # A re-pull on the same simulated day: TikTok changed nothing, so nothing downstream should run.
        with Stopwatch() as unchanged:
            harness.run(STATS, tags=tags, run_config=quiet)
        evaluation = dg.evaluate_automation_conditions(defs=defs, instance=harness.instance, cursor=evaluation.cursor)
        unchanged_requested = evaluation.total_requested
        revisions_before = harness.count("stats_revisions")
        sim.clock.advance(timedelta(days=1))
        with Stopwatch() as again:
            result = harness.run(STATS, tags=tags, run_config=quiet)
        revisions = harness.count("stats_revisions") - revisions_before
        evaluation = dg.evaluate_automation_conditions(defs=defs, instance=harness.instance, cursor=evaluation.cursor)
        requested = {
            probe.key.path[-1]: sorted(evaluation.get_requested_partitions(probe.key)) if evaluation.total_requested else []
            for probe in probes
        }
        harness.engine.dispose()
    if not (first_result.success and result.success):
        raise SystemExit("A run failed; rerun with fewer --days to see the error quickly")
    return {
        "warehouse": warehouse,
        "days": days,
        "ads": ads,
        "range": [start.isoformat(), end.isoformat()],
        "first_pull_s": round(first.wall, 2),
        "unchanged_repull_s": round(unchanged.wall, 2),
        "unchanged_repull_downstream_requested": unchanged_requested,
        "repull_s": round(again.wall, 2),
        "repull_cpu_s": round(again.cpu, 2),
        "daily": _row_counts(result, "ad_stats_daily"),
        "hourly": _row_counts(result, "ad_stats_hourly"),
        "revisions_logged": revisions,
        "downstream_partitions_requested": {name: len(keys) for name, keys in requested.items()},
        "downstream_partitions": requested,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--ads", type=int, default=1000)
    add_warehouse_argument(parser)
    args = parser.parse_args()
    runs = []
    for warehouse in warehouses_of(args.warehouse):
        figures = repull(args.days, args.ads, warehouse)
        runs.append(figures)
        written = {grain: figures[grain]["rows_inserted"] + figures[grain]["rows_updated"] + figures[grain]["rows_deleted"]
                   for grain in ("daily", "hourly")}
        print(f"re-pull {warehouse:8s} {args.days} days × {args.ads:,} ads: {figures['repull_s']:.1f} s "
              f"(first pull {figures['first_pull_s']:.1f} s); rows written: daily {written['daily']:,} of "
              f"{sum(figures['daily'][name] for name in ('rows_inserted', 'rows_updated', 'rows_unchanged')):,}, "
              f"hourly {written['hourly']:,} of "
              f"{sum(figures['hourly'][name] for name in ('rows_inserted', 'rows_updated', 'rows_unchanged')):,}; "
              f"partitions changed: daily {figures['daily']['partitions_changed']}, hourly "
              f"{figures['hourly']['partitions_changed']}; revisions logged {figures['revisions_logged']:,}; "
              f"downstream partitions requested: {figures['downstream_partitions_requested']}", flush=True)
    write_results("repull", {"runs": runs})


if __name__ == "__main__":
    main()
