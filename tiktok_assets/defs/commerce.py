"""``advertiser_commerce_daily``: an advertiser's day across buying kinds, GMV Max included, as an asset.

The math is ``metrics.commerce`` (how GMV Max spend, which has no impressions or clicks, stays out of CPC, CTR
and CPM but counts in spend and ROAS); the writes are ``warehouse.commerce``. Partitioned like the metrics it
reads; recomputed on a changed data version of the campaign metrics or of the GMV Max rows.
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime

import dagster as dg
import pandas as pd

from tiktok_assets.defs.automation import change_only_eager
from tiktok_assets.defs.metrics import METRICS_GROUP, METRICS_KINDS, SETTLE_LOOKBACK
from tiktok_assets.defs.resources import WarehouseResource
from tiktok_assets.defs.spend import DATA_VERSION_TAG
from tiktok_assets.metrics.commerce import commerce_daily
from tiktok_assets.metrics.store import read_metrics
from tiktok_assets.partitions import advertiser_date_key, advertiser_date_partitions, dates_by_advertiser
from tiktok_assets.warehouse.commerce import replace_commerce_partitions
from tiktok_assets.warehouse.levels import read_gmv_max_stats

COMMERCE_ASSET = "advertiser_commerce_daily"
COMMERCE_CHECK = "commerce_spend_adds_up"
# Bump when metrics.commerce's formulas change, so the UI marks the table stale.
COMMERCE_CODE_VERSION = "1"
CAMPAIGN_METRICS = dg.AssetKey("campaign_metrics_daily")
GMV_MAX = dg.AssetKey("gmv_max_stats_daily")


@dg.multi_asset(
    specs=[dg.AssetSpec(
        COMMERCE_ASSET, group_name=METRICS_GROUP, kinds=METRICS_KINDS, partitions_def=advertiser_date_partitions,
        deps=[CAMPAIGN_METRICS, GMV_MAX], skippable=True, code_version=COMMERCE_CODE_VERSION,
        automation_condition=change_only_eager(SETTLE_LOOKBACK, may_be_missing=[GMV_MAX]),
        description="Per advertiser and local day: spend of every buying kind (ad campaigns plus GMV Max cost), "
                    "CTR / CPC / CPM over the spend that had impressions or clicks only (GMV Max spend has none), "
                    "TikTok-attributed ROAS with GMV Max gross revenue in, first-party ROAS over the spend that "
                    "can bring first-party orders, and GMV Max's own cost, revenue, orders and ROI.")],
    check_specs=[dg.AssetCheckSpec(
        COMMERCE_CHECK, asset=COMMERCE_ASSET,
        description="spend = delivery_spend + undelivered_spend, and GMV Max cost is within undelivered_spend, "
                    "for every row written; warns naming the advertiser-days.")],
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def advertiser_commerce(context: dg.AssetExecutionContext, warehouse: WarehouseResource
                        ) -> Iterator[dg.AssetMaterialization | dg.AssetCheckResult]:
    """Blend ``campaign_metrics_daily`` and ``gmv_max_stats_daily`` per advertiser and day (table
    ``advertiser_commerce_daily``)."""
    engine = warehouse.get_engine()
    dates = dates_by_advertiser(context.partition_keys)
    written_frames = []
    for advertiser_id, days in sorted(dates.items()):
        first, last = min(days), max(days)
        campaigns = read_metrics(engine, "campaign", "daily", advertiser_id, first, last)
        gmv_max = read_gmv_max_stats(engine, first, last, advertiser_id)
        frame = commerce_daily(campaigns, gmv_max)
        frame = frame[frame["stat_date"].isin(set(days))] if not frame.empty else frame
        written = replace_commerce_partitions(engine, frame, [(advertiser_id, day) for day in days],
                                              datetime.now(UTC))
        written_frames.append(frame)
        for (_, day), (rows, version) in sorted(written.items()):
            part = frame[frame["stat_date"] == day] if not frame.empty else frame
            yield dg.AssetMaterialization(
                asset_key=COMMERCE_ASSET, partition=advertiser_date_key(advertiser_id, day),
                tags={DATA_VERSION_TAG: version},
                metadata={"rows": rows, "stat_date": day.isoformat(),
                          "spend": dg.MetadataValue.float(float(part["spend"].sum()) if rows else 0.0),
                          "gmv_max_cost": dg.MetadataValue.float(float(part["gmv_max_cost"].sum()) if rows else 0.0),
                          "preview": dg.MetadataValue.md(part.astype(str).to_markdown(index=False)
                                                         if rows else "_no spend this day_")})
    found = [frame for frame in written_frames if not frame.empty]
    yield _adds_up(pd.concat(found, ignore_index=True) if found else pd.DataFrame())


def _adds_up(frame: pd.DataFrame) -> dg.AssetCheckResult:
    if frame.empty:
        off = frame
    else:
        parts = frame["delivery_spend"] + frame["undelivered_spend"]
        off = frame[((frame["spend"] - parts).abs() > 1e-6)
                    | (frame["gmv_max_cost"] > frame["undelivered_spend"] + 1e-6)]
    return dg.AssetCheckResult(
        asset_key=COMMERCE_ASSET, check_name=COMMERCE_CHECK, passed=off.empty, severity=dg.AssetCheckSeverity.WARN,
        description="Every row's spend splits into delivery and undelivered spend." if off.empty else
        "Spend does not split on " + ", ".join(f"{row.advertiser_id} {row.stat_date}" for row in off.head(10).itertuples()),
        metadata={"rows": len(frame), "mismatches": len(off)})


COMMERCE_ASSETS = [advertiser_commerce]
