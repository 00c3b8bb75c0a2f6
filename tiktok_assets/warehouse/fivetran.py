"""Views shaped like Fivetran's TikTok Ads connector schema, over our tables (issue 17, deliverable 8).

Fivetran's open dbt package for TikTok Ads (``fivetran/dbt_tiktok_ads``, which now holds the staging models of
``dbt_tiktok_ads_source`` too) reads eight source tables. Each gets a view here with Fivetran's column names,
in the types of its ``macros/staging/get_*_columns.sql`` (Fivetran's connector ERD says ids are Long: BIGINT
here), so the package runs on this warehouse unchanged; only its documented identifier variables point it at the
``fivetran_``-prefixed names (README, "Fivetran-shaped views").

Why a prefix: ``campaign_history``, ``adgroup_history`` and ``ad_history`` are our own tables already, SQLite has
no schemas (an attached database's view may not read the main one), and a PostgreSQL schema of their own would be
shared by every warehouse of one database. Fivetran's own integration tests point the package at other names the
same way (``tiktok_ads_<table>_identifier``).

What we hold under another name or unit is converted in the view: ids from TikTok's JSON strings to BIGINT,
``stat_time_hour`` from ``stat_hour_local`` (TikTok dates report rows in the advertiser's report zone, as
Fivetran stores them), ratios in TikTok's units (``ctr`` and ``conversion_rate`` in percent, ``cpm`` per 1,000
impressions) from the sums, NULL on a zero denominator. What we do not hold is a NULL of Fivetran's type
(``NULL_COLUMNS``): the package coalesces most such counts to 0 itself.

The views hold no data and are not frozen in a revision: ``create_schema`` rebuilds them from this code after
every migration (``create_views``; on SQLite it drops them before, see ``drop_views_before_migrating``). A change
here therefore ships with a new Alembic revision, even an empty one, or warehouses already at head keep the old
views (``MIGRATIONS.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tiktok_assets.warehouse.errors import WarehouseError
from tiktok_assets.warehouse.tables import (
    Money,
    ad_history,
    ad_stats_hourly,
    adgroup_history,
    advertisers,
    audience_stats_daily,
    campaign_history,
)

FIVETRAN_VIEW_PREFIX = "fivetran_"
FIVETRAN_TABLES = ("advertiser", "campaign_history", "adgroup_history", "ad_history", "ad_report_hourly",
                   "adgroup_report_hourly", "campaign_report_hourly", "campaign_country_report")
"""Fivetran's table names, as the dbt package's sources name them."""

# Fivetran's types (get_*_columns.sql: dbt.type_numeric / type_string / type_float / type_int / type_timestamp),
# as SQLAlchemy types: ids are numeric there and Long in Fivetran's ERD (BIGINT), counts and int BIGINT, money
# our exact NUMERIC(20, 6), except where the macro says float.
KINDS: dict[str, sa.types.TypeEngine] = {
    "id": sa.BigInteger(),
    "count": sa.BigInteger(),
    "int": sa.BigInteger(),
    "money": Money,
    "float": sa.Float(),
    "string": sa.Text(),
    "timestamp": sa.DateTime(),
}


@dataclass(frozen=True)
class ViewColumn:
    name: str
    kind: str
    expression: sa.ColumnElement | None
    """None: we do not hold it, the view has a typed NULL."""


def view_name(fivetran_table: str) -> str:
    """The view of Fivetran's ``fivetran_table``: what ``tiktok_ads_<table>_identifier`` points dbt at."""
    return f"{FIVETRAN_VIEW_PREFIX}{fivetran_table}"


def _id(column: sa.ColumnElement) -> sa.ColumnElement:
    # TikTok's ids are decimal strings below 2**63: BIGINT holds them exactly (Fivetran's Long).
    return sa.cast(column, sa.BigInteger)


