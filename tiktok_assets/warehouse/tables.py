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

Every table of the warehouse is defined here, whatever domain uses it (stats and
entities, postbacks, metrics and reports, operations), on one ``metadata``:
importing any part of the warehouse gives the whole schema, and ``create_schema``
makes all of it in one call. Changes are Alembic revisions (``migrations/``); see
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
    sa.Column("buying_type", sa.String(32),
              comment="AUCTION | RESERVATION_RF (Reach & Frequency, Pulse) | RESERVATION_TOP_VIEW (TopView)."),
    sa.Column("rf_campaign_type", sa.String(32), comment="Reservation campaigns: STANDARD | PULSE | TOPVIEW."),
    sa.Column("campaign_automation_type", sa.String(32),
              comment="MANUAL | SMART_PLUS | UPGRADED_SMART_PLUS (TikTok's; NULL before it was imported)."),
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

# Per ad and day, the digest of its ad-level daily row at the last pull: what narrows an hourly re-pull of a moved
# day to the ads that moved (tiktok_assets.spend.narrow).
stats_probe_ads = sa.Table(
    "stats_probe_ads",
    metadata,
    sa.Column("table_name", sa.String(32), primary_key=True),
    sa.Column("advertiser_id", sa.String, primary_key=True),
    sa.Column("stat_date", sa.Date, primary_key=True),
    sa.Column("ad_id", sa.String, primary_key=True),
    sa.Column("row_digest", sa.String(32), nullable=False,
              comment="Digest of the ad's AUCTION_AD daily row (every metric the table holds) as TikTok served it "
                      "just before the table's last pull of the day."),
    sa.Column("probed_at", sa.DateTime, nullable=False),
    sa.CheckConstraint(f"table_name IN {STATS_TABLE_NAMES!r}", name="table_name"),
)

# ---------------------------------------------------------------- audience breakdowns (tiktok_assets.warehouse.audience)
# One long table for every AUDIENCE breakdown at every level: a new breakdown (or a new value of one) is new rows,
# never a new column. ``breakdown`` names the breakdown (``tiktok_assets.audience.breakdowns.BREAKDOWNS``), its
# TikTok dimensions fill ``breakdown_value`` (first) and ``breakdown_value_2`` (second, '' when there is one).

AUDIENCE_LEVELS = ("campaign", "adgroup", "ad")
AUDIENCE_COUNT_METRICS = ("impressions", "clicks", "conversions")
AUDIENCE_MONEY_METRICS = ("spend",)
AUDIENCE_METRIC_COLUMNS = (*AUDIENCE_MONEY_METRICS, *AUDIENCE_COUNT_METRICS)
AUDIENCE_KEY_COLUMNS = ("advertiser_id", "stat_date", "breakdown", "level", "entity_id", "breakdown_value",
                        "breakdown_value_2")
AUDIENCE_CHANGE_KINDS = ("update", "delete", "insert_late")


def _audience_metric_columns() -> list[sa.Column]:
    return [sa.Column(name, Money if name in AUDIENCE_MONEY_METRICS else sa.BigInteger, nullable=False)
            for name in AUDIENCE_METRIC_COLUMNS]


def _audience_key_columns() -> list[sa.Column]:
    return [
        sa.Column("advertiser_id", sa.String, nullable=False),
        sa.Column("stat_date", sa.Date, nullable=False, comment="The advertiser's local date: the partition."),
        sa.Column("breakdown", sa.String(32), nullable=False,
                  comment="age_gender | country | platform | placement | province (audience.breakdowns)."),
        sa.Column("level", sa.String(16), nullable=False, comment="campaign | adgroup | ad"),
        sa.Column("entity_id", sa.String, nullable=False, comment="The campaign, ad group or ad id of the row's level."),
        sa.Column("breakdown_value", sa.String(64), nullable=False,
                  comment="TikTok's value of the first dimension, e.g. AGE_25_34, US, ANDROID."),
        sa.Column("breakdown_value_2", sa.String(64), nullable=False, server_default=sa.text("''"),
                  comment="The second dimension's value (gender of age_gender), '' for one-dimension breakdowns."),
    ]


audience_stats_daily = sa.Table(
    "audience_stats_daily",
    metadata,
    *_audience_key_columns(),
    sa.Column("currency", sa.String(8)),
    *_audience_metric_columns(),
    *_bookkeeping_columns(),
    sa.PrimaryKeyConstraint(*AUDIENCE_KEY_COLUMNS),
    sa.CheckConstraint(f"level IN {AUDIENCE_LEVELS!r}", name="level"),
    sqlite_with_rowid=False,
)

audience_revisions = sa.Table(
    "audience_revisions",
    metadata,
    sa.Column("revision_id", BigId, primary_key=True, autoincrement=True),
    *_audience_key_columns(),
    sa.Column("revision", sa.Integer, nullable=False, comment="The row's revision after this change."),
    sa.Column("pulled_at", sa.DateTime, nullable=False),
    sa.Column("change_kind", sa.String(16), nullable=False,
              comment="update | delete (new values 0) | insert_late (old values 0)."),
    *[column for name in AUDIENCE_METRIC_COLUMNS for column in (
        sa.Column(f"old_{name}", Money if name in AUDIENCE_MONEY_METRICS else sa.BigInteger),
        sa.Column(f"new_{name}", Money if name in AUDIENCE_MONEY_METRICS else sa.BigInteger),
    )],
    sa.CheckConstraint(f"change_kind IN {AUDIENCE_CHANGE_KINDS!r}", name="change_kind"),
    sa.Index(None, "breakdown", "advertiser_id", "stat_date"),
)

