"""Data-quality rules over the warehouse (no Dagster import): reconciliation, tracking coverage.

Freshness is not here: the stats assets carry Dagster's FreshnessPolicy (defs/spend.py).
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import sqlalchemy as sa

from tiktok_assets.warehouse import query_frame


def hourly_daily_mismatches(engine: sa.Engine, since: date, tolerance: float = 0.01) -> pd.DataFrame:
    """Advertiser-days whose hourly spend or clicks do not add up to the daily row (beyond ``tolerance``).

    Both grains come from the same TikTok numbers, so a gap means one grain was
    pulled before a revision and the other after it, or rows went missing.
    """
    daily = query_frame(engine, "select advertiser_id, stat_date, sum(spend) as daily_spend, sum(clicks) as daily_clicks "
                           "from ad_stats_daily where stat_date >= :since group by advertiser_id, stat_date",
                   since=since)
    hourly = query_frame(engine, "select advertiser_id, stat_date, sum(spend) as hourly_spend, sum(clicks) as hourly_clicks "
                            "from ad_stats_hourly where stat_date >= :since group by advertiser_id, stat_date",
                    since=since)
    columns = ["advertiser_id", "stat_date", "daily_spend", "hourly_spend", "daily_clicks", "hourly_clicks"]
    if daily.empty or hourly.empty:
        return pd.DataFrame(columns=columns)
    for frame in (daily, hourly):
        frame["stat_date"] = pd.to_datetime(frame["stat_date"]).dt.date
    joined = daily.merge(hourly, on=["advertiser_id", "stat_date"], how="inner")
    off = ((joined["daily_spend"] - joined["hourly_spend"]).abs() > tolerance) | (
        joined["daily_clicks"] != joined["hourly_clicks"]
    )
    return joined.loc[off, columns].reset_index(drop=True)


def recent_window_start(engine: sa.Engine, table_name: str, days: int) -> date | None:
    """First date of the last ``days`` days of data ``table_name`` holds (None when it holds none).

    Anchored at the newest date held, not at today: a pipeline that fell
    behind still gets its latest data checked (and the freshness check says it
    fell behind).
    """
    if table_name not in ("ad_stats_daily", "ad_stats_hourly"):
        raise ValueError(f"recent_window_start: unknown stats table {table_name!r}")
    frame = query_frame(engine, f"select max(stat_date) as newest from {table_name}")
    newest = frame["newest"].iloc[0] if not frame.empty else None
    if newest is None or pd.isna(newest):
        return None
    return pd.Timestamp(newest).date() - timedelta(days=days - 1)


def untracked_spend(engine: sa.Engine, since: date) -> pd.DataFrame:
    """Spend since ``since`` on ads whose current landing URL carries no tracking parameters.

    One row per such ad with its spend and its currency's share of spend; first-party
    attribution (and Converge-style tracking) cannot see these ads' clicks.
    """
    spend = query_frame(engine, "select advertiser_id, ad_id, currency, sum(spend) as spend from ad_stats_daily "
                           "where stat_date >= :since group by advertiser_id, ad_id, currency", since=since)
    ads = query_frame(engine, "select ad_id, ad_name, landing_page_url, has_tracking from ad_history where valid_to is null")
    columns = ["advertiser_id", "ad_id", "ad_name", "currency", "spend", "share_of_currency_spend", "landing_page_url"]
    if spend.empty or ads.empty:
        return pd.DataFrame(columns=columns)
    totals = spend.groupby("currency")["spend"].transform("sum")
    spend["share_of_currency_spend"] = spend["spend"] / totals.where(totals > 0)
    joined = spend.merge(ads, on="ad_id", how="inner")
    untracked = joined[~joined["has_tracking"].astype(bool) & (joined["spend"] > 0)]
    return untracked[columns].sort_values("spend", ascending=False).reset_index(drop=True)
