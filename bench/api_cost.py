"""Bench 8, API cost: TikTok requests per 1,000 ad-days of a settle re-pull (blind vs probed) and of a backfill.

    python -m bench.api_cost                        # 1,000 ads, 28-day settle window, 365-day backfill
    python -m bench.api_cost --ads 1000 --settle-days 28 --backfill-days 365

Requests are the simulator's own count of what it answered (``Simulator.request_counts``), every route
(advertiser info, ad lists, report pages), not the client's opinion of what it sent.

Settle re-pull: one advertiser of ``--ads`` ads, the simulator revising each day for 7 days (its realism:
late conversions over the week, invalid-traffic corrections in the first 2 days, recent days revised most).
The window (``--settle-days`` + 1 days, ages 0..N) is imported, settle-re-pulled once on the same simulated
day (that run stores the first probes), then the simulated clock moves one day and the settle re-pull of
both stats assets is measured twice from the same warehouse state (a copy of the SQLite file): probing
off (blind) and on (probed). Each day of the window has a different age every run, so one run is the
steady state: the same ages are forced or revised every day.

Backfill: ``--backfill-days`` ending on the last fully served day, through the same fetch functions and
client the stats assets use (advertiser info, the ad list, daily and hourly report pages), without the
warehouse writes, which make no request.
"""

from __future__ import annotations

import argparse
import os
import shutil
from collections import Counter
from datetime import timedelta
from typing import Any

from bench._common import (
    LAST_FULL_DAY,
    Stopwatch,
    days_ending,
    served_simulator,
    temporary_warehouse,
    write_results,
)

TARGET_RATIO = 1 / 5
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _requests(sim: Any) -> int:
    return sum(sim.request_counts.values())


def _reasons(result: Any, table: str = "ad_stats_daily") -> dict[str, int]:
    import dagster as dg

    counted: Counter[str] = Counter()
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if materialization.asset_key == dg.AssetKey(table):
            counted[str(materialization.metadata["repull_reason"].value)] += 1
    return dict(sorted(counted.items()))


def _narrowed_hourly(result: Any) -> dict[str, str]:
    """Per hourly partition re-pulled for only some ads, what was asked ("12 of 830 ads ...")."""
    import dagster as dg

    narrowed = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        scope = materialization.metadata.get("repull_scope")
        if materialization.asset_key == dg.AssetKey("ad_stats_hourly") and scope and scope.value != "every ad":
            narrowed[str(materialization.partition)] = str(scope.value)
    return dict(sorted(narrowed.items()))


def settle_repull(ads: int, settle_days: int) -> dict[str, Any]:
    from tiktok_assets.defs import spend as spend_defs
    from tiktok_assets.partitions import all_advertisers_range_tags
    from tiktok_assets.spend.settle import SKIP_SETTLED_TAG, local_today
    from tiktok_assets_tests.spend.harness import ENTITIES, STATS, SpendHarness

    with served_simulator(ads, n_advertisers=1) as (base_url, sim), temporary_warehouse("sqlite") as url:
        # The import judges ages on the simulator's clock, as TikTok revises on its own.
        spend_defs._utc_now = sim.clock.now  # noqa: SLF001
        harness = SpendHarness(base_url, url, settle_days=settle_days)
        [advertiser_id] = harness.discover()
        zone = sim.world.advertiser(advertiser_id).report_timezone
        today = local_today(zone, sim.clock.now())
        start, end = today - timedelta(days=settle_days + 1), today - timedelta(days=1)
        harness.run(ENTITIES, partition_key=advertiser_id, run_config=QUIET)
        tags = all_advertisers_range_tags([advertiser_id], start - timedelta(days=2), today + timedelta(days=1))
        before = _requests(sim)
        with Stopwatch() as first:
            assert harness.run(STATS, tags=all_advertisers_range_tags([advertiser_id], start, end),
                               run_config=QUIET).success
        window_backfill = _requests(sim) - before
        settle_tags = {**tags, SKIP_SETTLED_TAG: "true"}
        assert harness.run(STATS, tags=settle_tags, run_config=QUIET).success  # stores the first probes
        sim.clock.advance(timedelta(days=1))
        harness.engine.dispose()
        copy = url.removeprefix("sqlite:///") + ".blind.sqlite"
        shutil.copyfile(url.removeprefix("sqlite:///"), copy)
        measured: dict[str, Any] = {}
        for mode, warehouse_url in (("probed", url), ("blind", f"sqlite:///{copy}")):
            os.environ["TIKTOK_REPULL_PROBE"] = "on" if mode == "probed" else "off"
            run_harness = harness if mode == "probed" else SpendHarness(base_url, warehouse_url,
                                                                        settle_days=settle_days)
            if mode == "blind":
                run_harness.discover()
            before = _requests(sim)
            counts_before = sim.request_counts
            with Stopwatch() as watch:
                result = run_harness.run(STATS, tags=settle_tags, run_config=QUIET)
            assert result.success
            by_route = sim.request_counts - counts_before
            measured[mode] = {"requests": _requests(sim) - before, "by_route": dict(by_route),
                              "wall_s": round(watch.wall, 2), "cpu_s": round(watch.cpu, 2),
                              "daily_partitions_by_reason": _reasons(result),
                              "hourly_partitions_by_reason": _reasons(result, "ad_stats_hourly"),
                              "hourly_partitions_narrowed": _narrowed_hourly(result)}
            run_harness.engine.dispose()
        os.environ.pop("TIKTOK_REPULL_PROBE", None)
    window_days = settle_days + 1
    ad_days = window_days * ads / 1000
    return {
        "ads": ads,
        "settle_days": settle_days,
        "window_days": window_days,
        "window_first_pull": {"requests": window_backfill, "wall_s": round(first.wall, 2),
                              "per_1000_ad_days": round(window_backfill / ad_days, 2)},
        **{mode: {**figures, "per_1000_ad_days": round(figures["requests"] / ad_days, 2)}
           for mode, figures in measured.items()},
        "probed_over_blind": round(measured["probed"]["requests"] / measured["blind"]["requests"], 3),
    }


