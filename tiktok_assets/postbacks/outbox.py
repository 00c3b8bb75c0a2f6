"""The outbox: mapped TikTok events waiting for delivery, and what became of them (no Dagster import).

Enqueueing is idempotent: a row's key is what TikTok deduplicates on
(event_source, event_source_id, event, event_id), stable across re-runs
(:attr:`~tiktok_assets.postbacks.payloads.TikTokEvent.dedup_key`), and a key
already queued is left alone whatever its state. Re-running the mapping for an
hour therefore queues nothing new, and an accepted event is never queued again.
"""

from __future__ import annotations

import math
import multiprocessing
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import numpy as np
import orjson
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from tiktok_assets.garbage_collector import gc_paused
from tiktok_assets.postbacks.delivery import TIKTOK_MAX_EVENT_AGE
from tiktok_assets.postbacks.events import LATEST_EVENT_TIME
from tiktok_assets.postbacks.mapping import MappingConfig
from tiktok_assets.postbacks.payloads import TikTokEvent, build_all_tiktok_events
from tiktok_assets.postbacks.pii import PiiHasher
from tiktok_assets.postbacks.store import (
    column_types,
    first_party_events,
    in_loads,
    in_open_batch,
    insert_ignoring,
    LoadSelection,
    first_party_loads,
    ids_in,
    mark_loads_mapped,
    postback_batches,
    postback_dead_letters,
    postback_order_duplicates,
    postback_orders,
    postback_outbox,
    postback_payloads,
    postback_queue,
    queue_columns_from,
    queue_pending_rows,
    read_events,
    staged,
    unmapped_loads,
    utc_naive,
)
from tiktok_assets.warehouse.engine import make_engine, threads_share_the_database, write_transaction
from tiktok_assets.warehouse.pgbinary import id_text_stream

OUTBOX_KEY = ("event_source_id", "event", "event_id", "event_source")
ORDER_KEY = ("event_source_id", "event", "order_id", "event_source")
# Frame columns that only steer the enqueue: no outbox column holds them.
_ORDER_COLUMNS = ("order_id", "order_first")
UNDELIVERED_STATES = ("pending", "sending")
# A window is mapped this many first-party events at a time: memory stays flat
# whatever the window holds (about 1.5 KB of Python objects per event in flight).
EVENTS_PER_SLICE = 50_000


def _encode(data: dict) -> str:
    # Compact, and non-ASCII kept as is: payloads are stored once and sent as they are.
    return orjson.dumps(data).decode()


@dataclass(frozen=True)
class Enqueued:
    """What one enqueue did."""

    queued: int
    """New outbox rows."""
    already_queued: int
    """TikTok events whose key was queued before (a re-run): left as they were."""
    duplicate_orders: int = 0
    """TikTok events not queued because their order (same destination, event name and order_id) was queued
    under another event_id: one order, one Purchase."""
    out_of_bounds: int = 0
    """TikTok events dead-lettered unsent as they were queued: outside the sanity bounds (a value of 1e20...)."""


@dataclass(frozen=True)
class MappedWindow:
    """What mapping and enqueueing one time window did."""

    first_party_events: int
    tiktok_events: int
    enqueued: Enqueued
    unmapped_events: int
    """First-party events the mapping sends nowhere (e.g. app ``Session``, or a disabled source)."""
    pii_dropped: dict[str, int] = field(default_factory=dict)
    """Identity values that could not be normalised, by reason; dropped from the payload, never sent raw."""
    match_keys: dict[tuple[str, str, str], tuple[int, ...]] = field(default_factory=dict)
    """Per (event_source, event_source_id, TikTok event): events mapped, then how many carry each of
    :data:`MATCH_KEYS`: what TikTok can match a person on (the proxy for its event match quality)."""


MATCH_KEYS = ("email", "phone", "external_id", "ttclid", "ip_user_agent")


def _match_keys(tiktok_events: Sequence[TikTokEvent]) -> dict[tuple[str, str, str], tuple[int, ...]]:
    # One tuple per event, counted in C: the same identity dict serves every TikTok event of a first-party one.
    seen = Counter(
        (event.destination.event_source, event.destination.event_source_id, event.event,
         "email" in (user := event.data.get("user") or {}), "phone" in user, "external_id" in user,
         "ttclid" in user, "ip" in user and "user_agent" in user)
        for event in tiktok_events
    )
    totals: dict[tuple[str, str, str], list[int]] = {}
    for (source, source_id, name, *flags), count in seen.items():
        row = totals.setdefault((source, source_id, name), [0] * (1 + len(MATCH_KEYS)))
        row[0] += count
        for position, flag in enumerate(flags, start=1):
            row[position] += count * flag
    return {key: tuple(row) for key, row in totals.items()}


def _merged_match_keys(results: Sequence["MappedWindow"]) -> dict[tuple[str, str, str], tuple[int, ...]]:
    merged: dict[tuple[str, str, str], list[int]] = {}
    for result in results:
        for key, counts in result.match_keys.items():
            row = merged.setdefault(key, [0] * len(counts))
            for position, count in enumerate(counts):
                row[position] += count
    return {key: tuple(row) for key, row in sorted(merged.items())}


