"""Engines, schema creation and migration, and the read helpers."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

import tiktok_assets.warehouse.schema as schema
from tiktok_assets.warehouse import (
    WarehouseConfigError,
    WarehouseError,
    WarehouseUnavailableError,
    create_schema,
    make_engine,
    partition_drift,
    read_revisions,
    read_stats,
    write_stats_partition,
    write_transaction,
)
from tiktok_assets.warehouse.bulk import bulk_insert
from tiktok_assets.warehouse.tables import advertisers, metadata
from tiktok_assets_tests.warehouse.legacy_schema import as_legacy_version, at_head
from tiktok_assets_tests.warehouse.sample_frames import ADVERTISER, DAY, OTHER_ADVERTISER, PULLED, THREE_ADS, daily_frame


def test_create_schema_is_idempotent_and_keeps_data(engine: Engine) -> None:
    write_stats_partition(engine, "ad_stats_daily", ADVERTISER, DAY, daily_frame(THREE_ADS), PULLED)
    create_schema(engine)
    create_schema(engine)
    assert set(metadata.tables) <= set(sa.inspect(engine).get_table_names())
    with engine.connect() as connection:
        assert at_head(connection)
        assert connection.execute(sa.text("SELECT count(*) FROM tiktok_assets_alembic_version")).scalar() == 1
    assert len(read_stats(engine, "ad_stats_daily")) == 3


def test_a_warehouse_at_an_older_revision_is_upgraded_once(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE tiktok_assets_alembic_version SET version_num = '0001'")
        connection.exec_driver_sql("DROP TABLE revision_drift")
    schema.create_schema(engine)
    schema.create_schema(engine)
    with engine.connect() as connection:
        assert at_head(connection)
        assert sa.inspect(connection).has_table("revision_drift")


def test_a_newer_database_is_refused(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE tiktok_assets_alembic_version SET version_num = 'f00d'")
    with pytest.raises(WarehouseError, match="revision f00d, which this code does not know"):
        schema.create_schema(engine)
    with engine.begin() as connection:
        as_legacy_version(connection, 5, drop_drift=False)
    with pytest.raises(WarehouseError, match="schema version 5, newer than this code"):
        schema.create_schema(engine)


def test_sqlite_engine_uses_wal_foreign_keys_and_a_busy_timeout(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 30_000


def test_sqlite_creates_the_file_directory(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'dir' / 'w.sqlite'}")
    create_schema(engine)
    assert (tmp_path / "new" / "dir" / "w.sqlite").exists()
    engine.dispose()


@pytest.mark.parametrize("url", ["postgresql://u:pw@db.example/w", "postgres://u:pw@db.example/w",
                                 "postgresql+psycopg://u:pw@db.example/w", "postgresql+psycopg2://u:pw@db.example/w"])
def test_postgres_urls_use_psycopg_3(url: str) -> None:
    engine = make_engine(url)
    assert engine.url.drivername == "postgresql+psycopg"
    assert "pw" not in repr(engine)


def test_errors_never_show_the_password() -> None:
    with pytest.raises(WarehouseConfigError) as unsupported:
        make_engine("mysql://admin:s3cret@db.example/warehouse")
    assert "s3cret" not in str(unsupported.value) and "***" in str(unsupported.value)
    with pytest.raises(WarehouseConfigError) as unparseable:
        make_engine("not a url:s3cret@@")
    assert "s3cret" not in str(unparseable.value)
    unreachable = make_engine("postgresql://admin:s3cret@127.0.0.1:1/warehouse")
    with pytest.raises(WarehouseUnavailableError) as down:
        create_schema(unreachable)
    assert "s3cret" not in str(down.value) and "127.0.0.1:1" in str(down.value)


def test_read_stats_filters_by_advertiser_and_inclusive_dates(engine: Engine) -> None:
    for offset in range(3):
        day = DAY + timedelta(days=offset)
        write_stats_partition(engine, "ad_stats_daily", ADVERTISER, day, daily_frame(THREE_ADS, stat_date=day), PULLED)
    write_stats_partition(engine, "ad_stats_daily", OTHER_ADVERTISER, DAY,
                          daily_frame(THREE_ADS, advertiser_id=OTHER_ADVERTISER), PULLED)
    frame = read_stats(engine, "ad_stats_daily", ADVERTISER, DAY + timedelta(days=1), DAY + timedelta(days=2))
    assert len(frame) == 6 and set(frame["advertiser_id"]) == {ADVERTISER}
    assert sorted(set(frame["stat_date"])) == [DAY + timedelta(days=1), DAY + timedelta(days=2)]
    assert len(read_stats(engine, "ad_stats_daily")) == 12
    assert frame["spend"].dtype == "float64" and frame["impressions"].dtype == "int64"
    assert frame["first_pulled_at"].dtype == "datetime64[ns]"
    empty = read_stats(engine, "ad_stats_hourly")
    assert empty.empty and "stat_hour_utc" in empty.columns


def test_partition_drift_compares_first_pull_with_now(engine: Engine) -> None:
    def pull(rows: list[dict], hours: int) -> None:
        write_stats_partition(engine, "ad_stats_daily", ADVERTISER, DAY, daily_frame(rows), PULLED + timedelta(hours=hours))

    pull(THREE_ADS, 0)  # spend 14.00, conversions 3, purchase value 54.99
    pull([dict(THREE_ADS[0], conversions=4, purchase_value=79.99), *THREE_ADS[1:]], 24)
    pull([dict(THREE_ADS[0], conversions=4, purchase_value=79.99), *THREE_ADS[1:]], 48)  # no change
    pull([dict(THREE_ADS[0], conversions=4, purchase_value=79.99, spend=10.60), THREE_ADS[1]], 72)  # ad 3 gone
    next_day = DAY + timedelta(days=1)
    write_stats_partition(engine, "ad_stats_daily", ADVERTISER, next_day,
                          daily_frame([{"ad_id": "1"}], stat_date=next_day), PULLED)
    drift = partition_drift(engine, "ad_stats_daily").set_index("stat_date")
    day = drift.loc[DAY]
    assert (day["pulls"], day["changed_pulls"], day["revisions"]) == (4, 2, 3)  # 1 update, then 1 update + 1 delete
    # spend 14.00 -> 10.60 + 3.10 = 13.70; conversions 3 -> 4 + 0 = 4; value 54.99 -> 79.99 + 0 = 79.99.
    assert (day["first_spend"], day["current_spend"], day["spend_change"]) == (14.00, 13.70, -0.30)
    assert day["spend_change_pct"] == pytest.approx(-0.30 / 14.00 * 100)
    assert (day["first_conversions"], day["current_conversions"], day["conversions_change"]) == (3, 4, 1)
    assert day["purchase_value_change"] == 25.00
    assert day["last_changed_at"] == pd.Timestamp(PULLED + timedelta(hours=72))
    quiet = drift.loc[next_day]
    assert (quiet["pulls"], quiet["changed_pulls"], quiet["revisions"]) == (1, 0, 0)
    assert pd.isna(quiet["spend_change_pct"])  # first spend 0: no percentage
    assert len(read_revisions(engine, since=PULLED + timedelta(hours=72))) == 2


def test_bulk_insert_round_trips_awkward_text_nulls_flags_and_times(engine: Engine) -> None:
    frame = pd.DataFrame({
        "advertiser_id": ["1", "2"],
        "advertiser_name": ['Shop, "the best"\nsince 1999', None],
        "currency": ["USD", "JPY"],
        "timezone": [None, "Etc/GMT-9"],
        "first_seen_at": pd.to_datetime(["2026-11-20 13:45:06.5", "2026-11-21 00:00"], format="ISO8601"),
        "last_seen_at": pd.to_datetime(["2026-11-20 13:45:06.5", "2026-11-21 00:00"], format="ISO8601"),
        "authorised": [True, False],
    })
    with write_transaction(engine) as connection:
        bulk_insert(connection, advertisers, frame)
    with engine.connect() as connection:
        rows = connection.execute(sa.select(advertisers).order_by(advertisers.c.advertiser_id)).mappings().all()
    assert rows[0]["advertiser_name"] == 'Shop, "the best"\nsince 1999' and rows[1]["advertiser_name"] is None
    assert (rows[0]["timezone"], rows[1]["timezone"]) == (None, "Etc/GMT-9")
    assert rows[0]["first_seen_at"] == datetime(2026, 11, 20, 13, 45, 6, 500000)
    assert (rows[0]["authorised"], rows[1]["authorised"]) == (True, False)
    # Rows SQLAlchemy binds itself compare equal to bulk-loaded ones (same text form on SQLite).
    with engine.connect() as connection:
        found = connection.execute(sa.select(advertisers.c.advertiser_id).where(
            advertisers.c.first_seen_at == datetime(2026, 11, 21))).scalars().all()
    assert found == ["2"]
