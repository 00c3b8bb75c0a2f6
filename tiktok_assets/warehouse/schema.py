"""Creating the warehouse schema and migrating it forward.

How a schema change is migrated (also in ``MIGRATIONS.md``):

1. Change the table in ``tables.py`` (new installs get the new shape from
   ``create_all``). A brand-new table needs nothing else: ``create_schema``
   creates any table of ``metadata`` the database lacks, whatever the
   version (other domains put their tables on the same ``metadata``).
2. Bump ``SCHEMA_VERSION`` and append a ``Migration(version, description, apply)``
   to ``MIGRATIONS``. ``apply(connection)`` brings a database of the previous
   version to the new one and must be idempotent: check before you alter
   (``column_exists``), because ``create_all`` may already have created a new
   table, and because a half-applied step must be safe to run again.
3. ``create_schema`` runs ``create_all`` and then every migration newer than the
   stored version, in order, in one transaction, and records the new version.

A fresh database is created at the latest shape and stamped with
``SCHEMA_VERSION`` directly: migrations only ever run on older databases.
Several processes may call ``create_schema`` at once: PostgreSQL takes an
advisory lock, SQLite the write lock (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tiktok_assets.warehouse.engine import safe_url, serialise_writers, write_transaction
from tiktok_assets.warehouse.errors import WarehouseError, WarehouseUnavailableError
from tiktok_assets.warehouse.tables import metadata, schema_meta

SCHEMA_VERSION = 4


@dataclass(frozen=True)
class Migration:
    version: int
    """The schema version this step produces."""
    description: str
    apply: Callable[[Connection], None]


def column_exists(connection: Connection, table: str, column: str) -> bool:
    """For idempotent migration steps: does ``table`` already have ``column``?"""
    return any(info["name"] == column for info in sa.inspect(connection).get_columns(table))


def _queue_postbacks(connection: Connection) -> None:
    # Imported here: the postbacks domain builds on this package, not the other way round.
    from tiktok_assets.postbacks.store import upgrade_outbox

    upgrade_outbox(connection)


def add_missing_column(connection: Connection, table: sa.Table, name: str) -> bool:
    """``ALTER TABLE ... ADD COLUMN`` with the column exactly as ``tables.py`` defines it, unless it exists.

    The column's DDL (type, NOT NULL, DEFAULT) is what ``create_all`` would
    write for a fresh table, so a migrated database and a new one agree. A NOT
    NULL column needs a server default to be added to a table with rows.
    Returns whether it was added.
    """
    if column_exists(connection, table.name, name):
        return False
    column = table.c[name]
    if not column.nullable and column.server_default is None:
        raise WarehouseError(f"{table.name}.{name} is NOT NULL without a server default: it cannot be added to "
                             "a table with rows; give it a server_default in tables.py.")
    specification = connection.dialect.ddl_compiler(connection.dialect, None).get_column_specification(column)
    quoted = connection.dialect.identifier_preparer.format_table(table)
    connection.exec_driver_sql(f"ALTER TABLE {quoted} ADD COLUMN {specification}")
    return True


# (table, column) pairs schema version 3 adds; every one is nullable or has a server default.
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
)


def _schema_3(connection: Connection) -> None:
    """In-app revenue columns, vanished rows kept in settled partitions, entity status in history.

    Only adds columns; every existing row stays. Stats rows get app values 0
    (they were never imported: a re-pull fills them in, logged as updates),
    revisions logged before keep NULL old/new app values (not tracked then),
    pulls 0 kept rows and app value 0, entity versions ``is_deleted`` false
    (TikTok's listings hid deleted entities, so none was ever recorded) and
    ``secondary_status`` NULL until the next snapshot lists it. The metrics
    and report tables (derived, rebuilt partition by partition) gain their
    in-app and TikTok-attributed columns with 0 / NULL until recomputed.
    """
    pairs = list(SCHEMA_3_COLUMNS)
    try:
        # Imported here: the metrics domain builds on this package, not the other way round.
        from tiktok_assets.metrics.store import SCHEMA_3_COLUMNS as metrics_columns
    except ImportError:  # a code location without the metrics domain
        metrics_columns = ()
    pairs += metrics_columns
    existing = set(sa.inspect(connection).get_table_names())
    for table_name, column in pairs:
        # A table the database lacks is created whole, at the latest shape, by create_all.
        if table_name in existing:
            add_missing_column(connection, metadata.tables[table_name], column)


SCHEMA_4_COLUMNS: tuple[tuple[str, str], ...] = (("partition_pulls", "intraday"),)


def _schema_4(connection: Connection) -> None:
    """``partition_pulls.intraday``: pulls recorded before say false (they were all logged as revisions)."""
    for table_name, column in SCHEMA_4_COLUMNS:
        add_missing_column(connection, metadata.tables[table_name], column)


MIGRATIONS: list[Migration] = [
    # Version 1 is the first schema. A step adding a column looks like
    # Migration(2, "add ad_stats_daily.video_views", lambda c: None if column_exists(c, "ad_stats_daily",
    #           "video_views") else c.execute(sa.text("ALTER TABLE ad_stats_daily ADD COLUMN video_views BIGINT"))),
    Migration(2, "postbacks: pending outbox rows in postback_queue, no index on outbox state", _queue_postbacks),
    Migration(3, "stats: app_purchases/app_purchase_value (revisions, pulls too) and rows_vanished_kept; "
                 "entity history: secondary_status, is_deleted", _schema_3),
    Migration(4, "partition_pulls.intraday: pulls of a day not over, which log no revision", _schema_4),
]


def stored_schema_version(connection: Connection) -> int | None:
    if not sa.inspect(connection).has_table(schema_meta.name):
        return None
    return connection.execute(sa.select(schema_meta.c.schema_version).where(schema_meta.c.id == 1)).scalar()


def missing_tables(connection: Connection) -> set[str]:
    """Tables of ``metadata`` the database lacks; other domains add theirs to the same ``metadata``."""
    return set(metadata.tables) - set(sa.inspect(connection).get_table_names())


def create_schema(engine: Engine) -> None:
    """Create every missing table and apply pending migrations; two catalog reads on an up-to-date database."""
    try:
        with engine.connect() as connection:
            current = stored_schema_version(connection)
            missing = missing_tables(connection)
    except sa.exc.OperationalError as exc:
        raise WarehouseUnavailableError(
            f"Cannot reach the warehouse at {safe_url(engine)}: {exc.orig}. Is the database running and "
            "TIKTOK_WAREHOUSE_URL right?"
        ) from None
    if current == SCHEMA_VERSION and not missing:
        return
    if current is not None and current > SCHEMA_VERSION:
        raise WarehouseError(
            f"The warehouse at {safe_url(engine)} is at schema version {current}, newer than this code "
            f"({SCHEMA_VERSION}): upgrade tiktok_assets before writing to it."
        )
    with write_transaction(engine) as connection:
        serialise_writers(connection, ["tiktok_assets warehouse schema"])
        # Re-read under the lock: another process may have finished meanwhile.
        current = stored_schema_version(connection)
        metadata.create_all(connection)
        if current is None:
            _stamp(connection, SCHEMA_VERSION, insert=True)
            return
        if current == SCHEMA_VERSION:  # only tables were missing
            return
        for migration in sorted(MIGRATIONS, key=lambda step: step.version):
            if current < migration.version <= SCHEMA_VERSION:
                migration.apply(connection)
                current = migration.version
        if current != SCHEMA_VERSION:
            raise WarehouseError(
                f"No migration leads from schema version {current} to {SCHEMA_VERSION}: add the missing step "
                "to MIGRATIONS in tiktok_assets/warehouse/schema.py (see MIGRATIONS.md)."
            )
        _stamp(connection, current, insert=False)


def _stamp(connection: Connection, version: int, *, insert: bool) -> None:
    values = {"schema_version": version, "migrated_at": datetime.now(UTC).replace(tzinfo=None)}
    if insert:
        connection.execute(sa.insert(schema_meta).values(id=1, **values))
    else:
        connection.execute(sa.update(schema_meta).where(schema_meta.c.id == 1).values(**values))
