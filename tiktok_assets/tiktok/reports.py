"""Parse BASIC report rows into typed frames (no Dagster import).

TikTok serves every metric as a string ("12.34", "5"), uses "-" for empty,
and dates rows in the advertiser's time zone ("2026-11-20 00:00:00").
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

# What we ask TikTok for, and the plain names the warehouse uses for them.
REPORT_METRICS: dict[str, str] = {
    "spend": "spend",
    "impressions": "impressions",
    "clicks": "clicks",
    "conversion": "conversions",
    "app_install": "installs",
    "complete_payment": "purchases",
    # "Total complete payment value": the purchase value TikTok attributes.
    "total_complete_payment_rate": "purchase_value",
    "reach": "reach",
}
COUNT_COLUMNS = ("impressions", "clicks", "conversions", "installs", "purchases")
MONEY_COLUMNS = ("spend", "purchase_value")
STAT_COLUMNS = ("spend", "impressions", "clicks", "conversions", "installs", "purchases", "purchase_value")


# TikTok's "-" (and an empty string) mean no value.
_EMPTY = ("-", "")


class ReportParseError(ValueError):
    """A report row could not be read; the message names the metric and the offending value."""


def parse_report_rows(
    rows: Sequence[dict[str, Any]],
    *,
    id_dimension: str,
    time_dimension: str,
    metrics: Iterable[str] = REPORT_METRICS,
) -> pd.DataFrame:
    """Turn report rows into a frame: ``id_dimension``, ``stat_time`` and plain metric names.

    Counts become nullable integers (0 where TikTok says "-" — no delivery is
    zero, not unknown), money floats, reach stays NaN when "-" because reach is
    not additive and an hourly reach is genuinely unknown.
    """
    metrics = list(metrics)
    columns: dict[str, Any] = {}
    try:
        columns[id_dimension] = [str(row["dimensions"][id_dimension]) for row in rows]
        raw_times = [row["dimensions"][time_dimension] for row in rows]
    except (KeyError, TypeError) as exc:
        raise ReportParseError(f"Report row is missing dimension {exc} (expected {id_dimension}, {time_dimension})") from None
    stat_time = pd.to_datetime(pd.Series(raw_times, dtype="object"), format="%Y-%m-%d %H:%M:%S", errors="coerce")
    if stat_time.isna().any():
        bad = raw_times[int(np.flatnonzero(stat_time.isna().to_numpy())[0])]
        raise ReportParseError(f"Report {time_dimension} {bad!r} is not a 'YYYY-MM-DD HH:MM:SS' time")
    columns["stat_time"] = stat_time.to_numpy()
    try:
        metric_objects = [row["metrics"] for row in rows]
    except (KeyError, TypeError):
        raise ReportParseError("Report row has no 'metrics' object") from None
    for metric in metrics:
        try:
            raw = [values[metric] for values in metric_objects]
        except KeyError:
            # "-" means "no value"; a missing key means TikTok renamed or dropped
            # the metric. Reading that as 0 would store a silent wrong number.
            raise ReportParseError(
                f"Report rows lack the requested metric {metric!r}: TikTok may have renamed or dropped it"
            ) from None
        except (TypeError, AttributeError):
            raise ReportParseError("Report row has no 'metrics' object (got something else)") from None
        columns[REPORT_METRICS.get(metric, metric)] = _to_number(raw, metric)
    # Checked and converted in numpy, column by column, before the frame
    # exists: pandas' per-Series operations cost more than the data here.
    for name in COUNT_COLUMNS:
        if name in columns:
            values = np.nan_to_num(columns[name], nan=0.0)
            fractional = values != np.floor(values)
            if fractional.any():
                bad = float(columns[name][int(np.flatnonzero(fractional)[0])])
                raise ReportParseError(f"Report metric {name!r} should be a whole number, got {bad!r}")
            columns[name] = values.astype("int64")
    for name in MONEY_COLUMNS:
        if name in columns:
            columns[name] = np.nan_to_num(columns[name], nan=0.0)
    frame = pd.DataFrame(columns)
    for name in STAT_COLUMNS:
        if name in columns and (columns[name] < 0).any():
            bad = frame.loc[frame[name] < 0].iloc[0]
            raise ReportParseError(
                f"Report metric {name!r} is negative ({bad[name]}) for {id_dimension} {bad[id_dimension]} "
                f"at {bad['stat_time']}: TikTok never serves negative {name}"
            )
    return frame


def _to_number(raw: list[Any], metric: str) -> np.ndarray:
    # Fast path: plain float() per value is several times cheaper than pandas'
    # object-dtype route (or numpy's string parsing), and a year of hourly rows
    # is tens of millions of values. Anything unusual (None, non-numeric text,
    # a literal "nan") falls through to the checked path, which names it.
    try:
        # Most columns have no "-" at all: float() mapped in C is cheaper still.
        numbers = np.fromiter(map(float, raw), dtype="float64", count=len(raw))
        if not np.isnan(numbers).any():
            return numbers
    except (TypeError, ValueError):
        pass
    try:
        numbers = np.array([math.nan if value in _EMPTY else float(value) for value in raw], dtype="float64")
    except (TypeError, ValueError):
        return _to_number_checked(raw, metric)
    missing = np.isnan(numbers)
    if missing.any() and not np.array_equal(missing, [value in _EMPTY for value in raw]):
        return _to_number_checked(raw, metric)
    return numbers


def _to_number_checked(raw: list[Any], metric: str) -> np.ndarray:
    series = pd.Series(raw, dtype="object").replace({"-": None, "": None})
    numbers = pd.to_numeric(series, errors="coerce")
    bad = numbers.isna() & series.notna()
    if bad.any():
        value = series[bad].iloc[0]
        raise ReportParseError(f"Report metric {metric!r} has a non-numeric value {value!r}")
    return numbers.to_numpy(dtype="float64")
