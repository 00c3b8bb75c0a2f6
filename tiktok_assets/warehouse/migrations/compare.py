"""How Alembic compares the live ``metadata`` with a database: shared by ``env.py`` and the schema test."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection


def configure_options(connection: Connection) -> dict[str, Any]:
    """Options for ``MigrationContext`` / ``context.configure`` on ``connection``.

    Types and server defaults are compared too (Alembic compares types by
    default, not defaults). SQLite alters tables by copying them ("batch"),
    so autogenerate writes its operations that way there and a revision runs
    on both databases.
    """
    return {
        "compare_type": True,
        "compare_server_default": True,
        "render_as_batch": connection.dialect.name == "sqlite",
    }
