"""Spreading, time zones and date grouping of the spend import, without HTTP."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from tiktok_assets.spend.pull import (
    AdvertiserProfile,
    contiguous_ranges,
    local_day_hours,
    local_to_utc,
    spread_daily_over_hours,
    spread_evenly,
)


def test_contiguous_ranges_group_consecutive_days() -> None:
    days = [date(2026, 1, 3), date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 5), date(2026, 1, 5)]
    assert contiguous_ranges(days) == [(date(2026, 1, 1), date(2026, 1, 3)), (date(2026, 1, 5), date(2026, 1, 5))]


def test_spread_evenly_adds_back_to_the_cent() -> None:
    # 10.00 = 1000 cents over 24 hours: 41 cents each with 16 left over, so the
    # first 16 hours get 0.42 and the last 8 get 0.41: 16*0.42 + 8*0.41 = 10.00.
    shares = spread_evenly(np.array([10.00]), 24, 2)[0]
    assert list(shares[:16]) == [0.42] * 16
    assert list(shares[16:]) == [0.41] * 8
    assert round(shares.sum(), 2) == 10.00
    # Whole units (clicks, or yen): 7 over 24 hours is seven 1s then zeros.
    assert spread_evenly(np.array([7]), 24, 0)[0].tolist() == [1] * 7 + [0] * 17


def test_local_day_hours_has_23_24_and_25_hours_around_dst() -> None:
    assert len(local_day_hours(date(2026, 3, 8), "America/Los_Angeles")) == 23  # spring forward
    assert len(local_day_hours(date(2026, 3, 9), "America/Los_Angeles")) == 24
    assert len(local_day_hours(date(2026, 11, 1), "America/Los_Angeles")) == 25  # fall back
    assert len(local_day_hours(date(2026, 11, 1), "Asia/Tokyo")) == 24


def test_local_to_utc_for_zones_ahead_and_behind() -> None:
    local = pd.Series(pd.to_datetime(["2026-11-20 00:00:00", "2026-11-20 23:00:00"]))
    # Tokyo is UTC+9 all year: local midnight is 15:00 UTC the day before.
    assert local_to_utc(local, "Asia/Tokyo").tolist() == [
        pd.Timestamp("2026-11-19 15:00:00"),
        pd.Timestamp("2026-11-20 14:00:00"),
    ]
    # Los Angeles is UTC-8 in November: local 23:00 is 07:00 UTC the next day.
    assert local_to_utc(local, "America/Los_Angeles").tolist() == [
        pd.Timestamp("2026-11-20 08:00:00"),
        pd.Timestamp("2026-11-21 07:00:00"),
    ]


def test_folded_dst_hour_takes_the_first_instant() -> None:
    # 01:00 happens twice in Los Angeles on 2026-11-01: 08:00 UTC (PDT) then 09:00 UTC (PST).
    local = pd.Series(pd.to_datetime(["2026-11-01 01:00:00"]))
    assert local_to_utc(local, "America/Los_Angeles").tolist() == [pd.Timestamp("2026-11-01 08:00:00")]


def test_spread_daily_over_a_dst_day_keeps_every_total() -> None:
    profile = AdvertiserProfile("A", "Shop", "USD", "America/Los_Angeles")
    daily = pd.DataFrame(
        {
            "advertiser_id": ["A", "A"],
            "ad_id": ["1", "2"],
            "stat_date": [date(2026, 11, 1)] * 2,
            "campaign_id": ["c", "c"],
            "adgroup_id": ["g", "g"],
            "currency": ["USD", "USD"],
            "spend": [10.0, 0.05],
            "impressions": [1000, 3],
            "clicks": [26, 0],
            "conversions": [1, 0],
            "installs": [0, 0],
            "purchases": [1, 0],
            "purchase_value": [49.99, 0.0],
            "app_purchases": [2, 0],
            "app_purchase_value": [10.01, 0.0],
            "reach": [800.0, np.nan],
        }
    )
    hourly = spread_daily_over_hours(daily, profile)
    assert len(hourly) == 2 * 25
    assert hourly["spread"].all()
    assert hourly["stat_hour_utc"].is_unique is False  # two ads share hours
    per_ad = hourly.groupby("ad_id")[["spend", "impressions", "clicks", "purchase_value"]].sum()
    assert round(per_ad.loc["1", "spend"], 2) == 10.00
    assert per_ad.loc["1", "impressions"] == 1000
    assert per_ad.loc["1", "clicks"] == 26
    assert round(per_ad.loc["1", "purchase_value"], 2) == 49.99
    assert round(per_ad.loc["2", "spend"], 2) == 0.05
    # The hours run from local midnight (07:00 UTC, still PDT) for 25 hours.
    ad_hours = hourly[hourly["ad_id"] == "1"]["stat_hour_utc"]
    assert ad_hours.min() == pd.Timestamp("2026-11-01 07:00:00")
    assert ad_hours.max() == pd.Timestamp("2026-11-02 07:00:00")


def test_spread_of_yen_uses_whole_units() -> None:
    profile = AdvertiserProfile("J", "Tokyo", "JPY", "Asia/Tokyo")
    daily = pd.DataFrame(
        {
            "advertiser_id": ["J"], "ad_id": ["1"], "stat_date": [date(2026, 11, 20)], "campaign_id": ["c"],
            "adgroup_id": ["g"], "currency": ["JPY"], "spend": [1000.0], "impressions": [10], "clicks": [1],
            "conversions": [0], "installs": [0], "purchases": [0], "purchase_value": [0.0], "app_purchases": [0],
            "app_purchase_value": [0.0], "reach": [5.0],
        }
    )
    hourly = spread_daily_over_hours(daily, profile)
    # 1000 yen over 24 hours: 41 yen each, 16 left over: 16 hours of 42 and 8 of 41.
    assert sorted(set(hourly["spend"])) == [41.0, 42.0]
    assert hourly["spend"].sum() == 1000
