"""Revision-aware partition writes of ad-level stats.

A partition is (advertiser, local date) of one stats table, and every pull
hands in its complete content. Each pull is written in one transaction, so a
re-run or an overlapping backfill can never leave a partition half-replaced:

* rows not stored yet are inserted (revision 1); on a re-pull they are also
  logged as ``insert_late`` revisions (old values 0);
* rows whose metrics differ (money compared at 6 decimals, NULL reach equal
  to NULL reach) are updated (revision + 1) and logged as ``update``;
* stored rows no longer served are deleted and logged as ``delete`` (new values 0),
  except in *settled* partitions (below);
* unchanged rows are not touched at all: bumping their ``last_pulled_at`` would
  rewrite every row of every re-pulled partition (millions a day in the
  settle window) to record what ``partition_pulls`` already records once per
  partition. A row's ``last_pulled_at`` is therefore the last pull that wrote it;
* one ``partition_pulls`` row records every pull, changed or not.

Summing ``new_m - old_m`` over a partition's revisions gives exactly how far it
drifted from its first pull.

What a vanished row means (our rule). TikTok's reports leave out the rows of
deleted ads unless a status filter asks for them (its Reporting FAQ:
``ad_status`` defaults to ``STATUS_NOT_DELETE``), and a report can come back
short for reasons that say nothing about the figures (a permission change, a
filter a caller forgot). TikTok documents no way for delivered, billed spend of
a settled day to disappear; it revises numbers. So a missing row of a settled
day is read as "not listed", never as "spend gone". The caller names the
partitions it considers settled (``settled=``, the re-pull planner's rule) and
there:

* a stored row missing from the new pull is **kept** as it was (values,
  revision and ``last_pulled_at`` untouched, so the row shows when it was last
  served), counted in ``PartitionWrite.vanished_kept`` and in
  ``partition_pulls.rows_vanished_kept``, and never logged as a revision: a
  settled figure is never lowered by a row going missing;
* rows that are served are compared, updated and inserted as usual: a real
  correction of a settled day is still applied and logged;
* the data version and the ``*_after`` totals describe what is stored after
  the write, kept rows included.

Outside ``settled`` (days still moving) a vanished row stays a logged
``delete`` revision: the stored figures follow what TikTok serves now, and the
revision log keeps what the row held, so nothing is lost silently either way.

Intraday partitions. A day not yet over in the advertiser's report zone only
grows: the caller names such partitions (``intraday=``) and their pulls write
rows as usual (the table shows the day so far) but log no revision, and their
``partition_pulls`` row says ``intraday``. A day's revision history starts at
its first pull after it closed: that pull is the baseline, so its differences
from the intraday content are not logged either; later pulls are compared with
it as above. A partition cannot be both settled and intraday.

Partitions never pulled before and holding no rows (every backfill) skip the
comparison and are bulk-loaded straight into the table (COPY on PostgreSQL).
The others are loaded into a temporary table and merged with set-based SQL.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tiktok_assets.warehouse.bulk import bulk_insert
from tiktok_assets.warehouse.engine import serialise_writers, threads_share_the_database, write_transaction
from tiktok_assets.warehouse.errors import WarehouseInputError
from tiktok_assets.warehouse.frames import (
    PartitionKey,
    PartitionContent,
    PreparedBatch,
    check_frame_shape,
    partition_key,
    prepare_stats_batch,
)
from tiktok_assets.warehouse.tables import (
    BOOKKEEPING_COLUMNS,
    METRIC_COLUMNS,
    MONEY_DECIMALS,
    compared_metrics,
    frame_columns,
    naive_utc,
    partition_pulls,
    stats_revisions,
    stats_table,
)

StatsTableName = Literal["ad_stats_daily", "ad_stats_hourly"]
DEFAULT_ROWS_PER_TRANSACTION = 500_000
# Keeps the per-partition filters of one statement well under SQLite's 32,766 parameters.
MAX_PARTITIONS_PER_TRANSACTION = 2_000


@dataclass(frozen=True)
class PartitionWrite:
    """What one pull of one partition did."""

    table: str
    advertiser_id: str
    stat_date: date
    pulled_at: datetime
    rows_served: int
    inserted: int
    updated: int
    deleted: int
    unchanged: int
    first_pull: bool
    spend_before: float
    spend_after: float
    conversions_before: int
    conversions_after: int
    purchase_value_before: float
    purchase_value_after: float
    data_version: str
    """Digest of the partition's content (row keys and metrics) once written; equal content, equal version."""
    changed: bool
    """True when any row was inserted, updated or deleted."""
    app_purchase_value_before: float = 0.0
    app_purchase_value_after: float = 0.0
    vanished_kept: int = 0
    """Stored rows of a settled partition this pull did not serve, kept unchanged (see the module docstring)."""
    intraday: bool = False
    """The pull was of a day not yet over: rows written, no revision logged (see the module docstring)."""


