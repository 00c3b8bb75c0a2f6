"""``stats_probes``: the advertiser- and campaign-level totals each settle re-pull probed (issue 18).

A settle re-pull asks TikTok for the day's advertiser and campaign totals first
and pulls ad-level rows only for the days whose totals moved since the last
probe (``tiktok_assets.spend.probe``). A new table: no row of another is touched.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if "stats_probes" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "stats_probes",
        sa.Column("table_name", sa.String(length=32), nullable=False),
        sa.Column("advertiser_id", sa.String(), nullable=False),
        sa.Column("stat_date", sa.Date(), nullable=False),
        sa.Column("probe_digest", sa.String(length=64), nullable=False,
                  comment="Digest of the day's advertiser- and campaign-level totals of every compared metric at the "
                          "probe before the last ad-level pull (tiktok_assets.spend.probe)."),
        sa.Column("advertiser_spend", sa.Numeric(precision=20, scale=6, asdecimal=False), nullable=False,
                  comment="AUCTION_ADVERTISER spend of the day at that probe (reservation buying included)."),
        sa.Column("campaigns", sa.Integer(), nullable=False, comment="Campaign rows the probe served for the day."),
        sa.Column("probed_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("table_name IN ('ad_stats_daily', 'ad_stats_hourly')", name="ck_stats_probes_table_name"),
        sa.PrimaryKeyConstraint("table_name", "advertiser_id", "stat_date", name="pk_stats_probes"),
    )


def downgrade() -> None:
    op.drop_table("stats_probes")
