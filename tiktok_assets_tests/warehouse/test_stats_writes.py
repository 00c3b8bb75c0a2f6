"""Revision-aware partition writes, on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tiktok_assets.warehouse import (
    PartitionWrite,
    WarehouseInputError,
    partition_data_version,
    read_partition_pulls,
    read_revisions,
    read_stats,
    write_stats_partition,
    write_stats_partitions,
)
from tiktok_assets_tests.warehouse.sample_frames import (
    ADVERTISER,
    DAY,
    OTHER_ADVERTISER,
    PULLED,
    THREE_ADS,
    daily_frame,
    hourly_frame,
)

LATER = PULLED + timedelta(days=1)
LATEST = PULLED + timedelta(days=2)


def _write(engine: Engine, rows: list[dict], pulled_at: datetime = PULLED, day: date = DAY,
           advertiser: str = ADVERTISER) -> PartitionWrite:
    return write_stats_partition(engine, "ad_stats_daily", advertiser, day,
                                 daily_frame(rows, advertiser_id=advertiser, stat_date=day), pulled_at)


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()


def _snapshot(engine: Engine) -> tuple[pd.DataFrame, int, int]:
    return read_stats(engine, "ad_stats_daily"), _count(engine, "stats_revisions"), _count(engine, "partition_pulls")


def test_first_write_inserts_every_row_with_revision_1(engine: Engine) -> None:
    written = _write(engine, THREE_ADS)
    assert (written.rows_served, written.inserted, written.updated, written.deleted, written.unchanged) == (3, 3, 0, 0, 0)
    assert written.first_pull and written.changed
    # 10.25 + 3.10 + 0.65 = 14.00; 2 + 0 + 1 conversions; 49.99 + 0 + 5.00 purchase value.
    assert (written.spend_before, written.spend_after) == (0.0, 14.00)
    assert (written.conversions_before, written.conversions_after) == (0, 3)
    assert written.purchase_value_after == 54.99
    stored = read_stats(engine, "ad_stats_daily").set_index("ad_id")
    assert stored.loc["1", "spend"] == 10.25 and stored.loc["2", "impressions"] == 400
    assert stored.loc["1", "reach"] == 800 and pd.isna(stored.loc["3", "reach"])
    assert stored["stat_date"].tolist() == [DAY] * 3
    assert (stored["revision"] == 1).all()
    assert (stored["first_pulled_at"] == pd.Timestamp(PULLED)).all()
    assert _count(engine, "stats_revisions") == 0
    pulls = read_partition_pulls(engine, "ad_stats_daily")
    assert pulls[["rows_served", "rows_inserted", "changed"]].values.tolist() == [[3, 3, True]]
    assert pulls.loc[0, "spend_after"] == 14.00 and pulls.loc[0, "data_version"] == written.data_version


def test_rewriting_the_same_content_writes_only_a_pull_row(engine: Engine) -> None:
    first = _write(engine, THREE_ADS)
    before = read_stats(engine, "ad_stats_daily")
    again = _write(engine, THREE_ADS, pulled_at=LATER)
    assert (again.inserted, again.updated, again.deleted, again.unchanged) == (0, 0, 0, 3)
    assert not again.first_pull and not again.changed
    assert again.data_version == first.data_version
    assert (again.spend_before, again.spend_after) == (14.00, 14.00)
    pd.testing.assert_frame_equal(read_stats(engine, "ad_stats_daily"), before)
    assert _count(engine, "stats_revisions") == 0
    assert read_partition_pulls(engine, "ad_stats_daily")["changed"].tolist() == [True, False]


def test_a_changed_row_updates_and_logs_one_revision_with_old_and_new(engine: Engine) -> None:
    _write(engine, THREE_ADS)
    revised = [dict(THREE_ADS[0], spend=11.40, conversions=3), THREE_ADS[1], THREE_ADS[2]]
    written = _write(engine, revised, pulled_at=LATER)
    assert (written.inserted, written.updated, written.deleted, written.unchanged) == (0, 1, 0, 2)
    # 14.00 - 10.25 + 11.40 = 15.15; conversions 3 -> 4.
    assert (written.spend_before, written.spend_after) == (14.00, 15.15)
    assert (written.conversions_before, written.conversions_after) == (3, 4)
    assert written.changed
    revisions = read_revisions(engine, "ad_stats_daily")
    assert len(revisions) == 1
    revision = revisions.iloc[0]
    assert (revision["ad_id"], revision["change_kind"], revision["revision"]) == ("1", "update", 2)
    assert (revision["old_spend"], revision["new_spend"]) == (10.25, 11.40)
    assert (revision["old_conversions"], revision["new_conversions"]) == (2, 3)
    assert (revision["old_impressions"], revision["new_impressions"]) == (1000, 1000)
    assert revision["stat_time"] == pd.Timestamp(DAY) and revision["pulled_at"] == pd.Timestamp(LATER)
    stored = read_stats(engine, "ad_stats_daily").set_index("ad_id")
    assert stored.loc["1", "spend"] == 11.40 and stored.loc["1", "revision"] == 2
    assert stored.loc["1", "last_changed_at"] == pd.Timestamp(LATER)
    assert stored.loc["1", "first_pulled_at"] == pd.Timestamp(PULLED)
    # Unchanged rows are not touched at all.
    assert stored.loc["2", "revision"] == 1 and stored.loc["2", "last_pulled_at"] == pd.Timestamp(PULLED)


def test_a_vanished_row_is_deleted_and_logged_with_new_values_zero(engine: Engine) -> None:
    _write(engine, THREE_ADS)
    written = _write(engine, THREE_ADS[:2], pulled_at=LATER)
    assert (written.inserted, written.updated, written.deleted, written.unchanged) == (0, 0, 1, 2)
    assert (written.spend_after, written.conversions_after) == (13.35, 2)  # 10.25 + 3.10; 2 + 0
    assert sorted(read_stats(engine, "ad_stats_daily")["ad_id"]) == ["1", "2"]
    revision = read_revisions(engine).iloc[0]
    assert (revision["ad_id"], revision["change_kind"], revision["revision"]) == ("3", "delete", 2)
    assert (revision["old_spend"], revision["new_spend"]) == (0.65, 0.0)
    assert (revision["old_installs"], revision["new_installs"]) == (1, 0)
    assert (revision["old_purchase_value"], revision["new_purchase_value"]) == (5.00, 0.0)


def test_a_row_appearing_on_a_re_pull_is_an_insert_late(engine: Engine) -> None:
    _write(engine, THREE_ADS[:2])
    written = _write(engine, THREE_ADS, pulled_at=LATER)
    assert (written.inserted, written.unchanged, written.first_pull) == (1, 2, False)
    revision = read_revisions(engine).iloc[0]
    assert (revision["ad_id"], revision["change_kind"], revision["revision"]) == ("3", "insert_late", 1)
    assert (revision["old_spend"], revision["new_spend"]) == (0.0, 0.65)
    assert read_stats(engine, "ad_stats_daily").set_index("ad_id").loc["3", "first_pulled_at"] == pd.Timestamp(LATER)


def test_revisions_add_up_to_the_drift_since_the_first_pull(engine: Engine) -> None:
    _write(engine, THREE_ADS)
    _write(engine, [dict(THREE_ADS[0], spend=12.00), THREE_ADS[1]], pulled_at=LATER)  # +1.75, -0.65 (ad 3 gone)
    _write(engine, [dict(THREE_ADS[0], spend=12.00), dict(THREE_ADS[1], spend=3.50), THREE_ADS[2]],
           pulled_at=LATEST)  # +0.40, +0.65 (ad 3 back)
    revisions = read_revisions(engine)
    assert revisions["change_kind"].tolist() == ["update", "delete", "update", "insert_late"]
    drift = (revisions["new_spend"] - revisions["old_spend"]).sum()
    assert round(drift, 2) == round(16.15 - 14.00, 2)  # 12.00 + 3.50 + 0.65 = 16.15


def test_writing_one_date_never_touches_another_or_another_advertiser(engine: Engine) -> None:
    next_day = DAY + timedelta(days=1)
    _write(engine, THREE_ADS)
    _write(engine, THREE_ADS, day=next_day)
    _write(engine, THREE_ADS, advertiser=OTHER_ADVERTISER)
    untouched = read_stats(engine, "ad_stats_daily")
    untouched = untouched[(untouched["stat_date"] != DAY) | (untouched["advertiser_id"] != ADVERTISER)]
    written = _write(engine, [dict(THREE_ADS[0], spend=1.00)], pulled_at=LATER)  # ads 2, 3 vanish on DAY only
    assert (written.updated, written.deleted) == (1, 2)
    after = read_stats(engine, "ad_stats_daily")
    after = after[(after["stat_date"] != DAY) | (after["advertiser_id"] != ADVERTISER)]
    pd.testing.assert_frame_equal(after.reset_index(drop=True), untouched.reset_index(drop=True))
    revisions = read_revisions(engine)
    assert set(revisions["stat_date"]) == {DAY} and set(revisions["advertiser_id"]) == {ADVERTISER}


def test_invalid_frame_on_a_re_pull_leaves_the_partition_exactly_as_before(engine: Engine) -> None:
    _write(engine, THREE_ADS)
    before = _snapshot(engine)
    with pytest.raises(WarehouseInputError, match="spend"):
        _write(engine, [dict(THREE_ADS[0], spend=20.0), dict(THREE_ADS[1], spend=-1.0)], pulled_at=LATER)
    after = _snapshot(engine)
    pd.testing.assert_frame_equal(after[0], before[0])
    assert after[1:] == before[1:]


@pytest.mark.parametrize("stored_first", [True, False], ids=["merge", "first-pull"])
def test_a_failure_mid_write_rolls_the_whole_partition_back(engine: Engine, stored_first: bool) -> None:
    if stored_first:
        _write(engine, THREE_ADS)
    before = _snapshot(engine)

    # Fail on the very last statement of the write, after every row change.
    def fail_on_pull_row(conn: Connection, cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO PARTITION_PULLS"):
            raise RuntimeError("forced failure")

    sa.event.listen(engine, "before_cursor_execute", fail_on_pull_row)
    try:
        with pytest.raises(RuntimeError, match="forced failure"):
            _write(engine, [dict(THREE_ADS[0], spend=99.0), THREE_ADS[1]] + [{"ad_id": "4", "spend": 1.0}],
                   pulled_at=LATER)
    finally:
        sa.event.remove(engine, "before_cursor_execute", fail_on_pull_row)
    after = _snapshot(engine)
    pd.testing.assert_frame_equal(after[0], before[0])
    assert after[1:] == before[1:]
    # The engine is still usable and the temporary table is gone with the rollback.
    assert _write(engine, THREE_ADS, pulled_at=LATEST).rows_served == 3


def test_data_version_ignores_pull_time_row_order_and_parents_but_not_numbers(engine: Engine) -> None:
    first = _write(engine, THREE_ADS)
    shuffled = daily_frame(THREE_ADS).iloc[[2, 0, 1]].assign(campaign_id=None)
    again = write_stats_partition(engine, "ad_stats_daily", ADVERTISER, DAY, shuffled, LATER)
    assert again.data_version == first.data_version and not again.changed
    assert partition_data_version(engine, "ad_stats_daily", ADVERTISER, DAY) == first.data_version
    cent_more = _write(engine, [dict(THREE_ADS[0], spend=10.26), *THREE_ADS[1:]], pulled_at=LATEST)
    assert cent_more.data_version != first.data_version
    assert partition_data_version(engine, "ad_stats_daily", ADVERTISER, DAY) == cent_more.data_version
    reach_known = _write(engine, [dict(THREE_ADS[0], spend=10.26), THREE_ADS[1], dict(THREE_ADS[2], reach=70)],
                         pulled_at=LATEST + timedelta(hours=1))
    assert reach_known.data_version != cent_more.data_version and reach_known.updated == 1
    assert partition_data_version(engine, "ad_stats_daily", ADVERTISER, DAY + timedelta(days=1)) is None


def test_money_is_compared_at_six_decimals_and_reach_nan_equals_nan(engine: Engine) -> None:
    _write(engine, [{"ad_id": "1", "spend": 1.1234564, "reach": np.nan}])
    assert read_stats(engine, "ad_stats_daily")["spend"].tolist() == [1.123456]
    # Differs only in the 7th decimal, and reach unknown both times: unchanged.
    same = _write(engine, [{"ad_id": "1", "spend": 1.1234561, "reach": np.nan}], pulled_at=LATER)
    assert (same.updated, same.unchanged) == (0, 1)
    known = _write(engine, [{"ad_id": "1", "spend": 1.1234561, "reach": 5}], pulled_at=LATEST)
    assert known.updated == 1
    revision = read_revisions(engine).iloc[0]
    assert pd.isna(revision["old_reach"]) and revision["new_reach"] == 5


def test_totals_are_exact_to_the_cent_over_many_rows(engine: Engine) -> None:
    # 20,000 rows of 0.10 (not exact in binary) add up to exactly 2,000.00.
    rows = [{"ad_id": str(index), "spend": 0.10, "purchase_value": 0.70} for index in range(20_000)]
    written = _write(engine, rows)
    assert written.spend_after == 2000.00 and written.purchase_value_after == 14000.00
    with engine.connect() as connection:
        total = connection.execute(sa.text("SELECT sum(spend) FROM ad_stats_daily")).scalar()
    assert round(float(total), 2) == 2000.00


def test_known_parents_are_kept_when_a_re_pull_serves_none(engine: Engine) -> None:
    _write(engine, THREE_ADS)
    orphan = daily_frame([dict(THREE_ADS[0], spend=11.0)]).assign(campaign_id=None, adgroup_id=None)
    write_stats_partition(engine, "ad_stats_daily", ADVERTISER, DAY, orphan, LATER)
    stored = read_stats(engine, "ad_stats_daily").set_index("ad_id")
    assert stored.loc["1", "spend"] == 11.0 and stored.loc["1", "campaign_id"] == "1800000000000000001"


def test_empty_first_pull_is_recorded_and_later_rows_are_late(engine: Engine) -> None:
    empty = write_stats_partition(engine, "ad_stats_daily", ADVERTISER, DAY, pd.DataFrame(), PULLED)
    assert (empty.rows_served, empty.inserted, empty.first_pull, empty.changed) == (0, 0, True, False)
    late = _write(engine, THREE_ADS[:1], pulled_at=LATER)
    assert (late.inserted, late.first_pull) == (1, False)
    assert read_revisions(engine)["change_kind"].tolist() == ["insert_late"]


def test_hourly_partition_logs_the_utc_hour_as_stat_time(engine: Engine) -> None:
    # Los Angeles in November is UTC-8: local 23:00 on Nov 20 is 07:00 UTC on Nov 21.
    rows = [{"ad_id": "1", "hour": 0, "spend": 1.0}, {"ad_id": "1", "hour": 23, "spend": 2.0},
            {"ad_id": "2", "hour": 23, "spend": 0.5, "spread": True}]
    first = write_stats_partition(engine, "ad_stats_hourly", ADVERTISER, DAY, hourly_frame(rows), PULLED)
    assert (first.inserted, first.spend_after) == (3, 3.5)
    revised = [rows[0], dict(rows[1], spend=2.5), rows[2]]
    again = write_stats_partition(engine, "ad_stats_hourly", ADVERTISER, DAY, hourly_frame(revised), LATER)
    assert (again.updated, again.unchanged, again.spend_after) == (1, 2, 4.0)
    revision = read_revisions(engine, "ad_stats_hourly").iloc[0]
    assert revision["stat_time"] == pd.Timestamp("2026-11-21 07:00:00")
    assert revision["stat_date"] == DAY
    stored = read_stats(engine, "ad_stats_hourly")
    assert stored["stat_hour_local"].tolist() == [pd.Timestamp("2026-11-20 00:00"), pd.Timestamp("2026-11-20 23:00"),
                                                  pd.Timestamp("2026-11-20 23:00")]
    assert stored["spread"].tolist() == [False, False, True]


def test_batched_backfill_over_several_transactions_matches_single_writes(engine: Engine) -> None:
    days = [DAY + timedelta(days=offset) for offset in range(6)]
    _write(engine, THREE_ADS, day=days[0])  # one partition already stored: it goes through the merge
    frames = {(ADVERTISER, day): daily_frame([dict(row, spend=row["spend"] + offset) for row in THREE_ADS],
                                             stat_date=day)
              for offset, day in enumerate(days)}
    writes = write_stats_partitions(engine, "ad_stats_daily", frames, LATER, rows_per_transaction=4)
    assert list(writes) == list(frames)  # the caller's order
    assert writes[(ADVERTISER, days[0])].unchanged == 3 and not writes[(ADVERTISER, days[0])].changed
    for offset, day in enumerate(days[1:], start=1):
        write = writes[(ADVERTISER, day)]
        assert (write.inserted, write.first_pull) == (3, True)
        assert write.spend_after == round(14.00 + 3 * offset, 2)
    assert _count(engine, "ad_stats_daily") == 18 and _count(engine, "partition_pulls") == 7


def test_concurrent_writers_of_one_partition_do_not_collide(engine: Engine) -> None:
    frame = daily_frame([{"ad_id": str(index), "spend": 1.0} for index in range(2_000)])
    results, errors = [], []

    def write(pulled_at: datetime) -> None:
        try:
            results.append(write_stats_partition(engine, "ad_stats_daily", ADVERTISER, DAY, frame, pulled_at))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(PULLED + timedelta(minutes=index),)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted((write.inserted, write.unchanged) for write in results) == [(0, 2_000), (2_000, 0)]
    assert _count(engine, "ad_stats_daily") == 2_000


def test_bad_input_names_the_problem_and_writes_nothing(engine: Engine) -> None:
    frame = daily_frame(THREE_ADS)
    with pytest.raises(WarehouseInputError, match="missing column.*purchase_value"):
        write_stats_partition(engine, "ad_stats_daily", ADVERTISER, DAY, frame.drop(columns="purchase_value"), PULLED)
    with pytest.raises(WarehouseInputError, match=r"duplicate key .*ad_id 2"):
        write_stats_partition(engine, "ad_stats_daily", ADVERTISER, DAY, pd.concat([frame, frame.iloc[[1]]]), PULLED)
    with pytest.raises(WarehouseInputError, match="advertiser_id of the row"):
        write_stats_partition(engine, "ad_stats_daily", OTHER_ADVERTISER, DAY, frame, PULLED)
    with pytest.raises(WarehouseInputError, match="stat_date of the row"):
        write_stats_partition(engine, "ad_stats_daily", ADVERTISER, date(2026, 11, 19), frame, PULLED)
    with pytest.raises(WarehouseInputError, match="ad_stats_weekly"):
        write_stats_partition(engine, "ad_stats_weekly", ADVERTISER, DAY, frame, PULLED)  # type: ignore[arg-type]
    assert (_count(engine, "ad_stats_daily"), _count(engine, "partition_pulls")) == (0, 0)


def test_a_bad_frame_in_a_later_transaction_says_what_was_already_written(engine: Engine) -> None:
    days = [DAY + timedelta(days=offset) for offset in range(3)]
    frames = {(ADVERTISER, day): daily_frame(THREE_ADS, stat_date=day) for day in days}
    frames[(ADVERTISER, days[2])] = daily_frame([dict(THREE_ADS[0], clicks=-1)], stat_date=days[2])
    with pytest.raises(WarehouseInputError, match=r"'clicks' is negative.*written by other transactions: 2"):
        write_stats_partitions(engine, "ad_stats_daily", frames, PULLED, rows_per_transaction=3)
    assert _count(engine, "partition_pulls") == 2
