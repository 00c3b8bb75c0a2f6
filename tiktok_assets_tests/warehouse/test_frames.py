"""Checking and normalising stats frames before they reach a database (no database needed)."""

from __future__ import annotations

from datetime import date, timedelta

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from tiktok_assets.warehouse import WarehouseInputError
from tiktok_assets.warehouse.frames import PartitionKey, partition_content, prepare_stats_batch
from tiktok_assets.warehouse.tables import ad_stats_daily, ad_stats_hourly
from tiktok_assets_tests.warehouse.sample_frames import ADVERTISER, DAY, THREE_ADS, daily_frame, hourly_frame

KEY = PartitionKey(ADVERTISER, DAY)


def _rejected(frame: pd.DataFrame, table: sa.Table = ad_stats_daily) -> str:
    with pytest.raises(WarehouseInputError) as caught:
        prepare_stats_batch(table, {KEY: frame})
    return str(caught.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda frame: frame.drop(columns=["clicks", "reach"]), "missing column(s) clicks, reach"),
        (lambda frame: frame.assign(video_views=1), "video_views that ad_stats_daily does not"),
        (lambda frame: frame.assign(revision=1), "revision are set by the warehouse"),
        (lambda frame: frame.assign(spend=[1.0, -0.01, 0.0]), "ad_id 2: column 'spend' is negative (-0.01)"),
        (lambda frame: frame.assign(clicks=[1, 2.5, 0]), "'clicks' must be a whole number, got 2.5"),
        (lambda frame: frame.assign(impressions=["10", "x", "3"]), "'impressions' has a non-numeric value 'x'"),
        (lambda frame: frame.assign(spend=[1.0, np.nan, 0.0]), "'spend' is empty; TikTok's '-' means no delivery"),
        (lambda frame: frame.assign(ad_id=["1", None, "3"]), "column 'ad_id' is empty"),
        (lambda frame: frame.assign(ad_id=[1.5, 2.5, 3.5]), "column 'ad_id' must hold strings"),
        (lambda frame: frame.assign(stat_date="2026-11-20 13:00"), "'stat_date' has a time of day"),
        (lambda frame: frame.assign(stat_date="yesterday"), "'stat_date' has a missing or unreadable value"),
    ],
)
def test_bad_frames_are_rejected_naming_the_column(change: Callable[[pd.DataFrame], pd.DataFrame], expected: str
                                                   ) -> None:
    message = _rejected(change(daily_frame(THREE_ADS)))
    assert expected in message
    assert f"advertiser {ADVERTISER}, {DAY.isoformat()}" in message


def test_hourly_local_hour_must_fall_on_the_partition_date() -> None:
    frame = hourly_frame([{"ad_id": "1", "hour": 5}])
    frame.loc[0, "stat_hour_local"] = pd.Timestamp("2026-11-21 05:00")
    assert "stat_hour_local falls on another local date" in _rejected(frame, ad_stats_hourly)


def test_same_ad_and_hour_twice_is_a_duplicate_but_two_hours_are_not() -> None:
    two_hours = hourly_frame([{"ad_id": "1", "hour": 5}, {"ad_id": "1", "hour": 6}])
    assert prepare_stats_batch(ad_stats_hourly, {KEY: two_hours}).content[KEY].rows == 2
    twice = hourly_frame([{"ad_id": "1", "hour": 5}, {"ad_id": "1", "hour": 5}])
    assert "duplicate key" in _rejected(twice, ad_stats_hourly)


def test_normalisation_accepts_integer_ids_aware_hours_and_string_dates() -> None:
    frame = hourly_frame([{"ad_id": "17", "hour": 0, "spend": 1.0}])
    frame["ad_id"] = [17]
    frame["stat_date"] = ["2026-11-20"]
    frame["stat_hour_utc"] = pd.to_datetime(["2026-11-20 08:00"]).tz_localize("UTC").tz_convert("Asia/Tokyo")
    rows = prepare_stats_batch(ad_stats_hourly, {KEY: frame}).rows
    assert rows.loc[0, "ad_id"] == "17"
    assert rows.loc[0, "stat_hour_utc"] == pd.Timestamp("2026-11-20 08:00")  # converted back to naive UTC
    assert rows.loc[0, "stat_date"] == pd.Timestamp(DAY)


def test_content_totals_are_exact_and_versions_depend_only_on_keys_and_metrics() -> None:
    content = partition_content(ad_stats_daily, KEY, daily_frame(THREE_ADS))
    assert (content.rows, content.spend, content.conversions, content.purchase_value) == (3, 14.00, 3, 54.99)
    renamed_currency = daily_frame(THREE_ADS).assign(currency="EUR")
    assert partition_content(ad_stats_daily, KEY, renamed_currency).data_version == content.data_version
    other_ad = daily_frame([dict(THREE_ADS[0], ad_id="9"), *THREE_ADS[1:]])
    assert partition_content(ad_stats_daily, KEY, other_ad).data_version != content.data_version
    empty = partition_content(ad_stats_daily, KEY, pd.DataFrame())
    assert (empty.rows, empty.spend) == (0, 0.0)
    assert len(empty.data_version) == 64 and empty.data_version != content.data_version


def test_batch_keeps_partitions_apart() -> None:
    next_day = DAY + timedelta(days=1)
    batch = prepare_stats_batch(ad_stats_daily, {
        (ADVERTISER, DAY): daily_frame(THREE_ADS),
        (ADVERTISER, next_day): daily_frame(THREE_ADS[:1], stat_date=next_day),
    })
    assert [batch.content[key].rows for key in batch.content] == [3, 1]
    assert batch.content[(ADVERTISER, next_day)].spend == 10.25
    with pytest.raises(WarehouseInputError, match="stat_date of the row is not the partition's date"):
        prepare_stats_batch(ad_stats_daily, {(ADVERTISER, date(2026, 1, 1)): daily_frame(THREE_ADS)})
