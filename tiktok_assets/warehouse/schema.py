"""Creating the warehouse schema and migrating it forward with Alembic (how to change it: ``MIGRATIONS.md``).

Every table is on the one ``metadata`` of ``tables.py``; the revisions are in
``migrations/versions``, run programmatically (no ``alembic.ini``). ``create_schema``
runs on every start and is idempotent:

* at the head revision: returns after one read of ``tiktok_assets_alembic_version`` (no DDL);
* a new database (no ``tiktok_assets_alembic_version``, no ``schema_meta``): ``create_all`` makes
  every table at the latest shape, stamped with the head revision;
* a warehouse of before Alembic (``schema_meta`` at hand-rolled version 1-4):
  ``migrations/legacy.py`` brings it to version 4 as the old code did, it is
  stamped with the baseline ``0001``, and upgraded to head;
* at an older revision: upgraded to head;
* at a revision this code does not know (written by newer code): refused.

Whenever it migrates, the Fivetran-shaped views (``fivetran.py``) are rebuilt last, from this code (on SQLite
dropped first): they hold no data and read tables a revision may alter.

All of it runs in one transaction under a lock (PostgreSQL's advisory lock,
SQLite's ``BEGIN IMMEDIATE``), so processes starting at once migrate once.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.util import CommandError
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from tiktok_assets.warehouse import fivetran
from tiktok_assets.warehouse.engine import safe_url, serialise_writers, write_transaction
from tiktok_assets.warehouse.errors import WarehouseError, WarehouseUnavailableError
from tiktok_assets.warehouse.migrations import legacy
from tiktok_assets.warehouse.migrations.compare import VERSION_TABLE
from tiktok_assets.warehouse.tables import metadata

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
BASELINE_REVISION = "0001"
"""Hand-rolled schema version 4, the last before Alembic."""
LEGACY_SCHEMA_VERSION = legacy.LEGACY_VERSION


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` for the package's migrations, running on ``connection`` (see ``migrations/env.py``)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The revision this code's ``metadata`` is at."""
    head = _scripts().get_current_head()
    if head is None:
        raise WarehouseError(f"No Alembic revision in {MIGRATIONS_DIR / 'versions'}: the package is incomplete.")
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision stored in the warehouse's ``tiktok_assets_alembic_version``; None before Alembic (or on a new database)."""
    return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()


def create_schema(engine: Engine) -> None:
    """Create or migrate the warehouse to the head revision; one catalog read when it is there already."""
    head = head_revision()
    try:
        with engine.connect() as connection:
            current = current_revision(connection)
    except sa.exc.OperationalError as exc:
        raise WarehouseUnavailableError(
            f"Cannot reach the warehouse at {safe_url(engine)}: {exc.orig}. Is the database running and "
            "TIKTOK_WAREHOUSE_URL right?"
        ) from None
    if current == head:
        return
    _refuse_unknown(engine, current)
    with write_transaction(engine) as connection:
        serialise_writers(connection, ["tiktok_assets warehouse schema"])
        # Re-read under the lock: another process may have finished meanwhile.
        current = current_revision(connection)
        if current == head:
            return
        _refuse_unknown(engine, current)
        # The views hold no data and read the tables a revision may alter: rebuilt after (on SQLite, off before).
        fivetran.drop_views_before_migrating(connection)
        _migrate_tables(engine, connection, current)
        fivetran.create_views(connection)


def _migrate_tables(engine: Engine, connection: Connection, current: str | None) -> None:
    config = alembic_config(connection)
    if current is None:
        version = legacy.stored_version(connection)
        if version is None:
            metadata.create_all(connection)
            command.stamp(config, "head")
            return
        if version > LEGACY_SCHEMA_VERSION:
            raise WarehouseError(
                f"The warehouse at {safe_url(engine)} is at schema version {version}, newer than this code "
                f"knows: upgrade tiktok_assets before writing to it.")
        legacy.upgrade_to_version_4(connection, version)
        command.stamp(config, BASELINE_REVISION)
    command.upgrade(config, "head")


def _refuse_unknown(engine: Engine, revision: str | None) -> None:
    if revision is None:
        return
    try:
        _scripts().get_revision(revision)
    except CommandError:  # what Alembic raises for a revision id its scripts do not have
        raise WarehouseError(
            f"The warehouse at {safe_url(engine)} is at schema revision {revision}, which this code does not "
            f"know (its head is {head_revision()}): it was migrated by a newer tiktok_assets; upgrade before "
            "writing to it."
        ) from None


def autogenerate_revision(message: str, url: str | None = None) -> Path:
    """Write a new revision from what ``metadata`` has and the head revision's schema lacks; returns its file.

    The schema compared with is built in a scratch SQLite file by running every
    revision from empty (or, with ``url``, a warehouse already at head: a
    PostgreSQL one renders PostgreSQL's view of types and defaults). Review the
    file before committing it: autogenerate does not see renames, and SQLite
    alters through ``batch_alter_table``, which it writes so the revision runs
    on both databases.
    """
    import tempfile

    from tiktok_assets.warehouse.engine import make_engine

    head = head_revision()
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(url or f"sqlite:///{Path(scratch) / 'head.sqlite'}")
        try:
            # Autogenerate only reads: on a given warehouse nothing is written; the scratch file is deleted.
            with engine.begin() as connection:
                config = alembic_config(connection)
                if url is None:
                    command.upgrade(config, "head")
                elif current_revision(connection) != head:
                    raise WarehouseError(f"The warehouse at {safe_url(engine)} is not at the head revision {head}: "
                                         "run create_schema on it first (tiktok-assets schema upgrade).")
                script = command.revision(config, message=message, autogenerate=True,
                                          rev_id=f"{int(head) + 1:04d}")
        finally:
            engine.dispose()
    assert script is not None and not isinstance(script, list)
    return Path(script.path)
