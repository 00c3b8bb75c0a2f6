"""Several batches in flight: each event sent once, ceil(n/1000) requests per source, the stored payloads sent byte for byte,
and rejections, retries that run out and a refused token handled as with one batch at a time."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa

from tiktok_assets.postbacks.delivery import (
    ClaimCursor,
    DeliverySettings,
    Sent,
    claim_batch,
    deliver,
    latest_batch_id,
    record_outcome,
)
from tiktok_assets.postbacks.errors import DeliveryError
from tiktok_assets.postbacks.mapping import Destination
from tiktok_assets.postbacks.outbox import enqueue, map_and_enqueue
from tiktok_assets.postbacks.payloads import TikTokEvent, track_body
from tiktok_assets.postbacks.store import (
    ensure_postback_tables,
    postback_batches,
    postback_dead_letters,
    postback_outbox,
    postback_payloads,
    store_events,
)
from tiktok_assets.simulator import DEFAULT_ACCESS_TOKEN
from tiktok_assets.tiktok.client import TikTokClient
from tiktok_assets.tiktok.errors import TikTokRetriesExhausted, TikTokTransportError
from tiktok_assets.warehouse import make_engine
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.postbacks.helpers import (
    APP_ID,
    FAST_RETRY,
    HOUR_END,
    HOUR_START,
    PIXEL,
    accepted_keys,
    app_event,
    at,
    sim_client,
    web_event,
)

TRACK_PATH = "/open_api/v1.3/event/track/"
EVENT_TIME = int(HOUR_START.timestamp()) + 600
WEB = Destination("web", PIXEL)


def view(event_id: str, content_id: object = "8100", destination: Destination = WEB, name: str = "Hoodie") -> TikTokEvent:
    data = {
        "event": "ViewContent", "event_time": EVENT_TIME, "event_id": event_id,
        "page": {"url": "https://shop.example.com/p"},
        "properties": {"contents": [{"content_id": content_id, "content_type": "product", "content_name": name}]},
    }
    return TikTokEvent(destination, "ViewContent", event_id, event_id, data)


def outbox_rows(engine) -> list[sa.Row]:
    with engine.connect() as connection:
        return connection.execute(
            sa.select(postback_outbox.c.outbox_id, postback_outbox.c.event_id, postback_outbox.c.state,
                      postback_outbox.c.attempts, postback_outbox.c.batch_id).order_by(postback_outbox.c.outbox_id)
        ).all()


def batch_log(engine) -> list[sa.Row]:
    with engine.connect() as connection:
        return connection.execute(
            sa.select(postback_batches.c.batch_id, postback_batches.c.size, postback_batches.c.outcome,
                      postback_batches.c.http_requests).order_by(postback_batches.c.batch_id)
        ).all()


class RecordingTransport(httpx.BaseTransport):
    """The in-process simulator, keeping each request body as it went over the wire."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.bodies: list[bytes] = []
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.bodies.append(request.read())
        return self.inner.handle_request(request)


def test_concurrent_senders_send_each_event_once_in_ceil_n_over_1000_requests_per_source(engine, mapping, loopback_simulator):
    simulator, base_url = loopback_simulator
    web = [web_event(f"w{index:05d}", "$page_load", minute=index % 60) for index in range(4500)]
    app = [app_event(f"a{index:05d}", "View content", minute=index % 60) for index in range(1200)]
    store_events(engine, [*web, *app], received_at=SIM_NOW)
    map_and_enqueue(engine, HOUR_START, HOUR_END, mapping, now=SIM_NOW)
    # Each request waits (up to 2 s) until another one is in flight too: only overlapping requests are quick.
    original, in_flight, most_in_flight, lock, overlapped = simulator.handle, 0, 0, threading.Lock(), threading.Event()

    def slow_handle(*args):
        nonlocal in_flight, most_in_flight
        with lock:
            in_flight += 1
            most_in_flight = max(most_in_flight, in_flight)
            if in_flight > 1:
                overlapped.set()
        overlapped.wait(timeout=2)
        try:
            return original(*args)
        finally:
            with lock:
                in_flight -= 1

    simulator.handle = slow_handle
    with sim_client(simulator, base_url) as client:
        report = deliver(engine, client, settings=DeliverySettings(concurrency=4), clock=at(SIM_NOW))

    assert 2 <= most_in_flight <= 4
    assert simulator.events.requests == {PIXEL: 5, APP_ID: 2}  # ceil(4500/1000), ceil(1200/1000)
    assert (report.batches, report.requests, report.client_retries, report.accepted) == (7, 7, 0, 5700)
    keys = accepted_keys(simulator)
    assert len(keys) == len(set(keys)) == 5700
    assert simulator.events.duplicates_dropped == 0
    rows = outbox_rows(engine)
    assert {(row.state, row.attempts) for row in rows} == {("accepted", 1)}
    batches = batch_log(engine)
    assert sorted(batch.size for batch in batches) == [200, 500, 1000, 1000, 1000, 1000, 1000]
    assert {(batch.outcome, batch.http_requests) for batch in batches} == {("accepted", 1)}
    # Every row is in exactly one batch, of the size the batch log says.
    assert Counter(row.batch_id for row in rows) == {batch.batch_id: batch.size for batch in batches}