def write_stats_partition(
    engine: Engine,
    table: StatsTableName,
    advertiser_id: str,
    stat_date: date,
    frame: pd.DataFrame,
    pulled_at: datetime,
    *,
    settled: bool = False,
    intraday: bool = False,
) -> PartitionWrite:
    """Write the complete content of one partition as served now, in one transaction.

    ``frame`` holds the table's columns except the bookkeeping ones. Bad input
    raises ``WarehouseInputError`` and writes nothing. ``settled``: the
    partition is settled, so stored rows the pull lacks are kept; ``intraday``:
    the day is not over, so no revision is logged (module docstring).
    """
    key = (advertiser_id, stat_date)
    (write,) = write_stats_partitions(engine, table, {key: frame}, pulled_at, settled=[key] if settled else (),
                                      intraday=[key] if intraday else ()).values()
    return write


def write_stats_partitions(
    engine: Engine,
    table: StatsTableName,
    frames_by_partition: Mapping[tuple[str, date], pd.DataFrame],
    pulled_at: datetime,
    *,
    settled: Collection[tuple[str, date]] = (),
    intraday: Collection[tuple[str, date]] = (),
    rows_per_transaction: int = DEFAULT_ROWS_PER_TRANSACTION,
    parallel_transactions: int = 2,
) -> dict[PartitionKey, PartitionWrite]:
    """Write many partitions (a backfill) with the semantics of ``write_stats_partition``.

    Partitions are written in transactions of about ``rows_per_transaction``
    rows, so memory stays flat however long the backfill; a partition is never
    split across transactions. Up to ``parallel_transactions`` run at once:
    one checks and formats its rows while the database ingests another's.
    Every frame's columns are checked before anything is written;
    should a frame's values be rejected later, the other transactions'
    partitions stay written, each one complete, and the error says how many.
    ``settled`` names the (advertiser_id, stat_date) partitions whose stored
    rows are kept when a pull no longer serves them (module docstring); keys
    not in this batch are ignored. ``intraday`` names the partitions of days
    not over yet: written, no revision logged, their pull marked intraday.
    Returns the writes in the caller's order.
    """
    target = stats_table(table)
    pulled_at = naive_utc(pulled_at)
    settled_keys = frozenset(partition_key(target, key) for key in settled)
    intraday_keys = frozenset(partition_key(target, key) for key in intraday)
    both = sorted(settled_keys & intraday_keys)
    if both:
        raise WarehouseInputError(
            f"{both[0].describe(target.name)} is passed as settled and as intraday: a day not over cannot be settled."
        )
    marks = _Marks(settled_keys, intraday_keys)
    # Cheap shape checks first, so a wrong frame fails before the first commit.
    for key, frame in frames_by_partition.items():
        check_frame_shape(target, key, frame)
    chunks = _chunks(frames_by_partition, rows_per_transaction)
    # One transaction is checked and formatted while the database ingests
    # another (PostgreSQL 154k vs 90k rows/s measured; SQLite, which still
    # writes one at a time, gains the overlap).
    parallel = parallel_transactions > 1 and len(chunks) > 1 and threads_share_the_database(engine)
    if parallel:
        results = _write_chunks_in_parallel(engine, target, chunks, pulled_at, marks, parallel_transactions)
    else:
        results = []
        for chunk in chunks:
            try:
                results.append(_write_chunk(engine, target, chunk, pulled_at, marks))
            except WarehouseInputError as exc:
                raise _with_written_count(exc, results) from None
    by_key = {PartitionKey(write.advertiser_id, write.stat_date): write for writes in results for write in writes}
    return {key: by_key[key] for key in (partition_key(target, pair) for pair in frames_by_partition)}