def match_key_coverage(mapped: MappedWindow) -> pd.DataFrame:
    """Per destination and TikTok event: events mapped, and the share of them carrying each match key."""
    rows = [{"destination": f"{source} {source_id}", "event": name, "events": counts[0],
             **{key: counts[position] / counts[0] for position, key in enumerate(MATCH_KEYS, start=1)}}
            for (source, source_id, name), counts in mapped.match_keys.items() if counts[0]]
    return pd.DataFrame(rows, columns=["destination", "event", "events", *MATCH_KEYS])


def _order_columns(tiktok_events: Sequence[TikTokEvent]) -> tuple[list[str | None], list[int]]:
    """Each event's ``properties.order_id`` (None when it has none), and 1 where it is the first event of its order
    in ``tiktok_events`` (or shares the first one's event_id): the one that may claim the order."""
    order_ids: list[str | None] = []
    firsts: list[int] = []
    first_ids: dict[tuple[str, str, str, str], str] = {}
    for event in tiktok_events:
        order_id = event.data.get("properties", {}).get("order_id")
        order_ids.append(order_id)
        if order_id is None:
            firsts.append(0)
            continue
        destination = event.destination
        key = (destination.event_source_id, event.event, order_id, destination.event_source)
        firsts.append(int(first_ids.setdefault(key, event.event_id) == event.event_id))
    return order_ids, firsts


def outbox_frame(tiktok_events: Sequence[TikTokEvent], queued_at: datetime) -> pd.DataFrame:
    """Outbox rows (state pending) for ``tiktok_events``; the payload is the JSON of each data item.

    Two more columns steer the enqueue (:data:`_ORDER_COLUMNS`): ``order_id``, and ``order_first``.
    """
    count = len(tiktok_events)
    with gc_paused():
        destinations = [event.destination for event in tiktok_events]
        order_ids, order_firsts = _order_columns(tiktok_events)
        frame = pd.DataFrame(
            {
                "event_source": np.array([destination.event_source for destination in destinations], dtype=object),
                "event_source_id": np.array([destination.event_source_id for destination in destinations], dtype=object),
                "test_event_code": np.array([destination.test_event_code for destination in destinations], dtype=object),
                "event": np.array([event.event for event in tiktok_events], dtype=object),
                "event_id": np.array([event.event_id for event in tiktok_events], dtype=object),
                "source_event_id": np.array([event.source_event_id for event in tiktok_events], dtype=object),
                "event_time": pd.to_datetime(
                    np.fromiter((event.data["event_time"] for event in tiktok_events), dtype=np.int64, count=count), unit="s"
                ),
                "payload": np.array([_encode(event.data) for event in tiktok_events], dtype=object),
                "order_id": np.array(order_ids, dtype=object),
                "order_first": np.array(order_firsts, dtype=np.int64),
            },
            index=pd.RangeIndex(count),
        )
    frame["state"] = "pending"
    frame["attempts"] = np.zeros(count, dtype=np.int64)
    frame["first_queued_at"] = np.datetime64(utc_naive(queued_at), "us")
    return frame


def enqueue(engine: Engine, tiktok_events: Sequence[TikTokEvent], *, now: datetime | None = None) -> Enqueued:
    """Queue ``tiktok_events`` for delivery; keys already in the outbox are skipped (``ON CONFLICT DO NOTHING``).

    An event with an ``order_id`` is queued only if its order (destination, TikTok event, order_id) was
    not queued before under another event_id: TikTok deduplicates on name and event_id only, so the same
    order loaded twice under two ids would count twice. The first one queued keeps the order (in
    ``tiktok_events``, the first in order); the others are recorded in ``postback_order_duplicates``.
    """
    now = now or datetime.now(UTC)
    refused = [event for event in tiktok_events if event.problem is not None]
    out_of_bounds = already_dead = 0
    if refused:
        tiktok_events = [event for event in tiktok_events if event.problem is None]
        out_of_bounds = _dead_on_arrival(engine, refused, now)
        already_dead = len(refused) - out_of_bounds
    if not tiktok_events:
        return Enqueued(0, already_dead, 0, out_of_bounds)
    frame = outbox_frame(tiktok_events, now)
    outbox = postback_outbox
    columns = [name for name in frame.columns if name not in ("payload", *_ORDER_COLUMNS)]
    types = {**column_types(outbox, postback_payloads), "order_id": sa.String(), "order_first": sa.Integer()}
    has_orders = bool(frame["order_id"].notna().any())
    with write_transaction(engine) as connection:
        if connection.dialect.name == "postgresql":
            _plan_for_bulk(connection)
            # Each row gets its outbox id before it is staged: the insert returns the ids it queued, and the
            # payloads of exactly those go straight into postback_payloads by COPY. Staged with the rows, the
            # payloads (most of a slice's bytes) were written to the temporary table, read back and hash-joined
            # to the returned ids: a fifth of the enqueue's server time (measured). A staged row the insert
            # skips (queued before) just leaves its id unused.
            frame["outbox_id"] = _new_outbox_ids(connection, len(frame))
            columns = ["outbox_id", *columns]
            types["outbox_id"] = sa.BigInteger()
            with staged(connection, frame.drop(columns="payload"), types) as staging:
                queued, duplicates = _enqueue_staged(connection, staging, columns, has_orders, now, payloads=frame)
        else:
            with staged(connection, frame, types) as staging:
                queued, duplicates = _enqueue_staged(connection, staging, columns, has_orders, now)
    return Enqueued(queued, len(frame) - queued - duplicates + already_dead, duplicates, out_of_bounds)


