"""Warehouse tables of the derived metrics and reports, their writes and the reads that feed them (no Dagster import).

Tables, defined with every other warehouse table in ``tiktok_assets/warehouse/tables.py``
(``create_schema``, run by the warehouse resource, makes them with the rest):

``{ad,adgroup,campaign,advertiser}_metrics_{daily,hourly}``
    One row per entity, currency and local day (or UTC hour): ids, names in
    force at that time, summed bases (TikTok's and first-party), the ratio
    metrics. Partitioned like the stats: (advertiser_id, stat_date).
``overview_report``, ``channels_report``, ``app_report``
    The last 30 days, rebuilt whole on each materialization.

Writes replace whole partitions (delete + insert) inside one transaction, so a
re-run or a backfill over the same days leaves exactly one copy of each row,
and a reader never sees a partition half written.

Every partition gets a *data version*: a fingerprint of what it holds (keys,
names, summed bases; the ratios are functions of those). A recompute that
changes nothing keeps its data version, so whatever follows does not rerun.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tiktok_assets.metrics.derive import CURRENCY, FIRST_PARTY_METRIC_COLUMNS, METRIC_COLUMNS
from tiktok_assets.metrics.entities import TABLE_NAMES, EntityHistory
from tiktok_assets.metrics.render import SCHEMA_3_MEASURES
from tiktok_assets.metrics.rollup import GRAIN_KEY, GRAINS, LEVEL_KEYS, LEVELS
from tiktok_assets.warehouse.bulk import bulk_insert
from tiktok_assets.warehouse.engine import serialise_writers, write_transaction
from tiktok_assets.warehouse.reads import read_frame
from tiktok_assets.warehouse import tables as _tables
from tiktok_assets.warehouse.stats import naive_utc
from tiktok_assets.warehouse.tables import MONEY_DECIMALS, ad_stats_daily, metadata

# On the one warehouse ``metadata``, so ``create_schema`` creates it up front: first-party columns never flip
# from NULL (no table) to 0 (no orders) between two runs over the same data.
_first_party_events: sa.Table | None = _tables.first_party_events

# Bump when the fingerprinted content changes shape: every data version changes with it.
# v2 (schema 3): in-app purchases and TikTok-attributed purchases/revenue by campaign type joined the content.
_VERSION_PREFIX = b"tiktok_assets.metrics.v2\n"
REPORT_LEVELS = ("campaign", "adgroup", "ad")
ATTRIBUTION_EVENT_COLUMNS = ("event_id", "source", "event_name", "event_time", "value", "currency", "order_id",
                             "customer_id", "ttclid", "utm_source", "utm_campaign", "cvg_source", "cvg_adid", "cvg_cid")
# How far an event's UTC time can sit from its advertiser's local date (UTC-12 .. UTC+14).
_ZONE_MARGIN = timedelta(days=1)


# The tables are defined with every other warehouse table (one metadata, one schema: see warehouse/MIGRATIONS.md).
SCHEMA_3_BASES = _tables.SCHEMA_3_BASES
METRICS_TABLES: dict[tuple[str, str], sa.Table] = _tables.METRICS_TABLES
overview_report_table = _tables.overview_report_table
channels_report_table = _tables.channels_report_table
app_report_table = _tables.app_report_table
REPORT_TABLES: dict[str, sa.Table] = _tables.REPORT_TABLES
ALL_TABLES: tuple[sa.Table, ...] = (*METRICS_TABLES.values(), *REPORT_TABLES.values())
# (table, column) pairs schema version 3 added to these tables (warehouse/migrations/legacy.py runs its frozen copy).
SCHEMA_3_COLUMNS: tuple[tuple[str, str], ...] = (
    *((table.name, name) for table in METRICS_TABLES.values() for name in SCHEMA_3_BASES),
    *((REPORT_TABLES[report].name, name) for report, names in SCHEMA_3_MEASURES.items() for name in names),
)


def metrics_table(level: str, grain: str) -> sa.Table:
    try:
        return METRICS_TABLES[(level, grain)]
    except KeyError:
        raise ValueError(
            f"No metrics table for level {level!r} and grain {grain!r}: levels are {', '.join(LEVELS)}, "
            f"grains {', '.join(GRAINS)}"
        ) from None


# ---------------------------------------------------------------- shaping rows for the tables


def storage_frame(table: sa.Table, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` in ``table``'s columns and types, without ``computed_at``/``generated_at``.

    Money is rounded to the warehouse's 6 decimals (what SQLite keeps anyway),
    so the fingerprint of a partition is the fingerprint of what is stored.
    Columns the frame lacks (first-party ones without a first_party_events
    table) become NULL; columns the table lacks are dropped.
    """
    columns: dict[str, object] = {}
    rows = len(frame)
    for column in table.columns:
        name = column.name
        if name in ("computed_at", "generated_at"):
            continue
        if name not in frame.columns:
            columns[name] = _nulls(column, rows)
            continue
        values = frame[name]
        kind = column.type
        if isinstance(kind, sa.Boolean):
            columns[name] = values.to_numpy(dtype=bool)
        elif isinstance(kind, sa.Integer):
            numbers = pd.to_numeric(values, errors="coerce")
            columns[name] = (numbers.round().astype("Int64") if numbers.isna().any() or column.nullable
                             else numbers.to_numpy(dtype=np.int64))
        elif isinstance(kind, sa.Numeric) and not isinstance(kind, sa.Float):
            columns[name] = np.round(pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64), MONEY_DECIMALS)
        elif isinstance(kind, sa.Float):
            columns[name] = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
        elif isinstance(kind, sa.DateTime):
            columns[name] = pd.to_datetime(values).to_numpy(dtype="datetime64[ns]")
        elif isinstance(kind, sa.Date):
            columns[name] = _as_dates(values)
        else:
            text = values.to_numpy(dtype=object)
            columns[name] = np.where(pd.isna(text), None, text)
    return pd.DataFrame(columns, index=pd.RangeIndex(rows))


