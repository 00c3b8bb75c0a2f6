"""Issue 16, defect 2: a daily total spread over hours lands only in hours that have begun, and keeps the
currency's minor units (three decimals for KWD, BHD, OMR, JOD, TND, IQD, LYD: ISO 4217)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from tiktok_assets.spend.pull import AdvertiserProfile, currency_decimals, spread_daily_over_hours

DAY = date(2026, 11, 20)


def _daily(advertiser_id: str, currency: str, spend: float, *, clicks: int = 10) -> pd.DataFrame:
    return pd.DataFrame({
        "advertiser_id": [advertiser_id], "ad_id": ["1"], "stat_date": [DAY], "campaign_id": ["c"],
        "adgroup_id": ["g"], "currency": [currency], "spend": [spend], "impressions": [1000], "clicks": [clicks],
        "conversions": [3], "installs": [0], "purchases": [1], "purchase_value": [spend], "app_purchases": [0],
        "app_purchase_value": [0.0], "reach": [500.0],
    })


def test_today_is_spread_only_over_the_hours_that_have_begun() -> None:
    # London's report zone is UTC (TikTok's fixed offset); at 09:30 UTC, hours 00..09 have begun.
    profile = AdvertiserProfile("G", "Shop", "GBP", "UTC")
    hourly = spread_daily_over_hours(_daily("G", "GBP", 168.57), profile,
                                     now_utc=datetime(2026, 11, 20, 9, 30, tzinfo=UTC))
    assert sorted(hourly["stat_hour_local"].dt.hour) == list(range(10))
    assert hourly["stat_hour_utc"].max() < pd.Timestamp("2026-11-20 09:30:00")
    assert round(hourly["spend"].sum(), 2) == 168.57, "the whole total, in the hours so far"
    assert hourly["clicks"].sum() == 10


def test_a_zone_west_of_utc_counts_its_own_hours() -> None:
    profile = AdvertiserProfile("U", "Shop", "USD", "UTC-08:00")
    # 02:15 UTC on the 21st is 18:15 on the 20th in UTC-8: hours 00..18 of the 20th have begun.
    hourly = spread_daily_over_hours(_daily("U", "USD", 19.0), profile,
                                     now_utc=datetime(2026, 11, 21, 2, 15, tzinfo=UTC))
    assert len(hourly) == 19
    assert hourly["spend"].tolist() == [1.0] * 19


def test_as_the_day_goes_on_it_is_spread_again_over_more_hours() -> None:
    profile = AdvertiserProfile("G", "Shop", "GBP", "UTC")
    morning = spread_daily_over_hours(_daily("G", "GBP", 6.0), profile, now_utc=datetime(2026, 11, 20, 5, 1, tzinfo=UTC))
    evening = spread_daily_over_hours(_daily("G", "GBP", 24.0), profile,
                                      now_utc=datetime(2026, 11, 20, 23, 59, tzinfo=UTC))
    assert morning["spend"].tolist() == [1.0] * 6
    assert evening["spend"].tolist() == [1.0] * 24
    over = spread_daily_over_hours(_daily("G", "GBP", 24.0), profile, now_utc=datetime(2026, 11, 25, tzinfo=UTC))
    assert len(over) == 24, "a day that is over is spread over all its hours"


@pytest.mark.parametrize("currency", ["KWD", "BHD", "OMR", "JOD", "TND", "IQD", "LYD"])
def test_three_decimal_currencies_keep_their_thousandths(currency: str) -> None:
    assert currency_decimals(currency) == 3
    profile = AdvertiserProfile("K", "Shop", currency, "UTC+03:00")
    hourly = spread_daily_over_hours(_daily("K", currency, 1.005), profile, now_utc=datetime(2026, 12, 1, tzinfo=UTC))
    assert len(hourly) == 24
    assert round(hourly["spend"].sum(), 3) == 1.005
    # 1005 fils over 24 hours: 41 each and 21 left over, so 21 hours of 0.042 and 3 of 0.041.
    assert sorted(np.round(hourly["spend"], 3).tolist()) == [0.041] * 3 + [0.042] * 21


def test_two_and_zero_decimal_currencies_are_unchanged() -> None:
    assert currency_decimals("USD") == 2
    assert currency_decimals("jpy") == 0
