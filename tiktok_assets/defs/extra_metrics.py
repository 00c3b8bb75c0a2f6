"""User-chosen metrics asset (``ad_metrics_extra_daily``) and its settle schedule.

Partitioned like ``ad_stats_daily`` (date × advertiser), single-run backfills, one materialization per partition
with a data version of its content. The logic is in ``tiktok_assets.spend.extra`` (configuration, requests, rows,
schema) and ``tiktok_assets.warehouse.extra_metrics`` (revision-aware writes); this module only wires them.
"""

from collections.abc import Iterator
from datetime import date

import dagster as dg
import pandas as pd

from tiktok_assets.defs import automation, spend
from tiktok_assets.defs.resources import ExtraMetricsResource, TikTokApiResource, WarehouseResource
from tiktok_assets import partitions
from tiktok_assets.partitions import ADVERTISER_PARTITIONS_NAME, advertiser_date_key, all_advertisers_range_tags
from tiktok_assets.spend.extra import ExtraMetricsConfigError, extra_schema_failures, fetch_extra_metrics
from tiktok_assets.spend.pull import AdvertiserProfile, profiles_from_infos
from tiktok_assets.spend.revisions import latest_pulls
from tiktok_assets.spend.schedule import advertiser_zones, settle_range
from tiktok_assets.spend.settle import (
    SKIP_SETTLED_TAG,
    begun_dates,
    is_intraday,
    local_today,
    planned_dates,
    settled_dates,
)
from tiktok_assets.warehouse.extra_metrics import ExtraWrite, data_version, empty_frame, write_extra_partitions
from tiktok_assets.warehouse.tables import EXTRA_METRICS_TABLE, ad_metrics_extra_pulls

EXTRA_SCHEMA_CHECK = "extra_metrics_schema_valid"
EXTRA_SETTLED_ROWS_CHECK = "settled_partitions_lost_no_rows"
# The data version of a partition with no extra metric configured: nothing to recompute downstream.
NONE_CONFIGURED_VERSION = data_version(empty_frame())


def _check_specs() -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(EXTRA_SCHEMA_CHECK, asset=EXTRA_METRICS_TABLE, blocking=True, description=(
            "pandera schema of the rows this run wrote: every metric a non-text name of TikTok's catalogue, "
            "values finite and below 1e12, additive counts whole and non-negative, 3-letter currency, one row "
            "per (ad, metric).")),
        dg.AssetCheckSpec(EXTRA_SETTLED_ROWS_CHECK, asset=EXTRA_METRICS_TABLE, description=(
            "Warns when a re-pull of a settled day no longer served rows the warehouse holds: they are kept, "
            "never counted as deletions; names the partitions.")),
    ]


@dg.asset(
    name=EXTRA_METRICS_TABLE,
    partitions_def=spend.STATS_COMMON["partitions_def"],
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name=spend.SPEND_GROUP,
    kinds={"tiktok", "sql"},
    pool=spend.TIKTOK_API_POOL,
    output_required=False,
    deps=[spend.tiktok_advertisers],
    check_specs=_check_specs(),
)
def ad_metrics_extra_daily(context: dg.AssetExecutionContext, tiktok_api: TikTokApiResource,
                           warehouse: WarehouseResource, extra_metrics: ExtraMetricsResource
                           ) -> Iterator[dg.AssetMaterialization | dg.AssetCheckResult]:
    """The BASIC metrics you chose beyond the core set (TIKTOK_EXTRA_METRICS / TIKTOK_EXTRA_METRICS_FILE), per ad
    and local day, one row per metric under TikTok's name: a new metric needs no schema change. Re-pulls of a
    day that has ended log every change in ad_metrics_extra_revisions (old, new, when); today's are progress.
    Deleted ads are included; a settled day never loses rows. With nothing configured it writes nothing."""
    try:
        metrics = extra_metrics.chosen()
    except ExtraMetricsConfigError as error:
        raise dg.Failure(description=str(error)) from None
    keys = list(context.partition_keys)
    if not metrics:
        context.log.info(f"{EXTRA_METRICS_TABLE}: no extra metric configured (TIKTOK_EXTRA_METRICS, "
                         "TIKTOK_EXTRA_METRICS_FILE): nothing pulled")
        for key in keys:
            yield dg.AssetMaterialization(
                asset_key=context.asset_key, partition=key, tags={spend.DATA_VERSION_TAG: NONE_CONFIGURED_VERSION},
                metadata={"extra_metrics": "none configured (set TIKTOK_EXTRA_METRICS or TIKTOK_EXTRA_METRICS_FILE)",
                          "metrics_pulled": dg.MetadataValue.json([]), "rows": 0, "rows_changed": 0})
        yield _schema_check(context.asset_key, [])
        yield _vanished_check(context.asset_key, [])
        return
    yield from _materialize(context, tiktok_api, warehouse, metrics, keys)


