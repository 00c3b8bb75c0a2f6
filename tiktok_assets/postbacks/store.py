"""Warehouse tables of the postbacks domain, and the SQL that loads and reads first-party events (no Dagster import).

Nine tables, on the warehouse ``metadata`` so ``create_schema`` makes them
with the rest (``ensure_postback_tables`` makes them, and brings an older
outbox up to date, on a warehouse created before this module changed):

``first_party_events``
    The events as the store saw them (:data:`~tiktok_assets.postbacks.events.RECORD_FIELDS`
    plus ``received_at``). Raw personal data (email, phone, IP) lives **only** here.
``first_party_loads``
    One row per load (a ``store_events`` call) that stored new events,
    committed with them: its ``load_id`` is on each of its events, and
    ``mapped_at`` says whether they were queued for TikTok yet. Mapping
    takes the loads committed and not mapped, whatever their time: a load
    that commits late, or after a later one, is still mapped, exactly once
    (enqueueing is idempotent, so a load mapped twice queues nothing twice).
``postback_outbox``
    One row per TikTok event to deliver, unique on (event_source,
    event_source_id, event, event_id): what TikTok deduplicates on. ``state``
    moves pending → sending → accepted, or to dead. No index holds ``state``
    or ``batch_id``, and the table leaves half of each page free
    (PostgreSQL's fillfactor 50): a state update then rewrites the row in
    its page and touches no index (a HOT update), 3x cheaper than with
    indexes on what it changes (claim + accept of 1,000 events: 40 → 13 ms,
    measured), at the cost of a heap twice the size.
``postback_queue``
    The pending rows only: the outbox id, its destination and the two times
    that decide whether it may still be sent. A row is here exactly while
    its outbox state is ``pending``; every change of state in or out of
    pending changes both tables in one transaction. Claims read it in queue
    order, and take rows out of it by deleting them (a delete writes no
    index entry).
``postback_payloads``
    The Events API data item of each outbox row as JSON, personal data already
    hashed. Apart from the outbox because it never changes while the state
    does: every state update writes a new row version, smaller without it.
``postback_dead_letters``
    Events that will not be sent (TikTok rejected them, or sending them now
    could duplicate or would be refused), with TikTok's code and message.
``postback_orders``
    One row per (pixel or app, TikTok event, order_id): the event_id the
    order was first queued under. TikTok deduplicates on name + event_id
    only, so the same order loaded again under another event id (a
    re-export, a second webhook) would count twice there: it is not queued.
``postback_order_duplicates``
    Those copies, with the event_id kept instead: what was dropped, for
    the diagnostics.
``postback_batches``
    One row per request body sent: the delivery log. Also where the rows of a
    batch in flight are found again (``first_outbox_id`` to ``last_outbox_id``,
    then ``batch_id``) when a stale claim is reclaimed.

Times are naive UTC, as everywhere in the warehouse.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from tiktok_assets.postbacks.events import RECORD_FIELDS, FirstPartyEvent, events_from_rows, events_to_frame
from tiktok_assets.warehouse.bulk import bulk_insert
from tiktok_assets.warehouse.engine import serialise_writers, write_transaction
from tiktok_assets.warehouse.tables import BigId, Money, metadata

SOURCES = ("web", "app")
OUTBOX_STATES = ("pending", "sending", "accepted", "dead")
DEAD_REASONS = ("rejected", "dedup_window", "too_old", "out_of_bounds")
# The CHECK constraints that hold a dead reason: (table, column).
_DEAD_REASON_CHECKS = (("postback_outbox", "dead_reason"), ("postback_dead_letters", "reason"))
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
    *[_record_column(name) for name in RECORD_FIELDS if name not in ("event_id", "source")],
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


def ensure_postback_tables(engine: Engine) -> None:
    """Create the postbacks tables where missing, and bring an outbox of an older version up to date; cheap when current."""
    with engine.connect() as connection:
        inspector = sa.inspect(connection)
        if (all(inspector.has_table(table.name) for table in POSTBACK_TABLES) and not _outbox_predates_queue(inspector)
                and not _dead_reasons_outdated(connection) and not _events_predate_loads(inspector)
                and not _missing_event_columns(inspector)):
            return
    with write_transaction(engine) as connection:
        serialise_writers(connection, ["tiktok_assets warehouse schema"])
        metadata.create_all(connection, tables=list(POSTBACK_TABLES), checkfirst=True)
        upgrade_outbox(connection)
        if _dead_reasons_outdated(connection):
            allow_dead_reasons(connection)
        if _events_predate_loads(sa.inspect(connection)):
            _add_loads_to_events(connection)
        for name in _missing_event_columns(sa.inspect(connection)):
            # Record fields added since the table was made (issue 15: the app and device fields); all nullable.
            column = first_party_events.c[name]
            connection.execute(sa.text(f"ALTER TABLE {first_party_events.name} ADD COLUMN {name} "
                                       f"{column.type.compile(connection.dialect)}"))


def _missing_event_columns(inspector: sa.Inspector) -> list[str]:
    if not inspector.has_table(first_party_events.name):
        return []
    present = {column["name"] for column in inspector.get_columns(first_party_events.name)}
    return [name for name in RECORD_FIELDS if name not in present]


def _events_predate_loads(inspector: sa.Inspector) -> bool:
    return inspector.has_table(first_party_events.name) and "load_id" not in {
        column["name"] for column in inspector.get_columns(first_party_events.name)}


def _add_loads_to_events(connection: Connection) -> None:
    """Give a first_party_events table of before loads its ``load_id``: its rows become one load, not yet mapped.

    Mapping it queues nothing already queued (the outbox key), and leaves out
    events older than TikTok accepts, so the upgrade re-sends nothing; it does
    send what the old wall-clock sensor missed.
    """
    table = first_party_events
    connection.execute(sa.text(f"ALTER TABLE {table.name} ADD COLUMN load_id BIGINT"))
    next(index for index in table.indexes if index.columns.keys() == ["load_id", "event_time"]).create(
        connection, checkfirst=True)
    count, received = connection.execute(sa.select(sa.func.count(), sa.func.max(table.c.received_at))).one()
    if not count:
        return
    load_id = connection.execute(sa.insert(first_party_loads).values(received_at=received, events=count)
                                 .returning(first_party_loads.c.load_id)).scalar_one()
    connection.execute(sa.update(table).where(table.c.load_id.is_(None)).values(load_id=load_id))


def _check_sql(connection: Connection, table: str, column: str) -> str | None:
    """The text of the dead-reason CHECK of ``table`` as the database holds it (None when there is none)."""
    name = f"ck_{table}_{column}"
    if connection.dialect.name == "postgresql":
        return connection.execute(
            sa.text("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = :name "
                    "AND conrelid = to_regclass(:table)"), {"name": name, "table": table}).scalar()
    return connection.execute(sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :table"),
                              {"table": table}).scalar()


def _dead_reasons_outdated(connection: Connection) -> bool:
    """Whether a dead-reason CHECK predates a reason of :data:`DEAD_REASONS` (``out_of_bounds`` came in issue 15)."""
    for table, column in _DEAD_REASON_CHECKS:
        sql = _check_sql(connection, table, column)
        if sql is not None and any(f"'{reason}'" not in sql for reason in DEAD_REASONS):
            return True
    return False


def allow_dead_reasons(connection: Connection, reasons: Sequence[str] = DEAD_REASONS) -> None:
    """Make the dead-reason CHECKs of the outbox and the dead letters allow exactly ``reasons``.

    PostgreSQL replaces the constraint. SQLite cannot alter a constraint; its
    documented way to loosen a CHECK whose rows all pass the new one (ALTER
    TABLE, "making other kinds of table schema changes") is to rewrite the
    table's stored CREATE statement, which touches no row.
    """
    allowed = "(" + ", ".join(f"'{reason}'" for reason in reasons) + ")"
    if connection.dialect.name == "postgresql":
        for table, column in _DEAD_REASON_CHECKS:
            name = f"ck_{table}_{column}"
            connection.execute(sa.text(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}, "
                                       f"ADD CONSTRAINT {name} CHECK ({column} IN {allowed})"))
        return
    version = connection.exec_driver_sql("PRAGMA schema_version").scalar_one()
    connection.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        for table, column in _DEAD_REASON_CHECKS:
            sql = _check_sql(connection, table, column)
            if sql is None:
                continue
            pattern = re.compile(rf"(CONSTRAINT ck_{table}_{column} CHECK \({column} IN )\([^)]*\)")
            connection.execute(sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = :table"),
                               {"sql": pattern.sub(lambda match: match.group(1) + allowed, sql), "table": table})
        connection.exec_driver_sql(f"PRAGMA schema_version = {version + 1}")
    finally:
        connection.exec_driver_sql("PRAGMA writable_schema = OFF")


# The two partial indexes on outbox state an outbox had before postback_queue existed.
_OUTBOX_STATE_INDEXES = ("ix_postback_outbox_pending", "ix_postback_outbox_sending")


def _outbox_predates_queue(inspector: sa.Inspector) -> bool:
    return any(index["name"] in _OUTBOX_STATE_INDEXES for index in inspector.get_indexes(postback_outbox.name))


def upgrade_outbox(connection: Connection) -> None:
    """Bring an outbox made before ``postback_queue`` to the current shape (schema version 2); idempotent.

    Queues its pending rows, notes the outbox id range of every batch still in
    flight, drops the indexes on state, and on PostgreSQL sets the fillfactor
    (for pages written from now on: existing pages are rewritten only by a
    ``VACUUM FULL``, which is left to the owner of the database). Nothing to
    do on a warehouse without an outbox: it gets the current shape when made.
    """
    inspector = sa.inspect(connection)
    if not inspector.has_table(postback_outbox.name):
        return
    postback_queue.create(connection, checkfirst=True)
    batch_columns = {column["name"] for column in inspector.get_columns(postback_batches.name)} \
        if inspector.has_table(postback_batches.name) else None
    if batch_columns is not None:
        for name in ("first_outbox_id", "last_outbox_id"):
            if name not in batch_columns:
                connection.execute(sa.text(f"ALTER TABLE {postback_batches.name} ADD COLUMN {name} BIGINT"))
        outbox, batches = postback_outbox, postback_batches
        in_batch = sa.and_(outbox.c.batch_id == batches.c.batch_id, outbox.c.state == "sending")
        connection.execute(
            sa.update(batches)
            .where(batches.c.outcome == "sending", batches.c.first_outbox_id.is_(None))
            .values(first_outbox_id=sa.select(sa.func.min(outbox.c.outbox_id)).where(in_batch).scalar_subquery(),
                    last_outbox_id=sa.select(sa.func.max(outbox.c.outbox_id)).where(in_batch).scalar_subquery())
        )
    queue_pending_rows(connection, postback_outbox.c.state == "pending")
    for index in _OUTBOX_STATE_INDEXES:
        connection.execute(sa.text(f"DROP INDEX IF EXISTS {index}"))
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text(f"ALTER TABLE {postback_outbox.name} SET (fillfactor = {OUTBOX_FILLFACTOR})"))


def in_open_batch(batches: sa.FromClause) -> sa.ColumnElement[bool]:
    """Join condition: the outbox rows ``batches`` (postback_batches or a selection of it) hold in flight.

    By the batch's id range first, so each batch reads only its own rows
    through the primary key; ``batch_id`` and state then fence out rows in
    the range that belong to other batches or were answered since.
    """
    outbox = postback_outbox
    return sa.and_(outbox.c.outbox_id.between(batches.c.first_outbox_id, batches.c.last_outbox_id),
                   outbox.c.batch_id == batches.c.batch_id, outbox.c.state == "sending")


def queue_pending_rows(connection: Connection, condition: sa.ColumnElement[bool]) -> int:
    """Add the outbox rows matching ``condition`` (rows just made pending) to ``postback_queue``; returns how many.

    A row queued already is left as it is, so this is safe to repeat.
    """
    return insert_ignoring(connection, postback_queue, sa.select(*queue_columns_from(postback_outbox)).where(condition),
                           ("outbox_id",))


def queue_columns_from(rows: sa.FromClause) -> list[sa.ColumnElement]:
    """The ``postback_queue`` columns, in order, taken from outbox rows (the outbox, or rows an insert returned)."""
    return [rows.c.batch_id.label(column.name) if column.name == "last_batch_id" else rows.c[column.name]
            for column in postback_queue.columns]


def utc_naive(moment: datetime) -> datetime:
    """The warehouse's time form: naive UTC. Naive input is taken as UTC already."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo is not None else moment