def _new_outbox_ids(connection: sa.Connection, count: int) -> np.ndarray:
    """``count`` ids drawn from the outbox's own sequence (PostgreSQL), in increasing order.

    As one array, in its text form: fetched as ``count`` rows, SQLAlchemy's
    per-row fetch cost more CPU than drawing the ids (measured).
    """
    sequence = connection.execute(sa.select(sa.func.pg_get_serial_sequence(
        postback_outbox.name, postback_outbox.c.outbox_id.name))).scalar_one()
    drawn = sa.select(sa.func.nextval(sequence).label("id")).select_from(sa.func.generate_series(1, count)).subquery()
    text = connection.execute(sa.select(sa.cast(sa.func.array_agg(drawn.c.id), sa.Text))).scalar_one()
    return np.sort(_int_array(text))


def _int_array(text: str | None) -> np.ndarray:
    """A PostgreSQL integer array's text (``{1,2,3}``; NULL for an empty ``array_agg``) as int64s."""
    if text is None or text == "{}":
        return np.empty(0, dtype=np.int64)
    return np.array(text[1:-1].split(","), dtype=np.int64)


def _enqueue_staged(connection: sa.Connection, staging: sa.Table, columns: list[str], has_orders: bool,
                    now: datetime, *, payloads: pd.DataFrame | None = None) -> tuple[int, int]:
    """Queue the staged rows (outbox, queue, payloads, orders); returns (rows queued, duplicate orders).

    ``payloads`` (PostgreSQL): ``outbox_id`` and ``payload`` of every staged row, which is staged without them.
    """
    outbox = postback_outbox
    keep = _claim_orders(connection, staging, now) if has_orders else None
    if connection.dialect.name == "postgresql":
        if payloads is None:
            raise ValueError("on PostgreSQL the payloads come beside the staged rows")
        queued_ids = _enqueue_returning(connection, staging, columns, keep)
        just_queued = payloads["outbox_id"].isin(queued_ids).to_numpy()
        _copy_payloads(connection, payloads["outbox_id"].to_numpy()[just_queued],
                       payloads["payload"].to_numpy()[just_queued].tolist())
        queued = len(queued_ids)
    else:
        # One writer at a time on SQLite, and ids only grow: the rows above this are the ones queued now.
        queued_before = connection.execute(sa.select(sa.func.coalesce(sa.func.max(outbox.c.outbox_id), 0))).scalar_one()
        rows = sa.select(*(staging.c[name] for name in columns))
        queued = insert_ignoring(connection, outbox, rows if keep is None else rows.where(keep), OUTBOX_KEY)
        just_queued = outbox.c.outbox_id > queued_before
        same_key = sa.and_(*(outbox.c[name] == staging.c[name] for name in OUTBOX_KEY))
        insert_ignoring(connection, postback_payloads,
                        sa.select(outbox.c.outbox_id, staging.c.payload)
                        .select_from(staging.join(outbox, same_key)).where(just_queued),
                        ("outbox_id",))
        queue_pending_rows(connection, just_queued)
    duplicates = _record_duplicate_orders(connection, staging, now) if has_orders else 0
    return queued, duplicates


def _plan_for_bulk(connection: sa.Connection) -> None:
    """Settings for this transaction's few big statements (PostgreSQL).

    No JIT: the order filter makes the planner price a slice's insert above
    ``jit_optimize_above_cost``, and compiling it then took 0.7 s of the 1.9 s
    the statement ran (EXPLAIN ANALYZE, 47,000 rows); the plan is the same
    without. ``work_mem`` for the payload join: at the default 4 MB its sorts
    of a slice's payloads spilled to disk (30 MB per slice).
    """
    connection.exec_driver_sql("SET LOCAL jit = off")
    connection.exec_driver_sql("SET LOCAL work_mem = '64MB'")


def _dead_on_arrival(engine: Engine, refused: Sequence[TikTokEvent], now: datetime) -> int:
    """Put events that must never be sent in the outbox as dead (reason out_of_bounds) and in the dead letters,
    under their outbox key so a re-run leaves them be; returns how many are new.

    Row by row: such events are rare, and this keeps them off the queueing path every other event takes.
    """
    outbox = postback_outbox
    stamp = utc_naive(now)
    dead = 0
    with write_transaction(engine) as connection:
        dialect_insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
        for event in refused:
            destination = event.destination
            key = {"event_source": destination.event_source, "event_source_id": destination.event_source_id,
                   "event": event.event, "event_id": event.event_id, "source_event_id": event.source_event_id,
                   "event_time": datetime.fromtimestamp(event.data["event_time"], UTC).replace(tzinfo=None)}
            outbox_id = connection.execute(
                dialect_insert(outbox)
                .values(**key, test_event_code=destination.test_event_code, state="dead", attempts=0,
                        first_queued_at=stamp, dead_reason="out_of_bounds", last_error=event.problem)
                .on_conflict_do_nothing(index_elements=list(OUTBOX_KEY))
                .returning(outbox.c.outbox_id)
            ).scalar()
            if outbox_id is None:
                continue  # dead-lettered by an earlier run
            payload = _encode(dict(event.data))
            connection.execute(sa.insert(postback_payloads).values(outbox_id=outbox_id, payload=payload))
            connection.execute(sa.insert(postback_dead_letters).values(
                outbox_id=outbox_id, **key, payload=payload, reason="out_of_bounds",
                detail=f"not sent: {event.problem}", dead_at=stamp))
            dead += 1
    return dead


