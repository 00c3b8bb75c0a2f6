"""Delivery: the outbox to TikTok's Events API, at least once and never counted twice (no Dagster import).

Each batch goes through three steps:

1. **Claim** (one transaction): up to 1,000 pending rows of one destination
   leave ``postback_queue`` and become ``sending`` under a new ``batch_id``;
   ``attempts`` goes up and ``first_attempt_at`` is set if unset. The batch is
   logged with its owner and its outbox id range.
2. **POST** outside any transaction. The client retries 40100 (throttled),
   5xx and timeouts with backoff (:class:`~tiktok_assets.tiktok.client.TikTokClient`).
3. **Record** (a second transaction, fenced by ``batch_id`` so a claim another
   process took over is never overwritten): ``accepted``; or, when TikTok
   rejects the batch (code 40002, message ``"Batch.N.<field>: <problem>"``),
   event N is dead-lettered with TikTok's message and the others are sent
   again as a new batch; or back to ``pending`` (and the queue) when retries ran out.

Several senders (``DeliverySettings.concurrency``, threads) run these steps at
once, each on its own claim: while one waits for TikTok, the others claim and
record. The request body is the stored payload text joined as it is, never
parsed and encoded again.

A crash between 2 and 3 leaves rows ``sending``. A later delivery reclaims
them once the claim is stale (its lease ran out, or its owner is known to be
dead) and sends them again **with the same event_id**: TikTok keeps the first
event with the same name and event_id within 48 hours, so the copy is
dropped, never counted twice. Only inside that window, though: a row whose
first attempt is 47 hours old or more is dead-lettered instead ("dedup window
passed"), because a copy sent after 48 hours would count again if the first
one did arrive. Events older than TikTok accepts (7 days) are dead-lettered
without being sent.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tiktok_assets.postbacks.errors import DeliveryError
from tiktok_assets.postbacks.mapping import Destination
from tiktok_assets.postbacks.payloads import MAX_EVENTS_PER_REQUEST, track_body
from tiktok_assets.postbacks.store import (
    ids_in,
    in_open_batch,
    postback_batches,
    postback_dead_letters,
    postback_outbox,
    postback_payloads,
    postback_queue,
    queue_pending_rows,
    utc_naive,
)
from tiktok_assets.tiktok.client import RequestStats, TikTokClient
from tiktok_assets.tiktok.errors import (
    TikTokAuthenticationError,
    TikTokBadParameterError,
    TikTokError,
    TikTokPermissionError,
    TikTokRetriesExhausted,
)
from tiktok_assets.warehouse.engine import threads_share_the_database, write_transaction

log = logging.getLogger(__name__)

TIKTOK_DEDUP_WINDOW = timedelta(hours=48)
TIKTOK_MAX_EVENT_AGE = timedelta(days=7)
DEDUP_WINDOW_DETAIL = "dedup window passed, not re-sent to avoid a duplicate"
# TikTok names the offending event of a rejected batch first: "Batch.3.properties.value: Not a valid number".
_BATCH_INDEX = re.compile(r"Batch\.(\d+)\b")
# IN lists stay well under SQLite's 32,766 bound parameters.
_ID_CHUNK = 10_000

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def default_owner() -> str:
    """Who claims batches when the caller does not say: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class DeliverySettings:
    max_batch: int = MAX_EVENTS_PER_REQUEST
    claim_lease: timedelta = timedelta(minutes=10)
    """A ``sending`` claim older than this is taken to be dead. Longer than a send with every retry can take."""
    resend_window: timedelta = timedelta(hours=47)
    """Re-send only while the first attempt is younger than this: an hour of margin inside TikTok's 48 h dedup."""
    max_event_age: Mapping[str, timedelta] = field(
        default_factory=lambda: {"web": TIKTOK_MAX_EVENT_AGE, "app": TIKTOK_MAX_EVENT_AGE}
    )
    """The oldest event_time TikTok accepts, per event source."""
    age_margin: timedelta = timedelta(minutes=15)
    """Events this close to the age limit are not sent: they could age out in flight and fail the whole batch."""
    concurrency: int = 4
    """Batches in flight at once: while some wait for TikTok, others are claimed and recorded. 1 sends one
    batch at a time. The client's qps limit still holds across all of them."""

    def __post_init__(self) -> None:
        if not 1 <= self.max_batch <= MAX_EVENTS_PER_REQUEST:
            raise ValueError(f"max_batch must be 1 to {MAX_EVENTS_PER_REQUEST} (the Events API limit), got {self.max_batch}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1 (requests in flight), got {self.concurrency}")
        if not timedelta(0) < self.resend_window < TIKTOK_DEDUP_WINDOW:
            raise ValueError(f"resend_window must be inside TikTok's 48 h dedup window, got {self.resend_window}")


