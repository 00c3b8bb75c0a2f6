"""Engines for the warehouse: a SQLite file by default, PostgreSQL (psycopg 3) for real deployments."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

from tiktok_assets.warehouse.errors import WarehouseConfigError

# Several Dagster run processes may write the same SQLite file at once:
# a writer waits this long for the lock before SQLite gives up.
SQLITE_BUSY_TIMEOUT_SECONDS = 60
_WRITE_OPTION = "tiktok_warehouse_write"


def make_engine(url: str | URL) -> Engine:
    """An engine for ``url``; every PostgreSQL URL (``postgresql://``, ``postgres://``, ``+psycopg2``) gets psycopg 3.

    SQLite gets WAL (readers never block the writer), foreign keys, a busy
    timeout, and real transactions: pysqlite's legacy mode neither begins a
    transaction before DDL nor lets a writer take the lock up front, so we
    emit BEGIN ourselves (``BEGIN IMMEDIATE`` for ``write_transaction``).
    """
    parsed = _parse(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        # Bulk loads use psycopg 3's COPY API. SQLAlchemy 2.1 reads a bare
        # postgresql:// as psycopg 3 but 2.0 as psycopg2, and dagster.yaml names
        # psycopg2 for Dagster's own storage: name the driver, whatever was given.
        return sa.create_engine(parsed.set(drivername="postgresql+psycopg"), pool_pre_ping=True)
    raise WarehouseConfigError(
        f"Warehouse URL {parsed.render_as_string(hide_password=True)} uses {backend!r}: the warehouse "
        "supports sqlite:///path/to/file.sqlite and postgresql+psycopg://user@host/db; set TIKTOK_WAREHOUSE_URL to one."
    )


def _parse(url: str | URL) -> URL:
    if isinstance(url, URL):
        return url
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    try:
        return sa.make_url(url)
    except sa.exc.ArgumentError:
        # The raw value may hold a password: don't echo it.
        raise WarehouseConfigError(
            "Warehouse URL could not be parsed (value withheld: it may contain a password). Expected e.g. "
            "sqlite:////abs/path/warehouse.sqlite or postgresql+psycopg://user:password@host:5432/db."
        ) from None


def _in_memory(url: URL) -> bool:
    database = url.database or ""
    return url.get_backend_name() == "sqlite" and (
        database in ("", ":memory:") or database.startswith("file::memory:") or url.query.get("mode") == "memory"
    )


def threads_share_the_database(engine: Engine) -> bool:
    """False for in-memory SQLite: each thread's connection opens a database of its own."""
    return not _in_memory(engine.url)


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    in_memory = _in_memory(url)
    if not in_memory:
        directory = os.path.dirname(os.path.abspath(database))
        os.makedirs(directory, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})

    @sa.event.listens_for(engine, "connect")
    def _configure(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None  # we BEGIN ourselves, see make_engine
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            # With WAL, NORMAL loses at most the last commits on power loss, never integrity.
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA temp_store=MEMORY")
        # 64 MiB of page cache (the default is 2 MiB): re-pulls look rows up all over a file of gigabytes.
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # A deferred transaction that reads and then writes fails at once with
        # SQLITE_BUSY if another process wrote in between; IMMEDIATE takes the
        # write lock first and waits for it under busy_timeout instead.
        immediate = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One read-write transaction: committed on success, rolled back on any error."""
    with engine.connect() as connection:
        connection.execution_options(**{_WRITE_OPTION: True})
        with connection.begin():
            yield connection


def serialise_writers(connection: Connection, names: Iterable[str]) -> None:
    """Hold a transaction-scoped lock per name until commit (PostgreSQL advisory locks).

    SQLite needs none: ``BEGIN IMMEDIATE`` already lets one writer in at a time.
    Locks are taken in sorted order, so two writers never deadlock.
    """
    if connection.dialect.name != "postgresql":
        return
    lock_ids = sorted({
        int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True) for name in names
    })
    connection.execute(
        sa.text("SELECT count(pg_advisory_xact_lock(lock_id)) FROM "
                "(SELECT unnest(CAST(:lock_ids AS bigint[])) AS lock_id ORDER BY 1) AS ordered"),
        {"lock_ids": lock_ids},
    )


def safe_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)
