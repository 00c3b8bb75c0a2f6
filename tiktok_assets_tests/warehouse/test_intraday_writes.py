"""Intraday pulls (issue 16, defect 1): a day not over grows without logging revisions; schema version 4.

On a SQLite file and on PostgreSQL (the ``engine`` fixture).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tiktok_assets.warehouse import (
    WarehouseInputError,
    create_schema,
    partition_drift,
    read_partition_pulls,
    read_revisions,
    read_stats,
    write_stats_partition,
    write_stats_partitions,
    write_transaction,
)
from tiktok_assets.warehouse.migrations.legacy import column_exists
from tiktok_assets_tests.warehouse.legacy_schema import as_legacy_version, at_head
from tiktok_assets_tests.warehouse.sample_frames import ADVERTISER, DAY, PULLED, daily_frame

HOUR = timedelta(hours=1)


def _pull(engine: Engine, spend: float, hours: int, *, intraday: bool, ads: tuple[str, ...] = ("1",)) -> object:
    rows = [{"ad_id": ad_id, "spend": spend, "impressions": 100} for ad_id in ads]
    return write_stats_partition(engine, "ad_stats_daily", ADVERTISER, DAY, daily_frame(rows), PULLED + hours * HOUR,
                                 intraday=intraday)


def test_intraday_pulls_write_the_day_so_far_and_log_no_revision(engine: Engine) -> None:
    first = _pull(engine, 1.0, 0, intraday=True)
    growing = _pull(engine, 4.0, 1, intraday=True, ads=("1", "2"))  # more spend and a new ad, same day
    assert (first.intraday, growing.intraday) == (True, True)
    assert (growing.updated, growing.inserted, growing.spend_after) == (1, 1, 8.0)
    assert read_stats(engine, "ad_stats_daily")["spend"].tolist() == [4.0, 4.0]
    assert read_revisions(engine).empty
    assert read_partition_pulls(engine)["intraday"].tolist() == [True, True]


def test_the_first_pull_after_the_day_closed_is_the_baseline_and_later_pulls_are_revisions(engine: Engine) -> None:
    _pull(engine, 1.0, 0, intraday=True, ads=("1", "2"))
    closed = _pull(engine, 6.0, 20, intraday=False)  # ad 2 gone, ad 1 moved: not logged, this is the baseline
    assert (closed.intraday, closed.updated, closed.deleted, closed.changed) == (False, 1, 1, True)
    assert read_revisions(engine).empty
    revised = _pull(engine, 6.5, 44, intraday=False, ads=("1", "3"))
    assert (revised.updated, revised.inserted) == (1, 1)
    revisions = read_revisions(engine)
    assert revisions[["ad_id", "change_kind"]].values.tolist() == [["1", "update"], ["3", "insert_late"]]
    assert (revisions.loc[0, "old_spend"], revisions.loc[0, "new_spend"]) == (6.0, 6.5)
    assert read_partition_pulls(engine)["intraday"].tolist() == [True, False, False]


def test_drift_starts_when_the_day_closed(engine: Engine) -> None:
    _pull(engine, 1.0, 0, intraday=True)
    _pull(engine, 5.0, 20, intraday=False)
    _pull(engine, 5.5, 44, intraday=False)
    drift = partition_drift(engine, "ad_stats_daily").iloc[0]
    assert (drift["pulls"], drift["first_spend"], drift["current_spend"]) == (2, 5.0, 5.5)
    assert (drift["spend_change"], drift["revisions"], drift["changed_pulls"]) == (0.5, 1, 1)
    # A day with only intraday pulls has no drift yet.
    next_day = DAY + timedelta(days=1)
    write_stats_partition(engine, "ad_stats_daily", ADVERTISER, next_day,
                          daily_frame([{"ad_id": "1", "spend": 2.0}], stat_date=next_day), PULLED, intraday=True)
    assert set(partition_drift(engine, "ad_stats_daily")["stat_date"]) == {DAY}


def test_intraday_keys_only_mark_their_own_partitions_and_cannot_be_settled(engine: Engine) -> None:
    today, yesterday = DAY, DAY - timedelta(days=1)
    frames = {(ADVERTISER, day): daily_frame([{"ad_id": "1", "spend": 1.0}], stat_date=day) for day in (yesterday, today)}
    write_stats_partitions(engine, "ad_stats_daily", frames, PULLED)
    moved = {key: frame.assign(spend=2.0) for key, frame in frames.items()}
    writes = write_stats_partitions(engine, "ad_stats_daily", moved, PULLED + HOUR, intraday=[(ADVERTISER, today)])
    assert (writes[(ADVERTISER, today)].intraday, writes[(ADVERTISER, yesterday)].intraday) == (True, False)
    assert read_revisions(engine)["stat_date"].tolist() == [yesterday]
    with pytest.raises(WarehouseInputError, match="settled and as intraday"):
        write_stats_partitions(engine, "ad_stats_daily", moved, PULLED + 2 * HOUR, settled=[(ADVERTISER, today)],
                               intraday=[(ADVERTISER, today)])


def test_a_version_3_warehouse_gains_the_intraday_column_keeping_its_pulls(engine: Engine) -> None:
    _pull(engine, 1.0, 0, intraday=False)
    with write_transaction(engine) as connection:
        connection.exec_driver_sql('ALTER TABLE partition_pulls DROP COLUMN "intraday"')
        as_legacy_version(connection, 3)
    create_schema(engine)
    with engine.connect() as connection:
        assert column_exists(connection, "partition_pulls", "intraday")
        assert at_head(connection)
    pulls = read_partition_pulls(engine)
    assert (len(pulls), pulls.loc[0, "intraday"], pulls.loc[0, "spend_after"]) == (1, False, 1.0)
    # The upgraded warehouse logs the next change: its one pull was a closed-day pull.
    _pull(engine, 2.0, 24, intraday=False)
    assert read_revisions(engine)["change_kind"].tolist() == ["update"]
