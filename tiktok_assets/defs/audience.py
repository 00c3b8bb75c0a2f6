"""AUDIENCE breakdown assets: one per breakdown (age × gender, country, platform, placement, province), daily.

Partitioned like the stats assets (date × advertiser), single-run backfills, one materialization per partition
with a data version of its content. The logic is in ``tiktok_assets.audience`` (what to ask, when a day is
complete) and ``tiktok_assets.warehouse.audience`` (revision-aware writes); this module only wires them.
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pandas as pd
from sqlalchemy.engine import Engine

from tiktok_assets.audience.breakdowns import BREAKDOWNS, Breakdown
from tiktok_assets.audience.latency import (
    audience_plan,
    audience_repull_dates,
    audience_settled,
    complete_at,
    complete_dates,
)
from tiktok_assets.audience.pull import fetch_basic_totals, fetch_breakdown, total_mismatches
from tiktok_assets.audience.schemas import audience_schema_failures
from tiktok_assets.defs import automation, spend
from tiktok_assets.defs.resources import TikTokApiResource, WarehouseResource
from tiktok_assets import partitions
from tiktok_assets.partitions import (
    ADVERTISER_PARTITIONS_NAME,
    advertiser_date_key,
    advertiser_date_partitions,
    all_advertisers_range_tags,
)
from tiktok_assets.spend.schedule import SETTLE_HISTORY_DAYS, advertiser_zones
from tiktok_assets.spend.pull import AdvertiserProfile, profiles_from_infos
from tiktok_assets.spend.revisions import latest_pulls
from tiktok_assets.spend.settle import SKIP_SETTLED_TAG, local_today
from tiktok_assets.warehouse.audience import AudienceWrite, audience_totals, write_audience_partitions
from tiktok_assets.warehouse.tables import audience_pulls

AUDIENCE_GROUP = "tiktok_audience"
AUDIENCE_SCHEMA_CHECK = "audience_schema_valid"
SUMS_TO_BASIC_CHECK = "breakdown_sums_to_basic_total"
AUDIENCE_SETTLED_ROWS_CHECK = "settled_partitions_lost_no_rows"


def _now() -> datetime:
    """The spend import's clock (``spend._utc_now``), so tests run both on the simulator's clock."""
    return spend._utc_now().astimezone(UTC)


def _check_specs(asset_name: str) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(AUDIENCE_SCHEMA_CHECK, asset=asset_name, blocking=True, description=(
            "pandera schema of the rows this run wrote: level campaign/adgroup/ad, ids and breakdown values "
            "present, 3-letter currency, metrics non-negative and finite, clicks within impressions, one row per "
            "key.")),
        dg.AssetCheckSpec(SUMS_TO_BASIC_CHECK, asset=asset_name, description=(
            "Warns when an entity-day's breakdown does not add up to TikTok's BASIC total of the same entity and "
            "day, asked in the same run (spend within half a cent per cell, counts exactly); names the "
            "partitions. TikTok documents that province_id leaves some locations out.")),
        dg.AssetCheckSpec(AUDIENCE_SETTLED_ROWS_CHECK, asset=asset_name, description=(
            "Warns when a re-pull of a settled day no longer served rows the warehouse holds: they are kept, "
            "never counted as deletions; names the partitions.")),
    ]


def audience_asset(breakdown: Breakdown) -> dg.AssetsDefinition:
    levels = ", ".join({"campaign": "campaign", "adgroup": "ad group", "ad": "ad"}[level] for level in breakdown.levels)

    @dg.asset(
        name=breakdown.asset_name,
        partitions_def=advertiser_date_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name=AUDIENCE_GROUP,
        kinds={"tiktok", "sql"},
        pool=spend.TIKTOK_API_POOL,
        output_required=False,
        deps=[spend.tiktok_advertisers],
        check_specs=_check_specs(breakdown.asset_name),
        # The daily audience schedule writes each asset once a day: warn after a missed day, fail after two.
        freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=50),
                                                        warn_window=timedelta(hours=26)),
        description=(
            f"Daily spend, impressions, clicks and conversions by {breakdown.description}, at {levels} level "
            f"(TikTok AUDIENCE report, dimensions {', '.join(breakdown.dimensions)}); rows of "
            f"audience_stats_daily with breakdown = '{breakdown.name}'. A day is pulled only once TikTok's audience "
            f"latency ({breakdown.latency.total_seconds() / 3600:g} h after the day ends) has passed; re-pulls log "
            "every change in audience_revisions. Deleted campaigns, ad groups and ads are included."
        ),
        metadata={"breakdown": breakdown.name, "tiktok_dimensions": dg.MetadataValue.json(list(breakdown.dimensions)),
                  "levels": dg.MetadataValue.json(list(breakdown.levels)),
                  "latency_hours": breakdown.latency.total_seconds() / 3600},
    )
    def _asset(context: dg.AssetExecutionContext, tiktok_api: TikTokApiResource, warehouse: WarehouseResource
               ) -> Iterator[dg.AssetMaterialization | dg.AssetCheckResult]:
        yield from _materialize_audience(context, tiktok_api, warehouse, breakdown)

    return _asset


def _materialize_audience(context: dg.AssetExecutionContext, tiktok_api: TikTokApiResource,
                          warehouse: WarehouseResource, breakdown: Breakdown
                          ) -> Iterator[dg.AssetMaterialization | dg.AssetCheckResult]:
    engine = warehouse.get_engine()
    now = _now()
    dates_by_advertiser = partitions.dates_by_advertiser(context.partition_keys)
    skip_settled = context.run.tags.get(SKIP_SETTLED_TAG) == "true"
    settle_days = warehouse.settle_window_days()
    schema_problems: list[pd.DataFrame] = []
    mismatches: list[pd.DataFrame] = []
    vanished: list[AudienceWrite] = []
    with tiktok_api.get_client() as client:
        profiles, profile_errors = profiles_from_infos(client.advertiser_info(sorted(dates_by_advertiser)))
        unknown = sorted(set(dates_by_advertiser) - set(profiles) - set(profile_errors))
        if unknown:
            raise dg.Failure(f"Advertiser(s) {', '.join(unknown)} were not returned by /advertiser/info/: the token "
                             "lost access or the id is wrong; materialize tiktok_advertisers.")
        for advertiser_id, requested in sorted(dates_by_advertiser.items()):
            if advertiser_id in profile_errors:
                context.log.error(f"{breakdown.asset_name}: {len(requested)} partition(s) not imported: "
                                  f"{profile_errors[advertiser_id]}")
                continue
            profile = profiles[advertiser_id]
            zone = profile.timezone
            complete = complete_dates(requested, zone, now, breakdown.latency)
            waiting = sorted(set(requested) - set(complete))
            if waiting:
                context.log.info(
                    f"{breakdown.asset_name}: advertiser {advertiser_id}: {len(waiting)} day(s) not pulled yet, "
                    f"TikTok's audience data for them is not complete ({breakdown.latency.total_seconds() / 3600:g} h "
                    f"latency): {waiting[0]} complete at {complete_at(waiting[0], zone, breakdown.latency):%Y-%m-%d %H:%M} UTC")
            if not complete:
                continue
            history = latest_pulls(engine, breakdown.asset_name, advertiser_id, zone, since=min(complete),
                                   pulls_table=audience_pulls, clock_lag=breakdown.latency)
            dates = (audience_plan(complete, zone, now, breakdown.latency, settle_days, history) if skip_settled
                     else complete)
            if len(dates) < len(complete):
                context.log.info(f"{breakdown.asset_name}: advertiser {advertiser_id}: {len(complete) - len(dates)} "
                                 "day(s) outside the re-pull plan (settled, or never pulled: backfill those)")
            if not dates:
                continue
            settled = {(advertiser_id, day) for day in audience_settled(history, zone, now, breakdown.latency,
                                                                        settle_days) & set(dates)}
            frames = fetch_breakdown(client, profile, breakdown, dates)
            failures = audience_schema_failures(advertiser_id, frames)
            if not failures.empty:
                schema_problems.append(failures)
            writes = write_audience_partitions(engine, breakdown.name, breakdown.asset_name,
                                               {(advertiser_id, day): frame for day, frame in frames.items()},
                                               now, settled=settled)
            # The BASIC totals asked now, so a revision between two pulls cannot look like a breakdown gap.
            basic = fetch_basic_totals(client, advertiser_id, breakdown.levels, dates)
            mismatches.append(total_mismatches(audience_totals(engine, breakdown.name, list(writes)), basic))
            for (_advertiser, day), written in writes.items():
                if written.vanished_kept:
                    vanished.append(written)
                yield dg.AssetMaterialization(
                    asset_key=context.asset_key,
                    partition=advertiser_date_key(advertiser_id, day),
                    tags={spend.DATA_VERSION_TAG: written.data_version},
                    metadata=_partition_metadata(profile, breakdown, day, written, frames[day]),
                )
        context.log.info(f"{breakdown.asset_name}: done; API requests: {client.stats.as_dict()}")
    yield spend._schema_check_result(context.asset_key, schema_problems, AUDIENCE_SCHEMA_CHECK)
    yield _sums_check(context.asset_key, breakdown, mismatches)
    yield _vanished_check(context.asset_key, vanished)
    if profile_errors:
        raise spend._profile_failure(breakdown.asset_name, profile_errors, dates_by_advertiser)


def _partition_metadata(profile: AdvertiserProfile, breakdown: Breakdown, day: date, written: AudienceWrite,
                        served: pd.DataFrame) -> dict[str, object]:
    top_level = breakdown.levels[0]
    top = served[served["level"] == top_level]
    by_value = (top.assign(value=top["breakdown_value"] + top["breakdown_value_2"].map(lambda v: f" × {v}" if v else ""))
                .groupby("value")[["spend", "impressions", "clicks"]].sum().sort_values("spend", ascending=False))
    spend_total = float(by_value["spend"].sum()) if len(by_value) else 0.0
    if len(by_value):
        by_value["share_of_spend"] = (by_value["spend"] / spend_total).round(4) if spend_total else 0.0
    metadata: dict[str, object] = {
        "advertiser": f"{profile.name} ({profile.advertiser_id})",
        "stat_date": day.isoformat(),
        "currency": profile.currency,
        "complete_since_utc": f"{complete_at(day, profile.timezone, breakdown.latency):%Y-%m-%d %H:%M}",
        "rows_served": written.rows_served,
        "rows_inserted": written.inserted,
        "rows_updated": written.updated,
        "rows_deleted": written.deleted,
        "rows_vanished_kept": written.vanished_kept,
        "rows_unchanged": written.unchanged,
        "rows_by_level": dg.MetadataValue.json(written.rows_by_level),
        f"{top_level}_level_spend": dg.MetadataValue.float(round(spend_total, 6)),
        "first_pull": written.first_pull,
        "changed": written.changed,
        f"spend_by_{breakdown.name}": dg.MetadataValue.md(
            by_value.head(15).reset_index().to_markdown(index=False, floatfmt=".2f") if len(by_value) else "_no rows_"),
    }
    return metadata


def _sums_check(asset_key: dg.AssetKey, breakdown: Breakdown, found: list[pd.DataFrame]) -> dg.AssetCheckResult:
    off = pd.concat([frame for frame in found if not frame.empty], ignore_index=True) if any(
        not frame.empty for frame in found) else pd.DataFrame()
    partitions = sorted({f"{row.stat_date}|{row.advertiser_id}" for row in off.itertuples()}) if len(off) else []
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=SUMS_TO_BASIC_CHECK,
        passed=off.empty,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{len(off)} entity-day(s) in {len(partitions)} partition(s) whose {breakdown.name} breakdown does not "
            f"add up to TikTok's BASIC total: " + ", ".join(partitions[:10])
            + (" (TikTok's Reporting FAQ: province_id leaves some location ids out)" if breakdown.name == "province"
               else "")
            if len(off) else f"Every entity-day's {breakdown.name} breakdown adds up to its BASIC total."
        ),
        metadata={
            "entity_days_off": len(off),
            "partitions_off": dg.MetadataValue.json(partitions),
            "largest_gaps": dg.MetadataValue.md(
                off.reindex(off["spend_gap"].abs().sort_values(ascending=False).index).head(20)
                .astype(str).to_markdown(index=False) if len(off) else "_none_"),
        },
    )


def _vanished_check(asset_key: dg.AssetKey, vanished: list[AudienceWrite]) -> dg.AssetCheckResult:
    rows = sum(written.vanished_kept for written in vanished)
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=AUDIENCE_SETTLED_ROWS_CHECK,
        passed=not vanished,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{rows} row(s) of {len(vanished)} settled partition(s) were not served again and were KEPT: "
            + ", ".join(f"{written.stat_date}|{written.advertiser_id} ({written.vanished_kept})"
                        for written in vanished[:10])
            if vanished else "No settled partition lost rows in this run."
        ),
        metadata={"settled_partitions_with_vanished_rows": len(vanished), "rows_vanished_kept": rows},
    )


AUDIENCE_ASSETS = [audience_asset(breakdown) for breakdown in BREAKDOWNS.values()]


def audience_range(engine: Engine, zones: dict[str, str], now: datetime, settle_days: int
                   ) -> tuple[date, date] | None:
    """The union of every advertiser's and breakdown's audience re-pull plan (``audience_repull_dates``)."""
    wanted: set[date] = set()
    for advertiser_id, zone in zones.items():
        since = local_today(zone, now) - timedelta(days=SETTLE_HISTORY_DAYS)
        for breakdown in BREAKDOWNS.values():
            history = latest_pulls(engine, breakdown.asset_name, advertiser_id, zone, since=since,
                                   pulls_table=audience_pulls, clock_lag=breakdown.latency)
            wanted.update(audience_repull_dates(now, zone, breakdown.latency, settle_days, history))
    return (min(wanted), max(wanted)) if wanted else None


@dg.schedule(cron_schedule="30 12 * * *", target=dg.AssetSelection.assets(*AUDIENCE_ASSETS),
             default_status=dg.DefaultScheduleStatus.RUNNING, description=(
                 "Every day at 12:30 UTC (after TikTok's 12:00 UTC data fix): every audience breakdown's newest "
                 "complete day (16 h latency for age, gender, platform, province; 12 h for country, placement) and "
                 "its settle window again; settled days are skipped."))
def daily_audience_schedule(context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource
                            ) -> Iterator[dg.RunRequest | dg.SkipReason]:
    advertiser_ids = context.instance.get_dynamic_partitions(ADVERTISER_PARTITIONS_NAME)
    if not advertiser_ids:
        yield automation.NO_ADVERTISERS_YET
        return
    now = automation._scheduled_utc(context)
    engine = warehouse.get_engine()
    zones = advertiser_zones(engine, advertiser_ids)
    if not zones:
        yield automation.NO_ZONES_YET
        return
    planned = audience_range(engine, zones, now, warehouse.settle_window_days())
    if planned is None:
        yield dg.SkipReason("No audience day is complete yet.")
        return
    yield dg.RunRequest(
        run_key=f"audience:{now:%Y-%m-%d}",
        tags={**all_advertisers_range_tags(advertiser_ids, *planned), SKIP_SETTLED_TAG: "true",
              "tiktok/reason": "daily audience breakdowns", automation.ADVERTISER_TAG: automation.ALL_ADVERTISERS},
    )
