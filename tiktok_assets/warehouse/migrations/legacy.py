"""The hand-rolled schema versions 1-4, run once on a warehouse that still has ``schema_meta`` (frozen: do not edit).

Before Alembic the version lived in ``schema_meta`` and ``create_schema``
ran ``create_all`` and then every step above the stored version. A
warehouse of those days is brought to version 4 exactly as that code did,
except that the tables and columns come from the frozen ``schema_4``
definitions instead of the live ``tables.py``:

1. every table of version 4 it lacks is created (``create_all`` did that on
   every start: a domain whose module was never imported has no table yet);
2. the steps above its version run: 2 queues the pending outbox rows, drops
   the outbox state indexes and sets the fillfactor; 3 and 4 only add columns
   (``ALTER TABLE ... ADD COLUMN``: no row is rewritten, every row kept);
3. the postbacks repairs ``ensure_postback_tables`` made outside the version
   number (issue 15: the ``out_of_bounds`` dead reason, first-party loads,
   the app and device record fields) run where needed.

``create_schema`` then stamps Alembic's baseline revision ``0001`` and
upgrades to head. Every step checks before it alters, so running it on a
warehouse half upgraded by a crashed start is safe.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tiktok_assets.warehouse.errors import WarehouseError
from tiktok_assets.warehouse.migrations import schema_4

LEGACY_VERSION = 4
"""The last hand-rolled version: revision ``0001`` is this schema."""

_METRICS_TABLES = tuple(f"{level}_metrics_{grain}" for grain in ("hourly", "daily")
                        for level in ("ad", "adgroup", "campaign", "advertiser"))
# (table, column) pairs version 3 added; every one nullable or with a server default.
SCHEMA_3_COLUMNS: tuple[tuple[str, str], ...] = (
    *((table, column) for table in ("ad_stats_daily", "ad_stats_hourly")
      for column in ("app_purchases", "app_purchase_value")),
    *(("stats_revisions", f"{prefix}_{metric}") for metric in ("app_purchases", "app_purchase_value")
      for prefix in ("old", "new")),
    ("partition_pulls", "rows_vanished_kept"),
    ("partition_pulls", "app_purchase_value_before"),
    ("partition_pulls", "app_purchase_value_after"),
    *((table, column) for table in ("campaign_history", "adgroup_history", "ad_history")
      for column in ("secondary_status", "is_deleted")),
    *((table, column) for table in _METRICS_TABLES
      for column in ("app_purchases", "app_purchase_value", "tiktok_purchases", "tiktok_revenue")),
    *(("channels_report", column) for column in ("tiktok_purchases", "tiktok_revenue", "app_purchases",
                                                 "app_purchase_value")),
    *(("app_report", column) for column in ("app_purchases", "app_purchase_value", "roas")),
)
SCHEMA_4_COLUMNS: tuple[tuple[str, str], ...] = (("partition_pulls", "intraday"),)
_OUTBOX_STATE_INDEXES = ("ix_postback_outbox_pending", "ix_postback_outbox_sending")
_DEAD_REASONS = ("rejected", "dedup_window", "too_old", "out_of_bounds")
_DEAD_REASON_CHECKS = (("postback_outbox", "dead_reason"), ("postback_dead_letters", "reason"))
_OUTBOX_FILLFACTOR = 50

schema_meta = sa.table("schema_meta", sa.column("id", sa.Integer), sa.column("schema_version", sa.Integer))


def stored_version(connection: Connection) -> int | None:
    """The version in ``schema_meta``; None when the warehouse has no such table (new, or on Alembic already)."""
    if not sa.inspect(connection).has_table("schema_meta"):
        return None
    return connection.execute(sa.select(schema_meta.c.schema_version).where(schema_meta.c.id == 1)).scalar()


def column_exists(connection: Connection, table: str, column: str) -> bool:
    return any(info["name"] == column for info in sa.inspect(connection).get_columns(table))


def add_missing_column(connection: Connection, table_name: str, name: str) -> bool:
    """``ALTER TABLE ... ADD COLUMN`` with the column as version 4 defines it, unless it exists; returns whether added."""
    if column_exists(connection, table_name, name):
        return False
    table = schema_4.metadata.tables[table_name]
    column = table.c[name]
    specification = connection.dialect.ddl_compiler(connection.dialect, None).get_column_specification(column)
    quoted = connection.dialect.identifier_preparer.format_table(table)
    connection.exec_driver_sql(f"ALTER TABLE {quoted} ADD COLUMN {specification}")
    return True


def _add_columns(connection: Connection, pairs: tuple[tuple[str, str], ...]) -> None:
    existing = set(sa.inspect(connection).get_table_names())
    for table_name, column in pairs:
        if table_name in existing:  # a table created in step 1 has its columns already
            add_missing_column(connection, table_name, column)


def _schema_2(connection: Connection) -> None:
    """Pending outbox rows also in ``postback_queue``; batches in flight note their outbox id range; no state indexes."""
    inspector = sa.inspect(connection)
    if not inspector.has_table("postback_outbox"):
        return
    for name in ("first_outbox_id", "last_outbox_id"):
        if not column_exists(connection, "postback_batches", name):
            connection.exec_driver_sql(f"ALTER TABLE postback_batches ADD COLUMN {name} BIGINT")
    connection.exec_driver_sql(
        "UPDATE postback_batches SET "
        "first_outbox_id = (SELECT min(o.outbox_id) FROM postback_outbox o WHERE o.batch_id = postback_batches.batch_id "
        "AND o.state = 'sending'), "
        "last_outbox_id = (SELECT max(o.outbox_id) FROM postback_outbox o WHERE o.batch_id = postback_batches.batch_id "
        "AND o.state = 'sending') "
        "WHERE outcome = 'sending' AND first_outbox_id IS NULL")
    connection.exec_driver_sql(
        "INSERT INTO postback_queue (outbox_id, event_source, event_source_id, test_event_code, event_time, "
        "first_attempt_at, last_batch_id) "
        "SELECT outbox_id, event_source, event_source_id, test_event_code, event_time, first_attempt_at, batch_id "
        "FROM postback_outbox WHERE state = 'pending' "
        "AND outbox_id NOT IN (SELECT outbox_id FROM postback_queue)")
    for index in _OUTBOX_STATE_INDEXES:
        connection.exec_driver_sql(f"DROP INDEX IF EXISTS {index}")
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"ALTER TABLE postback_outbox SET (fillfactor = {_OUTBOX_FILLFACTOR})")


STEPS = {
    2: _schema_2,
    3: lambda connection: _add_columns(connection, SCHEMA_3_COLUMNS),
    4: lambda connection: _add_columns(connection, SCHEMA_4_COLUMNS),
}


def _check_sql(connection: Connection, table: str, column: str) -> str | None:
    name = f"ck_{table}_{column}"
    if connection.dialect.name == "postgresql":
        return connection.execute(
            sa.text("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = :name "
                    "AND conrelid = to_regclass(:table)"), {"name": name, "table": table}).scalar()
    return connection.execute(sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :table"),
                              {"table": table}).scalar()


def _allow_every_dead_reason(connection: Connection) -> None:
    """The dead-reason CHECKs allow ``out_of_bounds`` (issue 15); SQLite's documented CREATE-statement rewrite."""
    outdated = [(table, column) for table, column in _DEAD_REASON_CHECKS
                if (sql := _check_sql(connection, table, column)) is not None
                and any(f"'{reason}'" not in sql for reason in _DEAD_REASONS)]
    if not outdated:
        return
    allowed = "(" + ", ".join(f"'{reason}'" for reason in _DEAD_REASONS) + ")"
    if connection.dialect.name == "postgresql":
        for table, column in outdated:
            name = f"ck_{table}_{column}"
            connection.exec_driver_sql(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}, "
                                       f"ADD CONSTRAINT {name} CHECK ({column} IN {allowed})")
        return
    version = connection.exec_driver_sql("PRAGMA schema_version").scalar_one()
    connection.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        for table, column in outdated:
            pattern = re.compile(rf"(CONSTRAINT ck_{table}_{column} CHECK \({column} IN )\([^)]*\)")
            connection.execute(sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = :table"),
                               {"sql": pattern.sub(lambda m: m.group(1) + allowed, _check_sql(connection, table, column)),
                                "table": table})
        connection.exec_driver_sql(f"PRAGMA schema_version = {version + 1}")
    finally:
        connection.exec_driver_sql("PRAGMA writable_schema = OFF")


