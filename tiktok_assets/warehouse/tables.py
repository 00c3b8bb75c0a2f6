"""The warehouse tables (SQLAlchemy Core, one ``MetaData``): the contract other modules query.

Conventions, the same in every table:

* Times are naive UTC ``DateTime`` (``pulled_at``, ``valid_from``, ``stat_hour_utc``)
  unless the name says local (``stat_hour_local``, and ``stat_date``, the
  advertiser's local date TikTok reports in).
* IDs are strings: TikTok serves them as JSON strings and they exceed 2**53.
* Money is ``Numeric(20, 6, asdecimal=False)``: PostgreSQL stores and sums it
  exactly (totals are exact to the cent whatever the row count), while Python
  and pandas receive plain floats, which keeps every frame vectorised. SQLite
  has no decimal type and stores REAL; values are rounded to 6 decimals before
  they are written, so a float sum of even millions of rows rounds back to the
  exact cents.
* Stats tables are keyed (advertiser_id, ad_id, stat_date | stat_hour_utc);
  the primary key lists time before ad for write speed, which changes no
  uniqueness. On SQLite they are WITHOUT ROWID tables: the rows live in the
  key's B-tree, one tree to maintain instead of two.
* Counts are ``BigInteger`` and never NULL: TikTok's "-" means no delivery (0).
  ``reach`` is the one nullable metric: it is not additive, so an unknown
  reach stays unknown.
* Revenue comes in two kinds that are never added together here: ``purchases``
  / ``purchase_value`` are TikTok's web Complete Payment (``complete_payment``,
  ``total_complete_payment_rate``: pixel and Events API web events), and
  ``app_purchases`` / ``app_purchase_value`` its in-app purchases
  (``purchase``, ``total_purchase_value``: SDK / MMP app events). Which one is
  a campaign's revenue is the metrics' business (``tiktok_assets.metrics.revenue``).
* Entity history rows keep TikTok's ``operation_status`` and ``secondary_status``
  and ``is_deleted``; a deleted entity is a version with ``is_deleted`` true,
  never a missing row (see ``entities.py``).

Schema changes are versioned in ``schema_meta``; see ``schema.py`` and
``MIGRATIONS.md`` beside this file.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from tiktok_assets.tiktok.reports import COUNT_COLUMNS, MONEY_COLUMNS, STAT_COLUMNS
from tiktok_assets.warehouse.errors import WarehouseInputError

# Deterministic constraint and index names, so a migration can name what it alters.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Money = sa.Numeric(20, 6, asdecimal=False)
# SQLite only autoincrements an INTEGER PRIMARY KEY (the rowid alias).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

METRIC_COLUMNS: tuple[str, ...] = STAT_COLUMNS
"""The metrics every stats row carries, every revision logs, every data version covers."""
MONEY_METRICS: tuple[str, ...] = MONEY_COLUMNS
COUNT_METRICS: tuple[str, ...] = COUNT_COLUMNS
MONEY_DECIMALS = 6
STATS_TABLE_NAMES = ("ad_stats_daily", "ad_stats_hourly")
BOOKKEEPING_COLUMNS = ("first_pulled_at", "last_pulled_at", "last_changed_at", "revision")
CHANGE_KINDS = ("update", "delete", "insert_late")


APP_REVENUE_METRICS = ("app_purchases", "app_purchase_value")
"""Added in schema version 3: rows imported before hold 0 until a re-pull serves them."""


def _metric_columns(nullable: bool = False) -> list[sa.Column]:
    return [sa.Column(name, Money if name in MONEY_METRICS else sa.BigInteger, nullable=nullable,
                      server_default=sa.text("0") if name in APP_REVENUE_METRICS else None)
            for name in METRIC_COLUMNS]


def _bookkeeping_columns() -> list[sa.Column]:
    return [
        sa.Column("first_pulled_at", sa.DateTime, nullable=False),
        sa.Column("last_pulled_at", sa.DateTime, nullable=False,
                  comment="The last pull that wrote this row (unchanged re-pulls do not touch rows; see partition_pulls)."),
        sa.Column("last_changed_at", sa.DateTime, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False, comment="1 on first insert, +1 on every change."),
    ]


def _status_columns(deleted_status: str) -> list[sa.Column]:
    return [
        sa.Column("secondary_status", sa.String(64),
                  comment=f"TikTok's secondary_status as listed, e.g. {deleted_status} for a deleted entity."),
        sa.Column("is_deleted", sa.Boolean, nullable=False, server_default=sa.false(),
                  comment="Deleted in TikTok. An entity merely missing from a listing is not deleted."),
    ]


advertisers = sa.Table(
    "advertisers",
    metadata,
    sa.Column("advertiser_id", sa.String, primary_key=True),
    sa.Column("advertiser_name", sa.Text),
    sa.Column("currency", sa.String(8)),
    sa.Column("timezone", sa.String(64), comment="TikTok's report zone, e.g. Etc/GMT+8."),
    sa.Column("display_timezone", sa.String(64), comment="IANA zone, e.g. America/Los_Angeles."),
    sa.Column("status", sa.String(64)),
    sa.Column("first_seen_at", sa.DateTime, nullable=False),
    sa.Column("last_seen_at", sa.DateTime, nullable=False),
    sa.Column("authorised", sa.Boolean, nullable=False, server_default=sa.true(),
              comment="False once the access token lost access; the history stays."),
)

campaign_history = sa.Table(
    "campaign_history",
    metadata,
    sa.Column("campaign_id", sa.String, primary_key=True),
    sa.Column("advertiser_id", sa.String, nullable=False),
    sa.Column("campaign_name", sa.Text),
    sa.Column("objective_type", sa.String(64)),
    sa.Column("operation_status", sa.String(64)),
    *_status_columns("CAMPAIGN_STATUS_DELETE"),
    sa.Column("create_time", sa.DateTime),
    sa.Column("modify_time", sa.DateTime),
    sa.Column("valid_from", sa.DateTime, primary_key=True),
    sa.Column("valid_to", sa.DateTime, comment="NULL for the version in force now."),
    sa.Index(None, "advertiser_id", "valid_to"),
)

adgroup_history = sa.Table(
    "adgroup_history",
    metadata,
    sa.Column("adgroup_id", sa.String, primary_key=True),
    sa.Column("campaign_id", sa.String),
    sa.Column("advertiser_id", sa.String, nullable=False),
    sa.Column("adgroup_name", sa.Text),
    sa.Column("operation_status", sa.String(64)),
    *_status_columns("ADGROUP_STATUS_DELETE"),
    sa.Column("create_time", sa.DateTime),
    sa.Column("modify_time", sa.DateTime),
    sa.Column("valid_from", sa.DateTime, primary_key=True),
    sa.Column("valid_to", sa.DateTime),
    sa.Index(None, "advertiser_id", "valid_to"),
)

ad_history = sa.Table(
    "ad_history",
    metadata,
    sa.Column("ad_id", sa.String, primary_key=True),
    sa.Column("adgroup_id", sa.String),
    sa.Column("campaign_id", sa.String),
    sa.Column("advertiser_id", sa.String, nullable=False),
    sa.Column("ad_name", sa.Text),
    sa.Column("operation_status", sa.String(64)),
    *_status_columns("AD_STATUS_DELETE"),
    sa.Column("landing_page_url", sa.Text),
    sa.Column("utm_source", sa.Text),
    sa.Column("utm_medium", sa.Text),
    sa.Column("utm_campaign", sa.Text),
    sa.Column("utm_content", sa.Text),
    sa.Column("utm_term", sa.Text),
    sa.Column("cvg_source", sa.Text),
    sa.Column("cvg_adid", sa.Text),
    sa.Column("cvg_cid", sa.Text),
    sa.Column("has_ttclid", sa.Boolean, nullable=False),
    sa.Column("tracking_parameters", sa.Text, comment="JSON object of every query parameter of the landing URL."),
    sa.Column("has_tracking", sa.Boolean, nullable=False),
    sa.Column("create_time", sa.DateTime),
    sa.Column("modify_time", sa.DateTime),
    sa.Column("valid_from", sa.DateTime, primary_key=True),
    sa.Column("valid_to", sa.DateTime),
    sa.Index(None, "advertiser_id", "valid_to"),
)

ad_stats_daily = sa.Table(
    "ad_stats_daily",
    metadata,
    sa.Column("advertiser_id", sa.String, nullable=False),
    sa.Column("ad_id", sa.String, nullable=False),
    sa.Column("stat_date", sa.Date, nullable=False, comment="The advertiser's local date."),
    sa.Column("campaign_id", sa.String),
    sa.Column("adgroup_id", sa.String),
    sa.Column("currency", sa.String(8)),
    *_metric_columns(),
    sa.Column("reach", sa.BigInteger, comment="Unique users; not additive, NULL when TikTok serves '-'."),
    *_bookkeeping_columns(),
    # Time before ad: backfills run oldest day first, so new keys land at the
    # right edge of the index instead of all over it (2x faster COPY measured);
    # the (advertiser_id, stat_date) prefix also serves partition reads.
    sa.PrimaryKeyConstraint("advertiser_id", "stat_date", "ad_id"),
    sqlite_with_rowid=False,
)

ad_stats_hourly = sa.Table(
    "ad_stats_hourly",
    metadata,
    sa.Column("advertiser_id", sa.String, nullable=False),
    sa.Column("ad_id", sa.String, nullable=False),
    sa.Column("stat_hour_utc", sa.DateTime, nullable=False, comment="Start of the hour, naive UTC."),
    sa.Column("stat_hour_local", sa.DateTime, nullable=False, comment="Start of the hour, advertiser's local wall time."),
    sa.Column("stat_date", sa.Date, nullable=False, comment="The advertiser's local date: the partition."),
    sa.Column("campaign_id", sa.String),
    sa.Column("adgroup_id", sa.String),
    sa.Column("currency", sa.String(8)),
    *_metric_columns(),
    sa.Column("spread", sa.Boolean, nullable=False,
              comment="True when TikTok had no hourly breakdown and the daily figure was spread uniformly."),
    *_bookkeeping_columns(),
    sa.PrimaryKeyConstraint("advertiser_id", "stat_hour_utc", "ad_id"),  # time first, as in ad_stats_daily
    sa.Index(None, "advertiser_id", "stat_date"),
    sqlite_with_rowid=False,
)

stats_revisions = sa.Table(
    "stats_revisions",
    metadata,
    sa.Column("revision_id", BigId, primary_key=True, autoincrement=True),
    sa.Column("table_name", sa.String(32), nullable=False),
    sa.Column("advertiser_id", sa.String, nullable=False),
    sa.Column("ad_id", sa.String, nullable=False),
    sa.Column("stat_date", sa.Date, nullable=False),
    sa.Column("stat_time", sa.DateTime, nullable=False,
              comment="The row's hour in UTC (hourly) or its date at midnight (daily)."),
    sa.Column("revision", sa.Integer, nullable=False, comment="The row's revision after this change."),
    sa.Column("pulled_at", sa.DateTime, nullable=False),
    sa.Column("change_kind", sa.String(16), nullable=False,
              comment="update | delete (new values 0) | insert_late (old values 0)."),
    *[column for name in METRIC_COLUMNS for column in (
        sa.Column(f"old_{name}", Money if name in MONEY_METRICS else sa.BigInteger),
        sa.Column(f"new_{name}", Money if name in MONEY_METRICS else sa.BigInteger),
    )],
    sa.Column("old_reach", sa.BigInteger, comment="Daily only; NULL when unknown."),
    sa.Column("new_reach", sa.BigInteger),
    sa.CheckConstraint(f"table_name IN {STATS_TABLE_NAMES!r}", name="table_name"),
    sa.CheckConstraint(f"change_kind IN {CHANGE_KINDS!r}", name="change_kind"),
    sa.Index(None, "table_name", "advertiser_id", "stat_date"),
)

partition_pulls = sa.Table(
    "partition_pulls",
    metadata,
    sa.Column("pull_id", BigId, primary_key=True, autoincrement=True),
    sa.Column("table_name", sa.String(32), nullable=False),
    sa.Column("advertiser_id", sa.String, nullable=False),
    sa.Column("stat_date", sa.Date, nullable=False),
    sa.Column("pulled_at", sa.DateTime, nullable=False),
    sa.Column("rows_served", sa.Integer, nullable=False),
    sa.Column("rows_inserted", sa.Integer, nullable=False),
    sa.Column("rows_updated", sa.Integer, nullable=False),
    sa.Column("rows_deleted", sa.Integer, nullable=False),
    sa.Column("rows_unchanged", sa.Integer, nullable=False),
    sa.Column("rows_vanished_kept", sa.Integer, nullable=False, server_default=sa.text("0"),
              comment="Stored rows of a settled partition this pull no longer served, kept as they were."),
    sa.Column("spend_before", Money, nullable=False),
    sa.Column("spend_after", Money, nullable=False),
    sa.Column("conversions_before", sa.BigInteger, nullable=False),
    sa.Column("conversions_after", sa.BigInteger, nullable=False),
    sa.Column("purchase_value_before", Money, nullable=False),
    sa.Column("purchase_value_after", Money, nullable=False),
    sa.Column("app_purchase_value_before", Money, nullable=False, server_default=sa.text("0")),
    sa.Column("app_purchase_value_after", Money, nullable=False, server_default=sa.text("0")),
    sa.Column("data_version", sa.String(64), nullable=False),
    sa.Column("changed", sa.Boolean, nullable=False),
    sa.Column("intraday", sa.Boolean, nullable=False, server_default=sa.false(),
              comment="A pull of a day not over yet in the advertiser's report zone: no revision was logged."),
    sa.CheckConstraint(f"table_name IN {STATS_TABLE_NAMES!r}", name="table_name"),
    sa.Index(None, "table_name", "advertiser_id", "stat_date"),
)

stats_probes = sa.Table(
    "stats_probes",
    metadata,
    sa.Column("table_name", sa.String(32), primary_key=True),
    sa.Column("advertiser_id", sa.String, primary_key=True),
    sa.Column("stat_date", sa.Date, primary_key=True),
    sa.Column("probe_digest", sa.String(64), nullable=False,
              comment="Digest of the day's advertiser- and campaign-level totals of every compared metric at the "
                      "probe before the last ad-level pull (tiktok_assets.spend.probe)."),
    sa.Column("advertiser_spend", Money, nullable=False,
              comment="AUCTION_ADVERTISER spend of the day at that probe (reservation buying included)."),
    sa.Column("campaigns", sa.Integer, nullable=False, comment="Campaign rows the probe served for the day."),
    sa.Column("probed_at", sa.DateTime, nullable=False),
    sa.CheckConstraint(f"table_name IN {STATS_TABLE_NAMES!r}", name="table_name"),
)

schema_meta = sa.Table(
    "schema_meta",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, comment="Always 1: the table holds a single row."),
    sa.Column("schema_version", sa.Integer, nullable=False),
    sa.Column("migrated_at", sa.DateTime, nullable=False),
)

STATS_TABLES: dict[str, sa.Table] = {"ad_stats_daily": ad_stats_daily, "ad_stats_hourly": ad_stats_hourly}
ENTITY_TABLES: dict[str, sa.Table] = {"campaign": campaign_history, "adgroup": adgroup_history, "ad": ad_history}


def stats_table(table_name: str) -> sa.Table:
    try:
        return STATS_TABLES[table_name]
    except KeyError:
        raise WarehouseInputError(f"Unknown stats table {table_name!r}: use one of {', '.join(STATS_TABLES)}.") from None


def time_column(table: sa.Table) -> str:
    """The key column that, with advertiser_id and ad_id, identifies a stats row."""
    return "stat_hour_utc" if table.name == "ad_stats_hourly" else "stat_date"


def compared_metrics(table: sa.Table) -> tuple[str, ...]:
    """Metrics a re-pull is compared on; reach only exists daily."""
    return (*METRIC_COLUMNS, "reach") if "reach" in table.c else METRIC_COLUMNS


def frame_columns(table: sa.Table) -> list[str]:
    """The columns a caller hands in for ``table``: everything except bookkeeping."""
    return [column.name for column in table.columns if column.name not in BOOKKEEPING_COLUMNS]


def naive_utc(moment: datetime) -> datetime:
    """Warehouse times are naive UTC; an aware time is converted, a naive one taken as UTC."""
    if not isinstance(moment, datetime):
        raise WarehouseInputError(f"Expected a datetime (UTC), got {moment!r}.")
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
