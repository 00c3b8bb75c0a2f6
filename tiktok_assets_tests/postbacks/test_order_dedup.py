"""One order, one Purchase: the same order loaded again under another event id is not sent again (issue 15, defect 3).

TikTok deduplicates on event name + event_id only (DESIGN.md, "Events API"), so
a shop that exports an order twice with two event ids (a re-export, a second
webhook) would count it twice there. The outbox keeps the first event queued
for each (destination, TikTok event, order_id) and counts the others.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from tiktok_assets.postbacks.delivery import deliver
from tiktok_assets.postbacks.events import Identity, Product
from tiktok_assets.postbacks.outbox import map_and_enqueue
from tiktok_assets.postbacks.store import postback_order_duplicates, store_events
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.postbacks.helpers import APP_ID, HOUR_END, HOUR_START, PIXEL, accepted_keys, app_event, at, \
    sim_client, web_event

BUYER = Identity(email="ana.silva@example.com")


def placed_order(event_id: str, order_id: str, minute: int, *, new_customer: bool = False):
    return web_event(event_id, "Placed Order", minute, identity=BUYER, products=(Product("8100", quantity=1, price=50.0),),
                     value=50.0, currency="USD", order_id=order_id, customer_id="cus-1", is_new_customer=new_customer)


def test_an_order_loaded_twice_under_two_event_ids_is_sent_once_with_the_first_id(engine, mapping, simulator):
    store_events(engine, [placed_order("shopify-1001", "1001", 20, new_customer=True)], received_at=SIM_NOW)
    first = map_and_enqueue(engine, HOUR_START, HOUR_END, mapping, now=SIM_NOW)
    # The same order exported again by another integration, under its own event id.
    store_events(engine, [placed_order("webhook-77", "1001", 21, new_customer=True)], received_at=SIM_NOW)
    second = map_and_enqueue(engine, HOUR_START, HOUR_END, mapping, now=SIM_NOW)
    with sim_client(simulator) as client:
        deliver(engine, client, clock=at(SIM_NOW))

    assert sorted(accepted_keys(simulator)) == [(PIXEL, "NewCustomerPurchase", "shopify-1001:NewCustomerPurchase"),
                                                (PIXEL, "Purchase", "shopify-1001")]
    assert (first.enqueued.queued, first.enqueued.duplicate_orders) == (2, 0)
    # Purchase and NewCustomerPurchase of the copy: both dropped, both counted.
    assert (second.enqueued.queued, second.enqueued.already_queued, second.enqueued.duplicate_orders) == (0, 2, 2)
    with engine.connect() as connection:
        dropped = connection.execute(
            sa.select(postback_order_duplicates.c.event, postback_order_duplicates.c.event_id,
                      postback_order_duplicates.c.kept_event_id, postback_order_duplicates.c.order_id)
            .order_by(postback_order_duplicates.c.event)
        ).all()
    assert [tuple(row) for row in dropped] == [
        ("NewCustomerPurchase", "webhook-77:NewCustomerPurchase", "shopify-1001:NewCustomerPurchase", "1001"),
        ("Purchase", "webhook-77", "shopify-1001", "1001"),
    ]
    # Mapping again drops the copy again, and records nothing new.
    third = map_and_enqueue(engine, HOUR_START, HOUR_END, mapping, now=SIM_NOW)
    assert (third.enqueued.queued, third.enqueued.duplicate_orders) == (0, 2)
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(postback_order_duplicates)).scalar_one() == 2


def test_copies_in_one_load_keep_the_earliest_and_other_orders_and_destinations_are_untouched(engine, mapping, simulator):
    store_events(engine, [
        placed_order("late-copy", "2002", 40),
        placed_order("early", "2002", 5),
        placed_order("other-order", "2003", 30),
        placed_order("no-order-id", None, 31),
        # The same order number in the app is another destination's event.
        app_event("app-2002", "Purchase", 35, value=50.0, currency="USD", order_id="2002"),
    ], received_at=SIM_NOW)

    mapped = map_and_enqueue(engine, HOUR_START, HOUR_END, mapping, now=SIM_NOW)
    with sim_client(simulator) as client:
        deliver(engine, client, clock=at(SIM_NOW + timedelta(minutes=1)))

    assert mapped.enqueued.duplicate_orders == 1
    assert sorted(accepted_keys(simulator)) == [
        (APP_ID, "Purchase", "app-2002"), (PIXEL, "Purchase", "early"), (PIXEL, "Purchase", "no-order-id"),
        (PIXEL, "Purchase", "other-order"),
    ]