@dataclass
class DeliveryReport:
    """What one :func:`deliver` call did (the whole outbox, every hour)."""

    batches: int = 0
    """Request bodies sent (a re-send after a rejection is a new batch)."""
    requests: int = 0
    """HTTP requests, client retries included."""
    client_retries: int = 0
    events_sent: int = 0
    """Events carried by those batches (an event sent twice counts twice)."""
    accepted: int = 0
    """Live events TikTok accepted: conversions."""
    test_accepted: int = 0
    """Events sent with a ``test_event_code`` that TikTok accepted: they reach Events Manager's test tool only and
    are no conversions, so they are counted apart, never in ``accepted``."""
    rejected: int = 0
    """Dead-lettered because TikTok refused them."""
    not_sent: Counter[str] = field(default_factory=Counter)
    """Dead-lettered without sending, by reason (``too_old``, ``dedup_window``)."""
    reclaimed: int = 0
    """Rows of stale claims (a crashed sender) put back in the queue."""
    problems: list[str] = field(default_factory=list)
    """Destinations delivery gave up on for now (TikTok unavailable); their events stay pending."""

    def as_dict(self) -> dict[str, int]:
        return {
            "batches": self.batches,
            "requests": self.requests,
            "client_retries": self.client_retries,
            "events_sent": self.events_sent,
            "accepted": self.accepted,
            "test_accepted": self.test_accepted,
            "rejected": self.rejected,
            "not_sent_too_old": self.not_sent["too_old"],
            "not_sent_dedup_window": self.not_sent["dedup_window"],
            "reclaimed": self.reclaimed,
        }


@dataclass(frozen=True)
class Claim:
    """Rows claimed for one request, in queue order (TikTok's ``Batch.N`` is an index into them)."""

    batch_id: int
    destination: Destination
    outbox_ids: tuple[int, ...]
    payloads: tuple[str, ...]
    """The stored data items, JSON text: sent as they are."""

    def __len__(self) -> int:
        return len(self.outbox_ids)


@dataclass(frozen=True)
class Sent:
    """What the POST of one claim came to: TikTok's envelope or the error, and the HTTP requests it took."""

    claim: Claim
    outcome: dict[str, Any] | TikTokError
    requests: int
    retries: int


@dataclass(frozen=True)
class Recorded:
    """What recording one answer did."""

    accepted: int = 0
    rejected: int = 0
    rest: Claim | None = None
    """The rest of a batch TikTok rejected one event of, under a new batch id, to be sent again."""


def deliver(
    engine: Engine,
    client: TikTokClient,
    *,
    settings: DeliverySettings = DeliverySettings(),
    owner: str | None = None,
    is_owner_alive: Callable[[str], bool] | None = None,
    clock: Clock = utc_now,
) -> DeliveryReport:
    """Send every pending outbox event, destination by destination, in batches of ``settings.max_batch``,
    with up to ``settings.concurrency`` batches in flight.

    ``owner`` names this sender in the batch log (a Dagster run id, say);
    ``is_owner_alive(owner)`` lets stale claims of a sender known to be dead be
    reclaimed at once instead of after ``settings.claim_lease``.

    Returns what was done. Raises :class:`DeliveryError` when TikTok refuses
    the token or the request as a whole (nothing to retry); the events stay pending.
    """
    owner = owner or default_owner()
    report = DeliveryReport()
    report.reclaimed = reclaim_stale_claims(engine, owner=owner, is_owner_alive=is_owner_alive, lease=settings.claim_lease,
                                            now=clock())
    report.not_sent.update(expire_unsendable(engine, settings=settings, now=clock()))
    # Taken after the reclaim: rows it put back are this run's to send; rows this run's failed batches put back are not.
    senders = _Senders(engine, client, pending_destinations(engine), settings, report, owner, clock,
                       requeued_up_to=latest_batch_id(engine))
    # In-memory SQLite is one database per connection, so per thread: its senders must share this thread.
    threads = settings.concurrency if threads_share_the_database(engine) else 1
    if threads == 1:
        senders.run()
    else:
        with ThreadPoolExecutor(threads, thread_name_prefix="events-api-sender") as pool:
            running = [pool.submit(senders.run) for _ in range(threads)]
            try:
                for sender in running:
                    sender.result()
            except BaseException:
                # Interrupted (a terminated run, Ctrl-C): claim no more, let the batches in flight be recorded.
                senders.stop()
                raise
    senders.raise_failure()
    return report


