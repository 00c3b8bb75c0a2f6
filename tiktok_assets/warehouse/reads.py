"""Reading the warehouse back into typed pandas frames.

Frames come back in the shape the writers take: ids and texts as ``object``,
``stat_date`` as ``datetime.date`` (as the spend import builds it), other
times as naive UTC ``datetime64[ns]``, money as ``float64``, counts as
``int64`` (``Int64`` where NULL is possible, i.e. reach), flags as ``bool``.
Values are fetched raw and converted column by column, not row by row.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tiktok_assets.warehouse.frames import PartitionKey, partition_content
from tiktok_assets.warehouse.stats import StatsTableName
from tiktok_assets.warehouse.tables import (
    MONEY_DECIMALS,
    frame_columns,
    naive_utc,
    partition_pulls,
    stats_revisions,
    stats_table,
    time_column,
)

DRIFT_METRICS = ("spend", "conversions", "purchase_value", "app_purchase_value")


def read_stats(
    engine: Engine,
    table: StatsTableName,
    advertiser_id: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> pd.DataFrame:
    """Stored rows of ``table``, optionally one advertiser's and local dates ``start``..``end`` (inclusive)."""
    target = stats_table(table)
    query = _filtered(sa.select(target), target, advertiser_id, start, end).order_by(
        target.c.advertiser_id, target.c.stat_date, target.c[time_column(target)], target.c.ad_id
    )
    return read_frame(engine, target, query)


def read_revisions(
    engine: Engine,
    table: StatsTableName | None = None,
    advertiser_id: str | None = None,
    start: date | None = None,
    end: date | None = None,
    since: datetime | None = None,
) -> pd.DataFrame:
    """Revision log rows, oldest first; ``since`` keeps those pulled at or after it."""
    query = _filtered(sa.select(stats_revisions), stats_revisions, advertiser_id, start, end)
    if table is not None:
        query = query.where(stats_revisions.c.table_name == stats_table(table).name)
    if since is not None:
        query = query.where(stats_revisions.c.pulled_at >= naive_utc(since))
    return read_frame(engine, stats_revisions, query.order_by(stats_revisions.c.revision_id))