def test_the_request_body_is_the_stored_payloads_byte_for_byte(engine, simulator):
    test_mode = Destination("web", PIXEL, test_event_code="TEST42")
    events = [view(f"v{index}", name="Café – Größe M") for index in range(2300)]
    events += [view(f"t{index}", destination=test_mode) for index in range(3)]
    enqueue(engine, events, now=SIM_NOW)
    # Valid JSON that no encoder of ours writes: sent as stored, it arrives so; parsed and re-encoded, it would not.
    with engine.begin() as connection:
        connection.execute(sa.update(postback_payloads).where(postback_payloads.c.outbox_id == 6)
                           .values(payload=sa.func.replace(postback_payloads.c.payload, "Café", "Caf\\u00e9")))
    recording = RecordingTransport(simulator.transport())

    with TikTokClient(DEFAULT_ACCESS_TOKEN, "http://simulator.local", qps=None, transport=recording) as client:
        report = deliver(engine, client, clock=at(SIM_NOW))

    # The 3 test-mode events reach Events Manager's test tool only: counted apart from live conversions.
    assert (report.accepted, report.test_accepted) == (2300, 3)
    with engine.connect() as connection:
        stored = connection.execute(
            sa.select(postback_outbox.c.batch_id, postback_outbox.c.test_event_code, postback_payloads.c.payload)
            .join_from(postback_outbox, postback_payloads, postback_payloads.c.outbox_id == postback_outbox.c.outbox_id)
            .order_by(postback_outbox.c.outbox_id)
        ).all()
    payloads_by_batch: dict[int, list[str]] = {}
    code_of_batch: dict[int, str | None] = {}
    for batch_id, code, payload in stored:
        payloads_by_batch.setdefault(batch_id, []).append(payload)
        code_of_batch[batch_id] = code
    assert sum('"Caf\\u00e9' in payload for payload in payloads_by_batch[stored[0].batch_id]) == 1
    expected = {}
    for batch_id, payloads in payloads_by_batch.items():
        head = '{"event_source":"web","event_source_id":"' + PIXEL + '"'
        if code_of_batch[batch_id]:
            head += f',"test_event_code":"{code_of_batch[batch_id]}"'
        expected[batch_id] = (head + ',"data":[' + ",".join(payloads) + "]}").encode()
    assert sorted(recording.bodies) == sorted(expected.values())
    # What was sent before, when the payloads were parsed and the body encoded by httpx: the same JSON.
    for batch_id, body in expected.items():
        destination = test_mode if code_of_batch[batch_id] else WEB
        assert json.loads(body) == track_body(destination, [json.loads(payload) for payload in payloads_by_batch[batch_id]])
    assert sum(b"Caf\\u00e9" in body for body in recording.bodies) == 1
    assert any("Café – Größe M".encode() in body for body in recording.bodies)  # UTF-8 as stored