def _ratio(numerator: sa.ColumnElement, denominator: sa.ColumnElement, scale: float = 1.0) -> sa.ColumnElement:
    # Floats on both sides: PostgreSQL divides integers as integers. NULL, not 0 or an error, on no denominator.
    value = sa.cast(numerator, sa.Float) / sa.func.nullif(sa.cast(denominator, sa.Float), 0)
    return value * scale if scale != 1.0 else value


def _hourly_metrics(values: Callable[[str], sa.ColumnElement]) -> list[ViewColumn]:
    """The metric columns of Fivetran's ``*_report_hourly`` tables (get_ad_report_hourly_columns.sql, in its order)
    from our metric ``values(name)`` (a row's column, or a group's sum), and TikTok's names of the other metrics we
    hold (usable as the package's passthrough metrics)."""
    spend, clicks, impressions, conversions = (values(name)
                                               for name in ("spend", "clicks", "impressions", "conversions"))
    held = {
        "clicks": clicks,
        "conversion": conversions,
        "conversion_rate": _ratio(conversions, clicks, 100.0),
        "cost_per_conversion": _ratio(spend, conversions),
        "cpc": _ratio(spend, clicks),
        "cpm": _ratio(spend, impressions, 1000.0),
        "ctr": _ratio(clicks, impressions, 100.0),
        "impressions": impressions,
        "spend": spend,
        # TikTok's total_purchase_value is the in-app purchase value (our app_purchase_value).
        "total_purchase_value": values("app_purchase_value"),
    }
    macro = [("average_video_play", "float"), ("average_video_play_per_user", "float"), ("clicks", "count"),
             ("comments", "count"), ("conversion", "int"), ("conversion_rate", "float"),
             ("cost_per_conversion", "float"), ("cpc", "float"), ("cpm", "float"), ("ctr", "float"),
             ("follows", "count"), ("impressions", "count"), ("likes", "count"), ("profile_visits", "count"),
             ("reach", "count"), ("real_time_conversion", "int"), ("shares", "count"), ("spend", "money"),
             ("total_purchase_value", "money"), ("total_sales_lead_value", "money"),
             ("video_play_actions", "count"), ("video_views_p_25", "count"), ("video_views_p_50", "count"),
             ("video_views_p_75", "count"), ("video_watched_2_s", "count"), ("video_watched_6_s", "count")]
    columns = [ViewColumn(name, kind, held.get(name)) for name, kind in macro]
    # Beyond the macro: the other metrics we pull, under TikTok's names, as Fivetran's custom metrics are named.
    columns += [ViewColumn("app_install", "count", values("installs")),
                ViewColumn("complete_payment", "count", values("purchases")),
                ViewColumn("total_complete_payment_rate", "money", values("purchase_value")),
                ViewColumn("purchase", "count", values("app_purchases"))]
    return columns


def _advertiser() -> tuple[list[ViewColumn], sa.FromClause, list]:
    a = advertisers.c
    held = {"currency": a.currency, "id": _id(a.advertiser_id), "name": a.advertiser_name,
            # TikTok's report zone (e.g. Etc/GMT+8), as Fivetran's "time zone including GMT offset".
            "timezone": a.timezone}
    macro = [("address", "string"), ("balance", "float"), ("cellphone_number", "string"), ("company", "string"),
             ("contacter", "string"), ("country", "string"), ("currency", "string"), ("description", "string"),
             ("email", "string"), ("id", "id"), ("industry", "string"), ("language", "string"), ("name", "string"),
             ("phone_number", "string"), ("telephone", "string"), ("telephone_number", "string"),
             ("timezone", "string")]
    columns = [ViewColumn(name, kind, held.get(name)) for name, kind in macro]
    columns += [ViewColumn("status", "string", a.status), ViewColumn("_fivetran_synced", "timestamp", a.last_seen_at)]
    return columns, advertisers, []


