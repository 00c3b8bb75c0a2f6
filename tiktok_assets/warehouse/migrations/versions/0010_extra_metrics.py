"""``ad_metrics_extra_daily``, ``ad_metrics_extra_revisions``, ``ad_metrics_extra_pulls``: user-chosen metrics.

The BASIC metrics a user picks beyond the core set (issue 17 item 1), one long row per (advertiser, day, ad,
metric) under TikTok's name, so a newly chosen metric never needs a revision. Their pulls have a table of their
own, so ``partition_pulls``' table_name CHECK is not widened. New tables: no row of another is touched.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A legacy warehouse brought to version 4 gets every table metadata has (migrations/legacy.py): only the
    # missing ones are made here.
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if 'ad_metrics_extra_daily' not in existing:
        op.create_table('ad_metrics_extra_daily',
        sa.Column('advertiser_id', sa.String(), nullable=False),
        sa.Column('stat_date', sa.Date(), nullable=False, comment="The advertiser's local date: the partition."),
        sa.Column('ad_id', sa.String(), nullable=False),
        sa.Column('metric', sa.String(length=64), nullable=False, comment="TikTok's metric name, e.g. video_watched_2s (tiktok_assets.tiktok.catalogue)."),
        sa.Column('value', sa.Numeric(precision=20, scale=6, asdecimal=False), nullable=False, comment="As TikTok serves it (counts whole, money in the currency, rates as served); '-' is no row."),
        sa.Column('currency', sa.String(length=8), nullable=True),
        sa.Column('first_pulled_at', sa.DateTime(), nullable=False),
        sa.Column('last_pulled_at', sa.DateTime(), nullable=False, comment='The last pull that wrote this row (unchanged re-pulls do not touch rows; see partition_pulls).'),
        sa.Column('last_changed_at', sa.DateTime(), nullable=False),
        sa.Column('revision', sa.Integer(), nullable=False, comment='1 on first insert, +1 on every change.'),
        sa.PrimaryKeyConstraint('advertiser_id', 'stat_date', 'ad_id', 'metric', name=op.f('pk_ad_metrics_extra_daily')),
        sqlite_with_rowid=False
        )
    if 'ad_metrics_extra_pulls' not in existing:
        op.create_table('ad_metrics_extra_pulls',
        sa.Column('pull_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('table_name', sa.String(length=48), nullable=False, comment='Always ad_metrics_extra_daily (latest_pulls).'),
        sa.Column('advertiser_id', sa.String(), nullable=False),
        sa.Column('stat_date', sa.Date(), nullable=False),
        sa.Column('pulled_at', sa.DateTime(), nullable=False),
        sa.Column('metrics', sa.Text(), nullable=False, comment='JSON list of the metrics this pull asked for.'),
        sa.Column('rows_served', sa.Integer(), nullable=False),
        sa.Column('rows_inserted', sa.Integer(), nullable=False),
        sa.Column('rows_updated', sa.Integer(), nullable=False),
        sa.Column('rows_deleted', sa.Integer(), nullable=False),
        sa.Column('rows_unchanged', sa.Integer(), nullable=False),
        sa.Column('rows_vanished_kept', sa.Integer(), nullable=False, comment='Stored rows of a settled partition this pull no longer served, kept as they were.'),
        sa.Column('data_version', sa.String(length=64), nullable=False),
        sa.Column('changed', sa.Boolean(), nullable=False),
        sa.Column('intraday', sa.Boolean(), nullable=False, comment="A pull of a day not over yet in the advertiser's report zone: no revision was logged."),
        sa.PrimaryKeyConstraint('pull_id', name=op.f('pk_ad_metrics_extra_pulls'))
        )
        with op.batch_alter_table('ad_metrics_extra_pulls', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_ad_metrics_extra_pulls_table_name_advertiser_id_stat_date'), ['table_name', 'advertiser_id', 'stat_date'], unique=False)
    if 'ad_metrics_extra_revisions' not in existing:
        op.create_table('ad_metrics_extra_revisions',
        sa.Column('revision_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('advertiser_id', sa.String(), nullable=False),
        sa.Column('stat_date', sa.Date(), nullable=False, comment="The advertiser's local date: the partition."),
        sa.Column('ad_id', sa.String(), nullable=False),
        sa.Column('metric', sa.String(length=64), nullable=False, comment="TikTok's metric name, e.g. video_watched_2s (tiktok_assets.tiktok.catalogue)."),
        sa.Column('revision', sa.Integer(), nullable=False, comment="The row's revision after this change."),
        sa.Column('pulled_at', sa.DateTime(), nullable=False, comment='When the pull that saw the change ran.'),
        sa.Column('change_kind', sa.String(length=16), nullable=False, comment='update | delete (new_value 0) | insert_late (old_value 0).'),
        sa.Column('old_value', sa.Numeric(precision=20, scale=6, asdecimal=False), nullable=True),
        sa.Column('new_value', sa.Numeric(precision=20, scale=6, asdecimal=False), nullable=True),
        sa.CheckConstraint("change_kind IN ('update', 'delete', 'insert_late')", name=op.f('ck_ad_metrics_extra_revisions_change_kind')),
        sa.PrimaryKeyConstraint('revision_id', name=op.f('pk_ad_metrics_extra_revisions'))
        )
        with op.batch_alter_table('ad_metrics_extra_revisions', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_ad_metrics_extra_revisions_advertiser_id_stat_date'), ['advertiser_id', 'stat_date'], unique=False)

def downgrade() -> None:
    with op.batch_alter_table('ad_metrics_extra_revisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ad_metrics_extra_revisions_advertiser_id_stat_date'))

    op.drop_table('ad_metrics_extra_revisions')
    with op.batch_alter_table('ad_metrics_extra_pulls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ad_metrics_extra_pulls_table_name_advertiser_id_stat_date'))

    op.drop_table('ad_metrics_extra_pulls')
    op.drop_table('ad_metrics_extra_daily')
