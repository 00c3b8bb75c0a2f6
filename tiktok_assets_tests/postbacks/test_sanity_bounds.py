"""Sanity bounds (issue 15, defect 7): a value of 1e20 or a quantity of 10^12 is a broken export, not a sale.

Such events are dead-lettered with reason ``out_of_bounds`` and a detail
naming the bound, never sent; bounds are configurable per currency.
"""

from __future__ import annotations

import sqlalchemy as sa

from tiktok_assets.postbacks.delivery import deliver
from tiktok_assets.postbacks.events import Product
from tiktok_assets.postbacks.mapping import load_mapping
from tiktok_assets.postbacks.outbox import map_and_enqueue
from tiktok_assets.postbacks.store import (
    DEAD_REASONS,
    allow_dead_reasons,
    ensure_postback_tables,
    postback_dead_letters,
    postback_outbox,
    postback_payloads,
    store_events,
)
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.postbacks.helpers import APP_ID, HOUR_END, HOUR_START, PIXEL, accepted_keys, at, sim_client, \
    web_event


def sale(event_id: str, value: float, currency: str = "USD", quantity: int = 1, price: float | None = None):
    return web_event(event_id, "Placed Order", 15, products=(Product("8100", quantity=quantity, price=price),),
                     value=value, currency=currency, order_id=event_id)


def dead_letters(engine) -> dict[str, tuple[str, str]]:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(postback_dead_letters.c.event_id, postback_dead_letters.c.reason,
                                            postback_dead_letters.c.detail)).all()
    return {event_id: (reason, detail) for event_id, reason, detail in rows}


def test_absurd_values_and_quantities_are_dead_lettered_never_sent(engine, mapping, simulator):
    store_events(engine, [
        sale("fine", 79.0),
        sale("huge-value", 5e10),  # 1e20 cannot even be stored (Numeric(20, 6))
        sale("huge-quantity", 20.0, quantity=10**12),
        sale("huge-price", 20.0, price=1e15),
        # A big number in yen is an ordinary order: the bound is per currency.
        sale("yen", 2_500_000.0, currency="JPY"),
    ], received_at=SIM_NOW)

    mapped = map_and_enqueue(engine, HOUR_START, HOUR_END, mapping, now=SIM_NOW)
    again = map_and_enqueue(engine, HOUR_START, HOUR_END, mapping, now=SIM_NOW)
    with sim_client(simulator) as client:
        report = deliver(engine, client, clock=at(SIM_NOW))

    assert sorted(accepted_keys(simulator)) == [(PIXEL, "Purchase", "fine"), (PIXEL, "Purchase", "yen")]
    assert report.accepted == 2
    assert (mapped.enqueued.queued, mapped.enqueued.out_of_bounds) == (2, 3)
    # A re-run dead-letters nothing twice.
    assert (again.enqueued.queued, again.enqueued.out_of_bounds) == (0, 0)
    letters = dead_letters(engine)
    assert set(letters) == {"huge-value", "huge-quantity", "huge-price"}
    assert {reason for reason, _ in letters.values()} == {"out_of_bounds"}
    assert "value 5e+10 USD is above the bound of 1,000,000 USD" in letters["huge-value"][1]
    assert "quantity 1000000000000" in letters["huge-quantity"][1] and "10,000" in letters["huge-quantity"][1]
    assert "price 1e+15 USD" in letters["huge-price"][1]
    with engine.connect() as connection:
        states = dict(connection.execute(sa.select(postback_outbox.c.event_id, postback_outbox.c.dead_reason)
                                         .where(postback_outbox.c.state == "dead")).all())
        payload_count = connection.execute(sa.select(sa.func.count()).select_from(postback_payloads)).scalar_one()
    assert states == {"huge-value": "out_of_bounds", "huge-quantity": "out_of_bounds", "huge-price": "out_of_bounds"}
    assert payload_count == 5


def test_a_value_above_90_billion_is_stored_then_dead_lettered_not_a_failed_load(engine, mapping, simulator):
    # PostgreSQL's bulk load sent money as one int64 of 10^-8 units and refused any value from 9e10 up: the
    # whole load failed, its good events with it. Numeric(20, 6) holds up to 10^14: stored, then out of bounds.
    stored = store_events(engine, [sale("fine", 79.0), sale("huge-value", 5e12)], received_at=SIM_NOW)
    mapped = map_and_enqueue(engine, HOUR_START, HOUR_END, mapping, now=SIM_NOW)
    with sim_client(simulator) as client:
        report = deliver(engine, client, clock=at(SIM_NOW))

    assert stored.inserted == 2
    assert (mapped.enqueued.queued, mapped.enqueued.out_of_bounds) == (1, 1)
    assert report.accepted == 1
    assert sorted(accepted_keys(simulator)) == [(PIXEL, "Purchase", "fine")]
    reason, detail = dead_letters(engine)["huge-value"]
    assert reason == "out_of_bounds" and "value 5e+12 USD is above the bound of 1,000,000 USD" in detail


def test_bounds_are_configurable_per_currency(engine, simulator):
    mapping = load_mapping({"sanity_bounds": {"max_value": 100, "max_quantity": 3, "currencies": {"EUR": 500}}},
                           pixel_id=PIXEL, app_id=APP_ID)
    store_events(engine, [sale("usd-150", 150.0), sale("eur-150", 150.0, "EUR"), sale("four", 10.0, quantity=4)],
                 received_at=SIM_NOW)

    mapped = map_and_enqueue(engine, HOUR_START, HOUR_END, mapping, now=SIM_NOW)

    assert (mapped.enqueued.queued, mapped.enqueued.out_of_bounds) == (1, 2)
    assert set(dead_letters(engine)) == {"usd-150", "four"}


def test_a_warehouse_made_before_the_reason_existed_takes_it(engine):
    old_reasons = tuple(reason for reason in DEAD_REASONS if reason != "out_of_bounds")
    with engine.begin() as connection:
        allow_dead_reasons(connection, old_reasons)
    refused = False
    try:
        with engine.begin() as connection:
            connection.execute(sa.insert(postback_dead_letters).values(
                outbox_id=1, event_source="web", event_source_id=PIXEL, event="Purchase", event_id="x",
                source_event_id="x", event_time=SIM_NOW.replace(tzinfo=None), payload="{}", reason="out_of_bounds",
                detail="d", dead_at=SIM_NOW.replace(tzinfo=None)))
    except sa.exc.IntegrityError:
        refused = True
    assert refused, "the old constraint should refuse the new reason"

    ensure_postback_tables(engine)

    with engine.begin() as connection:
        connection.execute(sa.insert(postback_dead_letters).values(
            outbox_id=1, event_source="web", event_source_id=PIXEL, event="Purchase", event_id="x",
            source_event_id="x", event_time=SIM_NOW.replace(tzinfo=None), payload="{}", reason="out_of_bounds",
            detail="d", dead_at=SIM_NOW.replace(tzinfo=None)))
