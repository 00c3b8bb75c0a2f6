"""TopView, Upgraded Smart+ and GMV Max (issue 17 items 5-6): ``gmv_max_stats_daily``, ``gmv_max_revisions``,
``advertiser_commerce_daily``, and ``campaign_history.buying_type`` / ``rf_campaign_type`` /
``campaign_automation_type``.

The new campaign_history columns are NULL on rows written before; the next entity snapshot sees them differ from
what TikTok lists and opens one new version per campaign (they are tracked attributes). GMV Max pulls are rows of
``level_stats_pulls`` (table_name ``gmv_max_stats_daily``), so no pulls table is added.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


NEW_TABLES = ("gmv_max_revisions", "gmv_max_stats_daily", "advertiser_commerce_daily")
NEW_CAMPAIGN_COLUMNS = ("buying_type", "rf_campaign_type", "campaign_automation_type")


def upgrade() -> None:
    # The legacy path (migrations/legacy.py) creates every table the metadata has before upgrading: then the
    # tables and columns exist already (as in 0008).
    inspector = sa.inspect(op.get_bind())
    existing = set(inspector.get_table_names())
    if existing & set(NEW_TABLES) and not set(NEW_TABLES) <= existing:
        raise RuntimeError(f"Only some of {', '.join(NEW_TABLES)} exist ({', '.join(sorted(existing & set(NEW_TABLES)))}): "
                           "drop them and upgrade again.")
    if not set(NEW_TABLES) <= existing:
        _create_tables()
    columns = {column["name"] for column in inspector.get_columns("campaign_history")}
    if set(NEW_CAMPAIGN_COLUMNS) <= columns:
        return
    with op.batch_alter_table('campaign_history', schema=None) as batch_op:
        batch_op.add_column(sa.Column('buying_type', sa.String(length=32), nullable=True, comment='AUCTION | RESERVATION_RF (Reach & Frequency, Pulse) | RESERVATION_TOP_VIEW (TopView).'))
        batch_op.add_column(sa.Column('rf_campaign_type', sa.String(length=32), nullable=True, comment='Reservation campaigns: STANDARD | PULSE | TOPVIEW.'))
        batch_op.add_column(sa.Column('campaign_automation_type', sa.String(length=32), nullable=True, comment="MANUAL | SMART_PLUS | UPGRADED_SMART_PLUS (TikTok's; NULL before it was imported)."))


def _create_tables() -> None:
    op.create_table('advertiser_commerce_daily',
    sa.Column('advertiser_id', sa.String(), nullable=False),
    sa.Column('stat_date', sa.Date(), nullable=False, comment="The advertiser's local date."),
    sa.Column('currency', sa.String(length=8), nullable=False),
    *(sa.Column(name, sa.Numeric(precision=20, scale=6, asdecimal=False), nullable=False)
      for name in ('spend', 'delivery_spend', 'undelivered_spend', 'gmv_max_cost', 'tiktok_revenue',
                   'gmv_max_gross_revenue', 'first_party_revenue')),
    *(sa.Column(name, sa.BigInteger(), nullable=False) for name in ('impressions', 'clicks', 'gmv_max_orders')),
    *(sa.Column(name, sa.Float(), nullable=True, comment='NULL on a zero denominator.')
      for name in ('ctr', 'cpc', 'cpm', 'tiktok_roas', 'first_party_roas', 'gmv_max_roi')),
    sa.Column('computed_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('advertiser_id', 'stat_date', 'currency', name=op.f('pk_advertiser_commerce_daily'))
    )
    op.create_table('gmv_max_revisions',
    sa.Column('revision_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('advertiser_id', sa.String(), nullable=False),
    sa.Column('stat_date', sa.Date(), nullable=False),
    sa.Column('campaign_id', sa.String(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False, comment="The row's revision after this change."),
    sa.Column('pulled_at', sa.DateTime(), nullable=False),
    sa.Column('change_kind', sa.String(length=16), nullable=False, comment='update | delete (new values NULL) | insert_late (old values NULL).'),
    sa.Column('old_cost', sa.Numeric(precision=20, scale=6, asdecimal=False), nullable=True),
    sa.Column('new_cost', sa.Numeric(precision=20, scale=6, asdecimal=False), nullable=True),
    sa.Column('old_net_cost', sa.Numeric(precision=20, scale=6, asdecimal=False), nullable=True),
    sa.Column('new_net_cost', sa.Numeric(precision=20, scale=6, asdecimal=False), nullable=True),
    sa.Column('old_gross_revenue', sa.Numeric(precision=20, scale=6, asdecimal=False), nullable=True),
    sa.Column('new_gross_revenue', sa.Numeric(precision=20, scale=6, asdecimal=False), nullable=True),
    sa.Column('old_orders', sa.BigInteger(), nullable=True),
    sa.Column('new_orders', sa.BigInteger(), nullable=True),
    sa.Column('old_roi', sa.Float(), nullable=True),
    sa.Column('new_roi', sa.Float(), nullable=True),
    sa.CheckConstraint("change_kind IN ('update', 'delete', 'insert_late')", name=op.f('ck_gmv_max_revisions_change_kind')),
    sa.PrimaryKeyConstraint('revision_id', name=op.f('pk_gmv_max_revisions'))
    )
    with op.batch_alter_table('gmv_max_revisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gmv_max_revisions_advertiser_id_stat_date'), ['advertiser_id', 'stat_date'], unique=False)

    op.create_table('gmv_max_stats_daily',
    sa.Column('advertiser_id', sa.String(), nullable=False),
    sa.Column('stat_date', sa.Date(), nullable=False, comment="The advertiser's local date."),
    sa.Column('campaign_id', sa.String(), nullable=False, comment='The GMV Max campaign.'),
    sa.Column('store_id', sa.String(), nullable=False, comment='The TikTok Shop the campaign sells for.'),
    sa.Column('promotion_type', sa.String(length=16), nullable=False, comment='PRODUCT | LIVE'),
    sa.Column('currency', sa.String(length=8), nullable=False),
    sa.Column('cost', sa.Numeric(precision=20, scale=6, asdecimal=False), nullable=False),
    sa.Column('net_cost', sa.Numeric(precision=20, scale=6, asdecimal=False), nullable=False),
    sa.Column('gross_revenue', sa.Numeric(precision=20, scale=6, asdecimal=False), nullable=False),
    sa.Column('orders', sa.BigInteger(), nullable=True),
    sa.Column('roi', sa.Float(), nullable=True),
    sa.Column('first_pulled_at', sa.DateTime(), nullable=False),
    sa.Column('last_pulled_at', sa.DateTime(), nullable=False, comment='The last pull that wrote this row (unchanged re-pulls do not touch rows; see partition_pulls).'),
    sa.Column('last_changed_at', sa.DateTime(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False, comment='1 on first insert, +1 on every change.'),
    sa.PrimaryKeyConstraint('advertiser_id', 'stat_date', 'campaign_id', name=op.f('pk_gmv_max_stats_daily'))
    )


def downgrade() -> None:
    with op.batch_alter_table('campaign_history', schema=None) as batch_op:
        batch_op.drop_column('campaign_automation_type')
        batch_op.drop_column('rf_campaign_type')
        batch_op.drop_column('buying_type')

    op.drop_table('gmv_max_stats_daily')
    with op.batch_alter_table('gmv_max_revisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gmv_max_revisions_advertiser_id_stat_date'))

    op.drop_table('gmv_max_revisions')
    op.drop_table('advertiser_commerce_daily')
