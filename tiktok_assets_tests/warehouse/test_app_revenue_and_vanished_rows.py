"""Issue 14 in the warehouse: in-app revenue kept apart from web, and rows vanishing from settled partitions.

On a SQLite file and on PostgreSQL (the ``engine`` fixture), through both
write paths: the bulk first write (COPY / executemany) and the merge.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tiktok_assets.tiktok.reports import parse_report_rows
from tiktok_assets.warehouse import (
    partition_data_version,
    partition_drift,
    read_partition_pulls,
    read_revisions,
    read_stats,
    write_stats_partition,
    write_stats_partitions,
)
from tiktok_assets_tests.warehouse.sample_frames import ADVERTISER, DAY, PULLED, daily_frame, hourly_frame

LATER = PULLED + timedelta(days=1)
LATEST = PULLED + timedelta(days=2)

# One web ad (Complete Payment on the site) and one app ad (in-app purchases).
WEB_AD = {"ad_id": "1", "spend": 100.00, "purchases": 4, "purchase_value": 250.00}
APP_AD = {"ad_id": "2", "spend": 30.00, "app_purchases": 3, "app_purchase_value": 89.97}
# The day the issue describes: 100 spent on an ad that is later deleted, 30 on one that stays.
DELETED_AD = {"ad_id": "10", "spend": 100.00, "impressions": 5000, "clicks": 50}
LIVE_AD = {"ad_id": "11", "spend": 30.00, "impressions": 1500, "clicks": 12}


def test_report_metrics_purchase_and_total_purchase_value_become_the_app_columns() -> None:
    # A report row as TikTok serves it: every metric a string, web and in-app revenue side by side.
    row = {"dimensions": {"ad_id": "1", "stat_time_day": "2026-11-20 00:00:00"},
           "metrics": {"complete_payment": "4", "total_complete_payment_rate": "250.00",
                       "purchase": "3", "total_purchase_value": "89.97"}}
    frame = parse_report_rows([row], id_dimension="ad_id", time_dimension="stat_time_day",
                              metrics=["complete_payment", "total_complete_payment_rate", "purchase",
                                       "total_purchase_value"])
    assert frame.loc[0, ["purchases", "purchase_value", "app_purchases", "app_purchase_value"]].tolist() == [
        4, 250.00, 3, 89.97]
    assert frame["app_purchases"].dtype == "int64"


@pytest.mark.parametrize("table", ["ad_stats_daily", "ad_stats_hourly"])
def test_app_purchases_are_stored_apart_from_web_ones_on_both_write_paths(engine: Engine, table: str) -> None:
    def frame(rows: list[dict]) -> pd.DataFrame:
        return daily_frame(rows) if table == "ad_stats_daily" else hourly_frame([dict(row, hour=9) for row in rows])

    first = write_stats_partition(engine, table, ADVERTISER, DAY, frame([WEB_AD, APP_AD]), PULLED)  # bulk path
    assert (first.purchase_value_after, first.app_purchase_value_after) == (250.00, 89.97)
    stored = read_stats(engine, table).set_index("ad_id")
    assert stored.loc["1", ["purchases", "purchase_value", "app_purchases", "app_purchase_value"]].tolist() == [
        4, 250.00, 0, 0.0]
    assert stored.loc["2", ["purchases", "purchase_value", "app_purchases", "app_purchase_value"]].tolist() == [
        0, 0.0, 3, 89.97]
    assert stored["app_purchases"].dtype == "int64" and stored["app_purchase_value"].dtype == "float64"

    # A late in-app purchase: only the app columns move, and the revision says by how much.
    revised = write_stats_partition(engine, table, ADVERTISER, DAY,
                                    frame([WEB_AD, dict(APP_AD, app_purchases=4, app_purchase_value=119.96)]), LATER)
    assert (revised.updated, revised.unchanged) == (1, 1) and revised.changed
    assert (revised.app_purchase_value_before, revised.app_purchase_value_after) == (89.97, 119.96)
    assert revised.data_version != first.data_version
    assert partition_data_version(engine, table, ADVERTISER, DAY) == revised.data_version
    revision = read_revisions(engine, table).iloc[0]
    assert (revision["ad_id"], revision["change_kind"]) == ("2", "update")
    assert (revision["old_app_purchases"], revision["new_app_purchases"]) == (3, 4)
    assert (revision["old_app_purchase_value"], revision["new_app_purchase_value"]) == (89.97, 119.96)
    assert (revision["old_purchase_value"], revision["new_purchase_value"]) == (0.0, 0.0)
    pulls = read_partition_pulls(engine, table)
    assert pulls["app_purchase_value_before"].tolist() == [0.0, 89.97]
    assert pulls["app_purchase_value_after"].tolist() == [89.97, 119.96]


def test_app_value_drift_is_reported_per_partition(engine: Engine) -> None:
    write_stats_partition(engine, "ad_stats_daily", ADVERTISER, DAY, daily_frame([APP_AD]), PULLED)
    write_stats_partition(engine, "ad_stats_daily", ADVERTISER, DAY,
                          daily_frame([dict(APP_AD, app_purchase_value=100.00)]), LATER)
    drift = partition_drift(engine, "ad_stats_daily").iloc[0]
    assert (drift["first_app_purchase_value"], drift["current_app_purchase_value"]) == (89.97, 100.00)
    assert drift["app_purchase_value_change"] == 10.03


def test_a_row_vanishing_from_a_settled_partition_is_kept_and_counted(engine: Engine) -> None:
    first = write_stats_partition(engine, "ad_stats_daily", ADVERTISER, DAY, daily_frame([DELETED_AD, LIVE_AD]),
                                  PULLED)
    assert first.spend_after == 130.00
    # The ad was deleted; TikTok's report no longer lists its rows, and the day is settled.
    repull = write_stats_partition(engine, "ad_stats_daily", ADVERTISER, DAY, daily_frame([LIVE_AD]), LATER,
                                   settled=True)
    assert (repull.rows_served, repull.deleted, repull.vanished_kept, repull.unchanged, repull.changed) == (
        1, 0, 1, 1, False)
    assert (repull.spend_before, repull.spend_after) == (130.00, 130.00)  # not 30
    stored = read_stats(engine, "ad_stats_daily").set_index("ad_id")
    assert sorted(stored.index) == ["10", "11"] and stored["spend"].sum() == 130.00
    # The kept row is as it was: same revision, last served by the first pull.
    assert stored.loc["10", "revision"] == 1 and stored.loc["10", "last_pulled_at"] == pd.Timestamp(PULLED)
    assert read_revisions(engine).empty
    # What is stored did not change, so neither did the data version.
    assert repull.data_version == first.data_version
    assert partition_data_version(engine, "ad_stats_daily", ADVERTISER, DAY) == first.data_version
    pulls = read_partition_pulls(engine, "ad_stats_daily")
    assert pulls["rows_vanished_kept"].tolist() == [0, 1] and pulls["rows_served"].tolist() == [2, 1]
    assert pulls["spend_after"].tolist() == [130.00, 130.00]


def test_a_settled_partition_still_takes_served_corrections_beside_kept_rows(engine: Engine) -> None:
    write_stats_partition(engine, "ad_stats_daily", ADVERTISER, DAY, daily_frame([DELETED_AD, LIVE_AD]), PULLED)
    corrected = write_stats_partition(engine, "ad_stats_daily", ADVERTISER, DAY,
                                      daily_frame([dict(LIVE_AD, spend=28.50)]), LATER, settled=True)
    assert (corrected.updated, corrected.vanished_kept, corrected.changed) == (1, 1, True)
    assert corrected.spend_after == 128.50  # 100.00 kept + 28.50 served
    assert partition_data_version(engine, "ad_stats_daily", ADVERTISER, DAY) == corrected.data_version
    revisions = read_revisions(engine)
    assert revisions[["ad_id", "change_kind"]].values.tolist() == [["11", "update"]]
    # The ad comes back in a later listing: its row is compared as usual.
    back = write_stats_partition(engine, "ad_stats_daily", ADVERTISER, DAY,
                                 daily_frame([dict(DELETED_AD, spend=100.00), dict(LIVE_AD, spend=28.50)]), LATEST,
                                 settled=True)
    assert (back.unchanged, back.vanished_kept, back.changed) == (2, 0, False)


def test_outside_settled_partitions_a_vanished_row_is_a_logged_delete(engine: Engine) -> None:
    days = [DAY, DAY + timedelta(days=1)]
    frames = {(ADVERTISER, day): daily_frame([DELETED_AD, LIVE_AD], stat_date=day) for day in days}
    write_stats_partitions(engine, "ad_stats_daily", frames, PULLED)
    shrunk = {(ADVERTISER, day): daily_frame([LIVE_AD], stat_date=day) for day in days}
    # Only the older day is settled; the newer one is still moving.
    writes = write_stats_partitions(engine, "ad_stats_daily", shrunk, LATER, settled=[(ADVERTISER, days[0])])
    settled, moving = writes[(ADVERTISER, days[0])], writes[(ADVERTISER, days[1])]
    assert (settled.deleted, settled.vanished_kept, settled.spend_after) == (0, 1, 130.00)
    assert (moving.deleted, moving.vanished_kept, moving.spend_after) == (1, 0, 30.00)
    revisions = read_revisions(engine)
    assert revisions[["stat_date", "ad_id", "change_kind"]].values.tolist() == [[days[1], "10", "delete"]]
    assert (revisions.loc[0, "old_spend"], revisions.loc[0, "new_spend"]) == (100.00, 0.0)
    with engine.connect() as connection:
        per_day = dict(connection.execute(sa.text(
            "SELECT stat_date, count(*) FROM ad_stats_daily GROUP BY stat_date ORDER BY stat_date")).all())
    assert list(per_day.values()) == [2, 1]


def test_hourly_settled_partitions_keep_vanished_hours(engine: Engine) -> None:
    hours = [dict(DELETED_AD, hour=hour, spend=10.0) for hour in range(3)] + [dict(LIVE_AD, hour=5)]
    write_stats_partition(engine, "ad_stats_hourly", ADVERTISER, DAY, hourly_frame(hours), PULLED)
    repull = write_stats_partition(engine, "ad_stats_hourly", ADVERTISER, DAY, hourly_frame(hours[3:]), LATER,
                                   settled=True)
    assert (repull.vanished_kept, repull.deleted, repull.spend_after) == (3, 0, 60.00)
    assert len(read_stats(engine, "ad_stats_hourly")) == 4
    assert read_partition_pulls(engine, "ad_stats_hourly")["rows_vanished_kept"].tolist() == [0, 3]


def test_a_settle_re_pull_of_many_days_keeps_each_days_vanished_rows(engine: Engine) -> None:
    days = [DAY + timedelta(days=offset) for offset in range(4)]
    first = write_stats_partitions(engine, "ad_stats_daily",
                                   {(ADVERTISER, day): daily_frame([DELETED_AD, LIVE_AD], stat_date=day)
                                    for day in days}, PULLED)
    shrunk = {(ADVERTISER, day): daily_frame([dict(LIVE_AD, spend=30.0 + offset)], stat_date=day)
              for offset, day in enumerate(days)}
    writes = write_stats_partitions(engine, "ad_stats_daily", shrunk, LATER, settled=list(shrunk))
    for offset, day in enumerate(days):
        write = writes[(ADVERTISER, day)]
        assert (write.vanished_kept, write.deleted, write.updated) == (1, 0, 1 if offset else 0)
        assert write.spend_after == 130.00 + offset  # 100 kept + 30 (+ the day's correction)
        assert write.data_version == partition_data_version(engine, "ad_stats_daily", ADVERTISER, day)
        assert (write.data_version == first[(ADVERTISER, day)].data_version) == (offset == 0)
    assert len(read_stats(engine, "ad_stats_daily")) == 8


def test_an_empty_re_pull_of_a_settled_day_keeps_every_row(engine: Engine) -> None:
    # A report answered with no rows at all (access lost, the ads deleted and no status filter sent).
    first = write_stats_partition(engine, "ad_stats_daily", ADVERTISER, DAY, daily_frame([DELETED_AD, LIVE_AD]), PULLED)
    empty = write_stats_partition(engine, "ad_stats_daily", ADVERTISER, DAY, pd.DataFrame(), LATER, settled=True)
    assert (empty.rows_served, empty.vanished_kept, empty.deleted, empty.spend_after) == (0, 2, 0, 130.00)
    assert empty.data_version == first.data_version and not empty.changed
    assert len(read_stats(engine, "ad_stats_daily")) == 2 and read_revisions(engine).empty