def test_rejections_in_concurrent_batches_dead_letter_only_the_events_named(engine, simulator):
    # Four batches of 5; TikTok refuses the numeric content_id of events 2, 7 and 13 (one in each of three batches).
    bad = {2, 7, 13}
    enqueue(engine, [view(f"v{index:02d}", 8100 if index in bad else "8100") for index in range(20)], now=SIM_NOW)

    with sim_client(simulator) as client:
        report = deliver(engine, client, settings=DeliverySettings(max_batch=5, concurrency=4), clock=at(SIM_NOW))

    assert (report.batches, report.requests, report.accepted, report.rejected) == (7, 7, 17, 3)
    assert simulator.events.requests == {PIXEL: 7}  # 4 batches, and 3 re-sends of the rest of a rejected one
    assert sorted(event_id for _, _, event_id in accepted_keys(simulator)) == [f"v{i:02d}" for i in range(20) if i not in bad]
    with engine.connect() as connection:
        letters = dict(connection.execute(sa.select(postback_dead_letters.c.event_id, postback_dead_letters.c.message)).all())
    assert letters == {
        "v02": "Batch.2.properties.contents.0.content_id: Not a valid string",
        "v07": "Batch.2.properties.contents.0.content_id: Not a valid string",
        "v13": "Batch.3.properties.contents.0.content_id: Not a valid string",
    }
    attempts = {row.event_id: (row.state, row.attempts) for row in outbox_rows(engine)}
    rest_of_rejected = {f"v{i:02d}" for i in range(15)} - {f"v{i:02d}" for i in bad}
    assert attempts == {
        **{f"v{i:02d}": ("dead", 1) for i in bad},
        **{event_id: ("accepted", 2) for event_id in rest_of_rejected},
        **{f"v{i:02d}": ("accepted", 1) for i in range(15, 20)},
    }


def test_retries_running_out_in_concurrent_batches_pause_once_and_count_each_batchs_requests(engine, mapping, simulator):
    store_events(engine, [web_event(f"w{index:04d}", "$page_load", minute=index % 60) for index in range(2500)],
                 received_at=SIM_NOW)
    map_and_enqueue(engine, HOUR_START, HOUR_END, mapping, now=SIM_NOW)
    simulator.faults.inject("rate_limit", 100, path_contains="/event/track/")

    with sim_client(simulator) as client:  # FAST_RETRY: 4 attempts a batch
        stalled = deliver(engine, client, settings=DeliverySettings(concurrency=4), clock=at(SIM_NOW))

    assert len(stalled.problems) == 1 and PIXEL in stalled.problems[0]
    assert stalled.accepted == 0 and 1 <= stalled.batches <= 3
    # Requests counted per batch, not from the client's shared counters.
    assert stalled.requests == FAST_RETRY.max_attempts * stalled.batches == simulator.request_counts[TRACK_PATH]
    batches = batch_log(engine)
    assert [(batch.outcome, batch.http_requests) for batch in batches] == [("failed", FAST_RETRY.max_attempts)] * stalled.batches
    rows = outbox_rows(engine)
    assert {row.state for row in rows} == {"pending"}
    assert Counter(row.attempts for row in rows) == Counter({FAST_RETRY.max_attempts: stalled.events_sent,
                                                             0: 2500 - stalled.events_sent})

    simulator.faults.clear()
    with sim_client(simulator) as client:
        resumed = deliver(engine, client, clock=at(SIM_NOW))
    assert (resumed.batches, resumed.requests, resumed.accepted) == (3, 3, 2500)
    keys = accepted_keys(simulator)
    assert len(keys) == len(set(keys)) == 2500


def test_claims_side_by_side_split_a_destination_into_full_batches_only(engine):
    # Eight claimers at once on one cursor: each batch is full but the last, so n rows take
    # ceil(n / size) requests. Choosing alongside each other, claimers took scattered, short sets.
    enqueue(engine, [view(f"v{index:05d}") for index in range(10_250)], now=SIM_NOW)
    cursor = ClaimCursor()

    def claim_all() -> list[int]:
        sizes = []
        while (claim := claim_batch(engine, WEB, 1000, owner="run-1", now=SIM_NOW, cursor=cursor)) is not None:
            sizes.append(len(claim))
        return sizes

    with ThreadPoolExecutor(8) as pool:
        sizes = [size for claimer in [pool.submit(claim_all) for _ in range(8)] for size in claimer.result()]

    assert sorted(sizes, reverse=True) == [1000] * 10 + [250]
    assert Counter(row.state for row in outbox_rows(engine)) == {"sending": 10_250}