# ---------------------------------------------------------------- bulk insert of new rows only


def insert_new_rows(connection: Connection, table: sa.Table, frame: pd.DataFrame, key: Sequence[str]) -> int:
    """Insert the rows of ``frame`` whose ``key`` is not in ``table`` yet; returns how many went in.

    The frame is bulk-loaded (COPY / executemany) into a temporary table, then
    copied across with ``ON CONFLICT DO NOTHING``: re-loading the same rows is
    a no-op, which is what makes loads and enqueues idempotent.
    """
    if frame.empty:
        return 0
    with staged(connection, frame, column_types(table)) as staging:
        return insert_ignoring(connection, table, sa.select(*staging.c), key)


def column_types(*tables: sa.Table) -> dict[str, sa.types.TypeEngine]:
    return {column.name: column.type for table in tables for column in table.columns}


@contextmanager
def staged(connection: Connection, frame: pd.DataFrame, types: Mapping[str, sa.types.TypeEngine]) -> Iterator[sa.Table]:
    """A temporary table holding ``frame`` (columns typed by ``types``), dropped after the block.

    Not dropped when the block fails: the caller's transaction then rolls
    back, and the CREATE with it (DDL is transactional on both databases),
    while a DROP in an aborted PostgreSQL transaction would fail and hide the
    real error.
    """
    loadable = frame.copy(deep=False)
    columns = []
    for name in frame.columns:
        column_type = types[name]
        if isinstance(column_type, sa.Boolean):
            # The bulk loaders write nullable booleans as integers (0/1/NULL); insert_ignoring casts back.
            column_type = sa.Integer()
            loadable[name] = frame[name].astype("Int64")
        columns.append(sa.Column(name, column_type))
    staging = sa.Table(f"staging_{uuid.uuid4().hex[:12]}", sa.MetaData(), *columns, prefixes=["TEMPORARY"])
    staging.create(connection)
    bulk_insert(connection, staging, loadable)
    yield staging
    staging.drop(connection)


