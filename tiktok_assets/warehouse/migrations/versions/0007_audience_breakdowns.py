"""``audience_stats_daily``, ``audience_revisions``, ``audience_pulls``: AUDIENCE breakdowns (issue 17).

One long table holds every breakdown (age × gender, country, platform, placement, province) at campaign, ad
group and ad level, keyed by breakdown name and value(s): a new breakdown is new rows, not a schema change.
Its re-pulls log revisions and pulls as the ad-level stats do. New tables: no row of another is touched.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MONEY = sa.Numeric(precision=20, scale=6, asdecimal=False)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _key_columns() -> list[sa.Column]:
    return [
        sa.Column("advertiser_id", sa.String(), nullable=False),
        sa.Column("stat_date", sa.Date(), nullable=False, comment="The advertiser's local date: the partition."),
        sa.Column("breakdown", sa.String(length=32), nullable=False,
                  comment="age_gender | country | platform | placement | province (audience.breakdowns)."),
        sa.Column("level", sa.String(length=16), nullable=False, comment="campaign | adgroup | ad"),
        sa.Column("entity_id", sa.String(), nullable=False,
                  comment="The campaign, ad group or ad id of the row's level."),
        sa.Column("breakdown_value", sa.String(length=64), nullable=False,
                  comment="TikTok's value of the first dimension, e.g. AGE_25_34, US, ANDROID."),
        sa.Column("breakdown_value_2", sa.String(length=64), nullable=False, server_default=sa.text("''"),
                  comment="The second dimension's value (gender of age_gender), '' for one-dimension breakdowns."),
    ]


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "audience_stats_daily" not in existing:
        op.create_table(
            "audience_stats_daily",
            *_key_columns(),
            sa.Column("currency", sa.String(length=8), nullable=True),
            sa.Column("spend", _MONEY, nullable=False),
            sa.Column("impressions", sa.BigInteger(), nullable=False),
            sa.Column("clicks", sa.BigInteger(), nullable=False),
            sa.Column("conversions", sa.BigInteger(), nullable=False),
            sa.Column("first_pulled_at", sa.DateTime(), nullable=False),
            sa.Column("last_pulled_at", sa.DateTime(), nullable=False,
                      comment="The last pull that wrote this row (unchanged re-pulls do not touch rows; see "
                              "partition_pulls)."),
            sa.Column("last_changed_at", sa.DateTime(), nullable=False),
            sa.Column("revision", sa.Integer(), nullable=False, comment="1 on first insert, +1 on every change."),
            sa.CheckConstraint("level IN ('campaign', 'adgroup', 'ad')", name="ck_audience_stats_daily_level"),
            sa.PrimaryKeyConstraint("advertiser_id", "stat_date", "breakdown", "level", "entity_id",
                                    "breakdown_value", "breakdown_value_2", name="pk_audience_stats_daily"),
            sqlite_with_rowid=False,
        )
    if "audience_revisions" not in existing:
        op.create_table(
            "audience_revisions",
            sa.Column("revision_id", _BIG_ID, nullable=False, autoincrement=True),
            *_key_columns(),
            sa.Column("revision", sa.Integer(), nullable=False, comment="The row's revision after this change."),
            sa.Column("pulled_at", sa.DateTime(), nullable=False),
            sa.Column("change_kind", sa.String(length=16), nullable=False,
                      comment="update | delete (new values 0) | insert_late (old values 0)."),
            *[sa.Column(f"{prefix}_{name}", _MONEY if name == "spend" else sa.BigInteger(), nullable=True)
              for name in ("spend", "impressions", "clicks", "conversions") for prefix in ("old", "new")],
            sa.PrimaryKeyConstraint("revision_id", name="pk_audience_revisions"),
            sa.CheckConstraint("change_kind IN ('update', 'delete', 'insert_late')",
                               name="ck_audience_revisions_change_kind"),
        )
        op.create_index("ix_audience_revisions_breakdown_advertiser_id_stat_date", "audience_revisions",
                        ["breakdown", "advertiser_id", "stat_date"])
    if "audience_pulls" not in existing:
        op.create_table(
            "audience_pulls",
            sa.Column("pull_id", _BIG_ID, nullable=False, autoincrement=True),
            sa.Column("table_name", sa.String(length=48), nullable=False,
                      comment="The audience asset pulled, e.g. audience_age_gender_daily (one per breakdown)."),
            sa.Column("advertiser_id", sa.String(), nullable=False),
            sa.Column("stat_date", sa.Date(), nullable=False),
            sa.Column("pulled_at", sa.DateTime(), nullable=False),
            *[sa.Column(f"rows_{name}", sa.Integer(), nullable=False)
              for name in ("served", "inserted", "updated", "deleted", "unchanged")],
            sa.Column("rows_vanished_kept", sa.Integer(), nullable=False,
                      comment="Stored rows of a settled partition this pull no longer served, kept as they were."),
            sa.Column("spend_before", _MONEY, nullable=False),
            sa.Column("spend_after", _MONEY, nullable=False),
            sa.Column("data_version", sa.String(length=64), nullable=False),
            sa.Column("changed", sa.Boolean(), nullable=False),
            sa.PrimaryKeyConstraint("pull_id", name="pk_audience_pulls"),
        )
        op.create_index("ix_audience_pulls_table_name_advertiser_id_stat_date", "audience_pulls",
                        ["table_name", "advertiser_id", "stat_date"])


def downgrade() -> None:
    op.drop_table("audience_pulls")
    op.drop_table("audience_revisions")
    op.drop_table("audience_stats_daily")
