"""Pull AUDIENCE breakdowns and the BASIC totals they must add up to (no Dagster import).

Reports are asked with the status filter that includes deleted campaigns, ad groups and ads (``report_pages``'
default): without it TikTok leaves their rows out, and a breakdown of a day with a since-deleted ad would miss
its spend. (Airbyte's audience streams send that filter as ``filters``, a name TikTok does not read.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from tiktok_assets.audience.breakdowns import (
    AUDIENCE_METRICS,
    COUNT_METRICS,
    DATA_LEVEL,
    ID_DIMENSION,
    MONEY_METRICS,
    STORED_METRICS,
    Breakdown,
)
from tiktok_assets.spend.pull import AdvertiserProfile, contiguous_ranges
from tiktok_assets.tiktok.client import TikTokClient
from tiktok_assets.tiktok.reports import ReportParseError, parse_report_rows

ROW_COLUMNS = ("level", "entity_id", "breakdown_value", "breakdown_value_2", "currency", *STORED_METRICS)


def parse_audience_rows(rows: Sequence[dict[str, Any]], breakdown: Breakdown, level: str, currency: str,
                        advertiser_id: str | None = None) -> pd.DataFrame:
    """Report rows of one level as table rows: ``stat_date`` plus ``ROW_COLUMNS``.

    Dimension values are kept as TikTok writes them (a numeric ``province_id`` becomes its text).
    """
    id_dimension = ID_DIMENSION[level]
    parsed = parse_report_rows(rows, id_dimension=id_dimension, time_dimension="stat_time_day",
                               metrics=AUDIENCE_METRICS, advertiser_id=advertiser_id)
    frame = pd.DataFrame({"stat_date": parsed["stat_time"].dt.date if len(parsed) else pd.Series(dtype=object),
                          "level": level, "entity_id": parsed[id_dimension].astype(str)})
    for position, name in enumerate(breakdown.dimensions):
        column = "breakdown_value" if position == 0 else "breakdown_value_2"
        try:
            values = [row["dimensions"][name] for row in rows]
        except (KeyError, TypeError):
            raise ReportParseError(f"Advertiser {advertiser_id}: AUDIENCE row is missing dimension {name!r} "
                                   f"({breakdown.name} at {level} level)") from None
        frame[column] = ["" if value is None else str(value) for value in values]
    if len(breakdown.dimensions) == 1:
        frame["breakdown_value_2"] = ""
    frame["currency"] = currency
    for name in STORED_METRICS:
        frame[name] = parsed[name].to_numpy() if len(parsed) else np.array([], dtype="float64")
    return frame[["stat_date", *ROW_COLUMNS]].reset_index(drop=True)


def fetch_breakdown(client: TikTokClient, advertiser: AdvertiserProfile, breakdown: Breakdown,
                    dates: Sequence[date]) -> dict[date, pd.DataFrame]:
    """Every level's rows of ``breakdown`` for each date (an empty frame where TikTok served nothing)."""
    pieces = []
    for level in breakdown.levels:
        rows = [row for start, end in contiguous_ranges(dates)
                for row in client.report(advertiser.advertiser_id, start=start, end=end, metrics=list(AUDIENCE_METRICS),
                                         data_level=DATA_LEVEL[level], audience=breakdown.dimensions)]
        pieces.append(parse_audience_rows(rows, breakdown, level, advertiser.currency, advertiser.advertiser_id))
    whole = pd.concat(pieces, ignore_index=True)
    return {day: whole[whole["stat_date"] == day].drop(columns="stat_date").reset_index(drop=True)
            for day in sorted(set(dates))}


def fetch_basic_totals(client: TikTokClient, advertiser_id: str, levels: Iterable[str],
                       dates: Sequence[date]) -> pd.DataFrame:
    """TikTok's BASIC daily totals of the same metrics per (level, entity_id, stat_date): what a breakdown sums to."""
    pieces = []
    for level in levels:
        id_dimension = ID_DIMENSION[level]
        rows = [row for start, end in contiguous_ranges(dates)
                for row in client.report(advertiser_id, start=start, end=end, metrics=list(AUDIENCE_METRICS),
                                         data_level=DATA_LEVEL[level])]
        parsed = parse_report_rows(rows, id_dimension=id_dimension, time_dimension="stat_time_day",
                                   metrics=AUDIENCE_METRICS, advertiser_id=advertiser_id)
        pieces.append(pd.DataFrame({"advertiser_id": advertiser_id, "stat_date": parsed["stat_time"].dt.date,
                                    "level": level, "entity_id": parsed[id_dimension].astype(str),
                                    **{name: parsed[name] for name in STORED_METRICS}}))
    return pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame(
        columns=["advertiser_id", "stat_date", "level", "entity_id", *STORED_METRICS])


def total_mismatches(breakdown_totals: pd.DataFrame, basic_totals: pd.DataFrame) -> pd.DataFrame:
    """Entity-days whose breakdown does not sum to the BASIC total within rounding.

    Rounding: TikTok rounds each cell's money to the currency's minor unit, so a sum of n cells may be off by
    up to half a cent per cell; counts must agree exactly. An entity-day with spend in one table and none in the
    other counts too (a breakdown missing an entity, or serving one BASIC does not). Both frames have
    advertiser_id, stat_date, level, entity_id and the stored metrics; ``breakdown_totals`` also ``cells``.
    """
    keys = ["advertiser_id", "stat_date", "level", "entity_id"]
    merged = breakdown_totals.merge(basic_totals, on=keys, how="outer", suffixes=("_breakdown", "_basic"))
    for name in STORED_METRICS:
        for side in ("breakdown", "basic"):
            merged[f"{name}_{side}"] = pd.to_numeric(merged[f"{name}_{side}"], errors="coerce").fillna(0.0)
    cells = pd.to_numeric(merged.get("cells", 0), errors="coerce").fillna(1).clip(lower=1)
    off = np.zeros(len(merged), dtype=bool)
    for name in MONEY_METRICS:
        off |= (merged[f"{name}_breakdown"] - merged[f"{name}_basic"]).abs().to_numpy() > 0.005 * cells + 1e-6
    for name in COUNT_METRICS:
        off |= (merged[f"{name}_breakdown"] != merged[f"{name}_basic"]).to_numpy()
    # Both sides empty (an entity that delivered nothing) is agreement, not a row to flag.
    result = merged[off].copy()
    result["spend_gap"] = (result["spend_breakdown"] - result["spend_basic"]).round(6)
    return result[[*keys, "spend_breakdown", "spend_basic", "spend_gap", "impressions_breakdown",
                   "impressions_basic", "clicks_breakdown", "clicks_basic", "conversions_breakdown",
                   "conversions_basic"]].sort_values(keys).reset_index(drop=True)