audience_pulls = sa.Table(
    "audience_pulls",
    metadata,
    # The columns spend.revisions.latest_pulls reads have partition_pulls' names, so the settle planner reads both.
    sa.Column("pull_id", BigId, primary_key=True, autoincrement=True),
    sa.Column("table_name", sa.String(48), nullable=False,
              comment="The audience asset pulled, e.g. audience_age_gender_daily (one per breakdown)."),
    sa.Column("advertiser_id", sa.String, nullable=False),
    sa.Column("stat_date", sa.Date, nullable=False),
    sa.Column("pulled_at", sa.DateTime, nullable=False),
    sa.Column("rows_served", sa.Integer, nullable=False),
    sa.Column("rows_inserted", sa.Integer, nullable=False),
    sa.Column("rows_updated", sa.Integer, nullable=False),
    sa.Column("rows_deleted", sa.Integer, nullable=False),
    sa.Column("rows_unchanged", sa.Integer, nullable=False),
    sa.Column("rows_vanished_kept", sa.Integer, nullable=False,
              comment="Stored rows of a settled partition this pull no longer served, kept as they were."),
    sa.Column("spend_before", Money, nullable=False),
    sa.Column("spend_after", Money, nullable=False),
    sa.Column("data_version", sa.String(64), nullable=False),
    sa.Column("changed", sa.Boolean, nullable=False),
    sa.Index(None, "table_name", "advertiser_id", "stat_date"),
)

# ---------------------------------------------------------------- user-chosen metrics (tiktok_assets.warehouse.extra_metrics)
# The BASIC metrics a user picks beyond the core set (TIKTOK_EXTRA_METRICS), one row per ad, day and metric under
# TikTok's own name: a new metric is new rows, never a new column. Its own pulls table (same columns as
# partition_pulls where spend.revisions.latest_pulls reads them), so partition_pulls' table_name CHECK stays.

EXTRA_METRICS_TABLE = "ad_metrics_extra_daily"
EXTRA_KEY_COLUMNS = ("advertiser_id", "stat_date", "ad_id", "metric")


def _extra_key_columns() -> list[sa.Column]:
    return [
        sa.Column("advertiser_id", sa.String, nullable=False),
        sa.Column("stat_date", sa.Date, nullable=False, comment="The advertiser's local date: the partition."),
        sa.Column("ad_id", sa.String, nullable=False),
        sa.Column("metric", sa.String(64), nullable=False,
                  comment="TikTok's metric name, e.g. video_watched_2s (tiktok_assets.tiktok.catalogue)."),
    ]


ad_metrics_extra_daily = sa.Table(
    "ad_metrics_extra_daily",
    metadata,
    *_extra_key_columns(),
    sa.Column("value", Money, nullable=False,
              comment="As TikTok serves it (counts whole, money in the currency, rates as served); '-' is no row."),
    sa.Column("currency", sa.String(8)),
    *_bookkeeping_columns(),
    sa.PrimaryKeyConstraint(*EXTRA_KEY_COLUMNS),
    sqlite_with_rowid=False,
)

ad_metrics_extra_revisions = sa.Table(
    "ad_metrics_extra_revisions",
    metadata,
    sa.Column("revision_id", BigId, primary_key=True, autoincrement=True),
    *_extra_key_columns(),
    sa.Column("revision", sa.Integer, nullable=False, comment="The row's revision after this change."),
    sa.Column("pulled_at", sa.DateTime, nullable=False, comment="When the pull that saw the change ran."),
    sa.Column("change_kind", sa.String(16), nullable=False,
              comment="update | delete (new_value 0) | insert_late (old_value 0)."),
    sa.Column("old_value", Money),
    sa.Column("new_value", Money),
    sa.CheckConstraint(f"change_kind IN {CHANGE_KINDS!r}", name="change_kind"),
    sa.Index(None, "advertiser_id", "stat_date"),
)

ad_metrics_extra_pulls = sa.Table(
    "ad_metrics_extra_pulls",
    metadata,
    sa.Column("pull_id", BigId, primary_key=True, autoincrement=True),
    sa.Column("table_name", sa.String(48), nullable=False, comment="Always ad_metrics_extra_daily (latest_pulls)."),
    sa.Column("advertiser_id", sa.String, nullable=False),
    sa.Column("stat_date", sa.Date, nullable=False),
    sa.Column("pulled_at", sa.DateTime, nullable=False),
    sa.Column("metrics", sa.Text, nullable=False, comment="JSON list of the metrics this pull asked for."),
    sa.Column("rows_served", sa.Integer, nullable=False),
    sa.Column("rows_inserted", sa.Integer, nullable=False),
    sa.Column("rows_updated", sa.Integer, nullable=False),
    sa.Column("rows_deleted", sa.Integer, nullable=False),
    sa.Column("rows_unchanged", sa.Integer, nullable=False),
    sa.Column("rows_vanished_kept", sa.Integer, nullable=False,
              comment="Stored rows of a settled partition this pull no longer served, kept as they were."),
    sa.Column("data_version", sa.String(64), nullable=False),
    sa.Column("changed", sa.Boolean, nullable=False),
    sa.Column("intraday", sa.Boolean, nullable=False,
              comment="A pull of a day not over yet in the advertiser's report zone: no revision was logged."),
    sa.Index(None, "table_name", "advertiser_id", "stat_date"),
)