def insert_ignoring(connection: Connection, table: sa.Table, source: sa.Select, key: Sequence[str]) -> int:
    """``INSERT INTO table SELECT ... ON CONFLICT (key) DO NOTHING`` (columns by name); returns the rows inserted."""
    names = [column.name for column in source.selected_columns]
    selected = [
        sa.cast(column, sa.Boolean).label(column.name) if isinstance(table.c[column.name].type, sa.Boolean) else column
        for column in source.selected_columns
    ]
    # "WHERE true" keeps SQLite from reading ON CONFLICT as part of the SELECT.
    source = source.with_only_columns(*selected).where(sa.true())
    dialect_insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = dialect_insert(table).from_select(names, source).on_conflict_do_nothing(index_elements=list(key))
    # SQLAlchemy keeps an INSERT's rowcount only when asked to.
    return connection.execute(statement.execution_options(preserve_rowcount=True)).rowcount


def ids_in(column: sa.ColumnElement[int], ids: Sequence[int], dialect: str) -> sa.ColumnElement[bool]:
    """``column IN ids``; on PostgreSQL as ``= ANY(array)``: one parameter instead of a thousand, planned faster.

    The array goes as its text, ``{1,2,3}``, cast on the server: psycopg
    adapts a Python list element by element (0.8 ms of CPU per 1,000 ids,
    measured; a third of a delivery batch's client time), ``str.join`` in
    microseconds. Ids are integers, so the text needs no quoting.
    """
    if dialect == "postgresql":
        array_text = "{" + ",".join(map(str, ids)) + "}"
        return column == sa.any_(sa.cast(sa.bindparam(None, array_text, type_=sa.Text, unique=True),
                                          postgresql.ARRAY(sa.BigInteger)))
    return column.in_(list(ids))