class _Senders:
    """The senders of one :func:`deliver` call: each claims its own batch, POSTs it, records the answer, and again.

    While one sender waits for TikTok, the others claim and record, so requests
    overlap with the database work. No row is claimed twice: on PostgreSQL,
    ``FOR UPDATE SKIP LOCKED`` gives each claimer other rows; on SQLite, one
    writer at a time (``BEGIN IMMEDIATE``). Between processes that is all there
    is; inside this one, SQLite writers also queue on a lock here, woken the
    moment it is free instead of by SQLite's busy handler, which sleeps up to
    100 ms between tries. On PostgreSQL claims run side by side, choosing
    their rows in turns (:class:`ClaimCursor`): a row a failed batch of this
    run put back to pending is not taken again, because claims leave rows put
    back by batches newer than the run's start (``requeued_up_to``), whatever
    cursor they read. Each sender holds one
    connection at a time and no lock while it waits for TikTok, so none waits
    on another in a circle.

    A destination whose retries ran out is paused (its batches in flight are
    still recorded). Any other error stops all claims; the batches in flight
    finish and are recorded, then :meth:`raise_failure` raises the first error.
    """

    def __init__(self, engine: Engine, client: TikTokClient, destinations: Sequence[Destination],
                 settings: DeliverySettings, report: DeliveryReport, owner: str, clock: Clock, *,
                 requeued_up_to: int) -> None:
        self._engine = engine
        self._requeued_up_to = requeued_up_to
        """Batches after this one started during this run: rows they put back to pending wait for the next run."""
        self._client = client
        self._settings = settings
        self._owner = owner
        self._clock = clock
        self._lock = threading.Lock()
        """Guards what follows: the destinations still to claim from, the report, the pauses, the first failure."""
        self._destinations = deque(destinations)
        self._report = report
        self._paused: set[Destination] = set()
        self._cursors: dict[Destination, ClaimCursor] = {}
        self._failure: Exception | None = None
        self._writing: AbstractContextManager[object] = (
            threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        )

    def run(self) -> None:
        """One sender, until nothing is left to claim or something failed."""
        try:
            while (claim := self._next_claim()) is not None:
                while claim is not None:
                    claim = self._send(claim)
        except Exception as error:  # noqa: BLE001 - raised by raise_failure() once every sender has stopped
            self._fail(error)

    def raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def stop(self) -> None:
        with self._lock:
            self._destinations.clear()

    def _next_claim(self) -> Claim | None:
        while True:
            with self._writing:
                with self._lock:
                    if self._failure is not None or not self._destinations:
                        return None
                    destination = self._destinations[0]
                    cursor = self._cursors.setdefault(destination, ClaimCursor())
                claim = claim_batch(self._engine, destination, self._settings.max_batch, owner=self._owner,
                                    now=self._clock(), cursor=cursor, requeued_up_to=self._requeued_up_to)
                with self._lock:
                    if claim is not None:
                        return claim
                    if self._destinations and self._destinations[0] == destination:
                        self._destinations.popleft()

    def _send(self, claim: Claim) -> Claim | None:
        """POST one claim and record the answer; returns what is left of it to send again."""
        sent = post_claim(self._client, claim)
        with self._lock:
            _count_sent(self._report, sent)
        outcome = sent.outcome
        # Stop claiming first: once recorded, the rows are pending again and no sender should take them this run.
        # Throttling (40100/40016/40133, HTTP 429) and server errors end here only after the client's retries:
        # TikTok is busy for this destination, not refusing it, so pause it and never call it a token problem.
        if isinstance(outcome, TikTokRetriesExhausted) or (isinstance(outcome, TikTokError) and outcome.retryable):
            self._pause(claim.destination, outcome)
        elif isinstance(outcome, TikTokError) and not isinstance(outcome, TikTokBadParameterError):
            self._fail(_refused(claim.destination, outcome))
        with self._writing:
            recorded = record_outcome(self._engine, sent, self._owner, self._clock)
        with self._lock:
            if claim.destination.test_event_code:
                self._report.test_accepted += recorded.accepted
            else:
                self._report.accepted += recorded.accepted
            self._report.rejected += recorded.rejected
        return recorded.rest

    def _pause(self, destination: Destination, error: TikTokError) -> None:
        """Claim no more for ``destination`` (TikTok is unavailable for it); its events stay pending for the next run."""
        with self._lock:
            if destination in self._paused:
                return  # another of its batches in flight ran out of retries too
            self._paused.add(destination)
            if destination in self._destinations:
                self._destinations.remove(destination)
            problem = f"{destination.event_source} {destination.event_source_id}: {error}"
            self._report.problems.append(problem)
        log.warning("Events API delivery paused for %s; its events stay pending", problem)

    def _fail(self, error: Exception) -> None:
        with self._lock:
            self._failure = self._failure or error


