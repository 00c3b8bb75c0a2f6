"""TikTok's own totals per campaign, ad group and advertiser, and lifetime totals (no Dagster import).

Why pull levels at all when ad rows add up? Because some of TikTok's figures do
not add up over ads: **reach** is people, and one person seeing three ads of a
campaign is one reached, so TikTok's campaign reach is below the sum of its
ads' reach, and **frequency** (impressions / reach) follows it. The
advertiser level also counts **reservation buying** (Reach & Frequency,
TopView) that ad rows lack (TikTok docs 1740302848100353, FACTS.md 6), and only
it serves the split of spend into **cash_spend** and **voucher_spend**
(airbyte source-tiktok-marketing manifest ``advertisers_reports_daily``: those
two at AUCTION_ADVERTISER with ``stat_time_day``; any other level answers
40002 "Invalid metric fields", airbyte issue 11375). So these rows are kept as
TikTok serves them, beside our ratio-of-sums rollups of ad rows, never mixed.

Additive metrics (spend, impressions, clicks, conversions) must still agree
with the sum of the ad rows: :func:`reconcile` says where they do not.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd

from tiktok_assets.spend.pull import AdvertiserProfile, contiguous_ranges, currency_decimals
from tiktok_assets.tiktok.client import TikTokClient
from tiktok_assets.tiktok.reports import ReportParseError, parse_report_rows

LEVEL_DATA_LEVELS = {"campaign": "AUCTION_CAMPAIGN", "adgroup": "AUCTION_ADGROUP", "advertiser": "AUCTION_ADVERTISER"}
LIFETIME_DATA_LEVELS = {"ad": "AUCTION_AD", "adgroup": "AUCTION_ADGROUP", "campaign": "AUCTION_CAMPAIGN"}
ID_DIMENSIONS = {"ad": "ad_id", "adgroup": "adgroup_id", "campaign": "campaign_id", "advertiser": "advertiser_id"}
# TikTok's names; parse_report_rows renames conversion -> conversions.
BASE_METRICS = ("spend", "impressions", "clicks", "conversion", "reach", "frequency")
ADVERTISER_ONLY_METRICS = ("cash_spend", "voucher_spend")
LEVEL_COLUMNS = ["advertiser_id", "stat_date", "level", "entity_id", "currency", "spend", "cash_spend",
                 "voucher_spend", "impressions", "clicks", "conversions", "reach", "frequency"]
LIFETIME_COLUMNS = ["advertiser_id", "level", "entity_id", "currency", "spend", "impressions", "clicks",
                    "conversions", "reach", "frequency"]
# A level total and its ad rows may differ by this share of TikTok's figure (and at least one minor unit or one
# count) before the check names the entity: rounding of many rows, nothing more.
DEFAULT_TOLERANCE_SHARE = 0.001


def level_metrics(level: str) -> list[str]:
    return [*BASE_METRICS, *(ADVERTISER_ONLY_METRICS if level == "advertiser" else ())]


def _typed(frame: pd.DataFrame, advertiser_id: str, level: str, id_dimension: str) -> pd.DataFrame:
    """Common typing of parsed level rows: the entity id, and TikTok's non-additive numbers checked."""
    frame = frame.rename(columns={id_dimension: "entity_id"})
    for name in ("cash_spend", "voucher_spend", "frequency", "reach"):
        if name not in frame:
            frame[name] = np.nan
        values = frame[name].to_numpy(dtype="float64")
        if (values < 0).any():
            raise ReportParseError(f"Advertiser {advertiser_id}: {level} report metric {name!r} is negative "
                                   f"({values[values < 0][0]}): TikTok never serves a negative {name}")
        frame[name] = values
    frame["level"] = level
    frame["advertiser_id"] = advertiser_id
    return frame


def fetch_level_daily(client: TikTokClient, advertiser: AdvertiserProfile, level: str, dates: Sequence[date]
                      ) -> dict[date, pd.DataFrame]:
    """TikTok's daily rows at ``level`` for each requested date (:data:`LEVEL_COLUMNS`; empty where none)."""
    data_level, id_dimension = LEVEL_DATA_LEVELS[level], ID_DIMENSIONS[level]
    metrics = level_metrics(level)
    rows = [row for start, end in contiguous_ranges(dates)
            for page in client.report_pages(advertiser.advertiser_id, start=start, end=end, metrics=metrics,
                                            data_level=data_level, granularity="day")  # type: ignore[arg-type]
            for row in page]
    parsed = parse_report_rows(rows, id_dimension=id_dimension, time_dimension="stat_time_day", metrics=metrics,
                               advertiser_id=advertiser.advertiser_id)
    frame = _typed(parsed, advertiser.advertiser_id, level, id_dimension)
    frame["stat_date"] = frame["stat_time"].dt.date
    frame["currency"] = advertiser.currency
    frame = frame[LEVEL_COLUMNS]
    grouped = {day: part.reset_index(drop=True) for day, part in frame.groupby("stat_date", sort=False)}
    return {day: grouped.get(day, frame.iloc[0:0]) for day in sorted(set(dates))}