def _same_order(staging: sa.Table) -> sa.ColumnElement[bool]:
    return sa.and_(*(postback_orders.c[name] == staging.c[name] for name in ORDER_KEY))


def _claim_orders(connection: sa.Connection, staging: sa.Table, now: datetime) -> sa.ColumnElement[bool]:
    """Record the orders of ``staging`` not seen before, under their first event_id; returns the condition
    a staged row meets when it may be queued (no order, or its order kept under its own event_id)."""
    orders = postback_orders
    insert_ignoring(
        connection, orders,
        sa.select(*(staging.c[name] for name in ORDER_KEY), staging.c.event_id,
                  sa.literal(utc_naive(now), sa.DateTime).label("first_queued_at"))
        .where(staging.c.order_id.is_not(None), staging.c.order_first == 1),
        ORDER_KEY,
    )
    return sa.or_(staging.c.order_id.is_(None),
                  sa.exists().where(_same_order(staging), orders.c.event_id == staging.c.event_id))


def _record_duplicate_orders(connection: sa.Connection, staging: sa.Table, now: datetime) -> int:
    """Note the staged events whose order is kept under another event_id; returns how many there are."""
    orders = postback_orders
    copies = (
        sa.select(*(staging.c[name] for name in OUTBOX_KEY), staging.c.order_id,
                  orders.c.event_id.label("kept_event_id"), staging.c.source_event_id, staging.c.event_time,
                  sa.literal(utc_naive(now), sa.DateTime).label("dropped_at"))
        .select_from(staging.join(orders, _same_order(staging)))
        .where(orders.c.event_id != staging.c.event_id)
    )
    count = connection.execute(sa.select(sa.func.count()).select_from(copies.subquery())).scalar_one()
    if count:
        insert_ignoring(connection, postback_order_duplicates, copies, OUTBOX_KEY)
    return count


def _copy_payloads(connection: sa.Connection, outbox_ids: np.ndarray, payloads: Sequence[str]) -> None:
    """COPY the payloads of rows just queued into ``postback_payloads`` (PostgreSQL), in this transaction."""
    if not len(outbox_ids):
        return
    target = connection.dialect.identifier_preparer.format_table(postback_payloads)
    statement = f"COPY {target} (outbox_id, payload) FROM STDIN WITH (FORMAT binary)"
    with connection.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(id_text_stream(outbox_ids, payloads))


def _enqueue_returning(connection: sa.Connection, staging: sa.Table, columns: list[str],
                       keep: sa.ColumnElement[bool] | None) -> np.ndarray:
    """Outbox rows and their queue rows in one statement; returns the outbox ids it queued.

    The staged rows carry their outbox ids (:func:`_new_outbox_ids`), so the
    caller finds the payloads of the rows queued by id alone. A key twice in
    one slice is queued once, under the first row's id: only that id comes back.
    """
    outbox = postback_outbox
    queue_names = [column.name for column in postback_queue.columns]
    # What the queue rows need of each new row (its batch_id is NULL: never sent).
    returned = dict.fromkeys([*(name for name in queue_names if name != "last_batch_id"), "batch_id"])
    rows = sa.select(*(staging.c[name] for name in columns))
    queued_rows = (
        postgresql.insert(outbox)
        .from_select(columns, rows if keep is None else rows.where(keep))
        .on_conflict_do_nothing(index_elements=list(OUTBOX_KEY))
        .returning(*(outbox.c[name] for name in returned))
        .cte("queued_rows")
    )
    queue_rows = (
        sa.insert(postback_queue).from_select(queue_names, sa.select(*queue_columns_from(queued_rows))).cte("queue_rows")
    )
    # The ids as one array's text: a row each, their fetch through SQLAlchemy cost more than the statement's
    # own client time (measured). A data-modifying CTE runs whether or not the query reads it.
    ids = sa.select(sa.cast(sa.func.array_agg(queued_rows.c.outbox_id), sa.Text)).add_cte(queued_rows, queue_rows)
    return _int_array(connection.execute(ids).scalar_one())


