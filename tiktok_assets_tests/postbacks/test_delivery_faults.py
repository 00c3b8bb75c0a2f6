"""Throttling, gateway errors and lost answers are retried; a re-sent batch is deduplicated by TikTok, not counted twice."""

from __future__ import annotations

import sqlalchemy as sa

from tiktok_assets.postbacks.delivery import DeliverySettings, deliver
from tiktok_assets.postbacks.outbox import delivery_summary, map_and_enqueue
from tiktok_assets.postbacks.store import postback_batches, postback_outbox, store_events
from tiktok_assets.tiktok.client import RetryPolicy
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.postbacks.helpers import HOUR_END, HOUR_START, PIXEL, accepted_keys, at, sim_client, web_event

TRACK = "/event/track/"
TRACK_PATH = "/open_api/v1.3/event/track/"


def queue_page_views(engine, mapping, count: int) -> None:
    store_events(engine, [web_event(f"w{index:04d}", "$page_load", minute=index % 60) for index in range(count)], received_at=SIM_NOW)
    map_and_enqueue(engine, HOUR_START, HOUR_END, mapping, now=SIM_NOW)


def test_throttling_gateway_errors_resets_and_timeouts_are_retried_without_double_counting(engine, mapping, simulator):
    queue_page_views(engine, mapping, 1500)
    # FIFO: the first batch meets each fault in turn; the timeout is processed by TikTok, then its answer is lost.
    for kind in ("rate_limit", "http_503", "connection_reset", "timeout"):
        simulator.faults.inject(kind, 1, path_contains=TRACK)

    with sim_client(simulator, retry=RetryPolicy(max_attempts=5, base_delay=0.001)) as client:
        # One batch in flight: the faults go to whichever request comes first.
        report = deliver(engine, client, settings=DeliverySettings(concurrency=1), clock=at(SIM_NOW))

    assert simulator.request_counts[TRACK_PATH] == 5 + 1  # batch 1: four faults then success; batch 2: once
    assert (report.batches, report.requests, report.client_retries, report.accepted) == (2, 6, 4, 1500)
    keys = accepted_keys(simulator)
    assert len(keys) == len(set(keys)) == 1500
    # The lost answer's batch arrived twice: TikTok kept the first copy of each event.
    assert simulator.events.duplicates_dropped == 1000
    summary = delivery_summary(engine, HOUR_START, HOUR_END)
    assert summary[["sent", "accepted", "retried", "undelivered"]].iloc[0].tolist() == [1500, 1500, 1000, 0]
    with engine.connect() as connection:
        attempts = dict(connection.execute(
            sa.select(postback_outbox.c.attempts, sa.func.count()).group_by(postback_outbox.c.attempts)).all())
    assert attempts == {5: 1000, 1: 500}


def test_retries_that_run_out_leave_events_pending_for_the_next_run(engine, mapping, simulator):
    queue_page_views(engine, mapping, 10)
    simulator.faults.inject("rate_limit", 4, path_contains=TRACK)

    with sim_client(simulator) as client:  # 4 attempts: all throttled
        stalled = deliver(engine, client, clock=at(SIM_NOW))
    with engine.connect() as connection:
        after_stall = connection.execute(
            sa.select(postback_outbox.c.state, postback_outbox.c.attempts, postback_outbox.c.last_error).distinct()).all()
        outcome = connection.execute(sa.select(postback_batches.c.outcome, postback_batches.c.http_requests)).all()

    assert stalled.accepted == 0 and len(stalled.problems) == 1 and PIXEL in stalled.problems[0]
    assert len(after_stall) == 1
    state, attempts, last_error = after_stall[0]
    assert (state, attempts) == ("pending", 4)
    assert "failed after 4 attempts" in last_error
    assert outcome == [("failed", 4)]
    assert simulator.events.accepted() == []

    with sim_client(simulator) as client:
        resumed = deliver(engine, client, clock=at(SIM_NOW))
    assert resumed.accepted == 10
    assert sorted(event_id for _, _, event_id in accepted_keys(simulator)) == [f"w{index:04d}" for index in range(10)]
