"""How Alembic compares the live ``metadata`` with a database: shared by ``env.py`` and the schema test."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

# Not Alembic's default ``alembic_version``: Dagster's own storage keeps its Alembic revision in that table, and a
# deployment may put the instance and the warehouse in one PostgreSQL database (docker-compose does, by default).
# Sharing it, each would read the other's revision (the topology test caught the warehouse refusing Dagster's).
VERSION_TABLE = "tiktok_assets_alembic_version"


def _ours(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
    """Compare only the warehouse's own tables: the database may hold Dagster's (or anyone's) beside them."""
    from tiktok_assets.warehouse.tables import metadata

    return type_ != "table" or name in metadata.tables


def configure_options(connection: Connection) -> dict[str, Any]:
    """Options for ``MigrationContext`` / ``context.configure`` on ``connection``.

    Types and server defaults are compared too (Alembic compares types by
    default, not defaults). SQLite alters tables by copying them ("batch"),
    so autogenerate writes its operations that way there and a revision runs
    on both databases.
    """
    return {
        "version_table": VERSION_TABLE,
        "include_name": _ours,
        "compare_type": True,
        "compare_server_default": True,
        "render_as_batch": connection.dialect.name == "sqlite",
    }