def map_and_enqueue(
    engine: Engine,
    start: datetime,
    end: datetime,
    mapping: MappingConfig,
    *,
    now: datetime | None = None,
    workers: int = 1,
    events_per_slice: int = EVENTS_PER_SLICE,
) -> MappedWindow:
    """Read the first-party events of ``[start, end)``, map them to TikTok events (PII hashed) and queue them.

    The window is cut into slices of about ``events_per_slice`` events (by
    event time), each read, mapped and queued in its own transaction:
    enqueueing is idempotent, so a failure part-way leaves whole slices queued
    and a re-run queues the rest. With ``workers`` above 1 and more than one
    slice, that many processes map slices at once (mapping and hashing are
    pure Python: threads would not run them in parallel). The processes are
    spawned, so a script calling this with ``workers`` > 1 must do so under
    ``if __name__ == "__main__":``; a Dagster run can.
    """
    return _map_window(engine, start, end, mapping, now=now or datetime.now(UTC), workers=workers,
                       events_per_slice=events_per_slice)


@dataclass(frozen=True)
class MappedLoads:
    """What mapping the loads not mapped yet did."""

    loads: tuple[int, ...]
    """The loads mapped (and marked so)."""
    mapped: MappedWindow
    too_old: int
    """Events of those loads older than TikTok accepts: not queued (they could only be refused)."""
    events_by_hour: dict[str, int] = field(default_factory=dict)
    """Their events per UTC event hour (``YYYY-MM-DD HH:00``), for the run's metadata."""


def map_new_loads(
    engine: Engine,
    mapping: MappingConfig,
    *,
    now: datetime | None = None,
    workers: int = 1,
    events_per_slice: int = EVENTS_PER_SLICE,
    max_event_age: timedelta = TIKTOK_MAX_EVENT_AGE,
    max_loads: int = 10_000,
) -> MappedLoads:
    """Map and queue the events of every committed load not mapped yet, whatever their event times; mark them mapped.

    Intake is found by what was committed (``first_party_loads.mapped_at``),
    not by a wall-clock guess: a load that commits an hour late, or before one
    that began earlier, is mapped by the next call. The loads are marked only
    once all their events are queued, so a failure part-way maps them again
    next time, which queues nothing twice (the outbox key). Events older than
    ``max_event_age`` are counted and not queued: TikTok refuses them.
    """
    now = now or datetime.now(UTC)
    waiting = unmapped_loads(engine, limit=max_loads)
    if not waiting:
        return MappedLoads((), _combined([]), 0)
    with engine.connect() as connection:
        waiting_events = connection.execute(
            sa.select(sa.func.coalesce(sa.func.sum(first_party_loads.c.events), 0))
            .where(ids_in(first_party_loads.c.load_id, waiting, connection.dialect.name))
        ).scalar_one()
    load_ids = LoadSelection(tuple(waiting), by_time=waiting_events > 2 * events_per_slice)
    oldest = now - max_event_age
    with engine.connect() as connection:
        too_old = connection.execute(
            sa.select(sa.func.count()).select_from(first_party_events)
            .where(in_loads(load_ids, connection.dialect.name), first_party_events.c.event_time < utc_naive(oldest))
        ).scalar_one()
    if engine.dialect.name == "postgresql":
        # Counted while the slices are mapped, on its own connection: the caller is idle then, and at 1M events
        # this read is a second of serial time otherwise. Not on SQLite: a reader beside its writers may be refused.
        with ThreadPoolExecutor(1, thread_name_prefix="events-by-hour") as counter:
            counted = counter.submit(events_by_hour, engine, load_ids)
            mapped = _map_window(engine, oldest, LATEST_EVENT_TIME, mapping, now=now, workers=workers,
                                 events_per_slice=events_per_slice, load_ids=load_ids, expected_events=waiting_events)
            by_hour = counted.result()
    else:
        mapped = _map_window(engine, oldest, LATEST_EVENT_TIME, mapping, now=now, workers=workers,
                             events_per_slice=events_per_slice, load_ids=load_ids, expected_events=waiting_events)
        by_hour = events_by_hour(engine, load_ids)
    mark_loads_mapped(engine, load_ids, now)
    return MappedLoads(tuple(load_ids), mapped, int(too_old), by_hour)


def events_by_hour(engine: Engine, load_ids: Sequence[int]) -> dict[str, int]:
    """Events of ``load_ids`` per UTC event hour."""
    table = first_party_events
    if engine.dialect.name == "postgresql":
        # Grouped by the truncated time, labelled per group: to_char on every row was most of the query's
        # time (a million-event load, serial while no worker maps).
        hour = sa.func.date_trunc("hour", table.c.event_time)
        label = sa.func.to_char(hour, "YYYY-MM-DD HH24:00")
    else:
        hour = label = sa.func.strftime("%Y-%m-%d %H:00", table.c.event_time)
    with engine.connect() as connection:
        rows = connection.execute(sa.select(label, sa.func.count()).where(in_loads(load_ids, connection.dialect.name))
                                  .group_by(hour).order_by(hour)).all()
    return {str(label): int(count) for label, count in rows}


