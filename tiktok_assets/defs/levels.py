"""TikTok's own campaign / ad group / advertiser daily totals, and lifetime totals, as assets.

The level totals are partitioned like ``ad_stats_daily`` (local date × advertiser) and follow its re-pull rules
(``spend.settle``: the daily settle run re-pulls the settle window and skips settled days); each partition gets
its own materialization and data version. A check per level reconciles the additive metrics with the sum of
our ad rows. Lifetime totals have no date, so they are partitioned per advertiser only: each run appends a
snapshot for every entity whose lifetime totals moved.
"""

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime

import dagster as dg
import pandas as pd

from tiktok_assets.defs.resources import TikTokApiResource, WarehouseResource
from tiktok_assets.defs.spend import DATA_VERSION_TAG, SPEND_GROUP, TIKTOK_API_POOL, tiktok_advertisers
from tiktok_assets.partitions import (
    advertiser_date_key,
    advertiser_date_partitions,
    advertiser_partitions,
    dates_by_advertiser,
)
from tiktok_assets.spend.levels import (
    LEVEL_DATA_LEVELS,
    MISMATCH_COLUMNS,
    fetch_level_daily,
    fetch_lifetime,
    reconcile,
)
from tiktok_assets.spend.pull import AdvertiserProfile, profiles_from_infos
from tiktok_assets.spend.revisions import latest_pulls
from tiktok_assets.spend.settle import (
    SKIP_SETTLED_TAG,
    begun_dates,
    is_intraday,
    local_today,
    planned_dates,
    settled_dates,
)
from tiktok_assets.warehouse.levels import (
    ad_row_sums,
    latest_lifetime,
    read_level_stats,
    write_level_partitions,
    write_lifetime_snapshot,
)
from tiktok_assets.warehouse.tables import level_stats_pulls

LEVELS_GROUP = "tiktok_level_totals"
LEVEL_ASSETS = {level: f"{level}_stats_daily" for level in LEVEL_DATA_LEVELS}
RECONCILE_CHECK = "totals_match_ad_rows"
_DESCRIPTIONS = {
    "campaign": "TikTok's own daily totals per campaign (AUCTION_CAMPAIGN): spend, impressions, clicks, conversions, "
                "and reach deduplicated across the campaign's ads, with frequency = impressions / reach.",
    "adgroup": "TikTok's own daily totals per ad group (AUCTION_ADGROUP): spend, impressions, clicks, conversions, "
               "reach deduplicated across the ad group's ads, and frequency.",
    "advertiser": "TikTok's own daily totals for the whole account (AUCTION_ADVERTISER): spend split into cash_spend "
                  "and voucher_spend, impressions, clicks, conversions, reach and frequency. Includes reservation "
                  "buying (Reach & Frequency, TopView), which ad rows lack.",
}


def _utc_now() -> datetime:
    """Now, aware UTC (tests run it on the simulator's clock)."""
    return datetime.now(UTC)


def _check_spec(level: str) -> dg.AssetCheckSpec:
    extra = (" TikTok's advertiser total above the ad rows is reservation buying (metadata not_in_ad_rows), not a "
             "failure." if level == "advertiser" else "")
    return dg.AssetCheckSpec(
        RECONCILE_CHECK, asset=LEVEL_ASSETS[level],
        description=f"Spend, impressions, clicks and conversions of each {level} and day equal the sum of its rows in "
                    "ad_stats_daily (within 0.1% and one minor unit / one count); warns naming the entities and "
                    f"days. Reach and frequency are never summed.{extra}")


