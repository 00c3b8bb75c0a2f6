"""A warehouse whose outbox predates ``postback_queue`` (schema version 1) is upgraded in place, mid-delivery.

The version-1 shape is rebuilt from a current warehouse by undoing what
version 2 added: the queue table, the batches' id range, and the two partial
indexes on outbox state it dropped. Rows are left in every state a live
warehouse has (accepted, one batch in flight, pending), then the upgrade runs
through both doors a user meets: ``create_schema`` (the Dagster resource) and
``ensure_postback_tables`` (the Python API).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tiktok_assets.postbacks.delivery import claim_batch, deliver, pending_destinations
from tiktok_assets.postbacks.outbox import map_and_enqueue, overdue_events
from tiktok_assets.postbacks.store import (
    ensure_postback_tables,
    postback_batches,
    postback_outbox,
    postback_queue,
    store_events,
)
from tiktok_assets.warehouse import create_schema
from tiktok_assets_tests.warehouse.legacy_schema import as_legacy_version, at_head
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.postbacks.helpers import HOUR_END, HOUR_START, accepted_keys, at, sim_client, web_event

EVENTS = 2500
OLD_INDEXES = {
    "ix_postback_outbox_pending": "(event_source_id, event_source, outbox_id, test_event_code) WHERE state = 'pending'",
    "ix_postback_outbox_sending": "(batch_id) WHERE state = 'sending'",
}


def as_version_1(engine: Engine) -> None:
    """Turn a current warehouse into the version-1 shape, keeping its rows."""
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE postback_queue"))
        for column in ("first_outbox_id", "last_outbox_id"):
            connection.execute(sa.text(f"ALTER TABLE postback_batches DROP COLUMN {column}"))
        for name, definition in OLD_INDEXES.items():
            columns, predicate = definition.split(" WHERE ")
            connection.execute(sa.text(f"CREATE INDEX {name} ON postback_outbox {columns} WHERE {predicate}"))
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("ALTER TABLE postback_outbox RESET (fillfactor)"))
        as_legacy_version(connection, 1)


def queued_live_warehouse(engine: Engine, mapping, simulator, base_url: str) -> set[str]:
    """1,000 events accepted, 1,000 in a batch whose sender died, 500 pending; returns every event id."""
    events = [web_event(f"w{index:05d}", "$page_load", minute=index % 60) for index in range(EVENTS)]
    store_events(engine, events[:1000], received_at=SIM_NOW)
    map_and_enqueue(engine, HOUR_START, HOUR_END, mapping, now=SIM_NOW)
    with sim_client(simulator, base_url) as client:
        assert deliver(engine, client, owner="worker-0", clock=at(SIM_NOW)).accepted == 1000
    store_events(engine, events[1000:], received_at=SIM_NOW)
    map_and_enqueue(engine, HOUR_START, HOUR_END, mapping, now=SIM_NOW)
    [destination] = pending_destinations(engine)
    # Claimed by a sender that then died: the rows stay 'sending', the batch open.
    assert len(claim_batch(engine, destination, 1000, owner="worker-1", now=SIM_NOW)) == 1000
    return {event.event_id for event in events}


def states(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return dict(connection.execute(
            sa.select(postback_outbox.c.state, sa.func.count()).group_by(postback_outbox.c.state)).all())


def outbox_index_names(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return {index["name"] for index in sa.inspect(connection).get_indexes("postback_outbox")}


@pytest.mark.parametrize("upgrade", [create_schema, ensure_postback_tables], ids=["create_schema", "ensure_postback_tables"])
def test_an_outbox_of_version_1_is_upgraded_and_delivers_what_it_held(engine, mapping, loopback_simulator, upgrade):
    simulator, base_url = loopback_simulator
    expected_ids = queued_live_warehouse(engine, mapping, simulator, base_url)
    as_version_1(engine)
    assert set(OLD_INDEXES) <= outbox_index_names(engine)

    upgrade(engine)
    upgrade(engine)  # idempotent: a second start finds nothing to do
    create_schema(engine)  # and the other door after it too

    assert not set(OLD_INDEXES) & outbox_index_names(engine)
    assert states(engine) == {"accepted": 1000, "sending": 1000, "pending": 500}
    with engine.connect() as connection:
        pending_ids = set(connection.execute(
            sa.select(postback_outbox.c.outbox_id).where(postback_outbox.c.state == "pending")).scalars())
        assert set(connection.execute(sa.select(postback_queue.c.outbox_id)).scalars()) == pending_ids
        in_flight = connection.execute(
            sa.select(postback_batches.c.first_outbox_id, postback_batches.c.last_outbox_id)
            .where(postback_batches.c.outcome == "sending")).one()
        sending_ids = connection.execute(
            sa.select(sa.func.min(postback_outbox.c.outbox_id), sa.func.max(postback_outbox.c.outbox_id))
            .where(postback_outbox.c.state == "sending")).one()
        assert tuple(in_flight) == tuple(sending_ids)
        if connection.dialect.name == "postgresql":
            options = connection.execute(sa.text(
                "SELECT reloptions FROM pg_class WHERE oid = 'postback_outbox'::regclass")).scalar_one()
            assert options == ["fillfactor=50"]
        assert at_head(connection)
    # The in-flight batch is found through its new id range: overdue sees it, and a late delivery reclaims it.
    overdue = overdue_events(engine, SIM_NOW + timedelta(minutes=1))
    assert overdue.by_state == {"pending": 500, "sending": 1000}

    with sim_client(simulator, base_url) as client:
        report = deliver(engine, client, owner="worker-2", clock=at(SIM_NOW + timedelta(minutes=11)))

    assert (report.reclaimed, report.accepted) == (1000, 1500)
    assert states(engine) == {"accepted": EVENTS}
    keys = accepted_keys(simulator)
    assert len(keys) == len(set(keys)) == EVENTS
    assert {event_id for _, _, event_id in keys} == expected_ids
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(postback_queue)).scalar_one() == 0
