"""Turning a current warehouse into one of before Alembic, for the upgrade tests."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tiktok_assets.warehouse.schema import current_revision, head_revision


def as_legacy_version(connection: Connection, version: int, *, drop_drift: bool = True) -> None:
    """Replace Alembic's ``tiktok_assets_alembic_version`` by the hand-rolled ``schema_meta`` at ``version``.

    ``revision_drift`` goes too unless ``drop_drift`` is false: the old
    ``create_schema`` never made it (only a ``replace_drift`` call did).
    """
    connection.exec_driver_sql("DROP TABLE tiktok_assets_alembic_version")
    if drop_drift:
        connection.exec_driver_sql("DROP TABLE IF EXISTS revision_drift")
    connection.exec_driver_sql("CREATE TABLE schema_meta (id INTEGER NOT NULL, schema_version INTEGER NOT NULL, "
                               "migrated_at TIMESTAMP NOT NULL, CONSTRAINT pk_schema_meta PRIMARY KEY (id))")
    connection.execute(sa.text("INSERT INTO schema_meta VALUES (1, :version, CURRENT_TIMESTAMP)"),
                       {"version": version})


def at_head(connection: Connection) -> bool:
    """Migrated to this code's head revision, and the old version table retired."""
    return current_revision(connection) == head_revision() and not sa.inspect(connection).has_table("schema_meta")