def _count_sent(report: DeliveryReport, sent: Sent) -> None:
    report.batches += 1
    report.requests += sent.requests
    report.client_retries += sent.retries
    report.events_sent += len(sent.claim)


def pending_destinations(engine: Engine) -> list[Destination]:
    queue = postback_queue
    statement = (
        sa.select(queue.c.event_source, queue.c.event_source_id, queue.c.test_event_code)
        .distinct()
        .order_by(queue.c.event_source, queue.c.event_source_id)
    )
    with engine.connect() as connection:
        return [Destination(*row) for row in connection.execute(statement).all()]


def latest_batch_id(engine: Engine) -> int:
    """The newest batch id so far (0 before the first): batches opened from now on have larger ids."""
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.coalesce(sa.func.max(postback_batches.c.batch_id), 0))).scalar_one()


class ClaimCursor:
    """Where a destination's next claim starts, and the turns claims take to choose their rows.

    The claims of one delivery choose their rows one at a time; the rest of
    each claim (taking the rows, reading payloads, the commit) runs side by
    side. Choosing alongside another claim, a claim would pass over the rows
    the other had locked so far and take a scattered set, so the last rows of
    a destination could be split into more requests than ceil(n/1000).
    """

    def __init__(self) -> None:
        self._turn = threading.Lock()
        self.after = 0
        """The last outbox_id chosen: the next claim starts after it."""

    def choose(self, choose_rows: Callable[[int], Sequence[int]]) -> Sequence[int]:
        """``choose_rows(after)`` in turn with the other claims; the cursor moves past what it chose.

        It moves at once, before the claim commits: a claim that then fails
        leaves its rows for the next delivery (the failure stops this one).
        """
        with self._turn:
            chosen = choose_rows(self.after)
            if chosen:
                self.after = max(self.after, chosen[-1])
            return chosen


