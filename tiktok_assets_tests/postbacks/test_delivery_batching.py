"""Batches of at most 1,000 per event source, and a re-run that sends nothing again."""

from __future__ import annotations

import sqlalchemy as sa

from tiktok_assets.postbacks.delivery import DeliverySettings, deliver
from tiktok_assets.postbacks.outbox import map_and_enqueue
from tiktok_assets.postbacks.store import (
    postback_batches,
    postback_outbox,
    store_events,
)
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.postbacks.helpers import (
    APP_ID,
    HOUR_END,
    HOUR_START,
    PIXEL,
    accepted_keys,
    app_event,
    at,
    sim_client,
    web_event,
)


def test_n_events_make_ceil_n_over_1000_requests_per_source_and_a_rerun_sends_nothing(engine, mapping, loopback_simulator):
    simulator, base_url = loopback_simulator
    web = [web_event(f"w{index:05d}", "$page_load", minute=index % 60) for index in range(2500)]
    app = [app_event(f"a{index:05d}", "View content", minute=index % 60) for index in range(1001)]
    store_events(engine, [*web, *app], received_at=SIM_NOW)

    map_and_enqueue(engine, HOUR_START, HOUR_END, mapping, now=SIM_NOW)
    with sim_client(simulator, base_url) as client:
        report = deliver(engine, client, clock=at(SIM_NOW))

    assert simulator.events.requests == {PIXEL: 3, APP_ID: 2}  # ceil(2500/1000), ceil(1001/1000)
    assert (report.batches, report.requests, report.accepted) == (5, 5, 3501)
    keys = accepted_keys(simulator)
    assert len(keys) == len(set(keys)) == 3501
    with engine.connect() as connection:
        batches = connection.execute(
            sa.select(postback_batches.c.event_source_id, postback_batches.c.size, postback_batches.c.outcome)
            .order_by(postback_batches.c.batch_id)
        ).all()
        states = connection.execute(sa.select(postback_outbox.c.state, sa.func.count()).group_by(postback_outbox.c.state)).all()
    assert sorted(batches) == sorted([(APP_ID, 1000, "accepted"), (APP_ID, 1, "accepted"), (PIXEL, 1000, "accepted"),
                                      (PIXEL, 1000, "accepted"), (PIXEL, 500, "accepted")])
    assert states == [("accepted", 3501)]

    # The same partition again: nothing new is queued, nothing is sent.
    again = map_and_enqueue(engine, HOUR_START, HOUR_END, mapping, now=SIM_NOW)
    with sim_client(simulator, base_url) as client:
        second = deliver(engine, client, clock=at(SIM_NOW))
    assert (again.enqueued.queued, again.enqueued.already_queued) == (0, 3501)
    assert (second.batches, second.requests, second.accepted) == (0, 0, 0)
    assert simulator.events.requests == {PIXEL: 3, APP_ID: 2}
    assert simulator.events.duplicates_dropped == 0


def test_a_smaller_batch_size_is_honoured_in_order(engine, mapping, simulator):
    store_events(engine, [web_event(f"w{index}", "Searched", minute=index) for index in range(7)], received_at=SIM_NOW)
    map_and_enqueue(engine, HOUR_START, HOUR_END, mapping, now=SIM_NOW)

    with sim_client(simulator) as client:
        deliver(engine, client, settings=DeliverySettings(max_batch=3, concurrency=1), clock=at(SIM_NOW))

    assert simulator.events.requests == {PIXEL: 3}  # 3 + 3 + 1
    # Queue order is event time order: one batch at a time, the simulator got them oldest first.
    assert [event_id for _, _, event_id in accepted_keys(simulator)] == [f"w{index}" for index in range(7)]