@dataclass(frozen=True)
class _Marks:
    """What the caller says about some partitions of the write."""

    settled: frozenset[PartitionKey] = frozenset()
    intraday: frozenset[PartitionKey] = frozenset()


def _write_chunk(engine: Engine, table: sa.Table, chunk: Mapping[tuple[str, date], pd.DataFrame],
                 pulled_at: datetime, marks: _Marks) -> list[PartitionWrite]:
    batch = prepare_stats_batch(table, chunk)
    with write_transaction(engine) as connection:
        return _write_batch(connection, batch, pulled_at, marks)


def _write_chunks_in_parallel(engine: Engine, table: sa.Table, chunks: list[dict[tuple[str, date], pd.DataFrame]],
                              pulled_at: datetime, marks: _Marks, workers: int) -> list[list[PartitionWrite]]:
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="warehouse-write") as pool:
        futures = [pool.submit(_write_chunk, engine, table, chunk, pulled_at, marks) for chunk in chunks]
        for future in futures:
            if future.exception() is not None:
                # Stop what has not started; the running ones finish when the pool closes.
                for pending in futures:
                    pending.cancel()
                break
    finished = [future for future in futures if not future.cancelled()]
    results = [future.result() for future in finished if future.exception() is None]
    errors = [future.exception() for future in finished if future.exception() is not None]
    if errors:
        error = errors[0]
        raise _with_written_count(error, results) if isinstance(error, WarehouseInputError) else error
    return results


def _with_written_count(error: WarehouseInputError, results: list[list[PartitionWrite]]) -> WarehouseInputError:
    written = sum(len(writes) for writes in results)
    if not written:
        return error
    return WarehouseInputError(
        f"{error} Partitions of this batch written by other transactions: {written} (each complete); "
        "fix the frame and re-run the batch: re-writing them is a no-op."
    )


def _chunks(frames: Mapping[tuple[str, date], pd.DataFrame], max_rows: int
            ) -> list[dict[tuple[str, date], pd.DataFrame]]:
    chunks: list[dict[tuple[str, date], pd.DataFrame]] = []
    current: dict[tuple[str, date], pd.DataFrame] = {}
    rows = 0
    for key, frame in frames.items():
        if current and (rows + len(frame) > max_rows or len(current) >= MAX_PARTITIONS_PER_TRANSACTION):
            chunks.append(current)
            current, rows = {}, 0
        current[key] = frame
        rows += len(frame)
    if current or not chunks:
        chunks.append(current)
    return chunks


@dataclass(frozen=True)
class _Stored:
    rows: int = 0
    spend: float = 0.0
    conversions: int = 0
    purchase_value: float = 0.0
    app_purchase_value: float = 0.0


def _write_batch(connection: Connection, batch: PreparedBatch, pulled_at: datetime,
                 marks: _Marks = _Marks()) -> list[PartitionWrite]:
    table = batch.table
    keys = list(batch.content)
    if not keys:
        return []
    # Two runs writing the same partition at once (an hourly sync overlapping
    # a settle re-pull) would both see "not stored yet" and collide on insert.
    serialise_writers(connection, (f"{table.name}|{key.advertiser_id}|{key.stat_date}" for key in keys))
    stored = _stored_totals(connection, table, keys)
    pulled_before, closed_before = _pulled_before(connection, table.name, keys)
    fresh = np.array([key not in pulled_before and key not in stored for key in keys], dtype=bool)
    # No revision is logged for a day not over, nor for the first pull after it closed (the baseline).
    untracked = {key for key in keys if key in marks.intraday or (key in pulled_before and key not in closed_before)}
    fresh_rows = fresh[batch.row_partition]
    counts: dict[PartitionKey, dict[str, int]] = {}
    kept: dict[PartitionKey, PartitionContent] = {}
    if fresh_rows.any():
        bulk_insert(connection, table, _with_bookkeeping(batch.rows[fresh_rows], pulled_at))
    for key, is_fresh in zip(keys, fresh, strict=True):
        if is_fresh:
            counts[key] = {"insert": batch.content[key].rows}
    merged = [key for key, is_fresh in zip(keys, fresh, strict=True) if not is_fresh]
    if merged:
        served = {key: batch.content[key].rows for key in merged}
        merged_counts, kept = _merge(connection, batch, ~fresh_rows, served, stored, pulled_before - untracked,
                                     untracked, marks.settled, pulled_at)
        counts.update(merged_counts)
    writes = [_partition_write(table.name, key, batch.content[key].rows, kept.get(key, batch.content[key]),
                               stored.get(key, _Stored()), counts.get(key, {}), first_pull=key not in pulled_before,
                               intraday=key in marks.intraday, pulled_at=pulled_at)
              for key in keys]
    connection.execute(sa.insert(partition_pulls), [_pull_row(write) for write in writes])
    return writes


