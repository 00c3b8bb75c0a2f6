"""GMV Max (TikTok Shop) campaigns' daily cost, gross revenue, orders and ROI as a partitioned asset.

``gmv_max_stats_daily`` is partitioned like ``ad_stats_daily`` (local date × advertiser) and follows the same
re-pull rules (``spend.settle``: the daily settle run re-pulls the settle window and skips settled days; a settled
day never loses a row); every change is logged in ``gmv_max_revisions``, every pull in ``level_stats_pulls``, and
each partition gets its own materialization and data version. The logic is in ``spend.gmv_max`` (TikTok's
endpoint) and ``warehouse.levels`` (the revision-aware writes).
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime

import dagster as dg
import pandas as pd

from tiktok_assets.defs.resources import TikTokApiResource, WarehouseResource
from tiktok_assets.defs.spend import DATA_VERSION_TAG, TIKTOK_API_POOL, tiktok_advertisers
from tiktok_assets.partitions import advertiser_date_key, advertiser_date_partitions, dates_by_advertiser
from tiktok_assets.spend.gmv_max import fetch_gmv_max_daily, gmv_max_schema_failures
from tiktok_assets.spend.pull import profiles_from_infos
from tiktok_assets.spend.revisions import latest_pulls
from tiktok_assets.spend.settle import (
    SKIP_SETTLED_TAG,
    begun_dates,
    is_intraday,
    local_today,
    planned_dates,
    settled_dates,
)
from tiktok_assets.warehouse.levels import write_gmv_max_partitions
from tiktok_assets.warehouse.tables import level_stats_pulls

GMV_MAX_GROUP = "tiktok_gmv_max"
GMV_MAX_ASSET = "gmv_max_stats_daily"
GMV_MAX_SCHEMA_CHECK = "gmv_max_schema_valid"
GMV_MAX_ROI_CHECK = "gmv_max_roi_consistent"
# TikTok's roi comes with 2 decimals ("2.0", "0.00" in its examples): a row whose roi is further than this from
# gross_revenue / cost was not read as TikTok meant it (or TikTok computes it on other figures).
ROI_TOLERANCE = 0.0051


def _utc_now() -> datetime:
    """Now, aware UTC (tests run it on the simulator's clock)."""
    return datetime.now(UTC)


@dg.multi_asset(
    specs=[dg.AssetSpec(
        GMV_MAX_ASSET, group_name=GMV_MAX_GROUP, kinds={"tiktok", "sql"}, partitions_def=advertiser_date_partitions,
        deps=[tiktok_advertisers], skippable=True,
        description="GMV Max (TikTok Shop) campaigns per advertiser, shop and local day, from /gmv_max/report/get/: "
                    "cost (their spend), net_cost, gross_revenue, orders and TikTok's roi, deleted campaigns "
                    "included. They have no impressions or clicks: the commerce metrics keep their spend out of "
                    "CPC, CTR and CPM.")],
    check_specs=[
        dg.AssetCheckSpec(GMV_MAX_SCHEMA_CHECK, asset=GMV_MAX_ASSET, blocking=True,
                          description="pandera: ids, 3-letter currency, non-negative finite money and orders below "
                                      "10^12, net_cost within cost, one row per campaign and day."),
        dg.AssetCheckSpec(GMV_MAX_ROI_CHECK, asset=GMV_MAX_ASSET,
                          description="TikTok's roi of each row equals gross_revenue / cost (within its 2-decimal "
                                      "rounding); warns naming the campaigns and days."),
    ],
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=TIKTOK_API_POOL,
)
def gmv_max_stats_daily(context: dg.AssetExecutionContext, tiktok_api: TikTokApiResource,
                        warehouse: WarehouseResource) -> Iterator[dg.AssetMaterialization | dg.AssetCheckResult]:
    """Pull the GMV Max rows of every available TikTok Shop for the run's partitions (table ``gmv_max_stats_daily``;
    revisions in ``gmv_max_revisions``, pulls in ``level_stats_pulls``)."""
    engine = warehouse.get_engine()
    by_advertiser = dates_by_advertiser(context.partition_keys)
    skip_settled = context.run.tags.get(SKIP_SETTLED_TAG) == "true"
    settle_days = warehouse.settle_window_days()
    pulled: list[pd.DataFrame] = []
    with tiktok_api.get_client() as client:
        profiles, errors = profiles_from_infos(client.advertiser_info(sorted(by_advertiser)))
        for advertiser_id, requested in sorted(by_advertiser.items()):
            if advertiser_id not in profiles:
                context.log.error(f"GMV Max: advertiser {advertiser_id} not imported: "
                                  f"{errors.get(advertiser_id, 'not returned by /advertiser/info/')}")
                continue
            profile = profiles[advertiser_id]
            now = _utc_now()
            today = local_today(profile.timezone, now)
            dates = begun_dates(requested, today)
            history = latest_pulls(engine, GMV_MAX_ASSET, advertiser_id, profile.timezone, since=min(requested),
                                   pulls_table=level_stats_pulls)
            if skip_settled:
                dates = planned_dates(dates, today, settle_days, history)
            if not dates:
                continue
            frames = fetch_gmv_max_daily(client, profile, dates)
            failures = gmv_max_schema_failures(pd.concat([frame for frame in frames.values()], ignore_index=True))
            if not failures.empty:
                # Blocking: nothing of a frame that fails its schema is written.
                yield _schema_result(failures)
                raise dg.Failure(f"GMV Max: advertiser {advertiser_id}'s rows fail their schema; nothing written. "
                                 f"{failures.head(5).to_dict('records')}")
            writes = write_gmv_max_partitions(
                engine, {(advertiser_id, day): frame for day, frame in frames.items()}, now,
                settled={(advertiser_id, day) for day in settled_dates(history, today, settle_days)},
                intraday={(advertiser_id, day) for day in dates if is_intraday(day, today)})
            for (_, day), written in writes.items():
                frame = frames[day]
                pulled.append(frame)
                yield dg.AssetMaterialization(
                    asset_key=GMV_MAX_ASSET, partition=advertiser_date_key(advertiser_id, day),
                    tags={DATA_VERSION_TAG: written.data_version},
                    metadata=_partition_metadata(profile.name, advertiser_id, profile.currency, day, frame, written,
                                                 is_intraday(day, today)))
    found = [frame for frame in pulled if not frame.empty]
    rows = pd.concat(found, ignore_index=True) if found else pd.DataFrame()
    yield _schema_result(pd.DataFrame())
    yield _roi_result(rows)
    if errors:
        raise dg.Failure(f"GMV Max: advertiser(s) {', '.join(sorted(errors))} not imported (the others were): "
                         + " | ".join(str(errors[advertiser_id]) for advertiser_id in sorted(errors)))


def _partition_metadata(name: str, advertiser_id: str, currency: str, day: date, frame: pd.DataFrame, written,  # noqa: ANN001
                        intraday: bool) -> dict[str, object]:
    cost = float(frame["cost"].sum()) if not frame.empty else 0.0
    revenue = float(frame["gross_revenue"].sum()) if not frame.empty else 0.0
    by_campaign = (frame.groupby(["store_id", "campaign_id", "promotion_type"], as_index=False)[
        ["cost", "gross_revenue", "orders"]].sum() if not frame.empty else frame)
    return {
        "advertiser": f"{name} ({advertiser_id})", "stat_date": day.isoformat(), "currency": currency,
        "stores": int(frame["store_id"].nunique()) if not frame.empty else 0,
        "campaigns": int(frame["campaign_id"].nunique()) if not frame.empty else 0,
        "cost": dg.MetadataValue.float(float(round(cost, 6))),
        "gross_revenue": dg.MetadataValue.float(float(round(revenue, 6))),
        # ROI of the day as a ratio of sums (null without cost), not an average of the rows' roi.
        "roi": dg.MetadataValue.float(round(revenue / cost, 4)) if cost else None,
        "rows_served": written.rows_served, "rows_inserted": written.inserted, "rows_updated": written.updated,
        "rows_deleted": written.deleted, "rows_vanished_kept": written.vanished_kept,
        "cost_change": dg.MetadataValue.float(float(round(written.spend_after - written.spend_before, 6))),
        "first_pull": written.first_pull, "changed": written.changed, "intraday": intraday,
        "preview": dg.MetadataValue.md(by_campaign.astype(str).to_markdown(index=False)
                                       if not frame.empty else "_no GMV Max delivery this day_"),
    }


def _schema_result(failures: pd.DataFrame) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=GMV_MAX_ASSET, check_name=GMV_MAX_SCHEMA_CHECK, passed=failures.empty,
        severity=dg.AssetCheckSeverity.ERROR,
        description="Every GMV Max row conforms." if failures.empty else
        f"{len(failures)} failure case(s); nothing of that advertiser's pull was written.",
        metadata={"failure_cases": len(failures),
                  "preview": dg.MetadataValue.md(failures.head(20).astype(str).to_markdown(index=False)
                                                 if not failures.empty else "_none_")})