@dg.multi_asset(
    specs=[dg.AssetSpec(name, group_name=LEVELS_GROUP, kinds={"tiktok", "sql"}, description=_DESCRIPTIONS[level],
                        partitions_def=advertiser_date_partitions, deps=[tiktok_advertisers, "ad_stats_daily"],
                        skippable=True)
           for level, name in LEVEL_ASSETS.items()],
    check_specs=[_check_spec(level) for level in LEVEL_ASSETS],
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=TIKTOK_API_POOL,
)
def tiktok_level_totals(context: dg.AssetExecutionContext, tiktok_api: TikTokApiResource,
                        warehouse: WarehouseResource) -> Iterator[dg.AssetMaterialization | dg.AssetCheckResult]:
    """Pull TikTok's campaign, ad group and advertiser daily totals for the run's partitions (table
    ``level_stats_daily``; revisions in ``level_stats_revisions``, pulls in ``level_stats_pulls``)."""
    engine = warehouse.get_engine()
    by_advertiser = dates_by_advertiser(context.partition_keys)
    skip_settled = context.run.tags.get(SKIP_SETTLED_TAG) == "true"
    settle_days = warehouse.settle_window_days()
    mismatches: dict[str, list[pd.DataFrame]] = defaultdict(list)
    with tiktok_api.get_client() as client:
        profiles, errors = profiles_from_infos(client.advertiser_info(sorted(by_advertiser)))
        for advertiser_id, requested in sorted(by_advertiser.items()):
            if advertiser_id not in profiles:
                context.log.error(f"level totals: advertiser {advertiser_id} not imported: "
                                  f"{errors.get(advertiser_id, 'not returned by /advertiser/info/')}")
                continue
            profile = profiles[advertiser_id]
            now = _utc_now()
            today = local_today(profile.timezone, now)
            for level, asset_name in LEVEL_ASSETS.items():
                dates = begun_dates(requested, today)
                history = latest_pulls(engine, asset_name, advertiser_id, profile.timezone, since=min(requested),
                                       pulls_table=level_stats_pulls)
                if skip_settled:
                    dates = planned_dates(dates, today, settle_days, history)
                if not dates:
                    continue
                frames = fetch_level_daily(client, profile, level, dates)
                writes = write_level_partitions(
                    engine, asset_name, level, {(advertiser_id, day): frame for day, frame in frames.items()},
                    now, currency=profile.currency,
                    settled={(advertiser_id, day) for day in settled_dates(history, today, settle_days)},
                    intraday={(advertiser_id, day) for day in dates if is_intraday(day, today)})
                for (_, day), written in writes.items():
                    yield dg.AssetMaterialization(
                        asset_key=asset_name, partition=advertiser_date_key(advertiser_id, day),
                        tags={DATA_VERSION_TAG: written.data_version},
                        metadata={"advertiser": f"{profile.name} ({advertiser_id})", "stat_date": day.isoformat(),
                                  "currency": profile.currency, "rows_served": written.rows_served,
                                  "rows_inserted": written.inserted, "rows_updated": written.updated,
                                  "rows_deleted": written.deleted, "rows_vanished_kept": written.vanished_kept,
                                  "spend": dg.MetadataValue.float(written.spend_after),
                                  "spend_change": dg.MetadataValue.float(
                                      round(written.spend_after - written.spend_before, 6)),
                                  "first_pull": written.first_pull, "changed": written.changed,
                                  "intraday": is_intraday(day, today)})
                mismatches[level].append(_mismatches(engine, profile, level, dates))
    for level in LEVEL_ASSETS:
        found = [frame for frame in mismatches[level] if not frame.empty]
        yield _reconcile_result(level, pd.concat(found, ignore_index=True)
                                if found else pd.DataFrame(columns=MISMATCH_COLUMNS))
    if errors:
        raise dg.Failure(f"level totals: advertiser(s) {', '.join(sorted(errors))} not imported (the others were): "
                         + " | ".join(str(errors[advertiser_id]) for advertiser_id in sorted(errors)))


def _mismatches(engine, profile: AdvertiserProfile, level: str, dates: list[date]) -> pd.DataFrame:  # noqa: ANN001
    stored = read_level_stats(engine, profile.advertiser_id, min(dates), max(dates), level)
    sums = ad_row_sums(engine, profile.advertiser_id, dates, level)
    return reconcile(profile.advertiser_id, stored, sums, level, profile.currency)