def _in_partitions(table: sa.Table, keys: list[PartitionKey]) -> sa.ColumnElement[bool]:
    # One (advertiser = x AND stat_date IN (...)) per advertiser: both databases
    # answer it from the (advertiser_id, stat_date) index, and it keeps every
    # statement of the merge off the rest of a table of millions of rows.
    dates: dict[str, list[date]] = defaultdict(list)
    for key in keys:
        dates[key.advertiser_id].append(key.stat_date)
    return sa.or_(*(sa.and_(table.c.advertiser_id == advertiser_id, table.c.stat_date.in_(days))
                    for advertiser_id, days in dates.items()))


def _stored_totals(connection: Connection, table: sa.Table, keys: list[PartitionKey]) -> dict[PartitionKey, _Stored]:
    """Row count and totals of the partitions that hold rows."""
    query = (
        sa.select(
            table.c.advertiser_id, table.c.stat_date, sa.func.count(),
            sa.func.sum(table.c.spend), sa.func.sum(table.c.conversions), sa.func.sum(table.c.purchase_value),
            sa.func.sum(table.c.app_purchase_value),
        )
        .where(_in_partitions(table, keys))
        .group_by(table.c.advertiser_id, table.c.stat_date)
    )
    return {
        PartitionKey(advertiser_id, stat_date): _Stored(rows, round(spend or 0.0, MONEY_DECIMALS), int(conversions or 0),
                                                        round(purchase_value or 0.0, MONEY_DECIMALS),
                                                        round(app_value or 0.0, MONEY_DECIMALS))
        for advertiser_id, stat_date, rows, spend, conversions, purchase_value, app_value in connection.execute(query)
    }


def _pulled_before(connection: Connection, table_name: str, keys: list[PartitionKey]
                   ) -> tuple[set[PartitionKey], set[PartitionKey]]:
    """Partitions pulled before at all, and those pulled before after their day closed (not intraday)."""
    query = (
        sa.select(partition_pulls.c.advertiser_id, partition_pulls.c.stat_date, partition_pulls.c.intraday)
        .where(partition_pulls.c.table_name == table_name, _in_partitions(partition_pulls, keys))
        .distinct()
    )
    pulled, closed = set(), set()
    for advertiser_id, stat_date, intraday in connection.execute(query):
        key = PartitionKey(advertiser_id, stat_date)
        pulled.add(key)
        if not intraday:
            closed.add(key)
    return pulled, closed


def _with_bookkeeping(rows: pd.DataFrame, pulled_at: datetime) -> pd.DataFrame:
    moment = pd.Timestamp(pulled_at)
    return rows.assign(first_pulled_at=moment, last_pulled_at=moment, last_changed_at=moment, revision=1)


def _incoming_table(table: sa.Table, *, keyed: bool) -> sa.Table:
    """A temporary table for the served rows of the partitions being merged."""
    return sa.Table(
        f"incoming_{table.name}",
        sa.MetaData(),
        *(sa.Column(column.name, column.type, primary_key=keyed and column.primary_key)
          for column in table.columns if column.name not in BOOKKEEPING_COLUMNS),
        # same | update | insert | delete: what the merge does with the row.
        sa.Column("status", sa.String(8), nullable=False, server_default="same"),
        prefixes=["TEMPORARY"],
    )


