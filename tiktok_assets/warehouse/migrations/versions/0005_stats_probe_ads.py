"""``stats_probe_ads``: per ad and day, the ad-level daily row an hourly re-pull last saw (issue 18).

A settle re-pull of a day whose probed totals moved asks the hourly report only
for the ads whose ad-level daily row moved since the table's last pull of that
day (``tiktok_assets.spend.narrow``); this table keeps each ad's row digest. A
new table: no row of another is touched.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if "stats_probe_ads" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "stats_probe_ads",
        sa.Column("table_name", sa.String(length=32), nullable=False),
        sa.Column("advertiser_id", sa.String(), nullable=False),
        sa.Column("stat_date", sa.Date(), nullable=False),
        sa.Column("ad_id", sa.String(), nullable=False),
        sa.Column("row_digest", sa.String(length=32), nullable=False,
                  comment="Digest of the ad's AUCTION_AD daily row (every metric the table holds) as TikTok served "
                          "it just before the table's last pull of the day."),
        sa.Column("probed_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("table_name IN ('ad_stats_daily', 'ad_stats_hourly')",
                           name="ck_stats_probe_ads_table_name"),
        sa.PrimaryKeyConstraint("table_name", "advertiser_id", "stat_date", "ad_id", name="pk_stats_probe_ads"),
    )


def downgrade() -> None:
    op.drop_table("stats_probe_ads")