# ---------------------------------------------------------------- postbacks (tiktok_assets.postbacks.store)
# The first-party events table, the outbox and its companions: see ``postbacks/store.py`` for what each holds.

FIRST_PARTY_EVENT_FIELDS: tuple[str, ...] = (
    "event_id", "source", "event_name", "event_time", "email", "phone", "external_id", "ttclid", "ttp", "ip",
    "user_agent", "idfa", "idfv", "gaid", "att_status", "page_url", "referrer", "utm_source", "utm_medium",
    "utm_campaign", "utm_content", "utm_term", "cvg_source", "cvg_adid", "cvg_cid", "products", "value", "currency",
    "order_id", "customer_id", "is_new_customer", "properties", "app_id", "app_name", "app_version",
)
"""One column per flat record field of a first-party event, in this order (``postbacks.events.RECORD_FIELDS``:
a test keeps the two equal; a new field is a schema change, so it is listed here and gets a migration)."""

SOURCES = ("web", "app")
OUTBOX_STATES = ("pending", "sending", "accepted", "dead")
DEAD_REASONS = ("rejected", "dedup_window", "too_old", "out_of_bounds")
BATCH_OUTCOMES = ("sending", "accepted", "rejected", "failed", "abandoned")
OUTBOX_FILLFACTOR = 50


def _record_column(name: str) -> sa.Column:
    """The column of one flat record field (see ``events.py``); ids, names and identity are text."""
    if name == "event_time":
        return sa.Column(name, sa.DateTime, nullable=False, comment="When it happened, naive UTC.")
    if name == "value":
        return sa.Column(name, Money)
    if name == "currency":
        return sa.Column(name, sa.String(8))
    if name == "is_new_customer":
        return sa.Column(name, sa.Boolean)
    if name in ("products", "properties"):
        return sa.Column(name, sa.Text, comment="JSON text.")
    return sa.Column(name, sa.Text)


first_party_events = sa.Table(
    "first_party_events",
    metadata,
    sa.Column("event_id", sa.String, nullable=False),
    sa.Column("source", sa.String(8), nullable=False),
    *[_record_column(name) for name in FIRST_PARTY_EVENT_FIELDS if name not in ("event_id", "source")],
    sa.Column("received_at", sa.DateTime, nullable=False, comment="When the load that stored it began."),
    sa.Column("load_id", sa.BigInteger, comment="The load that stored it (first_party_loads): how mapping finds it."),
    sa.PrimaryKeyConstraint("event_id", "source"),
    sa.CheckConstraint(f"source IN {SOURCES!r}", name="source"),
    sa.Index(None, "event_time"),
    sa.Index(None, "received_at"),
    # Mapping reads a load's events by event time, slice by slice: load_id alone would have each slice read the
    # whole load (a million-event load cut in 20 slices took 6x as long to map, measured).
    sa.Index(None, "load_id", "event_time"),
)

first_party_loads = sa.Table(
    "first_party_loads",
    metadata,
    sa.Column("load_id", BigId, primary_key=True, autoincrement=True),
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.Column("events", sa.Integer, nullable=False, comment="Events it stored (new ones only)."),
    sa.Column("mapped_at", sa.DateTime, comment="When its events were queued for TikTok; NULL: not yet."),
)

postback_outbox = sa.Table(
    "postback_outbox",
    metadata,
    sa.Column("outbox_id", BigId, primary_key=True, autoincrement=True),
    sa.Column("event_source", sa.String(8), nullable=False, comment="web | app, as the Events API spells it."),
    sa.Column("event_source_id", sa.String, nullable=False, comment="The pixel id or TikTok app id."),
    sa.Column("test_event_code", sa.String),
    sa.Column("event", sa.String(64), nullable=False, comment="The TikTok event name, e.g. Purchase."),
    sa.Column("event_id", sa.String, nullable=False, comment="What TikTok deduplicates on, with the name."),
    sa.Column("source_event_id", sa.String, nullable=False, comment="The first-party event it came from."),
    sa.Column("event_time", sa.DateTime, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, comment="HTTP requests that carried this event."),
    sa.Column("first_queued_at", sa.DateTime, nullable=False),
    sa.Column("first_attempt_at", sa.DateTime, comment="Start of TikTok's 48 h dedup window for a re-send."),
    sa.Column("last_attempt_at", sa.DateTime),
    sa.Column("accepted_at", sa.DateTime),
    sa.Column("batch_id", BigId, comment="The batch of the last send: fences state updates of a reclaimed batch."),
    sa.Column("dead_reason", sa.String(16)),
    sa.Column("last_error", sa.Text),
    # The pixel/app id first: a prefix that narrows, unlike event_source (two values).
    sa.UniqueConstraint("event_source_id", "event", "event_id", "event_source"),
    sa.CheckConstraint(f"state IN {OUTBOX_STATES!r}", name="state"),
    sa.CheckConstraint(f"dead_reason IN {DEAD_REASONS!r}", name="dead_reason"),
    sa.Index(None, "event_time"),
    # Room in each page for the new versions of its rows: see the module docstring.
    postgresql_with={"fillfactor": OUTBOX_FILLFACTOR},
)

