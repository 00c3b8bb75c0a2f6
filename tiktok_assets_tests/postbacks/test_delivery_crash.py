"""A sender killed between TikTok's answer and the state update: on restart nothing is lost and nothing counts twice.

The sender runs in a subprocess against the simulator served on loopback from
this process; the simulator SIGKILLs it right after processing its n-th
``/event/track/`` request and before answering, which is exactly "between the
HTTP send and the state update".
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from tiktok_assets.postbacks.delivery import deliver
from tiktok_assets.postbacks.outbox import map_and_enqueue
from tiktok_assets.postbacks.store import postback_batches, postback_outbox, store_events
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.postbacks.helpers import HOUR_END, HOUR_START, accepted_keys, at, sim_client, web_event

REPO = Path(__file__).resolve().parents[2]
WORKER = """
import sys
from datetime import datetime
from tiktok_assets.postbacks.delivery import DeliverySettings, deliver
from tiktok_assets.simulator import DEFAULT_ACCESS_TOKEN
from tiktok_assets.tiktok.client import TikTokClient
from tiktok_assets.warehouse import make_engine

url, base_url, now, concurrency = sys.argv[1], sys.argv[2], datetime.fromisoformat(sys.argv[3]), int(sys.argv[4])
with TikTokClient(DEFAULT_ACCESS_TOKEN, base_url, qps=None, timeout=60) as client:
    deliver(make_engine(url), client, settings=DeliverySettings(concurrency=concurrency), owner="worker-1",
            clock=lambda: now)