def test_claims_choose_their_rows_in_turns_each_after_the_last_chosen():
    cursor, lock, choosing, most_choosing, seen_after = ClaimCursor(), threading.Lock(), 0, 0, []

    def choose_rows(after: int) -> list[int]:
        nonlocal choosing, most_choosing
        with lock:
            choosing += 1
            most_choosing = max(most_choosing, choosing)
            seen_after.append(after)
        time.sleep(0.02)  # long enough for the other claimers to arrive
        with lock:
            choosing -= 1
        return [after + 1, after + 10]

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: cursor.choose(choose_rows), range(8)))

    assert most_choosing == 1
    assert sorted(seen_after) == [10 * turn for turn in range(8)]  # each started after the last chosen id
    assert cursor.after == 80


def test_a_claim_does_not_take_back_rows_a_batch_of_its_own_run_put_back(engine):
    # What lets claims run side by side on PostgreSQL: a claim that read an old
    # cursor still cannot re-take rows a failed batch of the same run put back.
    enqueue(engine, [view(f"v{index:04d}") for index in range(1500)], now=SIM_NOW)
    run_started_after = latest_batch_id(engine)
    failed = claim_batch(engine, WEB, 1000, owner="run-1", now=SIM_NOW)
    gave_up = TikTokRetriesExhausted(TRACK_PATH, 4, TikTokTransportError("HTTP 503", endpoint=TRACK_PATH, status_code=503))
    record_outcome(engine, Sent(failed, gave_up, 4, 3), "run-1", at(SIM_NOW))
    assert {row.state for row in outbox_rows(engine)} == {"pending"}

    # The same run, cursor at 0: only the 500 rows never sent.
    same_run = claim_batch(engine, WEB, 1000, owner="run-1", now=SIM_NOW, requeued_up_to=run_started_after)
    assert set(same_run.outbox_ids).isdisjoint(failed.outbox_ids) and len(same_run) == 500
    assert claim_batch(engine, WEB, 1000, owner="run-1", now=SIM_NOW, requeued_up_to=run_started_after) is None
    # A later run takes them.
    next_run = claim_batch(engine, WEB, 1000, owner="run-2", now=SIM_NOW, requeued_up_to=latest_batch_id(engine))
    assert next_run.outbox_ids == failed.outbox_ids


def test_a_refused_token_stops_every_sender_and_leaves_the_events_pending(engine, simulator):
    enqueue(engine, [view(f"v{index:04d}") for index in range(3500)], now=SIM_NOW)
    secret = "not-a-valid-token-5f3a9c"

    with TikTokClient(secret, "http://simulator.local", qps=None, retry=FAST_RETRY, transport=simulator.transport(),
                      sleep=lambda _s: None) as client, pytest.raises(DeliveryError) as raised:
        deliver(engine, client, settings=DeliverySettings(concurrency=4), clock=at(SIM_NOW))

    assert "40105" in str(raised.value) and "events stay pending" in str(raised.value)
    assert secret not in str(raised.value)
    rows = outbox_rows(engine)
    assert {row.state for row in rows} == {"pending"}  # none left 'sending' by a sender that was in flight
    assert {batch.outcome for batch in batch_log(engine)} == {"failed"}
    with engine.connect() as connection:
        errors = connection.execute(sa.select(postback_outbox.c.last_error).distinct()).scalars().all()
    assert all(error is None or secret not in error for error in errors)
    assert simulator.events.accepted() == []


def test_in_memory_sqlite_delivers_from_one_thread(simulator):
    # Each thread would open a database of its own: the senders must stay in the calling thread.
    engine = make_engine("sqlite://")
    ensure_postback_tables(engine)
    enqueue(engine, [view(f"v{index:04d}") for index in range(2500)], now=SIM_NOW)

    with sim_client(simulator) as client:
        report = deliver(engine, client, settings=DeliverySettings(concurrency=4), clock=at(SIM_NOW))

    assert (report.batches, report.accepted) == (3, 2500)
    assert {row.state for row in outbox_rows(engine)} == {"accepted"}
    engine.dispose()