postback_queue = sa.Table(
    "postback_queue",
    metadata,
    sa.Column("outbox_id", BigId, primary_key=True, autoincrement=False),
    sa.Column("event_source", sa.String(8), nullable=False),
    sa.Column("event_source_id", sa.String, nullable=False),
    sa.Column("test_event_code", sa.String),
    sa.Column("event_time", sa.DateTime, nullable=False, comment="Copied from the outbox: events too old are not sent."),
    sa.Column("first_attempt_at", sa.DateTime, comment="Copied from the outbox: set on a row that went back to pending."),
    sa.Column("last_batch_id", sa.BigInteger,
              comment="The batch of its last send, for a row put back to pending: a delivery leaves rows put back "
              "after it started for the next one."),
    # Claims read a destination's rows in queue order from here.
    sa.Index("ix_postback_queue_destination", "event_source_id", "event_source", "outbox_id"),
)

postback_payloads = sa.Table(
    "postback_payloads",
    metadata,
    # No foreign key to the outbox: a payload is only ever written in the statement (PostgreSQL) or transaction
    # (SQLite) that writes its outbox row, and no outbox row is deleted; the FK's check trigger cost a fifth of a
    # second of server time per 50,000-event slice (EXPLAIN ANALYZE) for a guarantee the writes already give.
    sa.Column("outbox_id", BigId, primary_key=True, autoincrement=False),
    sa.Column("payload", sa.Text, nullable=False, comment="The Events API data item as JSON; personal data hashed."),
)