def _version_columns(table: sa.Table) -> list[ViewColumn]:
    """What every history view has beyond its macro: Fivetran's v1.3 status names and its sync time.

    ``updated_at`` (in the macros) is our ``valid_from``, when the version was recorded, not TikTok's
    ``modify_time``: a delivery status changes without a modify_time, and the package keeps the row with the
    latest ``updated_at`` as the entity's current one."""
    c = table.c
    return [ViewColumn("operation_status", "string", c.operation_status),
            ViewColumn("secondary_status", "string", c.secondary_status),
            ViewColumn("create_time", "timestamp", c.create_time),
            ViewColumn("_fivetran_synced", "timestamp", c.valid_from)]


def _campaign_history() -> tuple[list[ViewColumn], sa.FromClause, list]:
    c = campaign_history.c
    held = {"advertiser_id": _id(c.advertiser_id), "campaign_id": _id(c.campaign_id), "campaign_name": c.campaign_name,
            "updated_at": c.valid_from, "objective_type": c.objective_type,
            # ``status`` is TikTok's name before API v1.3 for what it now calls secondary_status.
            "status": c.secondary_status, "create_time": c.create_time}
    macro = [("advertiser_id", "id"), ("campaign_id", "id"), ("campaign_name", "string"), ("campaign_type", "string"),
             ("split_test_variable", "string"), ("updated_at", "timestamp"), ("objective_type", "string"),
             ("status", "string"), ("budget", "money"), ("budget_mode", "string"), ("create_time", "timestamp"),
             ("is_new_structure", "string")]
    columns = [ViewColumn(name, kind, held.get(name)) for name, kind in macro]
    columns += [column for column in _version_columns(campaign_history) if column.name != "create_time"]
    return columns, campaign_history, []


def _adgroup_history() -> tuple[list[ViewColumn], sa.FromClause, list]:
    c = adgroup_history.c
    held = {"adgroup_id": _id(c.adgroup_id), "adgroup_name": c.adgroup_name, "advertiser_id": _id(c.advertiser_id),
            "campaign_id": _id(c.campaign_id), "updated_at": c.valid_from}
    macro = [("action_days", "count"), ("adgroup_id", "id"), ("adgroup_name", "string"), ("advertiser_id", "id"),
             ("audience_type", "string"), ("budget", "float"), ("campaign_id", "id"), ("category", "count"),
             ("display_name", "string"), ("frequency", "count"), ("frequency_schedule", "count"),
             ("gender", "string"), ("landing_page_url", "string"), ("updated_at", "timestamp"),
             ("interest_category_v_2", "string"), ("action_categories", "string"), ("age_groups", "string"),
             ("languages", "string")]
    return [ViewColumn(name, kind, held.get(name)) for name, kind in macro] + _version_columns(adgroup_history), \
        adgroup_history, []


def _ad_history() -> tuple[list[ViewColumn], sa.FromClause, list]:
    c = ad_history.c
    held = {"ad_id": _id(c.ad_id), "ad_name": c.ad_name, "adgroup_id": _id(c.adgroup_id),
            "advertiser_id": _id(c.advertiser_id), "campaign_id": _id(c.campaign_id),
            "landing_page_url": c.landing_page_url, "updated_at": c.valid_from}
    macro = [("ad_id", "id"), ("ad_name", "string"), ("adgroup_id", "id"), ("advertiser_id", "id"),
             ("call_to_action", "string"), ("campaign_id", "id"), ("click_tracking_url", "string"),
             ("impression_tracking_url", "string"), ("landing_page_url", "string"), ("updated_at", "timestamp")]
    return [ViewColumn(name, kind, held.get(name)) for name, kind in macro] + _version_columns(ad_history), \
        ad_history, []