def _merge(connection: Connection, batch: PreparedBatch, picked: np.ndarray, served: Mapping[PartitionKey, int],
           stored: Mapping[PartitionKey, _Stored], pulled_before: set[PartitionKey], untracked: set[PartitionKey],
           settled: frozenset[PartitionKey], pulled_at: datetime
           ) -> tuple[dict[PartitionKey, dict[str, int]], dict[PartitionKey, PartitionContent]]:
    """Compare served rows with stored ones and apply the differences, logging each as a revision.

    ``picked`` selects the batch rows of the partitions in ``served``. Every
    statement is confined to the batch's partitions, and only changed rows are
    ever written: a re-pull costs what its partitions hold, not what the table
    holds. ``pulled_before``: partitions whose new rows arrived late;
    ``untracked``: partitions whose changes are not logged (intraday, baseline).
    Returns the counts per partition and, for settled partitions that kept
    vanished rows, the content of what they hold now.
    """
    table = batch.table
    rows = batch.rows[picked]
    keys = list(served)
    postgres = connection.dialect.name == "postgresql"
    # SQLite joins by nested loops only: it needs the key index on the
    # temporary table. PostgreSQL is told to hash-join instead (below), where
    # the index would only slow the COPY down.
    incoming = _incoming_table(table, keyed=not postgres)
    # Created and dropped inside the transaction: a rollback removes it too.
    incoming.create(connection)
    bulk_insert(connection, incoming, rows)
    if postgres:
        # Right after a backfill the planner's statistics still describe an
        # empty table, and it probes the temporary table once per stored row
        # (1.3 s for a week of hourly rows, measured); hash joins over the
        # batch's partitions take a tenth of that whatever the statistics say.
        connection.exec_driver_sql(f"ANALYZE {incoming.name}")
        connection.exec_driver_sql("SET LOCAL enable_nestloop = off")
    same_key = sa.and_(*(incoming.c[column.name] == column for column in table.primary_key.columns))
    # The stored row of an incoming row. PostgreSQL hash-joins, so the stored
    # side is confined to the batch's partitions. SQLite loops over the
    # incoming rows and looks each up by primary key; offered the partition
    # index as well, it walks every row of the advertiser instead (5 s for a
    # week against 3 million rows, measured).
    stored_match = sa.and_(same_key, _in_partitions(table, keys)) if postgres else same_key
    differs = sa.or_(*(incoming.c[name].is_distinct_from(table.c[name]) for name in compared_metrics(table)))
    connection.execute(sa.update(incoming).where(stored_match, differs).values(status="update"))
    connection.execute(sa.update(incoming).where(~sa.exists().where(stored_match)).values(status="insert"))
    counts = _count_changes(connection, incoming)
    # A stored row that was not served matched no served row.
    missing = {key: stored.get(key, _Stored()).rows - (served[key] - counts[key].get("insert", 0)) for key in keys}
    vanished = [key for key in keys if missing[key] > 0 and key not in settled]
    kept_content = {}
    kept = [key for key in keys if missing[key] > 0 and key in settled]
    if kept:
        kept_content = _content_with_kept_rows(connection, batch, incoming, same_key, kept)
    if vanished:
        _add_vanished_rows(connection, table, incoming, same_key, vanished)
        counts = _count_changes(connection, incoming)
    for key in kept:
        counts[key]["kept"] = missing[key]
    for key in keys:
        counts[key]["same"] = served[key] - counts[key].get("insert", 0) - counts[key].get("update", 0)
    changes = Counter()
    for by_status in counts.values():
        changes.update(by_status)
    late = [key for key in keys if key in pulled_before]
    tracked_changes = any(key not in untracked for key in keys) and (changes["update"] or changes["delete"])
    if tracked_changes or (changes["insert"] and late):
        _log_revisions(connection, table, incoming, stored_match, late, sorted(untracked & set(keys)), pulled_at)
    if changes["delete"]:
        connection.execute(sa.delete(table).where(
            _in_partitions(table, vanished), sa.exists().where(same_key, incoming.c.status == "delete")
        ))
    if changes["update"]:
        _apply_updates(connection, table, incoming, stored_match, pulled_at)
    if changes["insert"]:
        columns = frame_columns(table)
        connection.execute(sa.insert(table).from_select(
            [*columns, "first_pulled_at", "last_pulled_at", "last_changed_at", "revision"],
            sa.select(*(incoming.c[name] for name in columns), *(_at(pulled_at) for _ in range(3)), sa.literal(1))
            .where(incoming.c.status == "insert"),
        ))
    if postgres:
        connection.exec_driver_sql("RESET enable_nestloop")
    incoming.drop(connection)
    return counts, kept_content