def _repair_first_party_events(connection: Connection) -> None:
    """Events of before loads become one load, not yet mapped; record fields added since the table was made."""
    if not column_exists(connection, "first_party_events", "load_id"):
        connection.exec_driver_sql("ALTER TABLE first_party_events ADD COLUMN load_id BIGINT")
        connection.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_first_party_events_load_id_event_time "
                                   "ON first_party_events (load_id, event_time)")
        count, received = connection.execute(
            sa.text("SELECT count(*), max(received_at) FROM first_party_events")).one()
        if count:
            loads = schema_4.first_party_loads
            load_id = connection.execute(sa.insert(loads).values(received_at=received, events=count)
                                         .returning(loads.c.load_id)).scalar_one()
            connection.execute(sa.text("UPDATE first_party_events SET load_id = :load WHERE load_id IS NULL"),
                               {"load": load_id})
    for column in schema_4.first_party_events.c:
        add_missing_column(connection, "first_party_events", column.name)


def upgrade_to_version_4(connection: Connection, version: int) -> None:
    """Bring a warehouse at hand-rolled ``version`` (1-4) to version 4 in the caller's transaction."""
    if not 1 <= version <= LEGACY_VERSION:
        raise WarehouseError(f"schema_meta holds version {version}, which no release of tiktok_assets wrote "
                             f"(1 to {LEGACY_VERSION}); restore the warehouse from a backup.")
    tables = sa.inspect(connection).get_table_names()
    schema_4.metadata.create_all(connection, tables=[table for name, table in schema_4.metadata.tables.items()
                                                     if name not in tables])
    for step in range(version + 1, LEGACY_VERSION + 1):
        STEPS[step](connection)
    _allow_every_dead_reason(connection)
    _repair_first_party_events(connection)