def claim_batch(engine: Engine, destination: Destination, size: int, *, owner: str, now: datetime,
                cursor: ClaimCursor | None = None, requeued_up_to: int | None = None) -> Claim | None:
    """Step 1: mark up to ``size`` pending rows of ``destination`` as sending, in one transaction; None when none are left.

    The rows come out of ``postback_queue`` in queue order; on PostgreSQL
    ``FOR UPDATE SKIP LOCKED`` gives concurrent claimers disjoint rows.
    ``cursor``: the destination's :class:`ClaimCursor` in this delivery, so
    each claim starts where the last one ended and claims choose in turns; a
    fresh one (from the first row) when None.
    ``requeued_up_to``: of the rows put back to pending after a send, only
    those put back by a batch up to this id. A delivery passes the last batch
    id from before it started, so rows its own failed batches put back stay
    for the next run (their destination is paused then anyway).
    """
    outbox, queue = postback_outbox, postback_queue
    stamp = utc_naive(now)
    of_destination = sa.and_(
        queue.c.event_source_id == destination.event_source_id,
        queue.c.event_source == destination.event_source,
    )
    candidates = (
        sa.select(queue.c.outbox_id)
        .where(of_destination, queue.c.test_event_code.is_not_distinct_from(destination.test_event_code))
        .order_by(queue.c.outbox_id)
        .limit(size)
    )
    if requeued_up_to is not None:
        candidates = candidates.where(sa.or_(queue.c.last_batch_id.is_(None), queue.c.last_batch_id <= requeued_up_to))
    cursor = cursor or ClaimCursor()
    with write_transaction(engine) as connection:
        dialect = connection.dialect.name

        def choose_rows(after: int) -> list[int]:
            selection = _skipping_locked(candidates.where(queue.c.outbox_id > after), dialect)
            return list(connection.execute(selection).scalars())

        while True:
            queued = cursor.choose(choose_rows)
            if not queued:
                return None
            connection.execute(sa.delete(queue).where(ids_in(queue.c.outbox_id, queued, dialect)))
            batch_id = _open_batch(connection, destination, queued, owner, stamp)
            claimed = connection.execute(
                sa.update(outbox)
                # state: a queue row whose outbox row is not pending is stale, and dropped with the delete above.
                .where(ids_in(outbox.c.outbox_id, queued, dialect), outbox.c.state == "pending")
                .values(
                    state="sending",
                    batch_id=batch_id,
                    attempts=outbox.c.attempts + 1,
                    first_attempt_at=sa.func.coalesce(outbox.c.first_attempt_at, stamp),
                    last_attempt_at=stamp,
                )
                .returning(outbox.c.outbox_id)
            ).scalars().all()
            if len(claimed) == len(queued):
                break
            batches = postback_batches
            if not claimed:
                connection.execute(sa.delete(batches).where(batches.c.batch_id == batch_id))
                continue
            claimed = sorted(claimed)
            connection.execute(sa.update(batches).where(batches.c.batch_id == batch_id)
                               .values(size=len(claimed), first_outbox_id=claimed[0], last_outbox_id=claimed[-1]))
            break
        # The payloads of the rows this claim took, in queue order.
        rows = connection.execute(
            sa.select(postback_payloads.c.outbox_id, postback_payloads.c.payload)
            .where(ids_in(postback_payloads.c.outbox_id, claimed, dialect))
            .order_by(postback_payloads.c.outbox_id)
        ).all()
    return Claim(batch_id, destination, tuple(outbox_id for outbox_id, _ in rows), tuple(payload for _, payload in rows))


def _skipping_locked(selection: sa.Select, dialect: str) -> sa.Select:
    """``selection`` locking the queue rows it reads and passing over rows another transaction holds (PostgreSQL).

    SQLite needs neither: one writer at a time.
    """
    return selection.with_for_update(skip_locked=True) if dialect == "postgresql" else selection


def _open_batch(connection: Connection, destination: Destination, outbox_ids: Sequence[int], owner: str,
                stamp: datetime) -> int:
    """Log a batch of ``outbox_ids`` (in queue order) as being sent; returns its id."""
    return connection.execute(
        sa.insert(postback_batches)
        .values(event_source=destination.event_source, event_source_id=destination.event_source_id,
                size=len(outbox_ids), owner=owner, sent_at=stamp, outcome="sending",
                first_outbox_id=min(outbox_ids), last_outbox_id=max(outbox_ids))
        .returning(postback_batches.c.batch_id)
    ).scalar_one()


def _close_batch(connection: Connection, batch_id: int, outcome: str, now: datetime, *, requests: int,
                 code: int | None = None, message: str | None = None, request_id: str | None = None) -> None:
    batches = postback_batches
    connection.execute(
        sa.update(batches)
        # A batch already marked abandoned by a reclaim stays so.
        .where(batches.c.batch_id == batch_id, batches.c.outcome == "sending")
        .values(outcome=outcome, finished_at=utc_naive(now), http_requests=requests, code=code, message=message,
                request_id=request_id)
    )


def _in_claim(claim: Claim, dialect: str) -> sa.ColumnElement[bool]:
    """The rows of ``claim`` still in flight under it, found by id (the primary key)."""
    return sa.and_(ids_in(postback_outbox.c.outbox_id, claim.outbox_ids, dialect), _still_in(claim))


def _still_in(claim: Claim) -> sa.ColumnElement[bool]:
    # The fence: rows a reclaim took over meanwhile are no longer 'sending' under this batch.
    return sa.and_(postback_outbox.c.batch_id == claim.batch_id, postback_outbox.c.state == "sending")