def _count_changes(connection: Connection, incoming: sa.Table) -> defaultdict[PartitionKey, dict[str, int]]:
    """Rows to insert, update or delete per partition (unchanged ones are the rest, not counted here)."""
    counted = connection.execute(
        sa.select(incoming.c.advertiser_id, incoming.c.stat_date, incoming.c.status, sa.func.count())
        .where(incoming.c.status != "same")
        .group_by(incoming.c.advertiser_id, incoming.c.stat_date, incoming.c.status)
    )
    counts: defaultdict[PartitionKey, dict[str, int]] = defaultdict(dict)
    for advertiser_id, stat_date, status, count in counted:
        counts[PartitionKey(advertiser_id, stat_date)][status] = count
    return counts


def _at(moment: datetime) -> sa.BindParameter:
    return sa.literal(moment, sa.DateTime)


def _content_with_kept_rows(connection: Connection, batch: PreparedBatch, incoming: sa.Table,
                            same_key: sa.ColumnElement[bool], partitions: list[PartitionKey]
                            ) -> dict[PartitionKey, PartitionContent]:
    """What settled partitions hold once their stored-but-not-served rows are kept: served rows plus those.

    Runs only for partitions that lost rows, so the per-partition work here is
    off the hot path.
    """
    table = batch.table
    columns = frame_columns(table)
    query = sa.select(*(table.c[name] for name in columns)).where(
        _in_partitions(table, partitions), ~sa.exists().where(same_key))
    kept = pd.DataFrame(connection.execute(query).all(), columns=columns)
    kept["stat_date"] = pd.to_datetime(kept["stat_date"])
    positions = {key: index for index, key in enumerate(batch.content)}
    kept_by_key = {PartitionKey(advertiser_id, pd.Timestamp(day).date()): rows
                   for (advertiser_id, day), rows in kept.groupby(["advertiser_id", "stat_date"], sort=False)}
    combined = {key: pd.concat([batch.rows[batch.row_partition == positions[key]], kept_by_key[key]],
                               ignore_index=True)
                for key in partitions}
    # One normalisation and fingerprint pass for all of them, as for the served batch.
    return prepare_stats_batch(table, combined).content


def _add_vanished_rows(connection: Connection, table: sa.Table, incoming: sa.Table,
                       same_key: sa.ColumnElement[bool], partitions: list[PartitionKey]) -> None:
    """Stored rows that were not served join the incoming rows as 'delete', with metrics 0."""
    copied = [column.name for column in incoming.columns
              if column.name in table.c and column.name not in compared_metrics(table)]
    connection.execute(sa.insert(incoming).from_select(
        [*copied, *METRIC_COLUMNS, "status"],
        sa.select(*(table.c[name] for name in copied), *(sa.literal(0) for _ in METRIC_COLUMNS), sa.literal("delete"))
        .where(_in_partitions(table, partitions), ~sa.exists().where(same_key)),
    ))


def _log_revisions(connection: Connection, table: sa.Table, incoming: sa.Table, stored_match: sa.ColumnElement[bool],
                   pulled_before: list[PartitionKey], untracked: list[PartitionKey], pulled_at: datetime) -> None:
    """One revision row per updated, deleted or late-inserted row, with old and new metrics (none in ``untracked``)."""
    stat_time = incoming.c.stat_hour_utc if "stat_hour_utc" in incoming.c else _midnight(connection, incoming.c.stat_date)
    old_new = []
    for name in METRIC_COLUMNS:
        old_new += [sa.func.coalesce(table.c[name], 0), incoming.c[name]]
    reach = [table.c.reach, incoming.c.reach] if "reach" in table.c else [sa.null(), sa.null()]
    logged_statuses = incoming.c.status.in_(("update", "delete"))
    if untracked:
        logged_statuses = sa.and_(logged_statuses, ~_in_partitions(incoming, untracked))
    if pulled_before:
        # Rows new to a partition that was already written arrived late.
        logged_statuses = sa.or_(logged_statuses,
                                 sa.and_(incoming.c.status == "insert", _in_partitions(incoming, pulled_before)))
    logged = (
        sa.select(
            sa.literal(table.name), incoming.c.advertiser_id, incoming.c.ad_id, incoming.c.stat_date, stat_time,
            sa.func.coalesce(table.c.revision, 0) + 1, _at(pulled_at),
            sa.case((incoming.c.status == "insert", "insert_late"), else_=incoming.c.status),
            *old_new, *reach,
        )
        .select_from(incoming.outerjoin(table, stored_match))
        .where(logged_statuses)
    )
    names = ["table_name", "advertiser_id", "ad_id", "stat_date", "stat_time", "revision", "pulled_at", "change_kind"]
    names += [f"{prefix}_{name}" for name in METRIC_COLUMNS for prefix in ("old", "new")]
    names += ["old_reach", "new_reach"]
    connection.execute(sa.insert(stats_revisions).from_select(names, logged))


