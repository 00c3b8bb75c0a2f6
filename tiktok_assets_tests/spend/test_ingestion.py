"""The spend import end to end: simulator over loopback -> Dagster assets -> SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from tiktok_assets_tests.spend.harness import SpendHarness, materialized_partitions

START, END = date(2026, 11, 12), date(2026, 11, 16)
METRICS = ["spend", "impressions", "clicks", "conversions", "installs", "purchases", "purchase_value"]
TRUTH_NAMES = {"conversions": "conversion", "installs": "app_install", "purchases": "complete_payment",
               "purchase_value": "total_complete_payment_rate"}


def _truth(simulator, advertiser_id: str, start: date, end: date, granularity: str = "day") -> pd.DataFrame:
    truth = simulator.world.report_frame(advertiser_id, "AUCTION_AD", granularity, start, end, simulator.clock.now())
    return truth.rename(columns={v: k for k, v in TRUTH_NAMES.items()})


def _warehouse_daily(harness: SpendHarness, advertiser_id: str) -> pd.DataFrame:
    return harness.query(
        "select ad_id, stat_date, " + ", ".join(METRICS) + " from ad_stats_daily where advertiser_id = :a",
        a=advertiser_id,
    )


@pytest.fixture
def harness(loopback_simulator, warehouse_url) -> SpendHarness:
    _simulator, base_url = loopback_simulator
    return SpendHarness(base_url, warehouse_url)


def test_import_equals_simulator_truth_to_the_cent_and_reruns_write_nothing(harness, loopback_simulator) -> None:
    simulator, _ = loopback_simulator
    result = harness.import_range(START, END)
    assert result.success
    advertisers = harness.instance.get_dynamic_partitions("tiktok_advertisers")
    assert len(advertisers) == len(simulator.world.advertiser_ids) >= 4
    for advertiser_id in advertisers:
        stored = _warehouse_daily(harness, advertiser_id)
        truth = _truth(simulator, advertiser_id, START, END)
        assert len(stored) == len(truth), advertiser_id
        for metric in METRICS:
            assert round(float(stored[metric].sum()), 2) == round(float(truth[metric].sum()), 2), (advertiser_id, metric)
        # Per row, not just in total: join on the natural key.
        truth_rows = truth.assign(stat_date=truth["stat_time"].dt.date.astype(str))
        stored = stored.assign(stat_date=pd.to_datetime(stored["stat_date"]).dt.date.astype(str))
        joined = stored.merge(truth_rows, on=["ad_id", "stat_date"], suffixes=("", "_truth"), validate="one_to_one")
        assert len(joined) == len(truth)
        assert np.allclose(joined["spend"], joined["spend_truth"], atol=0.001)
        assert (joined["clicks"] == joined["clicks_truth"]).all()

    counts = {table: harness.count(table) for table in ("ad_stats_daily", "ad_stats_hourly", "ad_history")}
    assert harness.count("stats_revisions") == 0
    rerun = harness.import_range(START, END)
    assert rerun.success
    assert {table: harness.count(table) for table in counts} == counts
    assert harness.count("stats_revisions") == 0
    second_pulls = harness.query("select changed from partition_pulls order by pull_id")
    n_partitions = len(advertisers) * ((END - START).days + 1)
    assert len(second_pulls) == 4 * n_partitions  # daily + hourly, pulled twice
    assert not second_pulls["changed"].iloc[-2 * n_partitions :].astype(bool).any()


def test_hourly_rows_sum_to_daily_rows_including_the_spread_advertiser(harness, loopback_simulator) -> None:
    harness.import_range(START, END, entities=False)
    hourly = harness.query(
        "select advertiser_id, ad_id, stat_date, spread, " + ", ".join(METRICS) + " from ad_stats_hourly"
    )
    daily = harness.query("select advertiser_id, ad_id, stat_date, " + ", ".join(METRICS) + " from ad_stats_daily")
    spread_advertisers = set(hourly.loc[hourly["spread"].astype(bool), "advertiser_id"])
    assert len(spread_advertisers) == 1, "the simulator has exactly one advertiser without hourly data"
    for frame in (hourly, daily):
        frame["stat_date"] = pd.to_datetime(frame["stat_date"]).dt.date
    summed = hourly.groupby(["advertiser_id", "ad_id", "stat_date"], as_index=False)[METRICS].sum()
    joined = daily.merge(summed, on=["advertiser_id", "ad_id", "stat_date"], suffixes=("_daily", "_hourly"),
                         how="outer", indicator=True)
    assert (joined["_merge"] == "both").all(), "every ad-day exists at both grains"
    for metric in METRICS:
        assert np.allclose(joined[f"{metric}_daily"], joined[f"{metric}_hourly"], atol=0.005), metric


@pytest.mark.parametrize(
    ("zone", "day"),
    [
        ("Asia/Tokyo", date(2026, 11, 15)),  # ahead of UTC
        ("America/Los_Angeles", date(2026, 11, 15)),  # behind UTC
        # DST changes: a TikTok account keeps its standard offset all year (ads.tiktok.com/help/article/time-zone),
        # so these days have 24 hours too. (This test expected 25: it assumed reports follow display_timezone.)
        ("America/Los_Angeles", date(2026, 11, 1)),
        ("Europe/Berlin", date(2026, 10, 25)),
        ("America/Los_Angeles", date(2026, 7, 15)),  # summer: UTC-8 still, not UTC-7
    ],
)
def test_hours_land_inside_the_local_day_with_none_lost_or_doubled(loopback_simulator, tmp_path, zone: str,
                                                                   day: date) -> None:
    simulator, base_url = loopback_simulator
    harness = SpendHarness(base_url, f"sqlite:///{tmp_path / 'w.sqlite'}")
    info = next(a for a in simulator.world.advertisers if a["display_timezone"] == zone)
    advertiser_id = info["advertiser_id"]
    # The account's fixed zone, read by the tz database itself: Etc/GMT+8 is UTC-8.
    fixed = ZoneInfo(str(info["timezone"]))
    harness.import_range(day - timedelta(days=1), day + timedelta(days=1), entities=False)
    rows = harness.query(
        "select ad_id, stat_hour_utc, stat_hour_local, spend, clicks from ad_stats_hourly "
        "where advertiser_id = :a and stat_date = :d",
        a=advertiser_id, d=day.isoformat(),
    )
    assert not rows.empty
    utc = pd.to_datetime(rows["stat_hour_utc"])
    day_start = pd.Timestamp(day).tz_localize(fixed).tz_convert("UTC").tz_localize(None)
    day_end = pd.Timestamp(day + timedelta(days=1)).tz_localize(fixed).tz_convert("UTC").tz_localize(None)
    assert (day_end - day_start) == pd.Timedelta(hours=24)
    assert utc.min() >= day_start and utc.max() < day_end, "an hour leaked into a neighbouring day"
    assert not rows.duplicated(["ad_id", "stat_hour_utc"]).any(), "an hour was doubled"
    # Every local hour maps back to its own UTC instant, at the account's fixed offset.
    back = utc.dt.tz_localize("UTC").dt.tz_convert(fixed).dt.tz_localize(None)
    assert (back == pd.to_datetime(rows["stat_hour_local"])).all()
    # Nothing lost: the day's hourly spend is TikTok's daily spend for that day.
    truth = _truth(simulator, advertiser_id, day, day)
    assert round(rows["spend"].sum(), 2) == round(truth["spend"].sum(), 2)
    assert rows["clicks"].sum() == truth["clicks"].sum()


def test_single_run_backfills_sixty_days_for_every_advertiser(loopback_simulator, tmp_path) -> None:
    # SQLite only: the PostgreSQL write path is covered above and by the warehouse tests.
    simulator, base_url = loopback_simulator
    harness = SpendHarness(base_url, f"sqlite:///{tmp_path / 'w.sqlite'}")
    start, end = date(2026, 9, 1), date(2026, 10, 30)  # 60 days
    harness.discover()
    runs_before = len(harness.instance.get_runs())
    result = harness.import_range(start, end, entities=False)
    assert result.success
    assert len(harness.instance.get_runs()) - runs_before == 1, "one Dagster run for the whole backfill"
    advertisers = harness.instance.get_dynamic_partitions("tiktok_advertisers")
    assert len(advertisers) >= 2
    for asset in ("ad_stats_daily", "ad_stats_hourly"):
        partitions = materialized_partitions(result, asset)
        assert len(partitions) == len(set(partitions)) == 60 * len(advertisers)
    for advertiser_id in advertisers:
        stored = _warehouse_daily(harness, advertiser_id)
        truth = _truth(simulator, advertiser_id, start, end)
        assert round(float(stored["spend"].sum()), 2) == round(float(truth["spend"].sum()), 2)