def post_claim(client: TikTokClient, claim: Claim) -> Sent:
    """Step 2, on a sender thread: POST the claim's stored payloads as they are (no database work here)."""
    tally = RequestStats()
    outcome: dict[str, Any] | TikTokError
    try:
        outcome = client.track_encoded_events(track_body(claim.destination, []), claim.payloads, tally=tally)
    except TikTokError as error:
        outcome = error
    return Sent(claim, outcome, tally.requests, tally.retries)


def record_outcome(engine: Engine, sent: Sent, owner: str, clock: Clock) -> Recorded:
    """Step 3 for one POST, in one transaction: accepted; rejected events dead-lettered and the rest of the
    batch claimed again; or, when the request failed, the rows back to pending."""
    outbox = postback_outbox
    claim, outcome, requests = sent.claim, sent.outcome, sent.requests
    # Each extra request carried the whole batch again: count it on every row.
    extra_attempts = outbox.c.attempts + max(requests - 1, 0)
    now = clock()
    stamp = utc_naive(now)

    if isinstance(outcome, dict):
        with write_transaction(engine) as connection:
            accepted = connection.execute(
                sa.update(outbox).where(_in_claim(claim, connection.dialect.name))
                .values(state="accepted", accepted_at=stamp, attempts=extra_attempts, last_error=None)
            ).rowcount
            _close_batch(connection, claim.batch_id, "accepted", now, requests=requests, code=0,
                         message=outcome.get("message"), request_id=outcome.get("request_id"))
        return Recorded(accepted=accepted)

    if isinstance(outcome, TikTokBadParameterError):
        message = outcome.tiktok_message
        index = rejected_index(message, len(claim))
        with write_transaction(engine) as connection:
            # Outbox rows first, then the batch: the order a reclaim locks them in.
            connection.execute(sa.update(outbox).where(_in_claim(claim, connection.dialect.name))
                               .values(attempts=extra_attempts))
            _close_batch(connection, claim.batch_id, "rejected", now, requests=requests, code=outcome.code,
                         message=message, request_id=outcome.request_id)
            rejected = _dead_letter(
                connection,
                claim.outbox_ids if index is None else (claim.outbox_ids[index],),
                _still_in(claim),
                reason="rejected",
                detail=f"TikTok rejected it (code {outcome.code}): {message}" if index is not None
                else f"TikTok rejected the whole request (code {outcome.code}): {message}",
                now=now, code=outcome.code, message=message, batch_id=claim.batch_id, request_id=outcome.request_id,
            )
            if index is None:
                return Recorded(rejected=rejected)
            rest = _rebatch_without(connection, claim, index, owner, stamp)
        if not len(rest):
            return Recorded(rejected=rejected)
        log.warning("Events API rejected event %d of batch %d for %s (%s); re-sending the other %d",
                    index, claim.batch_id, claim.destination.event_source_id, message, len(rest))
        return Recorded(rejected=rejected, rest=rest)

    # Not sent, or the answer never came: the rows go back to the queue with their attempt counted.
    with write_transaction(engine) as connection:
        returned = connection.execute(
            sa.update(outbox).where(_in_claim(claim, connection.dialect.name))
            .values(state="pending", attempts=extra_attempts, last_error=str(outcome))
            .returning(outbox.c.outbox_id)
        ).scalars().all()
        _requeue(connection, returned)
        _close_batch(connection, claim.batch_id, "failed", now, requests=requests,
                     code=getattr(outcome, "code", None), message=str(outcome))
    return Recorded()


def _requeue(connection: Connection, outbox_ids: Sequence[int]) -> None:
    """Queue rows just put back to pending again."""
    for chunk in _chunks(outbox_ids):
        queue_pending_rows(connection, ids_in(postback_outbox.c.outbox_id, chunk, connection.dialect.name))


def _refused(destination: Destination, error: TikTokError) -> DeliveryError:
    # Name the cause TikTok's code means (tiktok/codes.py): only an auth code is a token problem.
    if isinstance(error, TikTokAuthenticationError):
        cause = "fix the access token"
    elif isinstance(error, TikTokPermissionError):
        cause = f"check that the access token may send events for {destination.event_source_id}"
    else:
        cause = "fix the cause (TikTok's message above, or the base URL)"
    return DeliveryError(
        f"Events API refused the request for {destination.event_source} {destination.event_source_id}: "
        f"{error}. Nothing was lost: the events stay pending; {cause} and re-run."
    )


