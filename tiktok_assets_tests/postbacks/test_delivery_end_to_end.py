"""First-party events through the outbox to the simulator over a real socket, checked against what the simulator stored."""

from __future__ import annotations

import calendar
import hashlib
from collections import defaultdict
from datetime import timedelta

from tiktok_assets.postbacks.delivery import deliver
from tiktok_assets.postbacks.events import Identity, Product
from tiktok_assets.postbacks.mapping import load_mapping
from tiktok_assets.postbacks.outbox import delivery_summary, map_and_enqueue
from tiktok_assets.postbacks.store import store_events
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.postbacks.helpers import (
    APP_ID,
    HOUR_END,
    HOUR_START,
    PIXEL,
    accepted_keys,
    app_event,
    at,
    order,
    sim_client,
    web_event,
)
from tiktok_assets_tests.postbacks.test_mapping import DEFAULT_APP, DEFAULT_WEB  # DESIGN.md's table, by hand


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def received_by_event_id(simulator) -> dict[str, set[str]]:
    received: dict[str, set[str]] = defaultdict(set)
    for _source_id, name, event_id in accepted_keys(simulator):
        received[event_id.split(":")[0]].add(name)
    return dict(received)


def test_every_default_mapping_row_arrives_as_its_tiktok_event(engine, mapping, loopback_simulator):
    simulator, base_url = loopback_simulator
    web = [web_event(f"w{index}", name, minute=index) for index, name in enumerate(DEFAULT_WEB) if name != "Placed Order"]
    app = [app_event(f"a{index}", name, minute=index) for index, name in enumerate(DEFAULT_APP)]
    first_order, second_order = order("o-new", new_customer=True, value=91.0), order("o-old", new_customer=False)
    store_events(engine, [*web, *app, first_order, second_order], received_at=SIM_NOW)

    map_and_enqueue(engine, HOUR_START, HOUR_END, mapping, now=SIM_NOW)
    with sim_client(simulator, base_url) as client:
        report = deliver(engine, client, clock=at(SIM_NOW))

    expected = {event.event_id: set(DEFAULT_WEB[event.event_name]) for event in web}
    expected |= {event.event_id: set(DEFAULT_APP[event.event_name]) for event in app if DEFAULT_APP[event.event_name]}
    expected |= {"o-new": {"Purchase", "NewCustomerPurchase"}, "o-old": {"Purchase"}}
    assert received_by_event_id(simulator) == expected
    keys = accepted_keys(simulator)
    assert len(keys) == len(set(keys)) == report.accepted == 12 + 9 + 3  # web rows, app rows sent, orders
    assert {source_id for source_id, _, _ in keys} == {PIXEL, APP_ID}
    assert ("CTESTPIXEL000001", "NewCustomerPurchase", "o-new:NewCustomerPurchase") in keys
    assert simulator.events.requests == {PIXEL: 1, APP_ID: 1}

    stored = next(event for event in simulator.events.accepted(PIXEL) if event["event_id"] == "o-new")
    assert stored["event_time"] == calendar.timegm((HOUR_START + timedelta(minutes=20)).timetuple())
    assert stored["user"] == {"email": sha256("ana.silva@example.com"), "phone": sha256("+14155550123"), "ip": "203.0.113.9"}
    assert stored["page"] == {"url": "https://shop.example.com/o-new"}
    assert stored["properties"] == {
        "contents": [{"content_id": "81001", "content_type": "product", "content_name": "Hoodie - M", "quantity": 1, "price": 91.0}],
        "currency": "USD", "value": 91.0, "order_id": "#o-new",
    }
    summary = delivery_summary(engine, HOUR_START, HOUR_END).set_index("event")
    assert summary.loc["Purchase", ["queued", "sent", "accepted", "rejected", "undelivered"]].tolist() == [3, 3, 3, 0, 0]
    assert summary.loc["ViewContent", "accepted"] == 3  # Viewed Product, Viewed Collection, app View content


def test_each_content_id_mode_sends_its_id(engine, loopback_simulator):
    simulator, base_url = loopback_simulator
    both = Product("8100", variant_id="81001", sku="SKU-1-M", name="Hoodie - M", price=39.5)
    bare = Product("8200", name="Mug", price=12.0)  # no variant, no sku
    store_events(engine, [web_event("view-1", "Viewed Product", products=(both, bare), value=51.5, currency="USD")],
                 received_at=SIM_NOW)
    modes = ("default", "product_id", "variant_id", "sku")
    # One pixel per mode: each mode's copy of the event has its own outbox key.
    for mode in modes:
        map_and_enqueue(engine, HOUR_START, HOUR_END, load_mapping({"content_id_mode": mode}, pixel_id=f"PIX-{mode}", app_id=APP_ID), now=SIM_NOW)

    with sim_client(simulator, base_url) as client:
        deliver(engine, client, clock=at(SIM_NOW))

    sent_ids = {
        mode: [content.get("content_id") for content in simulator.events.accepted(f"PIX-{mode}")[0]["properties"]["contents"]]
        for mode in modes
    }
    assert sent_ids == {
        "default": ["81001", "8200"],  # the variant where there is one, else the product
        "product_id": ["8100", "8200"],
        "variant_id": ["81001", None],  # strict: no variant, no content_id
        "sku": ["SKU-1-M", None],
    }


def test_filters_and_custom_events_decide_what_is_sent(engine, loopback_simulator):
    simulator, base_url = loopback_simulator
    config = {
        "pass_through_custom_events": True,
        "mappings": [
            {"source": "web", "event": "Placed Order", "tiktok": ["Purchase"],
             "where": [{"field": "value", "op": "gte", "value": 100}]},
            {"source": "web", "event": "Placed Order", "tiktok": ["PlaceAnOrder"],
             "where": [{"field": "properties.channel", "op": "equals", "value": "pos"}]},
            {"source": "web", "event": "Spun Wheel", "tiktok": ["WheelSpin"], "custom": True},
        ],
    }
    events = [
        order("big-online", new_customer=True, value=150.0, properties={"channel": "online"}),
        order("small-online", new_customer=True, value=50.0, properties={"channel": "online"}),
        order("big-pos", new_customer=None, value=150.0, properties={"channel": "pos"}),
        web_event("wheel", "Spun Wheel", identity=Identity(external_id="CUS-9")),
        web_event("game", "Played Game"),  # unknown, no rule: passed through under its own name
        web_event("landing", "$page_load"),  # the defaults still apply to other events
    ]
    store_events(engine, events, received_at=SIM_NOW)

    map_and_enqueue(engine, HOUR_START, HOUR_END, load_mapping(config, pixel_id=PIXEL, app_id=APP_ID), now=SIM_NOW)
    with sim_client(simulator, base_url) as client:
        deliver(engine, client, clock=at(SIM_NOW))

    # The user's Placed Order rules replace the default one, NewCustomerPurchase included.
    assert sorted(accepted_keys(simulator)) == sorted([
        (PIXEL, "Purchase", "big-online"),
        (PIXEL, "Purchase", "big-pos"),
        (PIXEL, "PlaceAnOrder", "big-pos:PlaceAnOrder"),
        (PIXEL, "WheelSpin", "wheel"),
        (PIXEL, "Played Game", "game"),
        (PIXEL, "PageView", "landing"),
    ])
    wheel = next(event for event in simulator.events.accepted() if event["event_id"] == "wheel")
    assert wheel["user"] == {"external_id": sha256("cus-9")}