def _nulls(column: sa.Column, rows: int) -> pd.Series | np.ndarray:
    if isinstance(column.type, sa.Integer):
        return pd.array([pd.NA] * rows, dtype="Int64")
    if isinstance(column.type, sa.Numeric):
        return np.full(rows, np.nan)
    return np.full(rows, None, dtype=object)


def _as_dates(values: pd.Series) -> np.ndarray:
    """``datetime.date`` objects (what the warehouse reads hand back), whatever came in."""
    if values.dtype == object and (values.empty or isinstance(values.iloc[0], date)):
        return values.to_numpy(dtype=object)
    return pd.to_datetime(values).dt.date.to_numpy(dtype=object)


def content_columns(table: sa.Table) -> list[str]:
    """What a data version covers: keys, names, times and summed bases (ratios follow from them)."""
    derived = {*METRIC_COLUMNS, *FIRST_PARTY_METRIC_COLUMNS, "computed_at", "generated_at"}
    return [column.name for column in table.columns if column.name not in derived]


def partition_data_versions(table: sa.Table, stored: pd.DataFrame, stat_dates: Iterable[date]) -> dict[date, str]:
    """A fingerprint per local date of one advertiser's rows (a :func:`storage_frame`), empty dates included.

    Independent of row order: rows are hashed, the hashes sorted within their
    date, and each date's sorted hashes digested with SHA-256.
    """
    wanted = list(dict.fromkeys(stat_dates))
    versions = {day: hashlib.sha256(_VERSION_PREFIX).hexdigest() for day in wanted}
    if stored.empty:
        return versions
    content = stored[content_columns(table)]
    row_hashes = pd.util.hash_pandas_object(content, index=False, categorize=True).to_numpy(dtype=np.uint64)
    codes, days = pd.factorize(stored["stat_date"])
    order = np.lexsort((row_hashes, codes))
    sorted_codes, sorted_hashes = codes[order], row_hashes[order]
    bounds = np.searchsorted(sorted_codes, np.arange(len(days) + 1))
    for position, day in enumerate(days):
        digest = hashlib.sha256(_VERSION_PREFIX)
        digest.update(sorted_hashes[bounds[position]:bounds[position + 1]].tobytes())
        versions[day] = digest.hexdigest()
    return versions


