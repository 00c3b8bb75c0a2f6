"""Schedules and sensors: hourly sync of today, daily settle of the past, advertiser discovery.

Downstream assets follow upstream by declarative automation (see
``change_only_eager``); only the TikTok pulls are scheduled.
"""


import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import dagster as dg

from tiktok_assets.defs.resources import WarehouseResource
from tiktok_assets.partitions import ADVERTISER_PARTITIONS_NAME, all_advertisers_range_tags
from tiktok_assets.spend.schedule import advertiser_zones, hourly_sync_range, settle_range
from tiktok_assets.spend.settle import SKIP_SETTLED_TAG

# The run tag the instance's tag_concurrency_limits key on (deploy/dagster.yaml): one run per advertiser
# at a time, plus one "all" run (the every-advertiser syncs), keeps each advertiser under TikTok's 40133 limit.
ADVERTISER_TAG = "tiktok/advertiser"
ALL_ADVERTISERS = "all"
STATS_ASSETS = [dg.AssetKey("ad_stats_daily"), dg.AssetKey("ad_stats_hourly")]
ENTITY_ASSETS = [dg.AssetKey(f"{kind}_history") for kind in ("campaign", "adgroup", "ad")]
# TikTok's own level totals (defs.levels): re-pulled by the daily settle run like the stats, not every hour.
LEVEL_ASSETS = [dg.AssetKey(f"{level}_stats_daily") for level in ("campaign", "adgroup", "advertiser")]
# GMV Max campaigns (defs.gmv_max): their own report, re-pulled by the daily settle run with the level totals.
GMV_MAX_ASSETS = [dg.AssetKey("gmv_max_stats_daily")]
# Lifetime totals have no date: snapshotted per advertiser with the daily entity snapshot.
LIFETIME_ASSETS = [dg.AssetKey("lifetime_totals")]


def change_only_eager(lookback: timedelta, *, may_be_missing: Sequence[dg.AssetKey] = ()
                      ) -> dg.AutomationCondition:
    """``eager()`` that reacts to a new *data version* upstream, over the whole settle window.

    Plain ``eager()`` recomputes on every upstream materialization (a re-pull
    that changed nothing included) and only looks at the latest partition;
    TikTok revises a week of days, so the window is widened to match.
    ``may_be_missing``: dependencies a deployment may never materialize (an
    optional input such as first-party events), which eager() would wait for.
    """
    condition = (
        dg.AutomationCondition.eager()
        .replace(
            "any_deps_updated",
            dg.AutomationCondition.any_deps_match(dg.AutomationCondition.data_version_changed()),
        )
        .replace("in_latest_time_window", dg.AutomationCondition.in_latest_time_window(lookback))
    )
    if may_be_missing:
        condition = condition.replace("any_deps_missing", dg.AutomationCondition.any_deps_missing().ignore(
            dg.AssetSelection.assets(*may_be_missing)))
    return condition.with_label("eager on changed data")