def fetch_lifetime(client: TikTokClient, advertiser: AdvertiserProfile, levels: Sequence[str] = tuple(LIFETIME_DATA_LEVELS)
                   ) -> pd.DataFrame:
    """Lifetime totals (``query_lifetime=true``) of every ad, ad group and campaign, deleted ones included."""
    frames = []
    for level in levels:
        id_dimension = ID_DIMENSIONS[level]
        rows = client.lifetime_report(advertiser.advertiser_id, metrics=list(BASE_METRICS),
                                      data_level=LIFETIME_DATA_LEVELS[level])  # type: ignore[arg-type]
        parsed = parse_report_rows(rows, id_dimension=id_dimension, time_dimension=None, metrics=BASE_METRICS,
                                   advertiser_id=advertiser.advertiser_id)
        frame = _typed(parsed, advertiser.advertiser_id, level, id_dimension)
        frame["currency"] = advertiser.currency
        frames.append(frame[LIFETIME_COLUMNS])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=LIFETIME_COLUMNS)


MISMATCH_COLUMNS = ["advertiser_id", "stat_date", "level", "entity_id", "metric", "tiktok_total", "ad_rows_sum",
                    "difference", "kind"]


def reconcile(advertiser_id: str, level_rows: pd.DataFrame, ad_sums: pd.DataFrame, level: str, currency: str,
              metrics: Sequence[str] = ("spend", "impressions", "clicks", "conversions"),
              tolerance_share: float = DEFAULT_TOLERANCE_SHARE) -> pd.DataFrame:
    """Where TikTok's level totals and the sum of our ad rows disagree, per entity, day and additive metric.

    ``level_rows``: :data:`LEVEL_COLUMNS` rows of one advertiser and level; ``ad_sums``: ``stat_date,
    entity_id`` and the metrics summed from ad rows, for the days whose ad rows were imported (only those
    days are compared). A side with no row counts 0. ``kind`` is ``mismatch``, except at advertiser level
    where TikTok's total above the ad rows is ``not_in_ad_rows``: the advertiser level counts reservation
    buying, which ad rows lack. Reach and frequency are never compared: they do not add up.
    """
    days = set(ad_sums.attrs.get("pulled", set(ad_sums["stat_date"])))
    if not days:
        return pd.DataFrame(columns=MISMATCH_COLUMNS)
    tiktok = level_rows[level_rows["stat_date"].isin(days)][["stat_date", "entity_id", *metrics]]
    ours = ad_sums[ad_sums["stat_date"].isin(days)][["stat_date", "entity_id", *metrics]].copy()
    ours["entity_id"] = ours["entity_id"].astype(object).where(ours["entity_id"].notna(), "(unknown parent)")
    joined = tiktok.merge(ours, on=["stat_date", "entity_id"], how="outer", suffixes=("_tiktok", "_ours"))
    minor = 10.0 ** -currency_decimals(currency)
    found = []
    for metric in metrics:
        theirs = pd.to_numeric(joined[f"{metric}_tiktok"], errors="coerce").fillna(0.0).to_numpy(dtype="float64")
        summed = pd.to_numeric(joined[f"{metric}_ours"], errors="coerce").fillna(0.0).to_numpy(dtype="float64")
        difference = theirs - summed
        floor = minor if metric == "spend" else 1.0
        # Rounded first: float sums of many rows are off by fractions of a minor unit.
        rounded = np.round(difference / floor) * floor
        off = np.abs(rounded) >= np.maximum(floor, tolerance_share * np.abs(theirs)) - 1e-9
        for index in np.flatnonzero(off):
            kind = "not_in_ad_rows" if level == "advertiser" and rounded[index] > 0 else "mismatch"
            found.append({"advertiser_id": advertiser_id, "stat_date": joined["stat_date"].iloc[index],
                          "level": level, "entity_id": joined["entity_id"].iloc[index], "metric": metric,
                          "tiktok_total": float(theirs[index]), "ad_rows_sum": float(summed[index]),
                          "difference": float(rounded[index]), "kind": kind})
    result = pd.DataFrame(found, columns=MISMATCH_COLUMNS)
    if not result.empty:
        result = result.sort_values(["stat_date", "entity_id", "metric"]).reset_index(drop=True)
    return result