# ---------------------------------------------------------------- first-party events


@dataclass(frozen=True)
class StoredEvents:
    inserted: int
    already_stored: int
    """Events whose (event_id, source) was in the table already: a re-load, left as first stored."""


def events_table_frame(events: Iterable[FirstPartyEvent], received_at: datetime) -> pd.DataFrame:
    """Rows for ``first_party_events``: :func:`events_to_frame` with naive UTC times and ``received_at``."""
    frame = events_to_frame(events)
    frame["event_time"] = frame["event_time"].dt.tz_convert(None)
    frame["value"] = frame["value"].round(6)
    frame["received_at"] = np.datetime64(utc_naive(received_at), "us")
    return frame


def store_events(engine: Engine, events: Iterable[FirstPartyEvent], *, received_at: datetime | None = None) -> StoredEvents:
    """Append first-party events to ``first_party_events``; an event already there is left as it was.

    This is the Python API for loading events (see ``README.md, "Conversion postbacks"``);
    events come from :func:`~tiktok_assets.postbacks.events.parse_event`,
    :func:`~tiktok_assets.postbacks.events.read_jsonl` / ``read_csv`` or your own code.
    The new events are one load (``first_party_loads``), committed with them.
    """
    with write_transaction(engine) as connection:
        return store_events_in(connection, events, received_at=received_at)


