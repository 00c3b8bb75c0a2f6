"""Postback delivery under seeded fault schedules: every event ends accepted exactly once by the simulator
(its 48-hour dedup drops the re-sends of answers lost to a timeout), or stays pending to be sent later; none is
lost, none counted twice."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from tiktok_assets.simulator.faults import FaultKind
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.reliability.support import fast_client, query, small_simulator, sqlite_engine

N_SCHEDULES = 50
N_EVENTS = 40
# What a gateway or a busy TikTok does to a POST; paging faults do not apply to /event/track/.
POST_FAULTS = [FaultKind.HTTP_500, FaultKind.HTTP_502, FaultKind.HTTP_503, FaultKind.TIMEOUT,
               FaultKind.CONNECTION_RESET, FaultKind.TRUNCATED, FaultKind.RATE_LIMIT]
MAX_DELIVERY_ROUNDS = 20


def _queue_events(engine, count: int) -> None:  # noqa: ANN001
    from tiktok_assets.postbacks.events import parse_event
    from tiktok_assets.postbacks.mapping import load_mapping
    from tiktok_assets.postbacks.outbox import map_and_enqueue
    from tiktok_assets.postbacks.store import ensure_postback_tables, store_events

    ensure_postback_tables(engine)
    start = SIM_NOW - timedelta(hours=2)
    events = [
        parse_event({"event_id": f"ev-{index}", "source": "web", "event_name": "Placed Order",
                     "event_time": (start + timedelta(seconds=97 * index)).isoformat(),
                     "page_url": "https://shop.example.com/checkout", "email": f"buyer{index}@example.com",
                     "value": str(10 + index), "currency": "USD"})
        for index in range(count)
    ]
    store_events(engine, events, received_at=SIM_NOW)
    map_and_enqueue(engine, start, SIM_NOW, load_mapping(pixel_id="CPIXEL1", app_id="7200000000000000001"),
                    now=SIM_NOW)


@pytest.mark.parametrize("seed", range(N_SCHEDULES))
def test_seeded_fault_schedule_delivers_every_event_exactly_once(seed: int, tmp_path) -> None:
    from tiktok_assets.postbacks.delivery import DeliverySettings, deliver

    rng = random.Random(seed)
    sim = small_simulator()
    engine = sqlite_engine(tmp_path / "w.sqlite")
    _queue_events(engine, N_EVENTS)
    queued = query(engine, "select event, event_id from postback_outbox")
    expected = set(zip(queued["event"], queued["event_id"], strict=True))
    assert len(expected) >= N_EVENTS, "every order queued at least its Purchase"
    sim.faults.random(seed, rng.choice([0.1, 0.3, 0.5]), rng.sample(POST_FAULTS, rng.randint(2, len(POST_FAULTS))),
                      path_contains="/event/track/")
    settings = DeliverySettings(max_batch=rng.choice([7, 16, 1000]))
    rounds = 0
    with fast_client(sim, max_attempts=rng.choice([2, 4])) as client:
        while rounds < MAX_DELIVERY_ROUNDS:
            rounds += 1
            deliver(engine, client, settings=settings, clock=lambda: SIM_NOW)
            states = query(engine, "select state, count(*) as n from postback_outbox group by state")
            if set(states["state"]) == {"accepted"}:
                break
    assert set(states["state"]) == {"accepted"}, f"after {rounds} rounds: {states.to_dict('records')}"
    stored = [(event["event"], event["event_id"]) for event in sim.events.accepted()]
    assert len(stored) == len(set(stored)), "an event was counted twice by TikTok"
    assert set(stored) == expected, "an event was lost"
    assert query(engine, "select count(*) as n from postback_dead_letters")["n"].iloc[0] == 0
    if sim.faults.delivered[FaultKind.TIMEOUT]:
        # A timed-out batch was stored by TikTok before the answer was lost: its re-send was deduplicated.
        assert sim.events.duplicates_dropped > 0


def test_the_schedules_exercise_lost_answers_and_rejected_requests() -> None:
    """Guard against a vacuous suite: over the seeds, faults of every POST kind are drawn."""
    drawn: set[FaultKind] = set()
    for seed in range(N_SCHEDULES):
        rng = random.Random(seed)
        sim = small_simulator()
        sim.faults.random(seed, rng.choice([0.1, 0.3, 0.5]), rng.sample(POST_FAULTS, rng.randint(2, len(POST_FAULTS))),
                          path_contains="/event/track/")
        drawn.update(kind for kind in (sim.faults.take("/open_api/v1.3/event/track/") for _ in range(10)) if kind)
    assert drawn == set(POST_FAULTS)
