"""Large windows are mapped in slices, optionally by several processes: the outbox ends up the same."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tiktok_assets.postbacks.outbox import event_time_slices, map_and_enqueue
from tiktok_assets.postbacks.store import first_party_events, postback_outbox, postback_payloads, store_events
from tiktok_assets.postbacks.synthetic import SyntheticStreamConfig, generate_events
from tiktok_assets_tests.conftest import SIM_NOW

START = SIM_NOW - timedelta(hours=6)
ADS = [{"ad_id": f"17{index:017d}", "campaign_id": "1800000000000000001", "currency": "USD"} for index in range(5)]


def _stored_stream(engine: Engine) -> int:
    events = generate_events(ADS, START, SIM_NOW, seed=5, config=SyntheticStreamConfig(sessions_per_day=1_200))
    store_events(engine, events, received_at=SIM_NOW)
    return len(events)


def _outbox(engine: Engine) -> dict[tuple[str, str, str, str], str]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(postback_outbox.c.event_source, postback_outbox.c.event_source_id, postback_outbox.c.event,
                      postback_outbox.c.event_id, postback_payloads.c.payload)
            .join_from(postback_outbox, postback_payloads, postback_payloads.c.outbox_id == postback_outbox.c.outbox_id)
        ).all()
    return {(row[0], row[1], row[2], row[3]): row[4] for row in rows}


def test_slices_cover_the_window_once_and_cut_at_the_size(engine: Engine) -> None:
    stored = _stored_stream(engine)
    slices = event_time_slices(engine, START, SIM_NOW, 40)

    assert slices[0][0] == START.replace(tzinfo=None) and slices[-1][1] == SIM_NOW.replace(tzinfo=None)
    assert all(left[1] == right[0] for left, right in zip(slices, slices[1:], strict=False))
    table = first_party_events
    with engine.connect() as connection:
        counts = [connection.execute(sa.select(sa.func.count()).where(
            table.c.event_time >= slice_start, table.c.event_time < slice_end)).scalar_one()
            for slice_start, slice_end in slices]
    assert sum(counts) == stored
    # Cut at every 40th event: only events sharing a cut's second make a slice larger.
    assert len(slices) >= stored // 45 and max(counts) < 60
    assert event_time_slices(engine, START, SIM_NOW, stored) == [(START.replace(tzinfo=None), SIM_NOW.replace(tzinfo=None))]


def test_two_processes_over_small_slices_queue_exactly_what_one_pass_does(warehouse_url: str, tmp_path, mapping) -> None:
    from tiktok_assets.postbacks.store import ensure_postback_tables
    from tiktok_assets.warehouse import create_schema, make_engine

    reference = make_engine(f"sqlite:///{tmp_path / 'reference.sqlite'}")
    sliced = make_engine(warehouse_url)
    try:
        for engine in (reference, sliced):
            create_schema(engine)
            ensure_postback_tables(engine)
            stored = _stored_stream(engine)
        one_pass = map_and_enqueue(reference, START, SIM_NOW, mapping, now=SIM_NOW)
        parallel = map_and_enqueue(sliced, START, SIM_NOW, mapping, now=SIM_NOW, workers=2, events_per_slice=60)
        again = map_and_enqueue(sliced, START, SIM_NOW, mapping, now=SIM_NOW, workers=2, events_per_slice=60)

        assert parallel.first_party_events == one_pass.first_party_events == stored
        assert (parallel.tiktok_events, parallel.unmapped_events, parallel.pii_dropped) == (
            one_pass.tiktok_events, one_pass.unmapped_events, one_pass.pii_dropped)
        assert parallel.enqueued.queued == one_pass.enqueued.queued == one_pass.tiktok_events > 0
        assert _outbox(sliced) == _outbox(reference)
        # Idempotent across slices too: the re-run queues nothing.
        assert (again.enqueued.queued, again.enqueued.already_queued) == (0, one_pass.tiktok_events)
    finally:
        reference.dispose()
        sliced.dispose()


def test_new_loads_mapped_by_two_processes_queue_every_event_once_and_count_every_hour(warehouse_url: str, mapping) -> None:
    # map_new_loads starts its workers before it cuts the slices (it knows the loads' sizes) and, on PostgreSQL,
    # counts the events per hour while they map: the outbox and the counts must not depend on either.
    from collections import Counter

    from tiktok_assets.postbacks.outbox import map_new_loads
    from tiktok_assets.postbacks.store import ensure_postback_tables
    from tiktok_assets.warehouse import create_schema, make_engine

    engine = make_engine(warehouse_url)
    try:
        create_schema(engine)
        ensure_postback_tables(engine)
        events = generate_events(ADS, START, SIM_NOW, seed=5, config=SyntheticStreamConfig(sessions_per_day=1_200))
        # Two loads: the counts cover both.
        store_events(engine, events[::2], received_at=SIM_NOW)
        store_events(engine, events[1::2], received_at=SIM_NOW)
        loads = map_new_loads(engine, mapping, now=SIM_NOW, workers=2, events_per_slice=60)

        assert len(loads.loads) == 2 and loads.mapped.first_party_events == len(events)
        assert loads.events_by_hour == dict(sorted(Counter(f"{event.event_time:%Y-%m-%d %H}:00" for event in events).items()))
        with engine.connect() as connection:
            keys = Counter(connection.execute(sa.select(postback_outbox.c.event_source_id, postback_outbox.c.event,
                                                        postback_outbox.c.event_id)).all())
        assert sum(keys.values()) == loads.mapped.enqueued.queued == loads.mapped.tiktok_events > 0
        assert set(keys.values()) == {1}
        assert len(_outbox(engine)) == loads.mapped.tiktok_events  # a payload for every queued row
    finally:
        engine.dispose()
