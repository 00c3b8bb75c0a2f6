"""TikTok's own level totals and lifetime snapshots (issue 17): four new tables, no row of another touched.

``level_stats_daily`` holds TikTok's daily totals per campaign, ad group and advertiser (with its revision log
``level_stats_revisions`` and pull log ``level_stats_pulls``); ``lifetime_snapshots`` holds query_lifetime totals
per ad, ad group and campaign, one row each time they moved.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


NEW_TABLES = ("level_stats_daily", "level_stats_pulls", "level_stats_revisions", "lifetime_snapshots")


def upgrade() -> None:
    # The legacy path (migrations/legacy.py) creates every table the metadata has before upgrading: then they exist.
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if set(NEW_TABLES) <= existing:
        return
    if existing & set(NEW_TABLES):
        raise RuntimeError(f"Only some of {', '.join(NEW_TABLES)} exist ({', '.join(sorted(existing & set(NEW_TABLES)))}): "
                           "drop them and upgrade again.")
    op.create_table('level_stats_daily',
    sa.Column('advertiser_id', sa.String(), nullable=False),
    sa.Column('stat_date', sa.Date(), nullable=False, comment="The advertiser's local date."),
    sa.Column('level', sa.String(length=16), nullable=False, comment='campaign | adgroup | advertiser'),
    sa.Column('entity_id', sa.String(), nullable=False, comment='campaign_id, adgroup_id or advertiser_id.'),
    sa.Column('currency', sa.String(length=8), nullable=False),
    sa.Column('spend', sa.Numeric(precision=20, scale=6, asdecimal=False), nullable=False),
    sa.Column('cash_spend', sa.Numeric(precision=20, scale=6, asdecimal=False), nullable=True),
    sa.Column('voucher_spend', sa.Numeric(precision=20, scale=6, asdecimal=False), nullable=True),
    sa.Column('impressions', sa.BigInteger(), nullable=False),
    sa.Column('clicks', sa.BigInteger(), nullable=False),
    sa.Column('conversions', sa.BigInteger(), nullable=False),
    sa.Column('reach', sa.BigInteger(), nullable=True),
    sa.Column('frequency', sa.Float(), nullable=True),
    sa.Column('first_pulled_at', sa.DateTime(), nullable=False),
    sa.Column('last_pulled_at', sa.DateTime(), nullable=False, comment='The last pull that wrote this row (unchanged re-pulls do not touch rows; see partition_pulls).'),
    sa.Column('last_changed_at', sa.DateTime(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False, comment='1 on first insert, +1 on every change.'),
    sa.CheckConstraint("level IN ('campaign', 'adgroup', 'advertiser')", name=op.f('ck_level_stats_daily_level')),
    sa.PrimaryKeyConstraint('advertiser_id', 'stat_date', 'level', 'entity_id', name=op.f('pk_level_stats_daily'))
    )
    op.create_table('level_stats_pulls',
    sa.Column('pull_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('table_name', sa.String(length=32), nullable=False, comment='The asset: campaign_stats_daily, adgroup_stats_daily or advertiser_stats_daily.'),
    sa.Column('advertiser_id', sa.String(), nullable=False),
    sa.Column('stat_date', sa.Date(), nullable=False),
    sa.Column('pulled_at', sa.DateTime(), nullable=False),
    sa.Column('rows_served', sa.Integer(), nullable=False),
    sa.Column('rows_inserted', sa.Integer(), nullable=False),
    sa.Column('rows_updated', sa.Integer(), nullable=False),
    sa.Column('rows_deleted', sa.Integer(), nullable=False),
    sa.Column('rows_vanished_kept', sa.Integer(), nullable=False),
    sa.Column('spend_after', sa.Numeric(precision=20, scale=6, asdecimal=False), nullable=False),
    sa.Column('data_version', sa.String(length=64), nullable=False),
    sa.Column('changed', sa.Boolean(), nullable=False),
    sa.Column('intraday', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('pull_id', name=op.f('pk_level_stats_pulls'))
    )
    with op.batch_alter_table('level_stats_pulls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_level_stats_pulls_table_name_advertiser_id_stat_date'), ['table_name', 'advertiser_id', 'stat_date'], unique=False)

    op.create_table('level_stats_revisions',
    sa.Column('revision_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('advertiser_id', sa.String(), nullable=False),
    sa.Column('stat_date', sa.Date(), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('entity_id', sa.String(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False, comment="The row's revision after this change."),
    sa.Column('pulled_at', sa.DateTime(), nullable=False),
    sa.Column('change_kind', sa.String(length=16), nullable=False, comment='update | delete (new values NULL) | insert_late (old values NULL).'),
    sa.Column('old_spend', sa.Numeric(precision=20, scale=6, asdecimal=False), nullable=True),
    sa.Column('new_spend', sa.Numeric(precision=20, scale=6, asdecimal=False), nullable=True),
    sa.Column('old_cash_spend', sa.Numeric(precision=20, scale=6, asdecimal=False), nullable=True),
    sa.Column('new_cash_spend', sa.Numeric(precision=20, scale=6, asdecimal=False), nullable=True),
    sa.Column('old_voucher_spend', sa.Numeric(precision=20, scale=6, asdecimal=False), nullable=True),
    sa.Column('new_voucher_spend', sa.Numeric(precision=20, scale=6, asdecimal=False), nullable=True),
    sa.Column('old_impressions', sa.BigInteger(), nullable=True),
    sa.Column('new_impressions', sa.BigInteger(), nullable=True),
    sa.Column('old_clicks', sa.BigInteger(), nullable=True),
    sa.Column('new_clicks', sa.BigInteger(), nullable=True),
    sa.Column('old_conversions', sa.BigInteger(), nullable=True),
    sa.Column('new_conversions', sa.BigInteger(), nullable=True),
    sa.Column('old_reach', sa.BigInteger(), nullable=True),
    sa.Column('new_reach', sa.BigInteger(), nullable=True),
    sa.Column('old_frequency', sa.Float(), nullable=True),
    sa.Column('new_frequency', sa.Float(), nullable=True),
    sa.CheckConstraint("change_kind IN ('update', 'delete', 'insert_late')", name=op.f('ck_level_stats_revisions_change_kind')),
    sa.PrimaryKeyConstraint('revision_id', name=op.f('pk_level_stats_revisions'))
    )
    with op.batch_alter_table('level_stats_revisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_level_stats_revisions_advertiser_id_stat_date_level'), ['advertiser_id', 'stat_date', 'level'], unique=False)

    op.create_table('lifetime_snapshots',
    sa.Column('advertiser_id', sa.String(), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False, comment='ad | adgroup | campaign'),
    sa.Column('entity_id', sa.String(), nullable=False),
    sa.Column('snapshot_at', sa.DateTime(), nullable=False, comment='When TikTok served these lifetime totals; a row is written only when they moved.'),
    sa.Column('currency', sa.String(length=8), nullable=False),
    sa.Column('spend', sa.Numeric(precision=20, scale=6, asdecimal=False), nullable=False),
    sa.Column('impressions', sa.BigInteger(), nullable=False),
    sa.Column('clicks', sa.BigInteger(), nullable=False),
    sa.Column('conversions', sa.BigInteger(), nullable=False),
    sa.Column('reach', sa.BigInteger(), nullable=True),
    sa.Column('frequency', sa.Float(), nullable=True),
    sa.CheckConstraint("level IN ('ad', 'adgroup', 'campaign')", name=op.f('ck_lifetime_snapshots_level')),
    sa.PrimaryKeyConstraint('advertiser_id', 'level', 'entity_id', 'snapshot_at', name=op.f('pk_lifetime_snapshots'))
    )


def downgrade() -> None:
    op.drop_table('lifetime_snapshots')
    with op.batch_alter_table('level_stats_revisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_level_stats_revisions_advertiser_id_stat_date_level'))

    op.drop_table('level_stats_revisions')
    with op.batch_alter_table('level_stats_pulls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_level_stats_pulls_table_name_advertiser_id_stat_date'))

    op.drop_table('level_stats_pulls')
    op.drop_table('level_stats_daily')