def backfill(ads: int, days: int) -> dict[str, Any]:
    from tiktok_assets.defs.resources import TikTokApiResource
    from tiktok_assets.spend.pull import ad_parents_frame, fetch_daily_stats, fetch_hourly_stats, profiles_from_infos

    start, end = days_ending(LAST_FULL_DAY, days)
    with served_simulator(ads, n_advertisers=1) as (base_url, sim):
        api = TikTokApiResource(base_url=base_url, access_token=None, qps=1000.0, backoff_seconds=0.001)
        figures: dict[str, int] = {}
        with Stopwatch() as watch, api.get_client() as client:
            [advertiser_id] = sim.world.advertiser_ids
            sim.reset_counts()
            for table, fetch in (("ad_stats_daily", fetch_daily_stats), ("ad_stats_hourly", fetch_hourly_stats)):
                before = _requests(sim)
                # What one stats asset asks, in its order: the profile, the ad list, then slices of 30 days.
                profiles, _ = profiles_from_infos(client.advertiser_info([advertiser_id]))
                parents = ad_parents_frame(client.ads(advertiser_id, include_deleted=True))
                day = start
                while day <= end:
                    last = min(end, day + timedelta(days=29))
                    dates = [day + timedelta(days=n) for n in range((last - day).days + 1)]
                    fetch(client, profiles[advertiser_id], dates, parents)
                    day = last + timedelta(days=1)
                figures[table] = _requests(sim) - before
    total = sum(figures.values())
    return {"ads": ads, "days": days, "range": [start.isoformat(), end.isoformat()], "requests": total,
            "by_table": figures, "per_1000_ad_days": round(total / (days * ads / 1000), 2),
            "wall_s": round(watch.wall, 1), "cpu_s": round(watch.cpu, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ads", type=int, default=1000)
    parser.add_argument("--settle-days", type=int, default=28)
    parser.add_argument("--backfill-days", type=int, default=365, help="0 skips the backfill count")
    args = parser.parse_args()
    repull = settle_repull(args.ads, args.settle_days)
    blind, probed = repull["blind"], repull["probed"]
    print(f"settle re-pull, {repull['window_days']} days (settle window {args.settle_days}) × {args.ads:,} ads: "
          f"blind {blind['requests']:,} requests = {blind['per_1000_ad_days']} per 1,000 ad-days; probed "
          f"{probed['requests']:,} = {probed['per_1000_ad_days']} per 1,000 ad-days; probed/blind "
          f"{repull['probed_over_blind']:.3f} (target <= {TARGET_RATIO:.2f}: "
          f"{'met' if repull['probed_over_blind'] <= TARGET_RATIO else 'NOT met'}); "
          f"daily partitions by reason (probed): {probed['daily_partitions_by_reason']}; hourly partitions "
          f"re-pulled for only the ads that moved: {len(probed['hourly_partitions_narrowed'])} "
          f"({', '.join(probed['hourly_partitions_narrowed'].values())})", flush=True)
    figures: dict[str, Any] = {"settle_repull": repull}
    if args.backfill_days:
        filled = backfill(args.ads, args.backfill_days)
        figures["backfill"] = filled
        print(f"backfill {args.backfill_days} days × {args.ads:,} ads: {filled['requests']:,} requests = "
              f"{filled['per_1000_ad_days']} per 1,000 ad-days (daily {filled['by_table']['ad_stats_daily']:,}, "
              f"hourly {filled['by_table']['ad_stats_hourly']:,}); {filled['wall_s']} s", flush=True)
    write_results("api_cost", figures)


if __name__ == "__main__":
    main()