def _ad_report_hourly() -> tuple[list[ViewColumn], sa.FromClause, list]:
    s = ad_stats_hourly.c
    columns = [ViewColumn("ad_id", "id", _id(s.ad_id)),
               # TikTok's stat_time_hour is the advertiser's wall time, as Fivetran stores it (date_day = its date).
               ViewColumn("stat_time_hour", "timestamp", s.stat_hour_local),
               *_hourly_metrics(lambda name: s[name]),
               ViewColumn("_fivetran_synced", "timestamp", s.last_pulled_at)]
    return columns, ad_stats_hourly, []


def _summed(column: sa.Column) -> sa.ColumnElement:
    # PostgreSQL sums BIGINT as NUMERIC: cast back, so a rolled-up count has the type of an ad row's.
    return sa.func.sum(column) if isinstance(column.type, sa.Numeric) else sa.cast(sa.func.sum(column), sa.BigInteger)


def _rolled_up_hourly(level_id: str) -> tuple[list[ViewColumn], sa.FromClause, list]:
    # TikTok's campaign and ad group rows of BASIC metrics are the sums of their ads' rows (reach, which is not
    # additive, is NULL here anyway), so the hourly reports of a level are our ad rows summed by it and the hour.
    s = ad_stats_hourly.c
    columns = [ViewColumn(level_id, "id", _id(s[level_id])),
               ViewColumn("stat_time_hour", "timestamp", s.stat_hour_local),
               *_hourly_metrics(lambda name: _summed(s[name])),
               ViewColumn("_fivetran_synced", "timestamp", sa.func.max(s.last_pulled_at))]
    # advertiser_id in the key too: the same campaign id never crosses advertisers, but the index leads with it.
    return columns, ad_stats_hourly, [s.advertiser_id, s[level_id], s.stat_hour_local]


def campaign_country_source() -> sa.Subquery:
    """Daily BASIC metrics per campaign and country: what ``campaign_country_report`` reads, from the country
    breakdown of ``audience_stats_daily`` at campaign level (the ``audience_country_daily`` asset)."""
    a = audience_stats_daily.c
    return (sa.select(a.advertiser_id, a.entity_id.label("campaign_id"), a.stat_date,
                      a.breakdown_value.label("country_code"), a.spend, a.impressions, a.clicks,
                      a.conversions, a.last_pulled_at)
            .where(a.breakdown == "country", a.level == "campaign").subquery("campaign_country_daily"))


def _campaign_country_report(dialect: str) -> tuple[list[ViewColumn], sa.FromClause, list]:
    source = campaign_country_source()
    s = source.c
    # Fivetran's stat_time_day is a timestamp at the local midnight. SQLite stores dates as text and its CAST to a
    # date type reads only the leading number: datetime() writes the midnight instead.
    day = sa.func.datetime(s.stat_date) if dialect == "sqlite" else sa.cast(s.stat_date, sa.DateTime)
    held = {"_fivetran_synced": s.last_pulled_at, "campaign_id": _id(s.campaign_id), "clicks": s.clicks,
            "conversion": s.conversions, "conversion_rate": _ratio(s.conversions, s.clicks, 100.0),
            "cost_per_conversion": _ratio(s.spend, s.conversions), "country_code": s.country_code,
            "cpc": _ratio(s.spend, s.clicks), "cpm": _ratio(s.spend, s.impressions, 1000.0),
            "ctr": _ratio(s.clicks, s.impressions, 100.0), "impressions": s.impressions,
            # The macro types this one float, unlike the hourly reports' numeric spend.
            "spend": sa.cast(s.spend, sa.Float), "stat_time_day": day}
    macro = [("_fivetran_synced", "timestamp"), ("campaign_id", "id"), ("clicks", "count"), ("conversion", "int"),
             ("conversion_rate", "float"), ("cost_per_conversion", "float"), ("country_code", "string"),
             ("cpc", "float"), ("cpm", "float"), ("ctr", "float"), ("impressions", "count"),
             ("real_time_conversion", "int"), ("spend", "float"), ("stat_time_day", "timestamp")]
    return [ViewColumn(name, kind, held.get(name)) for name, kind in macro], source, []