def rejected_index(message: str, batch_size: int) -> int | None:
    """The index TikTok's rejection message names (``"Batch.3.user.email: ..."`` → 3), None if it names none."""
    match = _BATCH_INDEX.match(message.strip())
    if match is None:
        return None
    index = int(match.group(1))
    return index if index < batch_size else None


def _rebatch_without(connection: Connection, claim: Claim, index: int, owner: str, stamp: datetime) -> Claim:
    """The rest of a rejected batch, under a new batch id, ready to be sent again."""
    outbox = postback_outbox
    rest_ids = claim.outbox_ids[:index] + claim.outbox_ids[index + 1:]
    rest_payloads = claim.payloads[:index] + claim.payloads[index + 1:]
    if not rest_ids:
        return Claim(claim.batch_id, claim.destination, (), ())
    batch_id = _open_batch(connection, claim.destination, rest_ids, owner, stamp)
    connection.execute(
        sa.update(outbox).where(_in_claim(claim, connection.dialect.name))
        .values(batch_id=batch_id, attempts=outbox.c.attempts + 1, last_attempt_at=stamp)
    )
    return Claim(batch_id, claim.destination, rest_ids, rest_payloads)


def _dead_letter(
    connection: Connection,
    outbox_ids: Sequence[int],
    fence: sa.ColumnElement[bool],
    *,
    reason: str,
    detail: str,
    now: datetime,
    code: int | None = None,
    message: str | None = None,
    batch_id: int | None = None,
    request_id: str | None = None,
) -> int:
    """Move the outbox rows of ``outbox_ids`` still matching ``fence`` to state dead (out of the queue, if there)
    and copy them to the dead letters; returns how many."""
    outbox, payloads, queue = postback_outbox, postback_payloads, postback_queue
    dialect = connection.dialect.name
    copied = ("outbox_id", "event_source", "event_source_id", "event", "event_id", "source_event_id", "event_time")
    extra = {"reason": reason, "detail": detail, "code": code, "message": message, "batch_id": batch_id,
             "request_id": request_id, "dead_at": utc_naive(now)}
    columns = [*(outbox.c[name] for name in copied), payloads.c.payload,
               *(sa.literal(value, postback_dead_letters.c[name].type).label(name) for name, value in extra.items())]
    dead = 0
    for chunk in _chunks(outbox_ids):
        moved = connection.execute(
            sa.update(outbox).where(ids_in(outbox.c.outbox_id, chunk, dialect), fence)
            .values(state="dead", dead_reason=reason, last_error=detail)
            .returning(outbox.c.outbox_id)
        ).scalars().all()
        if not moved:
            continue
        connection.execute(sa.delete(queue).where(ids_in(queue.c.outbox_id, moved, dialect)))
        connection.execute(
            sa.insert(postback_dead_letters).from_select(
                [*copied, "payload", *extra],
                sa.select(*columns).select_from(outbox.join(payloads, payloads.c.outbox_id == outbox.c.outbox_id))
                .where(ids_in(outbox.c.outbox_id, moved, dialect)),
            )
        )
        dead += len(moved)
    return dead


def reclaim_stale_claims(
    engine: Engine, *, owner: str, is_owner_alive: Callable[[str], bool] | None, lease: timedelta, now: datetime
) -> int:
    """Put rows of dead claims back to pending (same event_id: TikTok drops the copy if the first send arrived)."""
    batches = postback_batches
    with engine.connect() as connection:
        open_batches = connection.execute(
            sa.select(batches.c.batch_id, batches.c.owner, batches.c.sent_at).where(batches.c.outcome == "sending")
        ).all()
    lease_cutoff = utc_naive(now) - lease
    verdicts: dict[str, bool] = {}

    def owner_dead(batch_owner: str) -> bool:
        if is_owner_alive is None or batch_owner == owner:
            return False
        if batch_owner not in verdicts:
            verdicts[batch_owner] = not is_owner_alive(batch_owner)
        return verdicts[batch_owner]

    stale = [batch_id for batch_id, batch_owner, sent_at in open_batches if sent_at <= lease_cutoff or owner_dead(batch_owner)]
    if not stale:
        return 0
    reclaimed = 0
    outbox = postback_outbox
    with write_transaction(engine) as connection:
        for chunk in _chunks(stale):
            stale_batches = sa.select(batches).where(batches.c.batch_id.in_(chunk), batches.c.outcome == "sending").subquery()
            in_stale_batch = sa.exists().where(in_open_batch(stale_batches))
            returned = connection.execute(
                sa.update(outbox).where(in_stale_batch)
                .values(state="pending",
                        last_error="claim abandoned (sender crashed or timed out): re-sent with the same event_id")
                .returning(outbox.c.outbox_id)
            ).scalars().all()
            _requeue(connection, returned)
            reclaimed += len(returned)
            connection.execute(
                sa.update(batches).where(batches.c.batch_id.in_(chunk), batches.c.outcome == "sending")
                .values(outcome="abandoned", finished_at=utc_naive(now))
            )
    log.warning("Reclaimed %d events of %d abandoned Events API batches; they are re-sent with their event_id",
                reclaimed, len(stale))
    return reclaimed