def _apply_updates(connection: Connection, table: sa.Table, incoming: sa.Table,
                   stored_match: sa.ColumnElement[bool], pulled_at: datetime) -> None:
    # Parents are sticky: a deleted ad drops out of /ad/get/, so later pulls
    # serve its rows with unknown campaign and ad group; keep the ones we knew.
    parents = {name: sa.func.coalesce(incoming.c[name], table.c[name]) for name in ("campaign_id", "adgroup_id")}
    # Neither the key nor stat_date (the partition) changes; leaving them out
    # spares SQLite rewriting index entries of every updated row.
    served = {name: incoming.c[name] for name in frame_columns(table)
              if name not in table.primary_key.columns and name not in parents and name != "stat_date"}
    connection.execute(
        sa.update(table)
        .where(stored_match, incoming.c.status == "update")
        .values(**served, **parents, revision=table.c.revision + 1, last_pulled_at=pulled_at, last_changed_at=pulled_at)
    )


def _midnight(connection: Connection, day: sa.ColumnElement) -> sa.ColumnElement:
    if connection.dialect.name == "sqlite":
        # SQLite keeps dates as 'YYYY-MM-DD' text; CAST(... AS DATETIME) would turn it into a number.
        return sa.type_coerce(sa.type_coerce(day, sa.String).concat(" 00:00:00.000000"), sa.DateTime)
    return sa.cast(day, sa.DateTime)


def _partition_write(table_name: str, key: PartitionKey, rows_served: int, content: PartitionContent,
                     stored: _Stored, counts: Mapping[str, int], *, first_pull: bool, intraday: bool,
                     pulled_at: datetime) -> PartitionWrite:
    """``content`` is what the partition holds after the write: the served rows, plus any kept ones."""
    inserted, updated, deleted = counts.get("insert", 0), counts.get("update", 0), counts.get("delete", 0)
    return PartitionWrite(
        table=table_name,
        advertiser_id=key.advertiser_id,
        stat_date=key.stat_date,
        pulled_at=pulled_at,
        rows_served=rows_served,
        inserted=inserted,
        updated=updated,
        deleted=deleted,
        unchanged=counts.get("same", 0),
        first_pull=first_pull,
        spend_before=stored.spend,
        spend_after=content.spend,
        conversions_before=stored.conversions,
        conversions_after=content.conversions,
        purchase_value_before=stored.purchase_value,
        purchase_value_after=content.purchase_value,
        data_version=content.data_version,
        changed=bool(inserted or updated or deleted),
        app_purchase_value_before=stored.app_purchase_value,
        app_purchase_value_after=content.app_purchase_value,
        vanished_kept=counts.get("kept", 0),
        intraday=intraday,
    )


def _pull_row(write: PartitionWrite) -> dict[str, object]:
    return {
        "table_name": write.table,
        "advertiser_id": write.advertiser_id,
        "stat_date": write.stat_date,
        "pulled_at": write.pulled_at,
        "rows_served": write.rows_served,
        "rows_inserted": write.inserted,
        "rows_updated": write.updated,
        "rows_deleted": write.deleted,
        "rows_unchanged": write.unchanged,
        "rows_vanished_kept": write.vanished_kept,
        "intraday": write.intraday,
        "spend_before": write.spend_before,
        "spend_after": write.spend_after,
        "conversions_before": write.conversions_before,
        "conversions_after": write.conversions_after,
        "purchase_value_before": write.purchase_value_before,
        "purchase_value_after": write.purchase_value_after,
        "app_purchase_value_before": write.app_purchase_value_before,
        "app_purchase_value_after": write.app_purchase_value_after,
        "data_version": write.data_version,
        "changed": write.changed,
    }