def store_events_in(connection: Connection, events: Iterable[FirstPartyEvent], *,
                    received_at: datetime | None = None) -> StoredEvents:
    """:func:`store_events` inside the caller's transaction: the load is seen by mapping once that commits."""
    received_at = received_at or datetime.now(UTC)
    frame = events_table_frame(events, received_at)
    if frame.empty:
        return StoredEvents(0, 0)
    loads = first_party_loads
    load_id = connection.execute(sa.insert(loads).values(received_at=utc_naive(received_at), events=0)
                                 .returning(loads.c.load_id)).scalar_one()
    frame["load_id"] = load_id
    inserted = insert_new_rows(connection, first_party_events, frame, ("event_id", "source"))
    if inserted:
        connection.execute(sa.update(loads).where(loads.c.load_id == load_id).values(events=inserted))
    else:
        connection.execute(sa.delete(loads).where(loads.c.load_id == load_id))  # nothing new: nothing to map
    return StoredEvents(inserted, len(frame) - inserted)


def unmapped_loads(engine: Engine, *, limit: int | None = None) -> list[int]:
    """Committed loads whose events are not queued for TikTok yet, oldest first."""
    loads = first_party_loads
    statement = sa.select(loads.c.load_id).where(loads.c.mapped_at.is_(None)).order_by(loads.c.load_id).limit(limit)
    with engine.connect() as connection:
        return list(connection.execute(statement).scalars())


