"""Schema version 3: a version-2 warehouse with rows is upgraded in place, keeping every row (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tiktok_assets.metrics import store as metrics_store
from tiktok_assets.warehouse import (
    create_schema,
    read_partition_pulls,
    read_revisions,
    read_stats,
    write_stats_partition,
    write_transaction,
)
from tiktok_assets.warehouse.migrations.legacy import STEPS, SCHEMA_3_COLUMNS, column_exists
from tiktok_assets.warehouse.fivetran import drop_views as drop_fivetran_views
from tiktok_assets_tests.warehouse.legacy_schema import as_legacy_version, at_head
from tiktok_assets.warehouse.tables import metadata
from tiktok_assets_tests.warehouse.sample_frames import ADVERTISER, DAY, PULLED, daily_frame

LATER = PULLED + timedelta(days=1)
HOUR = datetime(2026, 11, 20, 17)  # 09:00 in Los Angeles
# Version 3 adds these (the metrics tables had tiktok_revenue already).
ADDED = [(table, column) for table, column in SCHEMA_3_COLUMNS
                 if not (table.endswith(("_daily", "_hourly")) and column == "tiktok_revenue")]


def _as_version_2(engine: Engine) -> None:
    """Take a fresh warehouse back to version 2's shape: without the columns version 3 adds."""
    with write_transaction(engine) as connection:
        # A warehouse of version 2 had no Fivetran-shaped views (revision 0009); they read columns dropped here.
        drop_fivetran_views(connection)
        for table, column in ADDED:
            connection.exec_driver_sql(f'ALTER TABLE {table} DROP COLUMN "{column}"')
        as_legacy_version(connection, 2, drop_drift=False)  # one where replace_drift had run: its rows stay


def _metrics_row() -> dict[str, object]:
    """A campaign_metrics_daily row of version 2 (its columns minus those version 3 adds)."""
    table = metadata.tables["campaign_metrics_daily"]
    added = {column for name, column in ADDED if name == table.name}
    row: dict[str, object] = {}
    for column in table.columns:
        if column.name in added:
            continue
        kind = column.type
        row[column.name] = (DAY if isinstance(kind, sa.Date) and not isinstance(kind, sa.DateTime) else
                            PULLED if isinstance(kind, sa.DateTime) else
                            7 if isinstance(kind, sa.Integer) else 1.5 if isinstance(kind, sa.Numeric | sa.Float)
                            else "1" if column.name.endswith("_id") else "USD" if column.name == "currency" else "x")
    return row


def _version_2_rows(engine: Engine) -> None:
    """Rows as version-2 code wrote them (only the columns it knew)."""
    bookkeeping = {"first_pulled_at": PULLED, "last_pulled_at": PULLED, "last_changed_at": PULLED, "revision": 1}
    metrics = {"spend": 12.5, "impressions": 1000, "clicks": 10, "conversions": 2, "installs": 1, "purchases": 1,
               "purchase_value": 40.25}
    parents = {"campaign_id": "1", "adgroup_id": "21", "currency": "USD"}
    statements = [
        ("ad_stats_daily", [{"advertiser_id": ADVERTISER, "ad_id": ad_id, "stat_date": DAY, **parents, **metrics,
                             "reach": 900, **bookkeeping} for ad_id in ("11", "12")]),
        ("ad_stats_hourly", [{"advertiser_id": ADVERTISER, "ad_id": "11", "stat_hour_utc": HOUR,
                              "stat_hour_local": HOUR - timedelta(hours=8), "stat_date": DAY, **parents, **metrics,
                              "spread": False, **bookkeeping}]),
        ("stats_revisions", [{"table_name": "ad_stats_daily", "advertiser_id": ADVERTISER, "ad_id": "11",
                              "stat_date": DAY, "stat_time": datetime(2026, 11, 20), "revision": 2,
                              "pulled_at": PULLED, "change_kind": "update", "old_spend": 10.0, "new_spend": 12.5}]),
        ("partition_pulls", [{"table_name": "ad_stats_daily", "advertiser_id": ADVERTISER, "stat_date": DAY,
                              "pulled_at": PULLED, "rows_served": 2, "rows_inserted": 2, "rows_updated": 0,
                              "rows_deleted": 0, "rows_unchanged": 0, "spend_before": 0, "spend_after": 25.0,
                              "conversions_before": 0, "conversions_after": 4, "purchase_value_before": 0,
                              "purchase_value_after": 80.5, "data_version": "v2-digest", "changed": True}]),
        ("campaign_history", [{"campaign_id": "1", "advertiser_id": ADVERTISER, "campaign_name": "Apps",
                               "objective_type": "APP_PROMOTION", "operation_status": "ENABLE",
                               "valid_from": PULLED}]),
        ("adgroup_history", [{"adgroup_id": "21", "campaign_id": "1", "advertiser_id": ADVERTISER,
                              "adgroup_name": "Broad", "operation_status": "ENABLE", "valid_from": PULLED}]),
        ("ad_history", [{"ad_id": "11", "adgroup_id": "21", "campaign_id": "1", "advertiser_id": ADVERTISER,
                         "ad_name": "Video", "operation_status": "ENABLE", "has_ttclid": False,
                         "has_tracking": False, "valid_from": PULLED}]),
        ("campaign_metrics_daily", [_metrics_row()]),
    ]
    with write_transaction(engine) as connection:
        for name, rows in statements:
            table = metadata.tables[name]
            # Only the columns a version-2 table has: the version-3 ones do not exist yet.
            columns = ", ".join(rows[0])
            values = ", ".join(f":{column}" for column in rows[0])
            connection.execute(sa.text(f"INSERT INTO {table.name} ({columns}) VALUES ({values})").bindparams(
                *(sa.bindparam(column, type_=table.c[column].type) for column in rows[0])), rows)


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()


