"""Body codes to typed errors, date splitting, report parsing: pure, no HTTP."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from tiktok_assets.tiktok import errors
from tiktok_assets.tiktok.client import RetryPolicy, date_chunks
from tiktok_assets.tiktok.reports import ReportParseError, parse_report_rows


@pytest.mark.parametrize(
    ("code", "expected_type", "retryable"),
    [
        (40100, errors.TikTokRateLimitError, True),
        (40016, errors.TikTokRateLimitError, True),
        (40133, errors.TikTokRateLimitError, True),
        (40101, errors.TikTokAuthenticationError, False),
        (40102, errors.TikTokAuthenticationError, False),
        (40105, errors.TikTokAuthenticationError, False),
        (40110, errors.TikTokAuthenticationError, False),
        (40001, errors.TikTokPermissionError, False),
        (40002, errors.TikTokBadParameterError, False),
        (40067, errors.TikTokQueryTooLargeError, False),
        (40200, errors.TikTokServerError, True),
        (40201, errors.TikTokServerError, True),
        (40202, errors.TikTokServerError, True),
        (40700, errors.TikTokServerError, True),
        (50000, errors.TikTokServerError, True),
        (50002, errors.TikTokServerError, True),
        (51001, errors.TikTokServerError, True),
        (60001, errors.TikTokServerError, True),
        (41234, errors.TikTokApiError, False),
    ],
)
def test_every_documented_code_maps_to_its_error(code: int, expected_type: type, retryable: bool) -> None:
    error = errors.error_from_body(
        {"code": code, "message": "something", "request_id": "r-1"}, endpoint="/x/", advertiser_id="42"
    )
    assert type(error) is expected_type
    assert error.retryable is retryable
    assert error.code == code
    assert "r-1" in str(error)


def test_auth_error_says_authentication_failed_and_what_to_do() -> None:
    error = errors.error_from_body({"code": 40105, "message": "Access token is incorrect"}, endpoint="/x/")
    assert str(error).startswith("Authentication failed")
    assert "TIKTOK_ACCESS_TOKEN" in str(error)


def test_permission_error_names_the_advertiser() -> None:
    error = errors.error_from_body({"code": 40001, "message": "No permission"}, endpoint="/x/", advertiser_id="7001")
    assert "Advertiser 7001 not found or not authorised" in str(error)


@pytest.mark.parametrize(
    ("message", "parameter"),
    [
        ("page_size: Must be less than or equal to 1000.", "page_size"),
        ("Batch.0.properties.contents.0.content_id: Not a valid string", "Batch.0.properties.contents.0.content_id"),
        ("max time span is 30 days when use stat_time_day", "start_date/end_date"),
    ],
)
def test_bad_parameter_error_names_the_parameter(message: str, parameter: str) -> None:
    error = errors.error_from_body({"code": 40002, "message": message}, endpoint="/report/")
    assert isinstance(error, errors.TikTokBadParameterError)
    assert error.parameter == parameter
    assert message in str(error)


def test_date_chunks_respect_the_limit_and_cover_the_range_once() -> None:
    chunks = date_chunks(date(2026, 1, 1), date(2026, 3, 15), 30)
    # Jan 1-30, Jan 31-Mar 1, Mar 2-15: 74 days in 30 + 30 + 14.
    assert chunks == [
        (date(2026, 1, 1), date(2026, 1, 30)),
        (date(2026, 1, 31), date(2026, 3, 1)),
        (date(2026, 3, 2), date(2026, 3, 15)),
    ]
    assert date_chunks(date(2026, 1, 1), date(2026, 1, 3), 1) == [
        (date(2026, 1, 1), date(2026, 1, 1)),
        (date(2026, 1, 2), date(2026, 1, 2)),
        (date(2026, 1, 3), date(2026, 1, 3)),
    ]
    with pytest.raises(ValueError, match="before start"):
        date_chunks(date(2026, 1, 2), date(2026, 1, 1), 30)


def test_backoff_is_capped_and_grows() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=1.0, max_delay=8.0)
    rng = __import__("random").Random(1)
    delays = [policy.delay(attempt, rng) for attempt in range(1, 10) for _ in range(50)]
    assert max(delays) <= 8.0
    assert min(delays) >= 0.0


def _row(ad_id: str, when: str, **metrics: str) -> dict:
    return {"dimensions": {"ad_id": ad_id, "stat_time_day": when}, "metrics": metrics}


def test_report_rows_become_typed_columns_with_dash_as_empty() -> None:
    frame = parse_report_rows(
        [
            _row("1", "2026-11-20 00:00:00", spend="12.34", impressions="1000", clicks="7", reach="-"),
            _row("2", "2026-11-20 00:00:00", spend="-", impressions="0", clicks="-", reach="15"),
        ],
        id_dimension="ad_id",
        time_dimension="stat_time_day",
        metrics=["spend", "impressions", "clicks", "reach"],
    )
    assert frame["ad_id"].tolist() == ["1", "2"]
    assert frame["spend"].tolist() == [12.34, 0.0]
    assert frame["clicks"].tolist() == [7, 0]
    assert frame["impressions"].dtype == np.int64
    assert np.isnan(frame["reach"].iloc[0]) and frame["reach"].iloc[1] == 15


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (_row("1", "2026-11-20 00:00:00", spend="abc"), "non-numeric value 'abc'"),
        (_row("1", "2026-11-20 00:00:00", clicks="1.5"), "whole number"),
        (_row("1", "2026-11-20 00:00:00", spend="-3.00"), "negative"),
        (_row("1", "20/11/2026", spend="1"), "is not a 'YYYY-MM-DD HH:MM:SS' time"),
        ({"metrics": {"spend": "1"}}, "missing dimension"),
    ],
)
def test_bad_report_rows_raise_naming_the_problem(row: dict, message: str) -> None:
    with pytest.raises(ReportParseError, match=message):
        parse_report_rows([row], id_dimension="ad_id", time_dimension="stat_time_day",
                          metrics=list(row.get("metrics", {"spend": None})))