def mark_loads_mapped(engine: Engine, load_ids: Sequence[int], now: datetime) -> int:
    """Note that the events of ``load_ids`` are queued; returns how many loads were not noted before."""
    if not load_ids:
        return 0
    loads = first_party_loads
    with write_transaction(engine) as connection:
        return connection.execute(
            sa.update(loads).where(ids_in(loads.c.load_id, load_ids, connection.dialect.name), loads.c.mapped_at.is_(None))
            .values(mapped_at=utc_naive(now))
        ).rowcount


@dataclass(frozen=True)
class LoadSelection(Sequence[int]):
    """Load ids, and whether to read their events by event time rather than through the load index.

    Many events (a bulk load): the event-time index, each row's load checked as it is read; on SQLite, which
    has no statistics to choose by, reading a million-event load's slices through (load_id, event_time) took
    twice as long (measured). Few events (a late load among days of history): the load index.
    """

    ids: tuple[int, ...]
    by_time: bool = False

    def __getitem__(self, index):  # type: ignore[override]
        return self.ids[index]

    def __len__(self) -> int:
        return len(self.ids)


def in_loads(load_ids: Sequence[int] | None, dialect: str) -> sa.ColumnElement[bool]:
    """Rows of ``first_party_events`` stored by ``load_ids`` (every row when None)."""
    if load_ids is None:
        return sa.true()
    column = first_party_events.c.load_id
    if isinstance(load_ids, LoadSelection) and load_ids.by_time and dialect == "sqlite":
        column = column + 0  # an expression: SQLite then takes the event_time index
    return ids_in(column, list(load_ids), dialect)


def read_events(engine: Engine, start: datetime, end: datetime, *,
                load_ids: Sequence[int] | None = None) -> list[FirstPartyEvent]:
    """Events with ``start <= event_time < end`` (of ``load_ids`` only, when given), in time order."""
    # value as a double: the driver then hands over a float, not a Decimal for
    # SQLAlchemy to convert (a fifth of the fetch on PostgreSQL, measured). Same
    # float: PostgreSQL casts numeric to float8 through its decimal text, as Python does.
    columns = [sa.cast(first_party_events.c.value, sa.Float).label(name) if name == "value" else first_party_events.c[name]
               for name in RECORD_FIELDS]
    statement = (
        sa.select(*columns)
        .where(first_party_events.c.event_time >= utc_naive(start), first_party_events.c.event_time < utc_naive(end))
        .order_by(first_party_events.c.event_time, first_party_events.c.source, first_party_events.c.event_id)
    )
    # Straight from the rows: a DataFrame in between cost twice the conversion itself (measured).
    with engine.connect() as connection:
        return events_from_rows(connection.execute(statement.where(in_loads(load_ids, connection.dialect.name))))


@dataclass(frozen=True)
class ReceivedHour:
    hour: datetime
    """Start of the event-time hour, naive UTC."""
    latest_received_at: datetime
    events: int


def hours_received_since(engine: Engine, since: datetime | None) -> list[ReceivedHour]:
    """Event-time hours that got events with ``received_at > since`` (all when None), oldest hour first."""
    table = first_party_events
    if engine.dialect.name == "postgresql":
        hour = sa.func.date_trunc("hour", table.c.event_time)
    else:
        # SQLAlchemy stores SQLite datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff'.
        hour = sa.func.strftime("%Y-%m-%d %H:00:00", table.c.event_time)
    statement = sa.select(hour.label("hour"), sa.func.max(table.c.received_at), sa.func.count()).group_by(hour).order_by(hour)
    if since is not None:
        statement = statement.where(table.c.received_at > utc_naive(since))
    with engine.connect() as connection:
        rows = connection.execute(statement).all()
    return [
        ReceivedHour(_as_datetime(hour_value), _as_datetime(latest), int(count))
        for hour_value, latest, count in rows
    ]


def _as_datetime(value: datetime | str) -> datetime:
    # SQLite hands back strftime() text and max() of a DateTime column as text.
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