def roi_mismatches(rows: pd.DataFrame, tolerance: float = ROI_TOLERANCE) -> pd.DataFrame:
    """Rows whose TikTok ``roi`` is not gross_revenue / cost (rows without cost or roi are not compared)."""
    if rows.empty:
        return pd.DataFrame(columns=["advertiser_id", "stat_date", "campaign_id", "roi", "computed"])
    cost = rows["cost"].astype(float)
    computed = (rows["gross_revenue"].astype(float) / cost.where(cost > 0)).round(4)
    off = rows["roi"].notna() & computed.notna() & ((rows["roi"].astype(float) - computed).abs() > tolerance)
    return rows.loc[off, ["advertiser_id", "stat_date", "campaign_id", "roi"]].assign(computed=computed[off])


def _roi_result(rows: pd.DataFrame) -> dg.AssetCheckResult:
    off = roi_mismatches(rows)
    return dg.AssetCheckResult(
        asset_key=GMV_MAX_ASSET, check_name=GMV_MAX_ROI_CHECK, passed=off.empty, severity=dg.AssetCheckSeverity.WARN,
        description=("Every pulled row's roi equals gross_revenue / cost." if off.empty else
                     f"{len(off)} row(s) whose roi is not gross_revenue / cost: " + ", ".join(
                         f"campaign {row.campaign_id} on {row.stat_date}" for row in off.head(10).itertuples())
                     + ". TikTok may compute roi on other figures; compare with GMV Max in Ads Manager."),
        metadata={"rows_compared": len(rows), "mismatches": len(off),
                  "preview": dg.MetadataValue.md(off.head(20).astype(str).to_markdown(index=False)
                                                 if not off.empty else "_none_")})


GMV_MAX_ASSETS = [gmv_max_stats_daily]