def _reconcile_result(level: str, found: pd.DataFrame) -> dg.AssetCheckResult:
    failing = found[found["kind"] == "mismatch"]
    unimported = found[found["kind"] == "not_in_ad_rows"]
    named = failing.drop_duplicates(["stat_date", "entity_id"]).head(10)
    return dg.AssetCheckResult(
        asset_key=LEVEL_ASSETS[level], check_name=RECONCILE_CHECK, passed=failing.empty,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{failing[['stat_date', 'entity_id']].drop_duplicates().shape[0]} {level}-day(s) differ from the sum of "
            "their ad rows: " + ", ".join(f"{level} {row.entity_id} on {row.stat_date}" for row in named.itertuples())
            + ". A re-pull of one side between the two pulls explains a small move; otherwise re-pull both."
            if not failing.empty else f"Every {level} total equals the sum of its ad rows."),
        metadata={
            "mismatches": len(failing),
            "entities": dg.MetadataValue.json(sorted({str(value) for value in failing["entity_id"]})),
            "not_in_ad_rows": dg.MetadataValue.json(
                {f"{row.advertiser_id} {row.stat_date}": round(row.difference, 6)
                 for row in unimported[unimported["metric"] == "spend"].itertuples()}),
            "preview": dg.MetadataValue.md(failing.head(20).astype(str).to_markdown(index=False)
                                           if not failing.empty else "_none_"),
        },
    )


@dg.asset(
    group_name=LEVELS_GROUP,
    kinds={"tiktok", "sql"},
    partitions_def=advertiser_partitions,
    deps=[tiktok_advertisers],
    pool=TIKTOK_API_POOL,
)
def lifetime_totals(context: dg.AssetExecutionContext, tiktok_api: TikTokApiResource,
                    warehouse: WarehouseResource) -> dg.MaterializeResult:
    """TikTok's lifetime totals (query_lifetime=true) of every ad, ad group and campaign of one advertiser, deleted
    ones included: spend, impressions, clicks, conversions, lifetime reach and frequency. Table
    ``lifetime_snapshots`` gets a row per entity each time its totals moved (the newest is the current figure)."""
    advertiser_id = context.partition_key
    engine = warehouse.get_engine()
    with tiktok_api.get_client() as client:
        profiles, errors = profiles_from_infos(client.advertiser_info([advertiser_id]))
        if advertiser_id not in profiles:
            raise dg.Failure(f"lifetime totals: advertiser {advertiser_id} not imported: "
                             f"{errors.get(advertiser_id, 'not returned by /advertiser/info/: materialize tiktok_advertisers')}")
        profile = profiles[advertiser_id]
        frame = fetch_lifetime(client, profile)
    written = write_lifetime_snapshot(engine, advertiser_id, frame, _utc_now())
    current = latest_lifetime(engine, advertiser_id)
    by_level = (current.groupby("level")["spend"].sum().round(2).to_dict() if not current.empty else {})
    top = current.sort_values("spend", ascending=False).head(10)[["level", "entity_id", "spend", "impressions",
                                                                    "reach", "frequency", "snapshot_at"]]
    return dg.MaterializeResult(
        data_version=dg.DataVersion(_lifetime_digest(current)),
        metadata={
            "advertiser": f"{profile.name} ({advertiser_id})",
            "currency": profile.currency,
            "entities": written["entities"],
            "snapshots_written": written["snapshots_written"],
            "unchanged": written["unchanged"],
            "lifetime_spend_by_level": dg.MetadataValue.json({str(k): float(v) for k, v in by_level.items()}),
            "largest": dg.MetadataValue.md(top.astype(str).to_markdown(index=False) if not top.empty else "_none_"),
        },
    )


def _lifetime_digest(current: pd.DataFrame) -> str:
    import hashlib

    if current.empty:
        return "empty"
    text = current.sort_values(["level", "entity_id"])[["level", "entity_id", "snapshot_at"]].astype(str)
    return hashlib.sha256("\n".join("|".join(row) for row in text.itertuples(index=False)).encode()).hexdigest()[:24]


LEVEL_TOTALS_ASSETS = [tiktok_level_totals, lifetime_totals]