def expire_unsendable(engine: Engine, *, settings: DeliverySettings, now: datetime) -> Counter[str]:
    """Dead-letter pending rows that must not be sent: past the re-send window, or older than TikTok accepts."""
    queue = postback_queue
    pending = postback_outbox.c.state == "pending"
    stamp = utc_naive(now)
    expired: Counter[str] = Counter()
    with write_transaction(engine) as connection:

        def queued(condition: sa.ColumnElement[bool]) -> list[int]:
            # The queue alone says which rows to look at: it is small, and holds both times. Its rows are
            # locked first, as a claim locks them, so the two never wait on each other in a circle; a row
            # another process is claiming right now is left to it.
            selection = sa.select(queue.c.outbox_id).where(condition)
            return list(connection.execute(_skipping_locked(selection, connection.dialect.name)).scalars())

        past_window = queued(queue.c.first_attempt_at <= stamp - settings.resend_window)
        expired["dedup_window"] += _dead_letter(
            connection, past_window, pending,
            reason="dedup_window",
            detail=f"{DEDUP_WINDOW_DETAIL}: first sent over {_hours(settings.resend_window)} h ago, and TikTok "
            "deduplicates for 48 h only; if the first send arrived, a copy now would count twice",
            now=now,
        )
        for source, max_age in sorted(settings.max_event_age.items()):
            too_old = queued(sa.and_(queue.c.event_source == source,
                                     queue.c.event_time < stamp - max_age + settings.age_margin))
            expired["too_old"] += _dead_letter(
                connection, too_old, pending,
                reason="too_old",
                detail=f"older than TikTok accepts ({_hours(max_age) // 24} days for {source} events): not sent",
                now=now,
            )
    return +expired


def _hours(span: timedelta) -> int:
    return int(span.total_seconds() // 3600)


def _chunks(ids: Sequence[int]) -> list[Sequence[int]]:
    return [ids[start:start + _ID_CHUNK] for start in range(0, len(ids), _ID_CHUNK)]


def resend_dead_letters(engine: Engine, event_ids: Sequence[str] | None = None) -> int:
    """Queue events TikTok rejected to be sent again (by the next delivery); returns how many. The dead letters stay as history.

    For after their cause is fixed: the pixel set up, or the stored payload
    corrected by hand (``postback_payloads``; a corrected mapping does not
    reach events already queued). ``event_ids``: only these (the key's
    event_id), else every rejected event. Their first attempt is forgotten:
    TikTok refused them, so no earlier copy was counted that a re-send could
    duplicate. Events dead-lettered because TikTok's 48 h dedup window passed
    or because they are older than TikTok accepts are never re-sent.
    """
    outbox = postback_outbox
    chosen = sa.and_(outbox.c.state == "dead", outbox.c.dead_reason == "rejected")
    if event_ids is not None:
        if isinstance(event_ids, str):
            raise TypeError(f"event_ids must be a list of event ids, got the single string {event_ids!r}")
        chosen = sa.and_(chosen, outbox.c.event_id.in_(list(event_ids)))
    with write_transaction(engine) as connection:
        requeued = connection.execute(
            sa.update(outbox).where(chosen)
            .values(state="pending", dead_reason=None, first_attempt_at=None,
                    last_error="rejected earlier, queued again by resend_dead_letters")
            .returning(outbox.c.outbox_id)
        ).scalars().all()
        _requeue(connection, requeued)
    return len(requeued)