def _materialize(context: dg.AssetExecutionContext, tiktok_api: TikTokApiResource, warehouse: WarehouseResource,
                 metrics: list[str], keys: list[str]) -> Iterator[dg.AssetMaterialization | dg.AssetCheckResult]:
    engine = warehouse.get_engine()
    dates_by_advertiser = partitions.dates_by_advertiser(keys)
    skip_settled = context.run.tags.get(SKIP_SETTLED_TAG) == "true"
    settle_days = warehouse.settle_window_days()
    schema_problems: list[pd.DataFrame] = []
    vanished: list[ExtraWrite] = []
    with tiktok_api.get_client() as client:
        profiles, profile_errors = profiles_from_infos(client.advertiser_info(sorted(dates_by_advertiser)))
        unknown = sorted(set(dates_by_advertiser) - set(profiles) - set(profile_errors))
        if unknown:
            raise dg.Failure(f"Advertiser(s) {', '.join(unknown)} were not returned by /advertiser/info/: the token "
                             "lost access or the id is wrong; materialize tiktok_advertisers.")
        for advertiser_id, requested in sorted(dates_by_advertiser.items()):
            if advertiser_id in profile_errors:
                context.log.error(f"{EXTRA_METRICS_TABLE}: {len(requested)} partition(s) not imported: "
                                  f"{profile_errors[advertiser_id]}")
                continue
            profile = profiles[advertiser_id]
            today = local_today(profile.timezone, spend._utc_now())
            dates = begun_dates(requested, today)
            if not dates:
                continue
            history = latest_pulls(engine, EXTRA_METRICS_TABLE, advertiser_id, profile.timezone, since=min(dates),
                                   pulls_table=ad_metrics_extra_pulls)
            if skip_settled:
                planned = planned_dates(dates, today, settle_days, history)
                if len(planned) < len(dates):
                    context.log.info(f"{EXTRA_METRICS_TABLE}: advertiser {advertiser_id}: {len(dates) - len(planned)} "
                                     "partition(s) outside its re-pull plan (settled, or never pulled: backfill those)")
                dates = planned
                if not dates:
                    continue
            settled = {(advertiser_id, day) for day in settled_dates(history, today, settle_days) & set(dates)}
            intraday = {(advertiser_id, day) for day in dates if is_intraday(day, today)}
            frames = fetch_extra_metrics(client, profile, metrics, dates)
            failures = extra_schema_failures(advertiser_id, frames)
            if not failures.empty:
                schema_problems.append(failures)
            # Each partition is replaced in one transaction: a re-run or a backfill of the same days is idempotent.
            writes = write_extra_partitions(engine, {(advertiser_id, day): frame for day, frame in frames.items()},
                                            metrics, spend._now(), settled=settled, intraday=intraday)
            for (_advertiser, day), written in writes.items():
                if written.vanished_kept:
                    vanished.append(written)
                yield dg.AssetMaterialization(
                    asset_key=context.asset_key,
                    partition=advertiser_date_key(advertiser_id, day),
                    tags={spend.DATA_VERSION_TAG: written.data_version},
                    metadata=_partition_metadata(profile, day, written, frames[day]),
                )
        context.log.info(f"{EXTRA_METRICS_TABLE}: done ({len(metrics)} metric(s)); API requests: "
                         f"{client.stats.as_dict()}")
    yield _schema_check(context.asset_key, schema_problems)
    yield _vanished_check(context.asset_key, vanished)
    if profile_errors:
        raise spend._profile_failure(EXTRA_METRICS_TABLE, profile_errors, dates_by_advertiser)