def _definitions(dialect: str) -> dict[str, tuple[list[ViewColumn], sa.FromClause, list]]:
    return {
        "advertiser": _advertiser(),
        "campaign_history": _campaign_history(),
        "adgroup_history": _adgroup_history(),
        "ad_history": _ad_history(),
        "ad_report_hourly": _ad_report_hourly(),
        "adgroup_report_hourly": _rolled_up_hourly("adgroup_id"),
        "campaign_report_hourly": _rolled_up_hourly("campaign_id"),
        "campaign_country_report": _campaign_country_report(dialect),
    }


def view_columns(dialect: str = "postgresql") -> dict[str, list[ViewColumn]]:
    """Each Fivetran table's columns as the view has them, in order."""
    return {table: columns for table, (columns, _, _) in _definitions(dialect).items()}


def null_columns() -> dict[str, tuple[str, ...]]:
    """The columns of Fivetran's we do not hold, per table: always NULL in the views (README lists them)."""
    return {table: tuple(column.name for column in columns if column.expression is None)
            for table, columns in view_columns().items()}


def view_select(fivetran_table: str, dialect: str) -> sa.Select:
    columns, source, group_by = _definitions(dialect)[fivetran_table]
    select = sa.select(*[
        (column.expression if column.expression is not None else sa.cast(sa.null(), KINDS[column.kind]))
        .label(column.name) for column in columns
    ]).select_from(source)
    if group_by:
        # An ad row without its campaign or ad group cannot be rolled up to one.
        select = select.where(group_by[1].is_not(None)).group_by(*group_by)
    return select


def view_sql(fivetran_table: str, dialect: sa.engine.Dialect) -> str:
    compiled = view_select(fivetran_table, dialect.name).compile(dialect=dialect,
                                                                 compile_kwargs={"literal_binds": True})
    return str(compiled)


def drop_views(connection: Connection) -> None:
    """Drop every Fivetran-shaped view."""
    for table in FIVETRAN_TABLES:
        connection.exec_driver_sql(f"DROP VIEW IF EXISTS {view_name(table)}")


def drop_views_before_migrating(connection: Connection) -> None:
    """SQLite only: a batch migration renames tables, which SQLite refuses while a view names the dropped one.

    PostgreSQL keeps them: dbt's ``stg_tiktok_ads__*_tmp`` views (in another schema) read them, and dropping ours
    would need CASCADE, silently dropping a user's views. A revision that alters a column they read drops the
    view itself (``MIGRATIONS.md``)."""
    if connection.dialect.name == "sqlite":
        drop_views(connection)


def create_views(connection: Connection) -> None:
    """Create or replace every Fivetran-shaped view from this code's definitions (the tables must be at head)."""
    for table in FIVETRAN_TABLES:
        name, sql = view_name(table), view_sql(table, connection.dialect)
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql(f"DROP VIEW IF EXISTS {name}")
            connection.exec_driver_sql(f"CREATE VIEW {name} AS {sql}")
            continue
        try:
            with connection.begin_nested():
                connection.exec_driver_sql(f"CREATE OR REPLACE VIEW {name} AS {sql}")
        except sa.exc.DBAPIError:
            # PostgreSQL replaces a view only while its columns keep their names, types and order: drop it and
            # create it, which it refuses while a view of someone else's reads it (CASCADE would drop those).
            try:
                with connection.begin_nested():
                    connection.exec_driver_sql(f"DROP VIEW IF EXISTS {name}")
                    connection.exec_driver_sql(f"CREATE VIEW {name} AS {sql}")
            except sa.exc.DBAPIError as exc:
                raise WarehouseError(
                    f"Cannot rebuild the view {name} with its new columns: {exc.orig}. Other views read it (dbt's "
                    f"stg_tiktok_ads__*_tmp models do): drop them with DROP VIEW {name} CASCADE and start again; "
                    "dbt's next run recreates its own.") from None