# ---------------------------------------------------------------- writes


@dataclass(frozen=True)
class PartitionSummary:
    """What one metrics partition holds once written."""

    stat_date: date
    rows: int
    data_version: str
    totals: pd.DataFrame
    """One row per currency: summed spend, impressions, clicks, conversions, purchase value, first-party revenue."""


_SUMMARY_COLUMNS = ("spend", "impressions", "clicks", "conversions", "installs", "purchase_value",
                    "app_purchase_value", "tiktok_revenue", "first_party_revenue")


def replace_metrics_partitions(
    engine: Engine,
    grain: str,
    advertiser_id: str,
    stat_dates: Sequence[date],
    frames_by_level: Mapping[str, pd.DataFrame],
    computed_at: datetime,
) -> dict[str, dict[date, PartitionSummary]]:
    """Replace one advertiser's ``stat_dates`` in each level's table with ``frames_by_level``, in one transaction.

    Delete + insert rather than upsert: a recompute must also remove rows that
    no longer exist (an ad whose only spend was revised away), and re-runs and
    backfills of the same partitions must leave one copy of each row. One
    transaction for every level, so the levels never disagree.
    """
    if not stat_dates:
        return {level: {} for level in frames_by_level}
    prepared: dict[str, tuple[sa.Table, pd.DataFrame]] = {}
    wanted = set(stat_dates)
    for level, frame in frames_by_level.items():
        table = metrics_table(level, grain)
        stored = storage_frame(table, frame)
        stray = stored["advertiser_id"] != advertiser_id
        stray |= ~stored["stat_date"].isin(wanted)
        if stray.any():
            raise ValueError(
                f"{table.name}: {int(stray.sum())} row(s) lie outside advertiser {advertiser_id}'s partitions "
                f"{min(stat_dates)}..{max(stat_dates)}: filter the frame to the partitions being written."
            )
        prepared[level] = (table, stored)
    with write_transaction(engine) as connection:
        serialise_writers(connection, [f"{table.name}|{advertiser_id}" for table, _ in prepared.values()])
        for table, stored in prepared.values():
            _replace(connection, table, stored, computed_at,
                     (table.c.advertiser_id == advertiser_id) & table.c.stat_date.in_(sorted(wanted)))
    return {level: _summaries(table, stored, stat_dates) for level, (table, stored) in prepared.items()}


def _replace(connection: Connection, table: sa.Table, stored: pd.DataFrame, stamped_at: datetime,
             where: sa.ColumnElement[bool] | None) -> None:
    stamp = "computed_at" if "computed_at" in table.c else "generated_at"
    connection.execute(sa.delete(table).where(where) if where is not None else sa.delete(table))
    rows = stored.assign(**{stamp: np.datetime64(naive_utc(stamped_at), "us")})
    bulk_insert(connection, table, rows[[column.name for column in table.columns]])


def _summaries(table: sa.Table, stored: pd.DataFrame, stat_dates: Sequence[date]) -> dict[date, PartitionSummary]:
    versions = partition_data_versions(table, stored, stat_dates)
    summed = [column for column in _SUMMARY_COLUMNS if column in stored.columns]
    totals = stored.groupby(["stat_date", CURRENCY], sort=True)[summed].sum(min_count=1).reset_index()
    counts = stored.groupby("stat_date").size()
    return {
        day: PartitionSummary(
            stat_date=day,
            rows=int(counts.get(day, 0)),
            data_version=versions[day],
            totals=totals[totals["stat_date"] == day].drop(columns="stat_date").reset_index(drop=True),
        )
        for day in stat_dates
    }


def replace_report(engine: Engine, report: str, frame: pd.DataFrame, generated_at: datetime) -> int:
    """Replace the whole report table with ``frame`` in one transaction; returns the rows written."""
    table = REPORT_TABLES[report]
    stored = storage_frame(table, frame)
    with write_transaction(engine) as connection:
        serialise_writers(connection, [table.name])
        _replace(connection, table, stored, generated_at, None)
    return len(stored)


# ---------------------------------------------------------------- reads