def _partition_metadata(profile: AdvertiserProfile, day: date, written: ExtraWrite, served: pd.DataFrame
                        ) -> dict[str, object]:
    totals = (served.groupby("metric")["value"].agg(["sum", "count"]).rename(columns={"sum": "total", "count": "ads"})
              if len(served) else pd.DataFrame(columns=["total", "ads"]))
    preview = pd.DataFrame({"metric": list(written.metrics)}).merge(
        totals, left_on="metric", right_index=True, how="left").fillna({"total": 0.0, "ads": 0})
    if not written.first_pull:
        preview["moved"] = [written.moved_by_metric.get(name, 0.0) for name in preview["metric"]]
    return {
        "advertiser": f"{profile.name} ({profile.advertiser_id})",
        "stat_date": day.isoformat(),
        "currency": profile.currency,
        "metrics_pulled": dg.MetadataValue.json(list(written.metrics)),
        "rows": written.rows_served,
        "rows_changed": written.inserted + written.updated + written.deleted,
        "rows_inserted": written.inserted,
        "rows_updated": written.updated,
        "rows_deleted": written.deleted,
        "rows_unchanged": written.unchanged,
        "rows_vanished_kept": written.vanished_kept,
        "first_pull": written.first_pull,
        "intraday": written.intraday,
        "changed": written.changed,
        "totals_by_metric": dg.MetadataValue.md(preview.to_markdown(index=False, floatfmt=".2f")),
    }


def _schema_check(asset_key: dg.AssetKey, problems: list[pd.DataFrame]) -> dg.AssetCheckResult:
    return spend._schema_check_result(asset_key, problems, EXTRA_SCHEMA_CHECK)


def _vanished_check(asset_key: dg.AssetKey, vanished: list[ExtraWrite]) -> dg.AssetCheckResult:
    rows = sum(written.vanished_kept for written in vanished)
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=EXTRA_SETTLED_ROWS_CHECK,
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


@dg.schedule(cron_schedule="45 6 * * *", target=dg.AssetSelection.assets(ad_metrics_extra_daily),
             default_status=dg.DefaultScheduleStatus.RUNNING, description=(
                 "Every day at 06:45 UTC: yesterday's chosen extra metrics and the settle window again "
                 "(TIKTOK_SETTLE_DAYS, default 7) plus any older day not yet settled; settled days are skipped. "
                 "Skips when no extra metric is configured."))
def extra_metrics_settle_schedule(context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource,
                                  extra_metrics: ExtraMetricsResource) -> Iterator[dg.RunRequest | dg.SkipReason]:
    if not extra_metrics.chosen():
        yield dg.SkipReason("No extra metric configured (TIKTOK_EXTRA_METRICS, TIKTOK_EXTRA_METRICS_FILE).")
        return
    advertiser_ids = context.instance.get_dynamic_partitions(ADVERTISER_PARTITIONS_NAME)
    if not advertiser_ids:
        yield automation.NO_ADVERTISERS_YET
        return
    now = automation._scheduled_utc(context)
    settle_days = warehouse.settle_window_days()
    engine = warehouse.get_engine()
    zones = advertiser_zones(engine, advertiser_ids)
    if not zones:
        yield automation.NO_ZONES_YET
        return
    start, end = settle_range(engine, zones, now, settle_days, table_name=EXTRA_METRICS_TABLE,
                              pulls_table=ad_metrics_extra_pulls)
    yield dg.RunRequest(
        run_key=f"extra-settle:{now:%Y-%m-%d}",
        tags={**all_advertisers_range_tags(advertiser_ids, start, end), SKIP_SETTLED_TAG: "true",
              "tiktok/reason": f"extra metrics settle window re-pull ({settle_days} days)",
              automation.ADVERTISER_TAG: automation.ALL_ADVERTISERS},
    )