def _map_window(engine: Engine, start: datetime, end: datetime, mapping: MappingConfig, *, now: datetime,
                workers: int, events_per_slice: int, load_ids: Sequence[int] | None = None,
                expected_events: int | None = None) -> MappedWindow:
    """``expected_events``: about how many events the window holds, when the caller knows (the loads' counts)."""
    if events_per_slice < 1:
        raise ValueError(f"events_per_slice must be at least 1, got {events_per_slice}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    # Each process opens its own connection: an in-memory SQLite database would be a new, empty one.
    parallel = workers > 1 and threads_share_the_database(engine)
    with ExitStack() as stack:
        pool = None
        if parallel and expected_events is not None and expected_events > events_per_slice:
            # Started before the slices are cut: a worker's start (Python and this module's imports, about a
            # second of CPU) then overlaps the counting and cutting, serial queries of about as long at 1M events.
            pool = _worker_pool(stack, min(workers, math.ceil(expected_events / events_per_slice)))
        slices = event_time_slices(engine, start, end, events_per_slice, load_ids=load_ids)
        processes = min(workers, len(slices)) if parallel else 1
        if processes <= 1:
            results = [_map_slice(engine, slice_start, slice_end, mapping, now, load_ids)
                       for slice_start, slice_end in slices]
        else:
            pool = pool or _worker_pool(stack, processes)
            futures = [pool.submit(_map_slice_in_worker, engine.url, slice_start, slice_end, mapping, now, load_ids)
                       for slice_start, slice_end in slices]
            results = [future.result() for future in futures]
    combined = _combined(results)
    if combined.enqueued.queued and engine.dialect.name == "postgresql":
        # Delivery claims right after this, reading the queue: planned with
        # statistics from before the enqueue (an empty queue, say), a claim may
        # walk the whole queue; autovacuum would catch up only later. ANALYZE
        # samples a fixed number of rows: cheap at any size.
        with engine.begin() as connection:
            connection.exec_driver_sql(f"ANALYZE {postback_queue.name}")
    return combined


def _worker_pool(stack: ExitStack, processes: int) -> ProcessPoolExecutor:
    """A pool of ``processes`` map workers, shut down with ``stack``; every one of them started now."""
    # spawn, not fork: the caller (a Dagster run) has threads, and a forked child would inherit their locks.
    pool = stack.enter_context(ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("spawn"),
                                                   initializer=_worker_started))
    # The pool starts a process per task submitted while none is idle: one task each starts them all.
    for _ in range(processes):
        pool.submit(_worker_started)
    return pool


def _worker_started() -> None:
    """Nothing: run in a new worker, it makes the worker import this module (and what mapping needs) at start."""