def read_metrics(engine: Engine, level: str, grain: str, advertiser_id: str | None = None,
                 start: date | None = None, end: date | None = None) -> pd.DataFrame:
    """Stored rows of ``{level}_metrics_{grain}``, optionally one advertiser's and local dates start..end."""
    table = metrics_table(level, grain)
    query = sa.select(table)
    if advertiser_id is not None:
        query = query.where(table.c.advertiser_id == str(advertiser_id))
    if start is not None:
        query = query.where(table.c.stat_date >= start)
    if end is not None:
        query = query.where(table.c.stat_date <= end)
    order = [table.c.advertiser_id, table.c.stat_date, *(table.c[GRAIN_KEY[grain]],) * (grain == "hourly"),
             *(table.c[key] for key in LEVEL_KEYS[level][1:]), table.c.currency]
    return _read(engine, table, query.order_by(*order))


def read_report(engine: Engine, report: str) -> pd.DataFrame:
    table = REPORT_TABLES[report]
    return _read(engine, table, sa.select(table))


def _read(engine: Engine, table: sa.Table, query: sa.Select) -> pd.DataFrame:
    frame = read_frame(engine, table, query)
    # SQLAlchemy 2.1's Float is no longer a Numeric, so read_frame leaves ratio columns as objects (None for NULL).
    for column in table.columns:
        if isinstance(column.type, sa.Float) and column.name in frame.columns:
            frame[column.name] = pd.to_numeric(frame[column.name], errors="coerce").astype(np.float64)
    return frame


def read_entity_history(engine: Engine) -> EntityHistory:
    """Advertisers and every version of campaigns, ad groups and ads, for as-of names and parents."""
    tables = {name: metadata.tables[name] for name in TABLE_NAMES}
    return EntityHistory.from_tables({name: read_frame(engine, table, sa.select(table))
                                      for name, table in tables.items()})


def latest_stat_date(engine: Engine) -> date | None:
    """The latest local date any advertiser has daily stats for: where the reports' window ends."""
    with engine.connect() as connection:
        latest = connection.execute(sa.select(sa.func.max(ad_stats_daily.c.stat_date))).scalar()
    if latest is None:
        return None
    return latest if isinstance(latest, date) else date.fromisoformat(str(latest)[:10])


def latest_metrics_date(engine: Engine) -> date | None:
    """The latest local date of ``advertiser_metrics_daily``: where the reports' window ends.

    The reports read the metrics tables, not the stats: a day whose stats
    arrived but whose metrics were not computed (or failed their blocking
    check) is not in a report yet.
    """
    table = metrics_table("advertiser", "daily")
    with engine.connect() as connection:
        latest = connection.execute(sa.select(sa.func.max(table.c.stat_date))).scalar()
    if latest is None:
        return None
    return latest if isinstance(latest, date) else date.fromisoformat(str(latest)[:10])


def first_party_events_table(engine: Engine) -> sa.Table | None:
    """The postbacks domain's ``first_party_events`` table, or None where it does not exist.

    First-party revenue is optional: without the table the first-party
    columns stay NULL and everything else is computed as usual.
    """
    if _first_party_events is None:
        return None
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table(_first_party_events.name):
            return None
    return _first_party_events


def read_first_party_events(engine: Engine, first_day: date, last_day: date) -> pd.DataFrame | None:
    """Events that may fall on local dates ``first_day``..``last_day`` in any zone; None without the table.

    Attribution dates each order in its advertiser's zone, so the UTC window
    is widened by a day on each side and the caller keeps its own dates.
    """
    table = first_party_events_table(engine)
    if table is None:
        return None
    start = datetime.combine(first_day, datetime.min.time()) - _ZONE_MARGIN
    end = datetime.combine(last_day, datetime.min.time()) + timedelta(days=1) + _ZONE_MARGIN
    # Only what attribution reads: the table's personal data (email, phone, IP) stays in the warehouse.
    columns = [table.c[name] for name in ATTRIBUTION_EVENT_COLUMNS if name in table.c]
    query = sa.select(*columns).where(table.c.event_time >= start, table.c.event_time < end)
    return read_frame(engine, table, query)