print("the worker finished: it should have been killed")
"""
EVENTS = 2500


def run_worker_killed_at_request(simulator, base_url: str, warehouse_url: str, nth: int,
                                 concurrency: int = 1) -> subprocess.CompletedProcess:
    """Run a delivery in a subprocess; the simulator kills it after processing its ``nth`` track request.

    One batch in flight by default, so what TikTok had when the worker died is known exactly.
    """
    original = simulator.handle
    worker: list[subprocess.Popen] = []
    seen = 0
    in_flight = 0
    lock = threading.Lock()

    def handle(method, path, query, headers, body):  # noqa: ANN001, ANN202 - Simulator.handle's signature
        nonlocal seen, in_flight
        with lock:
            in_flight += 1
        try:
            response = original(method, path, query, headers, body)
        finally:
            with lock:
                in_flight -= 1
        if "/event/track" in path:
            with lock:
                seen += 1
                if seen == nth:
                    worker[0].kill()  # SIGKILL: no cleanup, no state update
                    worker[0].wait()
        return response

    def settled() -> bool:
        # Requests the worker wrote before it died are still read and stored by the
        # server's threads: TikTok has them too. Done when none has been in flight for a while.
        deadline = time.monotonic() + 10
        quiet_since = None
        while time.monotonic() < deadline:
            with lock:
                busy = in_flight > 0
            if busy:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= 0.5:
                return True
            time.sleep(0.02)
        return False

    simulator.handle = handle
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", WORKER, warehouse_url, base_url, SIM_NOW.isoformat(), str(concurrency)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        worker.append(process)
        stdout, stderr = process.communicate(timeout=120)
        assert settled(), "the simulator kept handling requests of the killed worker for 10 s"
    finally:
        simulator.handle = original
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def states(engine) -> dict[str, int]:
    with engine.connect() as connection:
        return dict(connection.execute(sa.select(postback_outbox.c.state, sa.func.count()).group_by(postback_outbox.c.state)).all())


def queue(engine, mapping) -> set[str]:
    events = [web_event(f"w{index:05d}", "$page_load", minute=index % 60) for index in range(EVENTS)]
    store_events(engine, events, received_at=SIM_NOW)
    map_and_enqueue(engine, HOUR_START, HOUR_END, mapping, now=SIM_NOW)
    return {event.event_id for event in events}


def assert_each_accepted_exactly_once(simulator, expected_ids: set[str]) -> None:
    keys = accepted_keys(simulator)
    assert len(keys) == len(set(keys)) == EVENTS
    # The same ids, no new one: a re-send reused the event_id TikTok deduplicates on.
    assert {event_id for _, _, event_id in keys} == expected_ids


def test_killed_after_tiktok_accepted_batch_two_restart_after_the_lease(engine, mapping, warehouse_url, loopback_simulator):
    simulator, base_url = loopback_simulator
    expected_ids = queue(engine, mapping)

    crashed = run_worker_killed_at_request(simulator, base_url, warehouse_url, nth=2)

    assert crashed.returncode == -9, crashed.stderr
    assert len(simulator.events) == 2000  # TikTok has batches 1 and 2
    assert states(engine) == {"accepted": 1000, "sending": 1000, "pending": 500}  # batch 2's answer never recorded

    # Restarted once the claim's lease (10 minutes) has run out.
    with sim_client(simulator, base_url) as client:
        report = deliver(engine, client, owner="worker-2", clock=at(SIM_NOW + timedelta(minutes=11)))

    assert report.reclaimed == 1000
    assert states(engine) == {"accepted": EVENTS}
    assert_each_accepted_exactly_once(simulator, expected_ids)
    assert simulator.events.duplicates_dropped == 1000  # batch 2 sent again, dropped by TikTok's dedup
    with engine.connect() as connection:
        outcomes = connection.execute(
            sa.select(postback_batches.c.owner, postback_batches.c.outcome).order_by(postback_batches.c.batch_id)).all()
    assert outcomes[:2] == [("worker-1", "accepted"), ("worker-1", "abandoned")]
    assert {outcome for _, outcome in outcomes[2:]} == {"accepted"}


def test_killed_on_the_first_batch_a_dead_owner_is_reclaimed_at_once(engine, mapping, warehouse_url, loopback_simulator):
    simulator, base_url = loopback_simulator
    expected_ids = queue(engine, mapping)

    crashed = run_worker_killed_at_request(simulator, base_url, warehouse_url, nth=1)
    assert crashed.returncode == -9, crashed.stderr
    assert states(engine) == {"sending": 1000, "pending": 1500}

    one_minute_later = at(SIM_NOW + timedelta(minutes=1))
    with sim_client(simulator, base_url) as client:
        # While worker-1 may be alive and its lease runs, its claim is left alone...
        cautious = deliver(engine, client, owner="worker-2", is_owner_alive=lambda owner: True, clock=one_minute_later)
        assert (cautious.reclaimed, cautious.accepted) == (0, 1500)
        assert states(engine) == {"sending": 1000, "accepted": 1500}
        # ...and once it is known dead (a failed Dagster run), it is reclaimed without waiting.
        informed = deliver(engine, client, owner="worker-2", is_owner_alive=lambda owner: owner != "worker-1",
                           clock=one_minute_later)

    assert (informed.reclaimed, informed.accepted) == (1000, 1000)
    assert states(engine) == {"accepted": EVENTS}
    assert_each_accepted_exactly_once(simulator, expected_ids)
    assert simulator.events.duplicates_dropped == 1000


def test_killed_with_batches_in_flight_nothing_is_lost_or_counted_twice(engine, mapping, warehouse_url, loopback_simulator):
    simulator, base_url = loopback_simulator
    expected_ids = queue(engine, mapping)

    crashed = run_worker_killed_at_request(simulator, base_url, warehouse_url, nth=2, concurrency=4)

    assert crashed.returncode == -9, crashed.stderr
    arrived = {event_id for _, _, event_id in accepted_keys(simulator)}
    with engine.connect() as connection:
        recorded = dict(connection.execute(sa.select(postback_outbox.c.event_id, postback_outbox.c.state)).all())
    accepted_before = {event_id for event_id, state in recorded.items() if state == "accepted"}
    assert accepted_before <= arrived  # recorded accepted only what TikTok has
    assert len(arrived) >= 1500  # two requests were processed (any two of 1000, 1000, 500), maybe a third
    assert "sending" in recorded.values()  # the killed worker's claims in flight

    with sim_client(simulator, base_url) as client:
        report = deliver(engine, client, owner="worker-2", clock=at(SIM_NOW + timedelta(minutes=11)))

    assert report.reclaimed == sum(state == "sending" for state in recorded.values())
    assert states(engine) == {"accepted": EVENTS}
    assert_each_accepted_exactly_once(simulator, expected_ids)
    # Claims that had reached TikTok were sent again and dropped as duplicates; nothing else was.
    assert simulator.events.duplicates_dropped == len(arrived - accepted_before)