def event_time_slices(engine: Engine, start: datetime, end: datetime, events_per_slice: int, *,
                      load_ids: Sequence[int] | None = None) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` cut at every ``events_per_slice``-th event's time (naive UTC); one slice for a small window.

    Events sharing a cut's time all fall in the later slice, so a slice may
    hold a few more than ``events_per_slice``; no event is in two slices.
    """
    table = first_party_events
    window = sa.and_(table.c.event_time >= utc_naive(start), table.c.event_time < utc_naive(end),
                     in_loads(load_ids, engine.dialect.name))
    with engine.connect() as connection:
        count = connection.execute(sa.select(sa.func.count()).where(window)).scalar_one()
        cuts: list[datetime] = []
        if count > events_per_slice:
            numbered = (
                sa.select(table.c.event_time, sa.func.row_number().over(order_by=table.c.event_time).label("position"))
                .where(window)
                .subquery()
            )
            cuts = connection.execute(
                sa.select(numbered.c.event_time)
                .where(numbered.c.position > 1, (numbered.c.position - 1) % events_per_slice == 0)
                .order_by(numbered.c.event_time)
            ).scalars().all()
    edges = [utc_naive(start), *sorted(set(cuts)), utc_naive(end)]
    return [(left, right) for left, right in pairwise(edges) if left < right]


def _map_slice(engine: Engine, start: datetime, end: datetime, mapping: MappingConfig, now: datetime,
               load_ids: Sequence[int] | None = None) -> MappedWindow:
    # The collector stays off for the whole slice, not only while objects are
    # built: switched back on with the slice's objects alive, its next full
    # pass walks every one of them (a third of a second per 50,000 events,
    # measured). They hold no cycles; reference counting frees them on return.
    with gc_paused():
        return _map_slice_objects(engine, start, end, mapping, now, load_ids)


def _map_slice_objects(engine: Engine, start: datetime, end: datetime, mapping: MappingConfig,
                       now: datetime, load_ids: Sequence[int] | None) -> MappedWindow:
    events = read_events(engine, start, end, load_ids=load_ids)
    hasher = PiiHasher(mapping.phone_default_region)
    tiktok_events = build_all_tiktok_events(events, mapping, hasher)
    enqueued = enqueue(engine, tiktok_events, now=now)
    mapped = {(event.source_event_id, event.destination.event_source) for event in tiktok_events}
    unmapped = sum((event.event_id, event.source.value) not in mapped for event in events)
    return MappedWindow(
        first_party_events=len(events),
        tiktok_events=len(tiktok_events),
        enqueued=enqueued,
        unmapped_events=unmapped,
        pii_dropped={str(reason): count for reason, count in sorted(hasher.rejections.items())},
        match_keys=_match_keys(tiktok_events),
    )


_worker_engines: dict[str, Engine] = {}


def _map_slice_in_worker(url: sa.URL, start: datetime, end: datetime, mapping: MappingConfig,
                         now: datetime, load_ids: Sequence[int] | None) -> MappedWindow:
    # One engine per worker process, reused by every slice it maps.
    key = url.render_as_string(hide_password=False)
    engine = _worker_engines.get(key)
    if engine is None:
        engine = _worker_engines[key] = make_engine(url)
    return _map_slice(engine, start, end, mapping, now, load_ids)


def _combined(results: Sequence[MappedWindow]) -> MappedWindow:
    dropped: Counter[str] = Counter()
    for result in results:
        dropped.update(result.pii_dropped)
    return MappedWindow(
        first_party_events=sum(result.first_party_events for result in results),
        tiktok_events=sum(result.tiktok_events for result in results),
        enqueued=Enqueued(sum(result.enqueued.queued for result in results),
                          sum(result.enqueued.already_queued for result in results),
                          sum(result.enqueued.duplicate_orders for result in results),
                          sum(result.enqueued.out_of_bounds for result in results)),
        unmapped_events=sum(result.unmapped_events for result in results),
        pii_dropped=dict(sorted(dropped.items())),
        match_keys=_merged_match_keys(results),
    )


# ---------------------------------------------------------------- reading back

SUMMARY_COLUMNS = ("event", "queued", "sent", "accepted", "test_accepted", "rejected", "retried", "dead_lettered", "undelivered")


def _count_where(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


# Events sent with a test_event_code go to Events Manager's test tool only: accepted there, they are no conversions.
_accepted_live = sa.and_(postback_outbox.c.state == "accepted", postback_outbox.c.test_event_code.is_(None))
_accepted_in_test = sa.and_(postback_outbox.c.state == "accepted", postback_outbox.c.test_event_code.is_not(None))


def delivery_summary(engine: Engine, start: datetime, end: datetime) -> pd.DataFrame:
    """Per TikTok event name, for events with ``start <= event_time < end``: the delivery state now.

    ``sent``: sent at least once; ``accepted``: live events TikTok accepted
    (conversions); ``test_accepted``: events sent with a ``test_event_code``
    that TikTok accepted, in Events Manager's test tool only; ``rejected``: TikTok refused them (dead-lettered
    with its message); ``retried``: needed more than one request (client
    retries, a re-send after a crash or after another event's rejection);
    ``dead_lettered``: every dead letter, rejected or never sent (too old, or
    its dedup window passed); ``undelivered``: pending or sending still.
    """
    outbox = postback_outbox
    statement = (
        sa.select(
            outbox.c.event,
            sa.func.count().label("queued"),
            _count_where(outbox.c.attempts > 0).label("sent"),
            _count_where(_accepted_live).label("accepted"),
            _count_where(_accepted_in_test).label("test_accepted"),
            _count_where(outbox.c.dead_reason == "rejected").label("rejected"),
            _count_where(outbox.c.attempts > 1).label("retried"),
            _count_where(outbox.c.state == "dead").label("dead_lettered"),
            _count_where(outbox.c.state.in_(UNDELIVERED_STATES)).label("undelivered"),
        )
        .where(outbox.c.event_time >= utc_naive(start), outbox.c.event_time < utc_naive(end))
        .group_by(outbox.c.event)
        .order_by(outbox.c.event)
    )
    with engine.connect() as connection:
        rows = connection.execute(statement).all()
    frame = pd.DataFrame.from_records(rows, columns=list(SUMMARY_COLUMNS))
    counts = list(SUMMARY_COLUMNS[1:])
    frame[counts] = frame[counts].astype("int64")
    return frame


DIAGNOSTIC_COLUMNS = ("destination", "event", "queued", "accepted", "test_accepted", "rejected", "deduplicated", "dead_lettered",
                      "undelivered", "rejections")


def delivery_diagnostics(engine: Engine, start: datetime, end: datetime, *, messages: int = 3) -> pd.DataFrame:
    """Per destination (pixel or app) and TikTok event, for events with ``start <= event_time < end``: queued,
    accepted (live), test_accepted (sent with a test_event_code: Events Manager's test tool only), rejected by TikTok (and its ``messages`` commonest messages, with counts), deduplicated (orders
    met again under another event_id, not queued), dead-lettered unsent (too old, past the dedup window,
    outside the sanity bounds) and undelivered."""
    outbox, letters, copies = postback_outbox, postback_dead_letters, postback_order_duplicates
    window = (utc_naive(start), utc_naive(end))
    key = (outbox.c.event_source, outbox.c.event_source_id, outbox.c.event)
    states = (
        sa.select(*key, sa.func.count().label("queued"),
                  _count_where(_accepted_live).label("accepted"),
                  _count_where(_accepted_in_test).label("test_accepted"),
                  _count_where(outbox.c.dead_reason == "rejected").label("rejected"),
                  _count_where(sa.and_(outbox.c.state == "dead", outbox.c.dead_reason != "rejected")).label("dead"),
                  _count_where(outbox.c.state.in_(UNDELIVERED_STATES)).label("undelivered"))
        .where(outbox.c.event_time >= window[0], outbox.c.event_time < window[1]).group_by(*key)
    )
    copy_key = (copies.c.event_source, copies.c.event_source_id, copies.c.event)
    duplicates = (sa.select(*copy_key, sa.func.count()).where(copies.c.event_time >= window[0],
                                                              copies.c.event_time < window[1]).group_by(*copy_key))
    letter_key = (letters.c.event_source, letters.c.event_source_id, letters.c.event, letters.c.message)
    rejections = (sa.select(*letter_key, sa.func.count().label("n"))
                  .where(letters.c.reason == "rejected", letters.c.event_time >= window[0],
                         letters.c.event_time < window[1]).group_by(*letter_key))
    with engine.connect() as connection:
        rows = connection.execute(states).all()
        duplicated = {tuple(row[:3]): int(row[3]) for row in connection.execute(duplicates)}
        messages_by_key: dict[tuple[str, str, str], list[tuple[int, str]]] = {}
        for source, source_id, name, message, count in connection.execute(rejections):
            messages_by_key.setdefault((source, source_id, name), []).append((int(count), message or ""))
    records = []
    for source, source_id, name, queued, accepted, test_accepted, rejected, dead, undelivered in rows:
        commonest = sorted(messages_by_key.get((source, source_id, name), []), key=lambda item: (-item[0], item[1]))
        records.append({
            "destination": f"{source} {source_id}", "event": name, "queued": int(queued), "accepted": int(accepted),
            "test_accepted": int(test_accepted), "rejected": int(rejected), "deduplicated": duplicated.pop((source, source_id, name), 0),
            "dead_lettered": int(dead), "undelivered": int(undelivered),
            "rejections": "; ".join(f"{message} ({count})" for count, message in commonest[:messages]),
        })
    # An order whose every copy was dropped has no outbox row in the window (its kept event may be older).
    for (source, source_id, name), count in duplicated.items():
        records.append({"destination": f"{source} {source_id}", "event": name, "queued": 0, "accepted": 0,
                        "test_accepted": 0, "rejected": 0, "deduplicated": count, "dead_lettered": 0, "undelivered": 0, "rejections": ""})
    frame = pd.DataFrame(records, columns=list(DIAGNOSTIC_COLUMNS))
    return frame.sort_values(["destination", "event"], ignore_index=True)


def rejection_rate(summary: pd.DataFrame) -> float:
    """Rejected / (accepted + test_accepted + rejected): the share of what TikTok answered for that it refused; 0 when
    nothing was answered."""
    answered = int(summary["accepted"].sum() + summary["test_accepted"].sum() + summary["rejected"].sum())
    return float(summary["rejected"].sum()) / answered if answered else 0.0


@dataclass(frozen=True)
class Overdue:
    """Events still undelivered (pending or sending) that were queued before a cutoff."""

    events: int
    oldest_queued_at: datetime | None
    by_state: dict[str, int]


def overdue_events(engine: Engine, queued_before: datetime) -> Overdue:
    """Undelivered events queued before ``queued_before``, across the whole outbox."""
    outbox, queue = postback_outbox, postback_queue
    queued_early = outbox.c.first_queued_at < utc_naive(queued_before)
    # No index holds the state: pending rows are found through the queue, rows
    # being sent through the batches in flight, so neither query reads the
    # accepted history.
    pending = (
        sa.select(sa.literal("pending").label("state"), sa.func.count().label("events"),
                  sa.func.min(outbox.c.first_queued_at).label("oldest"))
        .select_from(queue.join(outbox, outbox.c.outbox_id == queue.c.outbox_id))
        .where(outbox.c.state == "pending", queued_early)
    )
    sending = (
        sa.select(sa.literal("sending").label("state"), sa.func.count().label("events"),
                  sa.func.min(outbox.c.first_queued_at).label("oldest"))
        .select_from(postback_batches.join(outbox, in_open_batch(postback_batches)))
        .where(postback_batches.c.outcome == "sending", queued_early)
    )
    statement = sa.union_all(pending, sending)
    with engine.connect() as connection:
        rows = [row for row in connection.execute(statement).all() if row.events]
    oldest = min((row.oldest for row in rows), default=None)
    return Overdue(sum(row.events for row in rows), oldest, {row.state: int(row.events) for row in rows})


def dead_letters(engine: Engine, start: datetime, end: datetime, *, limit: int = 50) -> pd.DataFrame:
    """The latest dead letters of events with ``start <= event_time < end``: key, reason, TikTok's code and message.

    No payload: it holds hashed identity only, but a table for people has no use for it.
    """
    table = postback_dead_letters
    statement = (
        sa.select(table.c.event, table.c.event_id, table.c.event_source_id, table.c.reason, table.c.code,
                  table.c.message, table.c.detail, table.c.dead_at)
        .where(table.c.event_time >= utc_naive(start), table.c.event_time < utc_naive(end))
        .order_by(table.c.dead_letter_id.desc())
        .limit(limit)
    )
    with engine.connect() as connection:
        rows = connection.execute(statement).all()
    return pd.DataFrame.from_records(
        rows, columns=["event", "event_id", "event_source_id", "reason", "code", "message", "detail", "dead_at"]
    )