def upstream_data_changed() -> dg.AutomationCondition:
    """For unpartitioned summaries of partitioned data: run when any upstream partition's data version changed.

    ``change_only_eager`` would never fire here: its "no dependency missing" part sees the
    years of history partitions nobody imported.
    """
    return (
        dg.AutomationCondition.any_deps_match(dg.AutomationCondition.data_version_changed()).since_last_handled()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("upstream data changed")


NO_ADVERTISERS_YET = dg.SkipReason("No advertisers discovered yet: tiktok_advertisers adds them (the advertiser "
                                   "discovery sensor requests it every hour).")
NO_ZONES_YET = dg.SkipReason("No advertiser has a readable time zone in the warehouse yet: materialize "
                             "tiktok_advertisers (its /advertiser/info/ rows give each account's zone).")


def _scheduled_utc(context: dg.ScheduleEvaluationContext) -> datetime:
    moment = context.scheduled_execution_time or datetime.now(UTC)
    return moment.astimezone(UTC)


@dg.schedule(cron_schedule="5 * * * *", target=dg.AssetSelection.assets(*STATS_ASSETS),
             default_status=dg.DefaultScheduleStatus.RUNNING, description=(
                 "Every hour: pull today's and yesterday's stats (local dates) for every advertiser."))
def hourly_sync_schedule(context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource
                         ) -> Iterator[dg.RunRequest | dg.SkipReason]:
    advertiser_ids = context.instance.get_dynamic_partitions(ADVERTISER_PARTITIONS_NAME)
    if not advertiser_ids:
        yield NO_ADVERTISERS_YET
        return
    now = _scheduled_utc(context)
    zones = advertiser_zones(warehouse.get_engine(), advertiser_ids)
    if not zones:
        yield NO_ZONES_YET
        return
    start, end = hourly_sync_range(zones, now)
    yield dg.RunRequest(
        run_key=f"hourly:{now:%Y-%m-%dT%H}",
        tags={**all_advertisers_range_tags(advertiser_ids, start, end), "tiktok/reason": "hourly sync",
              ADVERTISER_TAG: ALL_ADVERTISERS},
    )


@dg.schedule(cron_schedule="0 6 * * *", target=dg.AssetSelection.assets(*ENTITY_ASSETS, *LIFETIME_ASSETS),
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="Every day: snapshot campaigns, ad groups and ads of every advertiser (names, status, URLs), "
                         "and their lifetime totals.")
def daily_entities_schedule(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest | dg.SkipReason]:
    advertiser_ids = context.instance.get_dynamic_partitions(ADVERTISER_PARTITIONS_NAME)
    if not advertiser_ids:
        yield NO_ADVERTISERS_YET
        return
    day = _scheduled_utc(context).date()
    for advertiser_id in advertiser_ids:
        yield dg.RunRequest(run_key=f"entities:{advertiser_id}:{day}", partition_key=advertiser_id,
                            tags={"tiktok/reason": "daily entity snapshot", ADVERTISER_TAG: advertiser_id})


@dg.schedule(cron_schedule="30 6 * * *", target=dg.AssetSelection.assets(*STATS_ASSETS, *LEVEL_ASSETS,
                                                                            *GMV_MAX_ASSETS),
             default_status=dg.DefaultScheduleStatus.RUNNING, description=(
                 "Every day: import yesterday and re-pull the settle window (TIKTOK_SETTLE_DAYS, default 7) "
                 "plus any older day not yet settled, ad rows, TikTok's own level totals and GMV Max campaigns; "
                 "settled days are skipped."))
def daily_settle_schedule(context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource
                          ) -> Iterator[dg.RunRequest | dg.SkipReason]:
    advertiser_ids = context.instance.get_dynamic_partitions(ADVERTISER_PARTITIONS_NAME)
    if not advertiser_ids:
        yield NO_ADVERTISERS_YET
        return
    now = _scheduled_utc(context)
    settle_days = warehouse.settle_window_days()
    engine = warehouse.get_engine()
    zones = advertiser_zones(engine, advertiser_ids)
    if not zones:
        yield NO_ZONES_YET
        return
    # One run over the union of every advertiser's plan; inside it the stats
    # assets skip each partition that is already settled (SKIP_SETTLED_TAG).
    start, end = settle_range(engine, zones, now, settle_days)
    yield dg.RunRequest(
        run_key=f"settle:{now:%Y-%m-%d}",
        tags={
            **all_advertisers_range_tags(advertiser_ids, start, end),
            SKIP_SETTLED_TAG: "true",
            "tiktok/reason": f"settle window re-pull ({settle_days} days)",
            ADVERTISER_TAG: ALL_ADVERTISERS,
        },
    )


DISCOVERY_ASSET = dg.AssetKey("tiktok_advertisers")


@dg.sensor(minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING,
           target=dg.AssetSelection.assets(DISCOVERY_ASSET, *ENTITY_ASSETS), description=(
    "Every hour requests tiktok_advertisers, which adds the accounts the token may read as advertiser partitions "
    "and removes revoked ones (their history stays, flagged unauthorised); each advertiser partition new since "
    "the last tick gets an entity snapshot. Calls no API and writes no table itself."))
def advertiser_discovery_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    now = datetime.now(UTC)
    known = context.instance.get_dynamic_partitions(ADVERTISER_PARTITIONS_NAME)
    seen = set(json.loads(context.cursor)) if context.cursor else set()
    new = [advertiser_id for advertiser_id in known if advertiser_id not in seen]
    run_requests = [
        # One discovery run an hour (run keys are unique per sensor); the ticks in between only
        # follow up on the partitions that run added.
        dg.RunRequest(run_key=f"discovery:{now:%Y-%m-%dT%H}", asset_selection=[DISCOVERY_ASSET],
                      tags={"tiktok/reason": "advertiser discovery", ADVERTISER_TAG: ALL_ADVERTISERS}),
        *(dg.RunRequest(run_key=f"new-advertiser:{advertiser_id}", asset_selection=ENTITY_ASSETS,
                        partition_key=advertiser_id,
                        tags={"tiktok/reason": "new advertiser", ADVERTISER_TAG: advertiser_id})
          for advertiser_id in new),
    ]
    return dg.SensorResult(run_requests=run_requests, cursor=json.dumps(sorted(known)))


automation_sensor = dg.AutomationConditionSensorDefinition(
    "tiktok_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description="Evaluates the assets' automation conditions: metrics and reports follow changed stats.",
)
