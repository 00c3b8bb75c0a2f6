"""Baseline: the warehouse of hand-rolled schema version 4.

Creates every table of version 4 a warehouse lacks, from the frozen
definitions in ``schema_4.py``. On an empty database that is all of them; on
a warehouse of versions 1-4, ``legacy.upgrade_to_version_4`` has already done
the same and the hand-rolled steps, and ``create_schema`` stamps this
revision instead of running it.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tiktok_assets.warehouse.migrations import schema_4

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    connection = op.get_bind()
    present = set(sa.inspect(connection).get_table_names())
    schema_4.metadata.create_all(connection, tables=[table for name, table in schema_4.metadata.tables.items()
                                                     if name not in present])


def downgrade() -> None:
    raise NotImplementedError("The baseline is not undone: restore a backup to go back before Alembic.")