def read_partition_pulls(
    engine: Engine,
    table: StatsTableName | None = None,
    advertiser_id: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> pd.DataFrame:
    """Every recorded pull of the matching partitions, oldest first."""
    query = _filtered(sa.select(partition_pulls), partition_pulls, advertiser_id, start, end)
    if table is not None:
        query = query.where(partition_pulls.c.table_name == stats_table(table).name)
    return read_frame(engine, partition_pulls, query.order_by(partition_pulls.c.pull_id))


def partition_data_version(engine: Engine, table: StatsTableName, advertiser_id: str, stat_date: date) -> str | None:
    """The data version of what the warehouse holds for a partition; None if it was never pulled.

    Computed from the stored rows, so it equals the ``data_version`` the last
    write returned unless the rows were changed behind the warehouse's back.
    """
    target = stats_table(table)
    with engine.connect() as connection:
        pulled = connection.execute(
            sa.select(sa.literal(1)).where(
                partition_pulls.c.table_name == target.name,
                partition_pulls.c.advertiser_id == advertiser_id,
                partition_pulls.c.stat_date == stat_date,
            ).limit(1)
        ).first()
    if pulled is None:
        return None
    stored = read_stats(engine, table, advertiser_id, stat_date, stat_date)
    key = PartitionKey(advertiser_id, stat_date)
    return partition_content(target, key, stored[frame_columns(target)]).data_version


def partition_drift(
    engine: Engine,
    table: StatsTableName,
    advertiser_id: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> pd.DataFrame:
    """How far each partition moved from its first pull to what is stored now.

    One row per advertiser × date: for spend, conversions, purchase value and
    app purchase value the first-pull and current totals, the change and the change in percent
    of the first (NULL when the first was 0); how many pulls there were, how
    many after the first changed something, the revision rows logged, and
    when the partition last changed. Intraday pulls (of a day not over) are
    left out: "first" is the first pull after the day closed, and a partition
    with only intraday pulls has no row.
    """
    pulls = read_partition_pulls(engine, table, advertiser_id, start, end)
    # A day's history starts when it closed: intraday pulls only show it growing.
    pulls = pulls[~pulls["intraday"]].reset_index(drop=True)
    keys = ["advertiser_id", "stat_date"]
    columns = [*keys, "pulls", "first_pulled_at", "last_pulled_at"]
    for metric in DRIFT_METRICS:
        columns += [f"first_{metric}", f"current_{metric}", f"{metric}_change", f"{metric}_change_pct"]
    columns += ["changed_pulls", "revisions", "last_changed_at"]
    if pulls.empty:
        return pd.DataFrame(columns=columns)
    grouped = pulls.groupby(keys, sort=True)
    first, last = grouped.head(1).set_index(keys), grouped.tail(1).set_index(keys)
    drift = pd.DataFrame(index=first.index)
    drift["pulls"] = grouped.size()
    drift["first_pulled_at"] = first["pulled_at"]
    drift["last_pulled_at"] = last["pulled_at"]
    for metric in DRIFT_METRICS:
        initial, current = first[f"{metric}_after"], last[f"{metric}_after"]
        change = current - initial
        if metric != "conversions":
            change = change.round(MONEY_DECIMALS)
        drift[f"first_{metric}"] = initial
        drift[f"current_{metric}"] = current
        drift[f"{metric}_change"] = change
        drift[f"{metric}_change_pct"] = (change / initial.where(initial != 0) * 100).astype("float64")
    changed = pulls[pulls["changed"]]
    drift["changed_pulls"] = (changed.groupby(keys).size().reindex(drift.index, fill_value=0)
                              - first["changed"].astype("int64"))
    drift["revisions"] = _revision_counts(engine, table, advertiser_id, start, end).reindex(drift.index, fill_value=0)
    drift["last_changed_at"] = changed.groupby(keys)["pulled_at"].max().reindex(drift.index)
    return drift.reset_index()[columns]


def _revision_counts(engine: Engine, table: StatsTableName, advertiser_id: str | None, start: date | None,
                     end: date | None) -> pd.Series:
    revisions = stats_revisions
    query = _filtered(
        sa.select(revisions.c.advertiser_id, revisions.c.stat_date, sa.func.count().label("revisions")),
        revisions, advertiser_id, start, end,
    ).where(revisions.c.table_name == stats_table(table).name).group_by(revisions.c.advertiser_id, revisions.c.stat_date)
    with engine.connect() as connection:
        counted = pd.DataFrame(connection.execute(query).all(), columns=["advertiser_id", "stat_date", "revisions"])
    counted["stat_date"] = _dates(counted["stat_date"])
    return counted.set_index(["advertiser_id", "stat_date"])["revisions"].astype("int64")


def _filtered(query: sa.Select, table: sa.Table, advertiser_id: str | None, start: date | None, end: date | None
              ) -> sa.Select:
    if advertiser_id is not None:
        query = query.where(table.c.advertiser_id == str(advertiser_id))
    if start is not None:
        query = query.where(table.c.stat_date >= start)
    if end is not None:
        query = query.where(table.c.stat_date <= end)
    return query


def read_frame(engine: Engine, table: sa.Table, query: sa.Select) -> pd.DataFrame:
    """Run ``query`` (selecting ``table``'s columns) and type the frame from the column types."""
    raw_query = query.with_only_columns(*(_raw(engine, column) for column in query.selected_columns))
    names = [column.name for column in query.selected_columns]
    # Millions of row tuples trigger the cyclic garbage collector over and over
    # (it doubled read times, measured); none of them can form a cycle.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with engine.connect() as connection:
            # The DBAPI rows as they come: every column was selected untyped (see _raw).
            rows = connection.execute(raw_query).cursor.fetchall()
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
        del rows
    finally:
        if collecting:
            gc.enable()
    return pd.DataFrame({name: _typed(table.c[name], values) for name, values in zip(names, columns, strict=True)},
                        columns=names)


def _raw(engine: Engine, column: sa.ColumnElement) -> sa.ColumnElement:
    # Skip SQLAlchemy's per-value result processing (a regex per SQLite
    # timestamp, a Decimal per PostgreSQL numeric) and convert whole columns instead.
    if isinstance(column.type, sa.Numeric) and not isinstance(column.type, sa.Integer) and engine.dialect.name == "postgresql":
        return sa.cast(column, sa.Float).label(column.name)
    return sa.type_coerce(column, sa.types.NullType()).label(column.name)


def _typed(column: sa.Column, values: tuple) -> pd.Series:
    kind = column.type
    if isinstance(kind, sa.DateTime):
        return _by_distinct_value(values, lambda distinct: pd.to_datetime(distinct, format="ISO8601")
                                  .astype("datetime64[ns]"))
    if isinstance(kind, sa.Date):
        return _dates(values)
    if isinstance(kind, sa.Boolean):
        return pd.Series(np.array(values, dtype=bool))
    if isinstance(kind, sa.Integer):
        if None in values:
            return pd.Series(values, dtype="Int64")
        return pd.Series(np.array(values, dtype="int64"))
    if isinstance(kind, sa.Numeric):
        return pd.Series(np.array([np.nan if value is None else value for value in values] if None in values
                                  else values, dtype="float64"))
    return pd.Series(np.array(values, dtype=object))


def _by_distinct_value(values: tuple, convert: Callable[[pd.Index], pd.Index]) -> pd.Series:
    """Convert each distinct value once: a year of hourly rows has 8,760 distinct hours, not 8.8 million."""
    codes, distinct = pd.factorize(np.array(values, dtype=object))
    converted = convert(pd.Index(distinct, dtype=object))
    if (codes < 0).any():
        return pd.Series(converted.take(codes, allow_fill=True, fill_value=pd.NaT))
    return pd.Series(converted.take(codes))


def _dates(values: Sequence[object]) -> pd.Series:
    """Dates as ``datetime.date`` from dates or ISO text (SQLite keeps dates as text)."""
    return _by_distinct_value(tuple(values), lambda distinct: pd.Index(
        pd.to_datetime(distinct, format="ISO8601").date, dtype=object))


def query_frame(engine: Engine, sql: str, **params: object) -> pd.DataFrame:
    """The rows of a hand-written SQL query (aggregates, checks) as a frame.

    PostgreSQL's NUMERIC comes back from a text query as ``Decimal``; such
    columns become floats so both databases give the same frame.
    """
    with engine.connect() as connection:
        frame = pd.DataFrame(connection.execute(sa.text(sql), params).mappings().all())
    for column in frame.columns:
        if len(frame) and isinstance(frame[column].iloc[0], Decimal):
            frame[column] = frame[column].astype(float)
    return frame
