"""Parse BASIC report rows into typed frames (no Dagster import).

TikTok serves every metric as a string ("12.34", "5"), uses "-" for empty,
and dates rows in the advertiser's time zone ("2026-11-20 00:00:00").

Numbers TikTok cannot mean are refused, never stored: Python's ``float``
reads "Infinity", "inf" and "1e308" happily, and one such value turned a
partition's summed spend into -9.2e12 while every schema check stayed green.
A metric is refused when it is not finite or when its magnitude reaches
``ABSURD_METRIC_VALUE`` (10^12) in one row: money that large is more than any
ad spends in a day or an hour in any currency TikTok bills (10^12 VND is some
40 million USD), a count that large is more impressions than people on earth
times a hundred, and sums of such rows would overflow the warehouse's
Numeric(20, 6) money columns. The checks are vectorised (``np.abs(x) <
bound`` is also False for inf and NaN), so the fast path stays fast.
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
    # Web (pixel / Events API) Complete Payment: count and "total complete payment value".
    "complete_payment": "purchases",
    "total_complete_payment_rate": "purchase_value",
    # In-app purchases (SDK / MMP app events): count and total value. Kept apart from the
    # web ones: an app campaign's revenue is here, and its web value is 0.
    "purchase": "app_purchases",
    "total_purchase_value": "app_purchase_value",
    "reach": "reach",
}
COUNT_COLUMNS = ("impressions", "clicks", "conversions", "installs", "purchases", "app_purchases")
MONEY_COLUMNS = ("spend", "purchase_value", "app_purchase_value")
STAT_COLUMNS = ("spend", "impressions", "clicks", "conversions", "installs", "purchases", "purchase_value",
                "app_purchases", "app_purchase_value")


# TikTok's "-" (and an empty string) mean no value.
_EMPTY = ("-", "")
# One row's metric at or above this magnitude is refused (see the module docstring).
ABSURD_METRIC_VALUE = 1e12


class ReportParseError(ValueError):
    """A report row could not be read; the message names the advertiser (when known), the row's id and time,
    the metric and the offending value."""


class _BadValue(ValueError):
    def __init__(self, index: int, value: object) -> None:
        super().__init__(index, value)
        self.index, self.value = index, value


def parse_report_rows(
    rows: Sequence[dict[str, Any]],
    *,
    id_dimension: str,
    time_dimension: str | None,
    metrics: Iterable[str] = REPORT_METRICS,
    advertiser_id: str | None = None,
) -> pd.DataFrame:
    """Turn report rows into a frame: ``id_dimension``, ``stat_time`` and plain metric names.

    Counts become nullable integers (0 where TikTok says "-" — no delivery is
    zero, not unknown), money floats, reach stays NaN when "-" because reach is
    not additive and an hourly reach is genuinely unknown. ``advertiser_id``
    only names the advertiser in errors. ``time_dimension=None`` reads lifetime rows
    (``query_lifetime=true``), which carry no time dimension: the frame then has no ``stat_time``.
    """
    metrics = list(metrics)
    prefix = f"Advertiser {advertiser_id}: r" if advertiser_id is not None else "R"
    columns: dict[str, Any] = {}
    try:
        columns[id_dimension] = [str(row["dimensions"][id_dimension]) for row in rows]
        raw_times = ([row["dimensions"][time_dimension] for row in rows] if time_dimension is not None
                     else ["lifetime"] * len(rows))
    except (KeyError, TypeError) as exc:
        raise ReportParseError(f"{prefix}eport row is missing dimension {exc} (expected {id_dimension}, {time_dimension})"
                               ) from None

    def where(index: int) -> str:
        return f"for {id_dimension} {columns[id_dimension][index]} at {raw_times[index]}"

    if time_dimension is not None:
        stat_time = pd.to_datetime(pd.Series(raw_times, dtype="object"), format="%Y-%m-%d %H:%M:%S", errors="coerce")
        if stat_time.isna().any():
            bad = raw_times[int(np.flatnonzero(stat_time.isna().to_numpy())[0])]
            raise ReportParseError(f"{prefix}eport {time_dimension} {bad!r} is not a 'YYYY-MM-DD HH:MM:SS' time")
        columns["stat_time"] = stat_time.to_numpy()
    try:
        metric_objects = [row["metrics"] for row in rows]
    except (KeyError, TypeError):
        raise ReportParseError(f"{prefix}eport row has no 'metrics' object") from None
    for metric in metrics:
        try:
            raw = [values[metric] for values in metric_objects]
        except KeyError:
            # "-" means "no value"; a missing key means TikTok renamed or dropped
            # the metric. Reading that as 0 would store a silent wrong number.
            raise ReportParseError(
                f"{prefix}eport rows lack the requested metric {metric!r}: TikTok may have renamed or dropped it"
            ) from None
        except (TypeError, AttributeError):
            raise ReportParseError(f"{prefix}eport row has no 'metrics' object (got something else)") from None
        try:
            numbers = _to_number(raw)
        except _BadValue as bad:
            raise ReportParseError(
                f"{prefix}eport metric {metric!r} has a non-numeric value {bad.value!r} {where(bad.index)}"
            ) from None
        # NaN here is "-" (no value); anything else outside the bound is inf, NaN spelled out, or absurd.
        absurd = ~(np.abs(numbers) < ABSURD_METRIC_VALUE) & ~np.isnan(numbers)
        if absurd.any():
            index = int(np.flatnonzero(absurd)[0])
            what = "is not a finite number" if not np.isfinite(numbers[index]) else (
                f"is absurd (at least {ABSURD_METRIC_VALUE:.0e} in one row)")
            raise ReportParseError(
                f"{prefix}eport metric {metric!r} {what}: {raw[index]!r} {where(index)}. TikTok serves no such "
                "value; nothing of this report was stored. Re-pull the day; if TikTok keeps serving it, report it "
                "to TikTok support with the request id."
            )
        columns[REPORT_METRICS.get(metric, metric)] = numbers
    # Checked and converted in numpy, column by column, before the frame
    # exists: pandas' per-Series operations cost more than the data here.
    for name in COUNT_COLUMNS:
        if name in columns:
            values = np.nan_to_num(columns[name], nan=0.0)
            fractional = values != np.floor(values)
            if fractional.any():
                index = int(np.flatnonzero(fractional)[0])
                raise ReportParseError(f"{prefix}eport metric {name!r} should be a whole number, got "
                                       f"{float(columns[name][index])!r} {where(index)}")
            columns[name] = values.astype("int64")
    for name in MONEY_COLUMNS:
        if name in columns:
            columns[name] = np.nan_to_num(columns[name], nan=0.0)
    frame = pd.DataFrame(columns)
    for name in STAT_COLUMNS:
        if name in columns and (columns[name] < 0).any():
            bad = frame.loc[frame[name] < 0].iloc[0]
            raise ReportParseError(
                f"{prefix}eport metric {name!r} is negative ({bad[name]}) for {id_dimension} {bad[id_dimension]} "
                f"at {bad.get('stat_time', 'lifetime')}: TikTok never serves negative {name}"
            )
    return frame


def _to_number(raw: list[Any]) -> np.ndarray:
    # Fast path: plain float() per value is several times cheaper than pandas'
    # object-dtype route (or numpy's string parsing), and a year of hourly rows
    # is tens of millions of values. Anything unusual (None, non-numeric text,
    # a literal "nan") falls through to the checked path, which raises _BadValue with it.
    try:
        # Most columns have no "-" at all: float() mapped in C is cheaper still.
        numbers = np.fromiter(map(float, raw), dtype="float64", count=len(raw))
        if not np.isnan(numbers).any():
            return numbers
    except (TypeError, ValueError, OverflowError):
        pass
    try:
        numbers = np.array([math.nan if value in _EMPTY else float(value) for value in raw], dtype="float64")
    except (TypeError, ValueError, OverflowError):
        return _to_number_checked(raw)
    missing = np.isnan(numbers)
    if missing.any() and not np.array_equal(missing, [value in _EMPTY for value in raw]):
        return _to_number_checked(raw)
    return numbers


def _to_number_checked(raw: list[Any]) -> np.ndarray:
    series = pd.Series(raw, dtype="object").replace({"-": None, "": None})
    try:
        numbers = pd.to_numeric(series, errors="coerce")
    except OverflowError:
        # A JSON integer beyond float's range: read as ±inf, which the bounds check then names.
        series = series.map(_huge_int_as_inf)
        numbers = pd.to_numeric(series, errors="coerce")
    bad = (numbers.isna() & series.notna()).to_numpy()
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise _BadValue(index, raw[index])
    return numbers.to_numpy(dtype="float64")


def _huge_int_as_inf(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**1023:
        return math.inf if value > 0 else -math.inf
    return value
