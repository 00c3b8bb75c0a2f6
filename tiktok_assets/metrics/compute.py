"""One metrics run's work, slice by slice (no Dagster import): which days go together, the first-party orders of
a slice, and the metrics frames of one advertiser's days, ready to validate and write."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

import pandas as pd
from sqlalchemy.engine import Engine

from tiktok_assets.metrics.attribution import attribute_first_party
from tiktok_assets.metrics.derive import FIRST_PARTY_REVENUE
from tiktok_assets.metrics.entities import EntityHistory
from tiktok_assets.metrics.rollup import metrics_for_levels
from tiktok_assets.metrics.store import read_first_party_events
from tiktok_assets.warehouse import read_stats

# Days of stats computed and written per transaction: bounds memory in a year-long backfill.
SLICE_DAYS = 31
STATS_TABLE = {"daily": "ad_stats_daily", "hourly": "ad_stats_hourly"}


def date_slices(dates_by_advertiser: Mapping[str, Sequence[date]], slice_days: int = SLICE_DAYS) -> list[list[date]]:
    """The run's distinct dates in slices of at most ``slice_days`` days: first-party events are read once a slice."""
    days = sorted({day for dates in dates_by_advertiser.values() for day in dates})
    slices: list[list[date]] = []
    for day in days:
        if slices and (day - slices[-1][0]).days < slice_days:
            slices[-1].append(day)
        else:
            slices.append([day])
    return slices


def first_party_for(engine: Engine, history: EntityHistory, grain: str, days: list[date]) -> pd.DataFrame | None:
    """First-party orders and revenue on ``days`` for every advertiser, at ``grain``; None without events table.

    Attribution sees the whole entity history: an order with only a ttclid
    goes to the advertiser only when exactly one is in scope.
    """
    events = read_first_party_events(engine, days[0], days[-1])
    if events is None:
        return None
    attributed = attribute_first_party(events, history, grain=grain)
    return attributed[attributed["stat_date"].isin(set(days))].reset_index(drop=True)


def revenue_columns_completed(frame: pd.DataFrame) -> pd.DataFrame:
    """Both revenue sources filled in where the rollup leaves gaps.

    Without a first_party_events table the rollup adds no two-source columns:
    first-party ones stay NULL (unknown, not zero), but TikTok's ROAS is known
    all the same.
    """
    if "tiktok_roas" not in frame.columns:
        return frame.assign(tiktok_roas=frame["roas"])
    return first_party_gaps_filled(frame)


def first_party_gaps_filled(frame: pd.DataFrame) -> pd.DataFrame:
    """First-party revenue 0, not NaN, on rows without orders.

    A group that is a single input row keeps the NaN the stats row got when
    first-party rows were appended (derive's copy shortcut for one-row
    groups); the ratios were computed with it as 0 already.
    """
    if FIRST_PARTY_REVENUE in frame.columns and frame[FIRST_PARTY_REVENUE].hasnans:
        return frame.assign(**{FIRST_PARTY_REVENUE: frame[FIRST_PARTY_REVENUE].fillna(0.0)})
    return frame


def advertiser_metrics(engine: Engine, grain: str, levels: Sequence[str], history: EntityHistory,
                       advertiser_id: str, dates: Sequence[date], first_party: pd.DataFrame | None
                       ) -> dict[str, pd.DataFrame]:
    """The metrics of ``levels`` at ``grain`` for one advertiser's ``dates`` (of one slice), by level.

    ``first_party``: the slice's attributed orders (``first_party_for``), None without an events table.
    """
    selected = set(dates)
    stats = read_stats(engine, STATS_TABLE[grain], advertiser_id, min(dates), max(dates))
    stats = stats[stats["stat_date"].isin(selected)]
    own_orders = None if first_party is None else first_party[
        (first_party["advertiser_id"] == advertiser_id) & first_party["stat_date"].isin(selected)]
    results = metrics_for_levels(stats, list(levels), [grain], history, own_orders)
    return {level: revenue_columns_completed(results[(level, grain)]) for level in levels}
