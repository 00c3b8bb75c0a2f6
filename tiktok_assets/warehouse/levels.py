"""TikTok's own level totals and lifetime snapshots: revision-aware writes and the reads their checks need.

``level_stats_daily`` holds what TikTok reports for each campaign, ad group and
advertiser per local day, pulled at that level. It follows the stats tables'
rules (``warehouse.stats``), at a scale where a plain comparison in Python is
cheap (one row per campaign-day, not per ad-hour):

* a partition is (advertiser, local date) of one level and every pull hands in
  its complete content, written in one transaction;
* new rows are inserted (revision 1), changed ones updated (revision + 1),
  rows no longer served deleted, except in settled partitions, where they are
  kept (a settled figure never drops because a row went missing);
* every change is logged in ``level_stats_revisions``, except for days not
  over yet (``intraday``) and the first pull after a day closed (the baseline),
  exactly as ``stats_revisions`` is;
* every pull is one ``level_stats_pulls`` row, which ``spend.revisions.latest_pulls``
  reads for the settle planner (``spend.settle``), so these assets re-pull and
  settle by the same rule as ``ad_stats_daily``.

``lifetime_snapshots`` holds ``query_lifetime`` totals: a row per entity each
time its totals moved, so the newest row is the current lifetime figure and the
older ones show how it grew. A pull that finds the same totals writes nothing.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tiktok_assets.warehouse.engine import serialise_writers, write_transaction
from tiktok_assets.warehouse.errors import WarehouseInputError
from tiktok_assets.warehouse.tables import (
    GMV_MAX_METRICS,
    GMV_MAX_MONEY_METRICS,
    LEVEL_METRICS,
    LEVEL_MONEY_METRICS,
    LEVEL_TOTAL_LEVELS,
    LIFETIME_LEVELS,
    LIFETIME_METRICS,
    MONEY_DECIMALS,
    level_stats_daily,
    level_stats_pulls,
    level_stats_revisions,
    lifetime_snapshots,
    naive_utc,
)
from tiktok_assets.warehouse.tables import gmv_max_revisions, gmv_max_stats_daily

LEVEL_FRAME_COLUMNS = ["advertiser_id", "stat_date", "level", "entity_id", "currency", *LEVEL_METRICS]
LIFETIME_FRAME_COLUMNS = ["advertiser_id", "level", "entity_id", "currency", *LIFETIME_METRICS]
# Bump when the canonical content below changes: every data version changes with it.
_VERSION_PREFIX = "tiktok_assets.level_stats.v1\n"

Values = tuple[object, ...]
# Compared at 6 decimals; every other metric is a whole number (or NULL).
_FLOAT_METRICS = frozenset({*LEVEL_MONEY_METRICS, "frequency", *GMV_MAX_MONEY_METRICS, "roi"})


@dataclass(frozen=True)
class _Book:
    """Where one kind of TikTok-total row lives: its table, revision log, metrics and the column naming the row."""

    table: sa.Table
    revisions: sa.Table
    metrics: tuple[str, ...]
    entity_column: str
    spend_metric: str


_LEVEL_BOOK = _Book(level_stats_daily, level_stats_revisions, LEVEL_METRICS, "entity_id", "spend")
_GMV_MAX_BOOK = _Book(gmv_max_stats_daily, gmv_max_revisions, GMV_MAX_METRICS, "campaign_id", "cost")
GMV_MAX_FRAME_COLUMNS = ["advertiser_id", "stat_date", "campaign_id", "store_id", "promotion_type", "currency",
                         *GMV_MAX_METRICS]


@dataclass(frozen=True)
class LevelWrite:
    """What one pull of one level partition did."""

    table_name: str
    advertiser_id: str
    stat_date: date
    rows_served: int
    inserted: int
    updated: int
    deleted: int
    vanished_kept: int
    unchanged: int
    first_pull: bool
    spend_before: float
    spend_after: float
    data_version: str

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated or self.deleted)


def _canonical(row: Mapping[str, object], metrics: tuple[str, ...] = LEVEL_METRICS) -> Values:
    """A row's metrics as compared and fingerprinted: money, frequency and roi at 6 decimals, NULL kept NULL."""
    values: list[object] = []
    for name in metrics:
        value = row.get(name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            values.append(None)
        elif name in _FLOAT_METRICS:
            values.append(round(float(value), MONEY_DECIMALS))
        else:
            values.append(int(value))
    return tuple(values)


def _digest(rows: Mapping[str, Values]) -> str:
    text = _VERSION_PREFIX + "\n".join(f"{entity}|{values!r}" for entity, values in sorted(rows.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _check_frame(table_name: str, level: str, key: tuple[str, date], frame: pd.DataFrame) -> dict[str, Values]:
    """The partition's rows by entity id, checked: columns, partition, level, one row per entity, no negatives."""
    advertiser_id, stat_date = key
    where = f"{table_name} partition (advertiser {advertiser_id}, {stat_date})"
    if not isinstance(frame, pd.DataFrame):
        raise WarehouseInputError(f"{where}: expected a pandas DataFrame, got {type(frame).__name__}.")
    if frame.empty:
        return {}
    missing = [name for name in LEVEL_FRAME_COLUMNS if name not in frame.columns]
    if missing:
        raise WarehouseInputError(f"{where}: frame is missing column(s) {', '.join(missing)}; "
                                  f"level_stats_daily needs {', '.join(LEVEL_FRAME_COLUMNS)}.")
    rows: dict[str, Values] = {}
    for row in frame[LEVEL_FRAME_COLUMNS].to_dict("records"):
        entity = row["entity_id"]
        if not isinstance(entity, str) or not entity:
            raise WarehouseInputError(f"{where}: a row has entity_id {entity!r}; TikTok ids are non-empty strings.")
        if row["advertiser_id"] != advertiser_id or pd.Timestamp(row["stat_date"]).date() != stat_date:
            raise WarehouseInputError(f"{where}, {level} {entity}: the row belongs to advertiser "
                                      f"{row['advertiser_id']} on {row['stat_date']}, not to this partition.")
        if row["level"] != level:
            raise WarehouseInputError(f"{where}, {entity}: level {row['level']!r} in a {level} partition.")
        if entity in rows:
            raise WarehouseInputError(f"{where}: {level} {entity} appears twice; TikTok serves one row per "
                                      "entity and day.")
        values = _canonical(row)
        negative = [name for name, value in zip(LEVEL_METRICS, values, strict=True)
                    if value is not None and value < 0]  # type: ignore[operator]
        if negative:
            raise WarehouseInputError(f"{where}, {level} {entity}: negative {', '.join(negative)}; TikTok never "
                                      "serves negative totals.")
        if values[LEVEL_METRICS.index("spend")] is None:
            raise WarehouseInputError(f"{where}, {level} {entity}: spend is empty; pass 0 for no spend.")
        rows[entity] = values
    return rows


def write_level_partitions(
    engine: Engine,
    table_name: str,
    level: str,
    frames_by_partition: Mapping[tuple[str, date], pd.DataFrame],
    pulled_at: datetime,
    *,
    currency: str,
    settled: Collection[tuple[str, date]] = (),
    intraday: Collection[tuple[str, date]] = (),
) -> dict[tuple[str, date], LevelWrite]:
    """Write the complete content of each (advertiser_id, stat_date) partition of one level, in one transaction.

    Bad input raises ``WarehouseInputError`` and writes nothing. ``settled``: stored rows a pull lacks are
    kept; ``intraday``: the day is not over, nothing is logged as a revision (module docstring).
    """
    if level not in LEVEL_TOTAL_LEVELS:
        raise WarehouseInputError(f"Unknown level {level!r}: use one of {', '.join(LEVEL_TOTAL_LEVELS)}.")
    pulled_at = naive_utc(pulled_at)
    settled_keys, intraday_keys = set(settled), set(intraday)
    if settled_keys & intraday_keys:
        raise WarehouseInputError(f"{table_name}: {sorted(settled_keys & intraday_keys)[0]} is passed as settled "
                                  "and as intraday: a day not over cannot be settled.")
    served = {key: _check_frame(table_name, level, key, frame) for key, frame in frames_by_partition.items()}
    if not served:
        return {}
    with write_transaction(engine) as connection:
        serialise_writers(connection, (f"{table_name}|{a}|{d}" for a, d in served))
        return {key: _write_partition(connection, _LEVEL_BOOK, table_name, {"level": level}, key, rows,
                                      dict.fromkeys(rows, {"currency": currency}), pulled_at,
                                      settled=key in settled_keys, intraday=key in intraday_keys)
                for key, rows in served.items()}


def write_gmv_max_partitions(
    engine: Engine,
    frames_by_partition: Mapping[tuple[str, date], pd.DataFrame],
    pulled_at: datetime,
    *,
    settled: Collection[tuple[str, date]] = (),
    intraday: Collection[tuple[str, date]] = (),
) -> dict[tuple[str, date], LevelWrite]:
    """Write the complete GMV Max rows (:data:`GMV_MAX_FRAME_COLUMNS`) of each (advertiser_id, stat_date), every
    store of the advertiser, in one transaction, by the level totals' rules (module docstring): revisions in
    ``gmv_max_revisions``, one ``level_stats_pulls`` row per partition (table_name ``gmv_max_stats_daily``)."""
    table_name = gmv_max_stats_daily.name
    pulled_at = naive_utc(pulled_at)
    settled_keys, intraday_keys = set(settled), set(intraday)
    checked = {key: _check_gmv_max_frame(key, frame) for key, frame in frames_by_partition.items()}
    if not checked:
        return {}
    with write_transaction(engine) as connection:
        serialise_writers(connection, (f"{table_name}|{a}|{d}" for a, d in checked))
        return {key: _write_partition(connection, _GMV_MAX_BOOK, table_name, {}, key, rows, extras, pulled_at,
                                      settled=key in settled_keys, intraday=key in intraday_keys)
                for key, (rows, extras) in checked.items()}


def _check_gmv_max_frame(key: tuple[str, date], frame: pd.DataFrame
                         ) -> tuple[dict[str, Values], dict[str, dict[str, object]]]:
    """One GMV Max partition's rows by campaign, checked, and each campaign's store, promotion type and currency."""
    advertiser_id, stat_date = key
    where = f"gmv_max_stats_daily partition (advertiser {advertiser_id}, {stat_date})"
    if not isinstance(frame, pd.DataFrame):
        raise WarehouseInputError(f"{where}: expected a pandas DataFrame, got {type(frame).__name__}.")
    missing = [name for name in GMV_MAX_FRAME_COLUMNS if name not in frame.columns] if not frame.empty else []
    if missing:
        raise WarehouseInputError(f"{where}: frame is missing column(s) {', '.join(missing)}.")
    rows: dict[str, Values] = {}
    extras: dict[str, dict[str, object]] = {}
    for row in frame[GMV_MAX_FRAME_COLUMNS].to_dict("records") if not frame.empty else []:
        campaign = row["campaign_id"]
        if not isinstance(campaign, str) or not campaign:
            raise WarehouseInputError(f"{where}: a row has campaign_id {campaign!r}; TikTok ids are non-empty strings.")
        if row["advertiser_id"] != advertiser_id or pd.Timestamp(row["stat_date"]).date() != stat_date:
            raise WarehouseInputError(f"{where}, campaign {campaign}: the row belongs to advertiser "
                                      f"{row['advertiser_id']} on {row['stat_date']}, not to this partition.")
        if campaign in rows:
            raise WarehouseInputError(f"{where}: campaign {campaign} appears twice; TikTok serves one row per "
                                      "campaign and day.")
        values = _canonical(row, GMV_MAX_METRICS)
        negative = [name for name, value in zip(GMV_MAX_METRICS, values, strict=True)
                    if value is not None and value < 0]  # type: ignore[operator]
        if negative or values[GMV_MAX_METRICS.index("cost")] is None:
            raise WarehouseInputError(f"{where}, campaign {campaign}: negative {', '.join(negative)} or empty cost; "
                                      "TikTok serves neither.")
        rows[campaign] = values
        extras[campaign] = {name: str(row[name]) for name in ("store_id", "promotion_type", "currency")}
    return rows, extras


def _write_partition(connection: Connection, book: _Book, table_name: str, scope: Mapping[str, object],
                     key: tuple[str, date], served: dict[str, Values], extras: Mapping[str, Mapping[str, object]],
                     pulled_at: datetime, *, settled: bool, intraday: bool) -> LevelWrite:
    """One partition's write: ``scope`` narrows the partition's rows (a level), ``extras`` are each entity's
    columns other than its metrics (currency, store)."""
    advertiser_id, stat_date = key
    table, metrics, entity_column = book.table, book.metrics, book.entity_column
    in_partition = sa.and_(table.c.advertiser_id == advertiser_id, table.c.stat_date == stat_date,
                           *(table.c[name] == value for name, value in scope.items()))
    stored_rows = connection.execute(
        sa.select(table.c[entity_column], table.c.revision, *(table.c[name] for name in metrics)).where(in_partition)
    ).mappings().all()
    stored = {row[entity_column]: (_canonical(row, metrics), int(row["revision"])) for row in stored_rows}
    pulls = connection.execute(
        sa.select(level_stats_pulls.c.intraday).where(level_stats_pulls.c.table_name == table_name,
                                                      level_stats_pulls.c.advertiser_id == advertiser_id,
                                                      level_stats_pulls.c.stat_date == stat_date)
    ).scalars().all()
    pulled_before, closed_before = bool(pulls), any(not was_intraday for was_intraday in pulls)
    # No revision is logged for a day not over, nor for the first pull after it closed (the baseline).
    tracked = not intraday and closed_before
    inserts = [entity for entity in served if entity not in stored]
    updates = [entity for entity in served if entity in stored and stored[entity][0] != served[entity]]
    vanished = [entity for entity in stored if entity not in served]
    deletes = [] if settled else vanished
    kept = vanished if settled else []
    revisions: list[dict[str, object]] = []
    if tracked:
        revisions += [_revision(book, key, scope, entity, "update", stored[entity][0], served[entity],
                                stored[entity][1] + 1, pulled_at) for entity in updates]
        revisions += [_revision(book, key, scope, entity, "delete", stored[entity][0], None, stored[entity][1] + 1,
                                pulled_at) for entity in deletes]
        # Rows new to a partition that was already written arrived late.
        revisions += [_revision(book, key, scope, entity, "insert_late", None, served[entity], 1, pulled_at)
                      for entity in inserts]
    identity = {"advertiser_id": advertiser_id, "stat_date": stat_date, **scope}
    if inserts:
        connection.execute(sa.insert(table), [
            {**identity, entity_column: entity, **extras[entity], **dict(zip(metrics, served[entity], strict=True)),
             "first_pulled_at": pulled_at, "last_pulled_at": pulled_at, "last_changed_at": pulled_at, "revision": 1}
            for entity in inserts])
    for entity in updates:
        connection.execute(sa.update(table).where(in_partition, table.c[entity_column] == entity).values(
            **dict(zip(metrics, served[entity], strict=True)), **extras[entity],
            revision=table.c.revision + 1, last_pulled_at=pulled_at, last_changed_at=pulled_at))
    if deletes:
        connection.execute(sa.delete(table).where(in_partition, table.c[entity_column].in_(deletes)))
    if revisions:
        connection.execute(sa.insert(book.revisions), revisions)
    content = {**{entity: stored[entity][0] for entity in kept}, **served}
    spend_at = metrics.index(book.spend_metric)
    write = LevelWrite(
        table_name=table_name, advertiser_id=advertiser_id, stat_date=stat_date, rows_served=len(served),
        inserted=len(inserts), updated=len(updates), deleted=len(deletes), vanished_kept=len(kept),
        unchanged=len(served) - len(inserts) - len(updates), first_pull=not pulled_before,
        spend_before=round(sum(float(values[spend_at] or 0) for values, _ in stored.values()), MONEY_DECIMALS),
        spend_after=round(sum(float(values[spend_at] or 0) for values in content.values()), MONEY_DECIMALS),
        data_version=_digest(content),
    )
    connection.execute(sa.insert(level_stats_pulls).values(
        table_name=table_name, advertiser_id=advertiser_id, stat_date=stat_date, pulled_at=pulled_at,
        rows_served=write.rows_served, rows_inserted=write.inserted, rows_updated=write.updated,
        rows_deleted=write.deleted, rows_vanished_kept=write.vanished_kept, spend_after=write.spend_after,
        data_version=write.data_version, changed=write.changed, intraday=intraday))
    return write


def _revision(book: _Book, key: tuple[str, date], scope: Mapping[str, object], entity: str, kind: str,
              old: Values | None, new: Values | None, revision: int, pulled_at: datetime) -> dict[str, object]:
    row: dict[str, object] = {"advertiser_id": key[0], "stat_date": key[1], **scope, book.entity_column: entity,
                              "revision": revision, "pulled_at": pulled_at, "change_kind": kind}
    for index, name in enumerate(book.metrics):
        row[f"old_{name}"] = None if old is None else old[index]
        row[f"new_{name}"] = None if new is None else new[index]
    return row


def read_level_stats(engine: Engine, advertiser_id: str, since: date, until: date,
                     level: str | None = None) -> pd.DataFrame:
    """Stored level rows of one advertiser for [since, until] (every level unless ``level``)."""
    table = level_stats_daily
    query = sa.select(*(table.c[name] for name in LEVEL_FRAME_COLUMNS)).where(
        table.c.advertiser_id == advertiser_id, table.c.stat_date.between(since, until))
    if level is not None:
        query = query.where(table.c.level == level)
    with engine.connect() as connection:
        frame = pd.DataFrame(connection.execute(query).mappings().all(), columns=LEVEL_FRAME_COLUMNS)
    frame["stat_date"] = pd.to_datetime(frame["stat_date"]).dt.date
    return frame


# Per level, the ad_stats_daily column that names the row's entity there (the advertiser's is its own id).
AD_ROW_KEY = {"campaign": "campaign_id", "adgroup": "adgroup_id", "advertiser": "advertiser_id"}
RECONCILED_METRICS = ("spend", "impressions", "clicks", "conversions")
"""Additive metrics a level total and the sum of its ad rows can be compared on; reach and frequency cannot."""


def ad_row_sums(engine: Engine, advertiser_id: str, dates: Collection[date], level: str) -> pd.DataFrame:
    """``stat_date, entity_id, spend, impressions, clicks, conversions`` summed from ad_stats_daily per entity of
    ``level``, for the dates whose ad-level partition was pulled (an ad row without a known parent sums under
    entity ``None``). Columns ``pulled`` list those dates."""
    from tiktok_assets.warehouse.tables import ad_stats_daily, partition_pulls

    wanted = sorted(set(dates))
    key = ad_stats_daily.c[AD_ROW_KEY[level]]
    query = (
        sa.select(ad_stats_daily.c.stat_date, key.label("entity_id"),
                  *(sa.func.sum(ad_stats_daily.c[name]).label(name) for name in RECONCILED_METRICS))
        .where(ad_stats_daily.c.advertiser_id == advertiser_id, ad_stats_daily.c.stat_date.in_(wanted))
        .group_by(ad_stats_daily.c.stat_date, key)
    )
    pulled = (sa.select(partition_pulls.c.stat_date).distinct()
              .where(partition_pulls.c.table_name == "ad_stats_daily", partition_pulls.c.advertiser_id == advertiser_id,
                     partition_pulls.c.stat_date.in_(wanted)))
    with engine.connect() as connection:
        sums = pd.DataFrame(connection.execute(query).mappings().all(),
                            columns=["stat_date", "entity_id", *RECONCILED_METRICS])
        pulled_dates = {pd.Timestamp(day).date() for day in connection.execute(pulled).scalars()}
    sums["stat_date"] = pd.to_datetime(sums["stat_date"]).dt.date
    sums.attrs["pulled"] = sorted(pulled_dates)
    return sums


def write_lifetime_snapshot(engine: Engine, advertiser_id: str, frame: pd.DataFrame, pulled_at: datetime
                            ) -> dict[str, int]:
    """Append a snapshot row for every entity whose lifetime totals differ from its newest one (or that has none).

    ``frame`` holds :data:`LIFETIME_FRAME_COLUMNS` for one advertiser, any of ad / adgroup / campaign. One
    transaction; re-running with the same totals writes nothing. Returns ``entities``, ``snapshots_written``,
    ``unchanged``.
    """
    pulled_at = naive_utc(pulled_at)
    missing = [name for name in LIFETIME_FRAME_COLUMNS if name not in frame.columns] if not frame.empty else []
    if missing:
        raise WarehouseInputError(f"lifetime_snapshots (advertiser {advertiser_id}): frame is missing column(s) "
                                  f"{', '.join(missing)}.")
    served: dict[tuple[str, str], tuple[Values, str]] = {}
    for row in frame[LIFETIME_FRAME_COLUMNS].to_dict("records") if not frame.empty else []:
        level, entity = row["level"], row["entity_id"]
        if row["advertiser_id"] != advertiser_id:
            raise WarehouseInputError(f"lifetime_snapshots: a row of advertiser {row['advertiser_id']} in advertiser "
                                      f"{advertiser_id}'s snapshot.")
        if level not in LIFETIME_LEVELS or not isinstance(entity, str) or not entity:
            raise WarehouseInputError(f"lifetime_snapshots (advertiser {advertiser_id}): bad row level {level!r}, "
                                      f"entity_id {entity!r}; levels are {', '.join(LIFETIME_LEVELS)}.")
        if (level, entity) in served:
            raise WarehouseInputError(f"lifetime_snapshots (advertiser {advertiser_id}): {level} {entity} twice.")
        served[(level, entity)] = (_canonical(row, LIFETIME_METRICS), str(row["currency"]))
    table = lifetime_snapshots
    with write_transaction(engine) as connection:
        serialise_writers(connection, [f"lifetime_snapshots|{advertiser_id}"])
        newest = (sa.select(table.c.level, table.c.entity_id, sa.func.max(table.c.snapshot_at).label("at"))
                  .where(table.c.advertiser_id == advertiser_id).group_by(table.c.level, table.c.entity_id).subquery())
        latest_rows = connection.execute(
            sa.select(table.c.level, table.c.entity_id, *(table.c[name] for name in LIFETIME_METRICS)).join(
                newest, sa.and_(table.c.level == newest.c.level, table.c.entity_id == newest.c.entity_id,
                                table.c.snapshot_at == newest.c.at))
            .where(table.c.advertiser_id == advertiser_id)
        ).mappings().all()
        latest = {(row["level"], row["entity_id"]): _canonical(row, LIFETIME_METRICS) for row in latest_rows}
        moved = [(key, values, currency) for key, (values, currency) in served.items() if latest.get(key) != values]
        if moved:
            connection.execute(sa.insert(table), [
                {"advertiser_id": advertiser_id, "level": level, "entity_id": entity, "snapshot_at": pulled_at,
                 "currency": currency, **dict(zip(LIFETIME_METRICS, values, strict=True))}
                for (level, entity), values, currency in moved])
    return {"entities": len(served), "snapshots_written": len(moved), "unchanged": len(served) - len(moved)}


def latest_lifetime(engine: Engine, advertiser_id: str) -> pd.DataFrame:
    """Each entity's newest lifetime snapshot (its current lifetime totals) with its ``snapshot_at``."""
    table = lifetime_snapshots
    newest = (sa.select(table.c.level, table.c.entity_id, sa.func.max(table.c.snapshot_at).label("at"))
              .where(table.c.advertiser_id == advertiser_id).group_by(table.c.level, table.c.entity_id).subquery())
    query = sa.select(table).join(newest, sa.and_(table.c.level == newest.c.level,
                                                  table.c.entity_id == newest.c.entity_id,
                                                  table.c.snapshot_at == newest.c.at)).where(
        table.c.advertiser_id == advertiser_id)
    with engine.connect() as connection:
        return pd.DataFrame(connection.execute(query).mappings().all(),
                            columns=[column.name for column in table.columns])


def read_gmv_max_stats(engine: Engine, since: date, until: date, advertiser_id: str | None = None) -> pd.DataFrame:
    """Stored GMV Max rows for [since, until] (:data:`GMV_MAX_FRAME_COLUMNS`), of one advertiser or all."""
    table = gmv_max_stats_daily
    query = sa.select(*(table.c[name] for name in GMV_MAX_FRAME_COLUMNS)).where(table.c.stat_date.between(since, until))
    if advertiser_id is not None:
        query = query.where(table.c.advertiser_id == advertiser_id)
    with engine.connect() as connection:
        frame = pd.DataFrame(connection.execute(query).mappings().all(), columns=GMV_MAX_FRAME_COLUMNS)
    frame["stat_date"] = pd.to_datetime(frame["stat_date"]).dt.date
    return frame
