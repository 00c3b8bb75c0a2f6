"""Late loads (issue 15, defect 1): intake is found by what was committed, not by wall-clock guesses.

Every load is a row of ``first_party_loads`` committed with its events;
mapping takes the loads not mapped yet. So a load that commits long after its
``received_at`` (a slow export, a long transaction), or before a load that
began earlier, is still queued, and every stored event is queued exactly once.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import sqlalchemy as sa

from tiktok_assets.postbacks.delivery import deliver
from tiktok_assets.postbacks.events import EventSource, FirstPartyEvent
from tiktok_assets.postbacks.outbox import map_new_loads
from tiktok_assets.postbacks.store import (
    ensure_postback_tables,
    first_party_events,
    first_party_loads,
    postback_outbox,
    store_events,
    store_events_in,
    unmapped_loads,
)
from tiktok_assets.warehouse import create_schema, make_engine
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.postbacks.helpers import HOUR_START, accepted_keys, at, sim_client, web_event


def views(prefix: str, count: int, minute: int = 10) -> list:
    return [web_event(f"{prefix}-{index}", "$page_load", minute) for index in range(count)]


def queued_event_ids(engine) -> Counter[str]:
    with engine.connect() as connection:
        return Counter(connection.execute(sa.select(postback_outbox.c.event_id)).scalars())


def test_a_load_committed_late_is_mapped_by_the_next_run_and_nothing_twice(engine, mapping, simulator):
    store_events(engine, views("on-time", 3, minute=50), received_at=SIM_NOW)
    first = map_new_loads(engine, mapping, now=SIM_NOW)
    # Began two hours ago (its received_at), for events of an earlier hour, committed only now.
    store_events(engine, views("late", 2, minute=5), received_at=SIM_NOW - timedelta(hours=2))
    second = map_new_loads(engine, mapping, now=SIM_NOW + timedelta(minutes=1))
    third = map_new_loads(engine, mapping, now=SIM_NOW + timedelta(minutes=2))
    with sim_client(simulator) as client:
        deliver(engine, client, clock=at(SIM_NOW + timedelta(minutes=3)))

    assert (first.mapped.enqueued.queued, second.mapped.enqueued.queued, third.mapped.enqueued.queued) == (3, 2, 0)
    assert len(first.loads) == len(second.loads) == 1 and third.loads == ()
    assert second.events_by_hour == {HOUR_START.strftime("%Y-%m-%d %H:00"): 2}
    assert queued_event_ids(engine) == Counter({f"on-time-{i}": 1 for i in range(3)} | {f"late-{i}": 1 for i in range(2)})
    assert sorted(event_id for _, _, event_id in accepted_keys(simulator)) == sorted(queued_event_ids(engine))
    assert unmapped_loads(engine) == []


def test_events_older_than_tiktok_accepts_are_counted_not_queued(engine, mapping):
    ancient = FirstPartyEvent("ancient", EventSource.WEB, "$page_load", SIM_NOW - timedelta(days=9),
                              page_url="https://shop.example.com/")
    store_events(engine, [*views("fresh", 1), ancient], received_at=SIM_NOW)

    mapped = map_new_loads(engine, mapping, now=SIM_NOW)

    assert (mapped.mapped.enqueued.queued, mapped.too_old) == (1, 1)
    assert unmapped_loads(engine) == []


def test_loads_committed_out_of_order_are_each_mapped_once(postgres_schema_url, mapping, simulator):
    # Two loads at once on PostgreSQL: the one that began first (lower load_id) commits last.
    engine = make_engine(postgres_schema_url)
    create_schema(engine)
    ensure_postback_tables(engine)
    try:
        with engine.connect() as slow:
            transaction = slow.begin()
            store_events_in(slow, views("slow", 4, minute=20), received_at=SIM_NOW - timedelta(minutes=30))
            store_events(engine, views("quick", 3, minute=30), received_at=SIM_NOW)
            while_slow_is_open = map_new_loads(engine, mapping, now=SIM_NOW)
            transaction.commit()
        after_commit = map_new_loads(engine, mapping, now=SIM_NOW + timedelta(minutes=1))
        again = map_new_loads(engine, mapping, now=SIM_NOW + timedelta(minutes=2))
        with sim_client(simulator) as client:
            deliver(engine, client, clock=at(SIM_NOW + timedelta(minutes=3)))

        assert while_slow_is_open.mapped.enqueued.queued == 3
        assert after_commit.mapped.enqueued.queued == 4 and after_commit.loads[0] < while_slow_is_open.loads[0]
        assert again.loads == ()
        expected = {f"slow-{i}" for i in range(4)} | {f"quick-{i}" for i in range(3)}
        assert queued_event_ids(engine) == Counter({event_id: 1 for event_id in expected})
        assert Counter(event_id for _, _, event_id in accepted_keys(simulator)) == Counter({e: 1 for e in expected})
    finally:
        engine.dispose()


def test_a_warehouse_from_before_loads_gets_one_load_for_its_events(tmp_path, mapping):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    create_schema(engine)
    ensure_postback_tables(engine)
    store_events(engine, views("old", 2), received_at=SIM_NOW)
    with engine.begin() as connection:
        # The shape before loads: no load_id column, no loads table.
        connection.exec_driver_sql("DROP INDEX ix_first_party_events_load_id_event_time")
        connection.exec_driver_sql("ALTER TABLE first_party_events DROP COLUMN load_id")
        connection.exec_driver_sql("DROP TABLE first_party_loads")

    ensure_postback_tables(engine)

    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(first_party_loads)).scalar_one() == 1
        assert connection.execute(sa.select(sa.func.count()).where(first_party_events.c.load_id.is_(None))).scalar_one() == 0
    assert map_new_loads(engine, mapping, now=SIM_NOW).mapped.enqueued.queued == 2
    engine.dispose()