postback_dead_letters = sa.Table(
    "postback_dead_letters",
    metadata,
    sa.Column("dead_letter_id", BigId, primary_key=True, autoincrement=True),
    sa.Column("outbox_id", sa.BigInteger, nullable=False),
    sa.Column("event_source", sa.String(8), nullable=False),
    sa.Column("event_source_id", sa.String, nullable=False),
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("event_id", sa.String, nullable=False),
    sa.Column("source_event_id", sa.String, nullable=False),
    sa.Column("event_time", sa.DateTime, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("reason", sa.String(16), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, comment="Why, in words a person can act on."),
    sa.Column("code", sa.Integer, comment="TikTok's body code for a rejection."),
    sa.Column("message", sa.Text, comment="TikTok's message for a rejection, field path first."),
    sa.Column("batch_id", sa.BigInteger),
    sa.Column("request_id", sa.String),
    sa.Column("dead_at", sa.DateTime, nullable=False),
    sa.CheckConstraint(f"reason IN {DEAD_REASONS!r}", name="reason"),
    sa.Index(None, "outbox_id"),
    sa.Index(None, "dead_at"),
)

postback_orders = sa.Table(
    "postback_orders",
    metadata,
    # What an order is at one pixel or app: TikTok event name and order_id, beside the outbox key's destination.
    sa.Column("event_source_id", sa.String, nullable=False),
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("order_id", sa.String, nullable=False),
    sa.Column("event_source", sa.String(8), nullable=False),
    sa.Column("event_id", sa.String, nullable=False, comment="The event_id the order was first queued under: the one sent."),
    sa.Column("first_queued_at", sa.DateTime, nullable=False),
    sa.PrimaryKeyConstraint("event_source_id", "event", "order_id", "event_source"),
)

postback_order_duplicates = sa.Table(
    "postback_order_duplicates",
    metadata,
    sa.Column("event_source_id", sa.String, nullable=False),
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("event_id", sa.String, nullable=False, comment="The copy's event_id: never queued."),
    sa.Column("event_source", sa.String(8), nullable=False),
    sa.Column("order_id", sa.String, nullable=False),
    sa.Column("kept_event_id", sa.String, nullable=False, comment="The event_id the order is sent under."),
    sa.Column("source_event_id", sa.String, nullable=False),
    sa.Column("event_time", sa.DateTime, nullable=False),
    sa.Column("dropped_at", sa.DateTime, nullable=False),
    sa.PrimaryKeyConstraint("event_source_id", "event", "event_id", "event_source"),
    sa.Index(None, "event_time"),
)

postback_batches = sa.Table(
    "postback_batches",
    metadata,
    sa.Column("batch_id", BigId, primary_key=True, autoincrement=True),
    sa.Column("event_source", sa.String(8), nullable=False),
    sa.Column("event_source_id", sa.String, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("owner", sa.String, nullable=False, comment="Who sent it: a Dagster run id or host:pid."),
    sa.Column("sent_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("http_requests", sa.Integer, comment="Requests the client made, retries included."),
    sa.Column("code", sa.Integer),
    sa.Column("message", sa.Text),
    sa.Column("request_id", sa.String),
    sa.Column("first_outbox_id", sa.BigInteger, comment="Lowest outbox id in the batch: where its rows are looked up."),
    sa.Column("last_outbox_id", sa.BigInteger, comment="Highest outbox id in the batch."),
    sa.CheckConstraint(f"outcome IN {BATCH_OUTCOMES!r}", name="outcome"),
    sa.Index(None, "outcome"),
)

POSTBACK_TABLES: tuple[sa.Table, ...] = (
    first_party_events, postback_outbox, postback_queue, postback_payloads, postback_dead_letters, postback_batches,
    postback_orders, postback_order_duplicates, first_party_loads,
)


# ---------------------------------------------------------------- derived metrics and reports (tiktok_assets.metrics.store)
# Rebuilt partition by partition from the stats: see ``metrics/store.py``. The column lists are the metrics
# domain's (``metrics.derive``, ``rollup``, ``render``), written out here because the schema is a contract a
# migration changes, not a side effect of a formula edit; a test keeps the two equal.

METRICS_LEVELS = ("ad", "adgroup", "campaign", "advertiser")
METRICS_GRAINS = ("hourly", "daily")
METRICS_LEVEL_KEYS: dict[str, tuple[str, ...]] = {
    "advertiser": ("advertiser_id",),
    "campaign": ("advertiser_id", "campaign_id"),
    "adgroup": ("advertiser_id", "campaign_id", "adgroup_id"),
    "ad": ("advertiser_id", "campaign_id", "adgroup_id", "ad_id"),
}
METRICS_LEVEL_NAMES: dict[str, tuple[str, ...]] = {
    level: tuple(key.replace("_id", "_name") for key in keys) for level, keys in METRICS_LEVEL_KEYS.items()
}
METRICS_COUNT_BASES = ("impressions", "clicks", "conversions", "installs", "purchases", "app_purchases",
                       "tiktok_purchases")
METRICS_MONEY_BASES = ("spend", "purchase_value", "app_purchase_value", "tiktok_revenue")
FIRST_PARTY_BASES = ("first_party_orders", "first_party_revenue")
METRICS_RATIOS = ("ctr", "cpc", "cpm", "cpa", "roas", "ipm", "cpi", "click_to_install_rate", "conversion_rate")
FIRST_PARTY_RATIOS = ("tiktok_roas", "first_party_roas", "revenue_discrepancy")
# Bases added in schema version 3; rows written before hold 0 until their partition is recomputed.
SCHEMA_3_BASES = ("app_purchases", "app_purchase_value", "tiktok_purchases", "tiktok_revenue")
OVERVIEW_REPORT_COLUMNS = ("advertiser_id", "advertiser_name", "stat_date", "currency", "spend", "roas", "ctr", "cpa",
                           "cpc", "cpm", "conversions", "clicks", "impressions")
CHANNELS_REPORT_MEASURES = ("spend", "tiktok_purchases", "tiktok_revenue", "roas", "cpa", "purchases",
                            "purchase_value", "app_purchases", "app_purchase_value")
APP_REPORT_MEASURES = ("spend", "impressions", "clicks", "installs", "cpi", "ipm", "click_to_install_rate",
                       "app_purchases", "app_purchase_value", "roas")
REPORT_FIRST_PARTY = ("first_party_orders", "first_party_revenue", "first_party_roas", "revenue_discrepancy")


def _metrics_time_columns(grain: str) -> list[sa.Column]:
    if grain == "daily":
        return [sa.Column("stat_date", sa.Date, nullable=False, comment="The advertiser's local date: the partition.")]
    return [
        sa.Column("stat_date", sa.Date, nullable=False, comment="The advertiser's local date: the partition."),
        sa.Column("stat_hour_utc", sa.DateTime, nullable=False, comment="Start of the hour, naive UTC."),
        sa.Column("stat_hour_local", sa.DateTime, nullable=False, comment="Start of the hour, advertiser's wall time."),
    ]


def _metrics_base_columns() -> list[sa.Column]:
    def column(name: str, kind: sa.types.TypeEngine) -> sa.Column:
        return sa.Column(name, kind, nullable=False, server_default=sa.text("0") if name in SCHEMA_3_BASES else None)

    counts = [column(name, sa.BigInteger) for name in METRICS_COUNT_BASES]
    money = [column(name, Money) for name in METRICS_MONEY_BASES]
    return [*money[:1], *counts, *money[1:]]


def _first_party_columns() -> list[sa.Column]:
    # NULL (not 0) when the warehouse has no first-party events: "unknown", not "no orders".
    return [
        sa.Column("first_party_orders", sa.BigInteger, comment="Orders whose click carried this entity's parameters."),
        sa.Column("first_party_revenue", Money, comment="Their value, in this row's currency."),
    ]


def _ratio_columns(names: tuple[str, ...]) -> list[sa.Column]:
    return [sa.Column(name, sa.Float, comment="NULL on a zero denominator.") for name in names]


def _metrics_table(level: str, grain: str) -> sa.Table:
    keys = METRICS_LEVEL_KEYS[level]
    grain_specific = (
        [sa.Column("reach_lower_bound", sa.BigInteger, comment="Largest reach of any ad-day: reach is not additive.")]
        if grain == "daily"
        else [sa.Column("spread", sa.Boolean, nullable=False, comment="Some hour was spread from the daily figure.")]
    )
    return sa.Table(
        f"{level}_metrics_{grain}",
        metadata,
        *[sa.Column(key, sa.String, nullable=False) for key in keys],
        *[sa.Column(name, sa.Text, comment="As it was at the stat's time.") for name in METRICS_LEVEL_NAMES[level]],
        sa.Column("currency", sa.String(8), nullable=False),
        *_metrics_time_columns(grain),
        *_metrics_base_columns(),
        *_first_party_columns(),
        *grain_specific,
        *_ratio_columns((*METRICS_RATIOS, *FIRST_PARTY_RATIOS)),
        sa.Column("computed_at", sa.DateTime, nullable=False),
        # (advertiser_id, stat_date) first: every write deletes a partition by that prefix.
        # Currency is part of the key: an order in another currency gets a row of its own.
        sa.PrimaryKeyConstraint("advertiser_id", "stat_date", *(["stat_hour_utc"] if grain == "hourly" else []),
                                *keys[1:], "currency"),
        sqlite_with_rowid=False,
    )


METRICS_TABLES: dict[tuple[str, str], sa.Table] = {
    (level, grain): _metrics_table(level, grain) for grain in METRICS_GRAINS for level in METRICS_LEVELS
}


def _report_ids() -> list[sa.Column]:
    return [
        sa.Column("level", sa.String(16), nullable=False, comment="campaign | adgroup | ad"),
        sa.Column("advertiser_id", sa.String, nullable=False),
        *[sa.Column(column, sa.String, comment="NULL above the row's level.") for column in METRICS_LEVEL_KEYS["ad"][1:]],
        *[sa.Column(name, sa.Text) for name in METRICS_LEVEL_NAMES["ad"]],
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("period_end", sa.Date, nullable=False),
    ]


def _measure_column(name: str) -> sa.Column:
    if name in (*METRICS_MONEY_BASES, "first_party_revenue"):
        return sa.Column(name, Money, nullable=name not in ("spend", "purchase_value"))
    if name in (*METRICS_COUNT_BASES, "first_party_orders"):
        # Counts added in schema 3 may be NULL: rows written before did not have them.
        return sa.Column(name, sa.BigInteger, nullable=name in FIRST_PARTY_BASES or name in SCHEMA_3_BASES)
    return sa.Column(name, sa.Float)


overview_report_table = sa.Table(
    "overview_report",
    metadata,
    *[sa.Column(name, sa.String, nullable=False) if name == "advertiser_id" else
      sa.Column(name, sa.Text) if name == "advertiser_name" else
      sa.Column(name, sa.Date, nullable=False) if name == "stat_date" else
      sa.Column(name, sa.String(8), nullable=False) if name == "currency" else
      _measure_column(name)
      for name in OVERVIEW_REPORT_COLUMNS],
    *[_measure_column(name) for name in REPORT_FIRST_PARTY],
    sa.Column("generated_at", sa.DateTime, nullable=False),
    sa.PrimaryKeyConstraint("advertiser_id", "stat_date", "currency"),
)

channels_report_table = sa.Table(
    "channels_report",
    metadata,
    *_report_ids(),
    *[_measure_column(name) for name in CHANNELS_REPORT_MEASURES],
    *[_measure_column(name) for name in REPORT_FIRST_PARTY],
    sa.Column("generated_at", sa.DateTime, nullable=False),
    sa.Index(None, "level", "advertiser_id"),
)

app_report_table = sa.Table(
    "app_report",
    metadata,
    *_report_ids(),
    *[_measure_column(name) for name in APP_REPORT_MEASURES],
    sa.Column("generated_at", sa.DateTime, nullable=False),
    sa.Index(None, "level", "advertiser_id"),
)

REPORT_TABLES: dict[str, sa.Table] = {
    "overview": overview_report_table,
    "channels": channels_report_table,
    "app": app_report_table,
}


# ---------------------------------------------------------------- operations (tiktok_assets.defs.ops, spend.revisions)

run_failures = sa.Table(
    "run_failures",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("job_name", sa.Text, nullable=False),
    sa.Column("failed_at", sa.DateTime, nullable=False, comment="When the run ended, naive UTC."),
    sa.Column("failure_reason", sa.String(64), comment="Dagster's reason, e.g. STEP_FAILURE, RUN_EXCEPTION."),
    sa.Column("partition_key", sa.Text, comment="Single-partition runs: dagster/partition."),
    sa.Column("partition_range_start", sa.Text, comment="Single-run backfills: dagster/asset_partition_range_start."),
    sa.Column("partition_range_end", sa.Text, comment="Single-run backfills: dagster/asset_partition_range_end."),
    sa.Column("asset_selection", sa.Text, comment="JSON list of the run's asset keys ('a/b' for multi-part keys)."),
    sa.Column("failed_steps", sa.Text, comment="JSON list of the step keys that failed."),
    sa.Column("error_class", sa.String(256), comment="Class of the innermost error, e.g. TikTokAuthenticationError."),
    sa.Column("error_message", sa.Text, nullable=False, comment="Its message, secrets scrubbed."),
    sa.Column("tags", sa.Text, comment="JSON object of the run's tags, secrets scrubbed."),
    sa.Column("recorded_at", sa.DateTime, nullable=False),
    sa.Index(None, "failed_at"),
)



def _drift_columns() -> list[sa.Column]:
    columns = [
        sa.Column("table_name", sa.String(32), primary_key=True),
        sa.Column("advertiser_id", sa.String(32), primary_key=True),
        sa.Column("stat_date", sa.Date, primary_key=True),
        sa.Column("pulls", sa.Integer, nullable=False),
        sa.Column("first_pulled_at", sa.DateTime),
        sa.Column("last_pulled_at", sa.DateTime),
    ]
    for metric in ("spend", "conversions", "purchase_value"):
        columns += [
            sa.Column(f"first_{metric}", sa.Float),
            sa.Column(f"current_{metric}", sa.Float),
            sa.Column(f"{metric}_change", sa.Float),
            sa.Column(f"{metric}_change_pct", sa.Float),
        ]
    columns += [
        sa.Column("changed_pulls", sa.Integer),
        sa.Column("revisions", sa.Integer),
        sa.Column("last_changed_at", sa.DateTime),
        sa.Column("settled", sa.Boolean),
    ]
    return columns


revision_drift = sa.Table("revision_drift", metadata, *_drift_columns())
"""Per advertiser × date, how far each day moved from its first pull to now (``spend.revisions``)."""

# ---------------------------------------------------------------- TikTok's own level totals (tiktok_assets.warehouse.levels)
# What TikTok reports for a campaign, an ad group or the whole account, pulled at that level: kept apart from our
# ratio-of-sums rollups of ad rows (``*_metrics_daily``), because reach and frequency do not add up over ads and the
# advertiser level also counts reservation buying that ad rows lack.

LEVEL_TOTAL_LEVELS = ("campaign", "adgroup", "advertiser")
LIFETIME_LEVELS = ("ad", "adgroup", "campaign")
LEVEL_MONEY_METRICS = ("spend", "cash_spend", "voucher_spend")
LEVEL_COUNT_METRICS = ("impressions", "clicks", "conversions")
LEVEL_METRICS = (*LEVEL_MONEY_METRICS, *LEVEL_COUNT_METRICS, "reach", "frequency")
"""What a level row holds, in TikTok's units: reach is people (deduplicated by TikTok), frequency impressions/reach."""
LIFETIME_METRICS = ("spend", *LEVEL_COUNT_METRICS, "reach", "frequency")


def _level_metric_columns(prefixes: tuple[str, ...] = ("",)) -> list[sa.Column]:
    columns = []
    for name in LEVEL_METRICS:
        kind: sa.types.TypeEngine = Money if name in LEVEL_MONEY_METRICS else sa.Float if name == "frequency" else sa.BigInteger
        # cash/voucher spend exist at advertiser level only; reach/frequency may be "-": NULL, never 0.
        nullable = name in ("cash_spend", "voucher_spend", "reach", "frequency")
        for prefix in prefixes:
            columns.append(sa.Column(f"{prefix}{name}", kind, nullable=nullable or bool(prefix)))
    return columns


level_stats_daily = sa.Table(
    "level_stats_daily",
    metadata,
    sa.Column("advertiser_id", sa.String, nullable=False),
    sa.Column("stat_date", sa.Date, nullable=False, comment="The advertiser's local date."),
    sa.Column("level", sa.String(16), nullable=False, comment="campaign | adgroup | advertiser"),
    sa.Column("entity_id", sa.String, nullable=False, comment="campaign_id, adgroup_id or advertiser_id."),
    sa.Column("currency", sa.String(8), nullable=False),
    *_level_metric_columns(),
    *_bookkeeping_columns(),
    sa.PrimaryKeyConstraint("advertiser_id", "stat_date", "level", "entity_id"),
    sa.CheckConstraint(f"level IN {LEVEL_TOTAL_LEVELS!r}", name="level"),
)

level_stats_revisions = sa.Table(
    "level_stats_revisions",
    metadata,
    sa.Column("revision_id", BigId, primary_key=True, autoincrement=True),
    sa.Column("advertiser_id", sa.String, nullable=False),
    sa.Column("stat_date", sa.Date, nullable=False),
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("entity_id", sa.String, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False, comment="The row's revision after this change."),
    sa.Column("pulled_at", sa.DateTime, nullable=False),
    sa.Column("change_kind", sa.String(16), nullable=False,
              comment="update | delete (new values NULL) | insert_late (old values NULL)."),
    *_level_metric_columns(("old_", "new_")),
    sa.CheckConstraint(f"change_kind IN {CHANGE_KINDS!r}", name="change_kind"),
    sa.Index(None, "advertiser_id", "stat_date", "level"),
)

level_stats_pulls = sa.Table(
    "level_stats_pulls",
    metadata,
    sa.Column("pull_id", BigId, primary_key=True, autoincrement=True),
    sa.Column("table_name", sa.String(32), nullable=False,
              comment="The asset: campaign_stats_daily, adgroup_stats_daily or advertiser_stats_daily."),
    sa.Column("advertiser_id", sa.String, nullable=False),
    sa.Column("stat_date", sa.Date, nullable=False),
    sa.Column("pulled_at", sa.DateTime, nullable=False),
    sa.Column("rows_served", sa.Integer, nullable=False),
    sa.Column("rows_inserted", sa.Integer, nullable=False),
    sa.Column("rows_updated", sa.Integer, nullable=False),
    sa.Column("rows_deleted", sa.Integer, nullable=False),
    sa.Column("rows_vanished_kept", sa.Integer, nullable=False),
    sa.Column("spend_after", Money, nullable=False),
    sa.Column("data_version", sa.String(64), nullable=False),
    sa.Column("changed", sa.Boolean, nullable=False),
    sa.Column("intraday", sa.Boolean, nullable=False),
    sa.Index(None, "table_name", "advertiser_id", "stat_date"),
)

lifetime_snapshots = sa.Table(
    "lifetime_snapshots",
    metadata,
    sa.Column("advertiser_id", sa.String, nullable=False),
    sa.Column("level", sa.String(16), nullable=False, comment="ad | adgroup | campaign"),
    sa.Column("entity_id", sa.String, nullable=False),
    sa.Column("snapshot_at", sa.DateTime, nullable=False,
              comment="When TikTok served these lifetime totals; a row is written only when they moved."),
    sa.Column("currency", sa.String(8), nullable=False),
    *[column for column in _level_metric_columns() if column.name in LIFETIME_METRICS],
    sa.PrimaryKeyConstraint("advertiser_id", "level", "entity_id", "snapshot_at"),
    sa.CheckConstraint(f"level IN {LIFETIME_LEVELS!r}", name="level"),
)

# GMV Max (TikTok Shop) campaigns: their own report, /gmv_max/report/get/ (TikTok docs 1824721673497601).
# cost is their spend; they have no impressions or clicks in the integrated report's sense.
GMV_MAX_MONEY_METRICS = ("cost", "net_cost", "gross_revenue")
GMV_MAX_METRICS = (*GMV_MAX_MONEY_METRICS, "orders", "roi")
"""What a GMV Max row holds, TikTok's figures: ``roi`` as TikTok serves it (gross_revenue / cost of the row)."""


def _gmv_max_metric_columns(prefixes: tuple[str, ...] = ("",)) -> list[sa.Column]:
    columns = []
    for name in GMV_MAX_METRICS:
        kind: sa.types.TypeEngine = Money if name in GMV_MAX_MONEY_METRICS else sa.Float if name == "roi" else sa.BigInteger
        for prefix in prefixes:
            # TikTok serves "-" for orders it has none for (Airbyte's recorded GMV Max row): NULL, never 0.
            columns.append(sa.Column(f"{prefix}{name}", kind, nullable=bool(prefix) or name in ("orders", "roi")))
    return columns


gmv_max_stats_daily = sa.Table(
    "gmv_max_stats_daily",
    metadata,
    sa.Column("advertiser_id", sa.String, nullable=False),
    sa.Column("stat_date", sa.Date, nullable=False, comment="The advertiser's local date."),
    sa.Column("campaign_id", sa.String, nullable=False, comment="The GMV Max campaign."),
    sa.Column("store_id", sa.String, nullable=False, comment="The TikTok Shop the campaign sells for."),
    sa.Column("promotion_type", sa.String(16), nullable=False, comment="PRODUCT | LIVE"),
    sa.Column("currency", sa.String(8), nullable=False),
    *_gmv_max_metric_columns(),
    *_bookkeeping_columns(),
    sa.PrimaryKeyConstraint("advertiser_id", "stat_date", "campaign_id"),
)

gmv_max_revisions = sa.Table(
    "gmv_max_revisions",
    metadata,
    sa.Column("revision_id", BigId, primary_key=True, autoincrement=True),
    sa.Column("advertiser_id", sa.String, nullable=False),
    sa.Column("stat_date", sa.Date, nullable=False),
    sa.Column("campaign_id", sa.String, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False, comment="The row's revision after this change."),
    sa.Column("pulled_at", sa.DateTime, nullable=False),
    sa.Column("change_kind", sa.String(16), nullable=False,
              comment="update | delete (new values NULL) | insert_late (old values NULL)."),
    *_gmv_max_metric_columns(("old_", "new_")),
    sa.CheckConstraint(f"change_kind IN {CHANGE_KINDS!r}", name="change_kind"),
    sa.Index(None, "advertiser_id", "stat_date"),
)

# An advertiser's day across buying kinds, GMV Max included (tiktok_assets/metrics/commerce.py says how).
COMMERCE_MONEY = ("spend", "delivery_spend", "undelivered_spend", "gmv_max_cost", "tiktok_revenue",
                  "gmv_max_gross_revenue", "first_party_revenue")
COMMERCE_COUNTS = ("impressions", "clicks", "gmv_max_orders")
COMMERCE_RATIOS = ("ctr", "cpc", "cpm", "tiktok_roas", "first_party_roas", "gmv_max_roi")

advertiser_commerce_daily = sa.Table(
    "advertiser_commerce_daily",
    metadata,
    sa.Column("advertiser_id", sa.String, nullable=False),
    sa.Column("stat_date", sa.Date, nullable=False, comment="The advertiser's local date."),
    sa.Column("currency", sa.String(8), nullable=False),
    *(sa.Column(name, Money, nullable=False) for name in COMMERCE_MONEY),
    *(sa.Column(name, sa.BigInteger, nullable=False) for name in COMMERCE_COUNTS),
    *(sa.Column(name, sa.Float, comment="NULL on a zero denominator.") for name in COMMERCE_RATIOS),
    sa.Column("computed_at", sa.DateTime, nullable=False),
    sa.PrimaryKeyConstraint("advertiser_id", "stat_date", "currency"),
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