def test_a_version_2_warehouse_upgrades_to_3_keeping_every_row(engine: Engine) -> None:
    _as_version_2(engine)
    assert not column_exists(engine.connect(), "ad_stats_daily", "app_purchase_value")
    _version_2_rows(engine)
    counts = {name: _count(engine, name) for name in metadata.tables}

    create_schema(engine)

    with engine.connect() as connection:
        assert at_head(connection)
        for table, column in [*SCHEMA_3_COLUMNS, *metrics_store.SCHEMA_3_COLUMNS]:
            assert column_exists(connection, table, column), (table, column)
    assert {name: _count(engine, name) for name in metadata.tables} == counts
    # Every old row keeps its values; the new columns say "not imported yet" (0) or "not tracked then" (NULL).
    daily = read_stats(engine, "ad_stats_daily")
    assert daily[["ad_id", "spend", "purchase_value", "reach"]].values.tolist() == [["11", 12.5, 40.25, 900],
                                                                                   ["12", 12.5, 40.25, 900]]
    assert daily["app_purchases"].tolist() == [0, 0] and daily["app_purchase_value"].tolist() == [0.0, 0.0]
    hourly = read_stats(engine, "ad_stats_hourly")
    assert (hourly.loc[0, "stat_hour_utc"], hourly.loc[0, "app_purchases"]) == (pd.Timestamp(HOUR), 0)
    revision = read_revisions(engine).iloc[0]
    assert (revision["old_spend"], revision["new_spend"]) == (10.0, 12.5)
    assert pd.isna(revision["old_app_purchase_value"]) and pd.isna(revision["new_app_purchases"])
    pull = read_partition_pulls(engine).iloc[0]
    assert (pull["data_version"], pull["rows_vanished_kept"], pull["app_purchase_value_after"]) == ("v2-digest", 0, 0.0)
    with engine.connect() as connection:
        for name, entity_id in (("campaign_history", "1"), ("adgroup_history", "21"), ("ad_history", "11")):
            row = connection.execute(sa.text(f"SELECT * FROM {name}")).mappings().one()
            assert row[f"{name.removesuffix('_history')}_id"] == entity_id
            assert (bool(row["is_deleted"]), row["secondary_status"]) == (False, None)
        metrics_row = connection.execute(sa.text("SELECT * FROM campaign_metrics_daily")).mappings().one()
    assert (metrics_row["spend"], metrics_row["clicks"], metrics_row["tiktok_revenue"]) == (1.5, 7, 1.5)
    assert (metrics_row["app_purchases"], metrics_row["tiktok_purchases"], float(metrics_row["app_purchase_value"])) == (
        0, 0, 0.0)

    # The upgraded warehouse takes writes of the new shape: a re-pull fills the app value in, logged.
    repull = write_stats_partition(engine, "ad_stats_daily", ADVERTISER, DAY, daily_frame([
        {"ad_id": "11", "spend": 12.5, "impressions": 1000, "clicks": 10, "conversions": 2, "installs": 1,
         "purchases": 1, "purchase_value": 40.25, "reach": 900, "app_purchases": 2, "app_purchase_value": 19.98},
    ]), LATER, settled=True)
    assert (repull.updated, repull.vanished_kept, repull.spend_after) == (1, 1, 25.0)
    assert (repull.app_purchase_value_before, repull.app_purchase_value_after) == (0.0, 19.98)
    latest = read_revisions(engine).iloc[-1]
    assert (latest["old_app_purchase_value"], latest["new_app_purchase_value"]) == (0.0, 19.98)


def test_the_version_3_step_is_idempotent_and_matches_a_fresh_schema(engine: Engine) -> None:
    step = STEPS[3]
    fresh = {name: {column["name"] for column in sa.inspect(engine).get_columns(name)} for name in metadata.tables}
    # On a database that already has every column (a fresh one, or a half-applied step run again): no-op.
    with write_transaction(engine) as connection:
        step(connection)
        step(connection)
    _as_version_2(engine)
    create_schema(engine)
    migrated = {name: {column["name"] for column in sa.inspect(engine).get_columns(name)} for name in metadata.tables}
    assert migrated == fresh
