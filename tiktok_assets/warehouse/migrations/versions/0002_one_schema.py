"""One schema: ``revision_drift`` made by the migrations like every table; ``schema_meta`` retired.

``revision_drift`` used to be defined and created lazily by the first
``replace_drift`` call, so ``create_schema`` never made it; a warehouse where
it ran has it already (same shape), and keeps its rows. ``schema_meta`` held
the hand-rolled version; ``alembic_version`` holds the revision now.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    tables = set(sa.inspect(op.get_bind()).get_table_names())
    if "revision_drift" not in tables:
        op.create_table(
            "revision_drift",
            sa.Column("table_name", sa.String(length=32), nullable=False),
            sa.Column("advertiser_id", sa.String(length=32), nullable=False),
            sa.Column("stat_date", sa.Date(), nullable=False),
            sa.Column("pulls", sa.Integer(), nullable=False),
            sa.Column("first_pulled_at", sa.DateTime(), nullable=True),
            sa.Column("last_pulled_at", sa.DateTime(), nullable=True),
            *[column for metric in ("spend", "conversions", "purchase_value") for column in (
                sa.Column(f"first_{metric}", sa.Float(), nullable=True),
                sa.Column(f"current_{metric}", sa.Float(), nullable=True),
                sa.Column(f"{metric}_change", sa.Float(), nullable=True),
                sa.Column(f"{metric}_change_pct", sa.Float(), nullable=True),
            )],
            sa.Column("changed_pulls", sa.Integer(), nullable=True),
            sa.Column("revisions", sa.Integer(), nullable=True),
            sa.Column("last_changed_at", sa.DateTime(), nullable=True),
            sa.Column("settled", sa.Boolean(), nullable=True),
            sa.PrimaryKeyConstraint("table_name", "advertiser_id", "stat_date", name="pk_revision_drift"),
        )
    if "schema_meta" in tables:
        op.drop_table("schema_meta")


def downgrade() -> None:
    op.create_table(
        "schema_meta",
        sa.Column("id", sa.Integer(), nullable=False, comment="Always 1: the table holds a single row."),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("migrated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_schema_meta"),
    )
    op.execute("INSERT INTO schema_meta (id, schema_version, migrated_at) VALUES (1, 4, CURRENT_TIMESTAMP)")
