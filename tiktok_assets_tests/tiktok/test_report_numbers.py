"""The numeric parsing of report metrics: the fast path and the checked path must agree."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tiktok_assets.tiktok.reports import ReportParseError, parse_report_rows


def _rows(values: list[object]) -> list[dict]:
    return [{"dimensions": {"ad_id": f"17{index}", "stat_time_day": "2026-11-20 00:00:00"},
             "metrics": {"spend": value}} for index, value in enumerate(values)]


def _spend(values: list[object]) -> list[float]:
    frame = parse_report_rows(_rows(values), id_dimension="ad_id", time_dimension="stat_time_day", metrics=["spend"])
    return frame["spend"].tolist()


def test_strings_numbers_and_dashes_parse_with_empty_money_as_zero() -> None:
    assert _spend(["12.34", "-", "", 5, "1e3", None]) == [12.34, 0.0, 0.0, 5.0, 1000.0, 0.0]


def test_a_column_of_dashes_only_is_all_zero_money() -> None:
    assert _spend(["-", "-", "-"]) == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("bad", ["abc", "nan", "12,5"])
def test_a_non_numeric_value_is_named_in_the_error(bad: str) -> None:
    with pytest.raises(ReportParseError, match=f"non-numeric value {bad!r}"):
        _spend(["1.00", bad])


def test_reach_keeps_unknown_as_nan_and_counts_reject_fractions() -> None:
    rows = [{"dimensions": {"ad_id": "1", "stat_time_day": "2026-11-20 00:00:00"},
             "metrics": {"reach": "-", "clicks": "3"}},
            {"dimensions": {"ad_id": "2", "stat_time_day": "2026-11-20 00:00:00"},
             "metrics": {"reach": "40", "clicks": "-"}}]
    frame = parse_report_rows(rows, id_dimension="ad_id", time_dimension="stat_time_day", metrics=["reach", "clicks"])
    assert math.isnan(frame["reach"].iloc[0]) and frame["reach"].iloc[1] == 40.0
    assert frame["clicks"].tolist() == [3, 0] and frame["clicks"].dtype == np.int64
    rows[0]["metrics"]["clicks"] = "2.5"
    with pytest.raises(ReportParseError, match="whole number, got 2.5"):
        parse_report_rows(rows, id_dimension="ad_id", time_dimension="stat_time_day", metrics=["clicks"])
