"""Events API data items exactly as TikTok wants them, and batches of at most 1,000 per destination."""

from __future__ import annotations

import calendar
import hashlib
import json
import math
from datetime import UTC, datetime

import pytest

from tiktok_assets.postbacks.errors import PayloadError
from tiktok_assets.postbacks.events import ClickParams, EventSource, FirstPartyEvent, Identity, Product, parse_event
from tiktok_assets.postbacks.mapping import Destination, load_mapping
from tiktok_assets.postbacks.payloads import (
    TikTokEvent,
    batch_events,
    batch_requests,
    build_all_tiktok_events,
    build_tiktok_events,
)
from tiktok_assets.postbacks.pii import PiiHasher

PIXEL = "CPIXEL0001"
APP_ID = "7100000001"
ORDER_TIME = datetime(2026, 11, 20, 10, 30, 15, 999000, tzinfo=UTC)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def first_order() -> FirstPartyEvent:
    return FirstPartyEvent(
        event_id="order-1001",
        source=EventSource.WEB,
        event_name="Placed Order",
        event_time=ORDER_TIME,
        identity=Identity(
            email=" Jane.Doe@Example.com ", phone="(415) 555-0123", external_id="CUS-7",
            ttclid="E.C.P.abc", ttp="ttp-cookie", ip="203.0.113.7", user_agent="Mozilla/5.0",
        ),
        page_url="https://shop.example.com/checkouts/x/thank_you",
        referrer="https://www.tiktok.com/",
        click=ClickParams(cvg_source="tiktok", cvg_adid="1790000000001", cvg_cid="1780000000001"),
        products=(Product("8100", "81001", "SKU-1-M", "Hoodie - M", 2, 39.5), Product("8200", None, None, "Mug", 1, 12.0)),
        value=91.0,
        currency="EUR",
        order_id="#1001",
        customer_id="CUS-7",
        is_new_customer=True,
    )


def test_a_first_order_becomes_purchase_and_new_customer_purchase_exactly():
    mapping = load_mapping({"limited_data_use": True}, pixel_id=PIXEL, app_id=APP_ID)
    purchase, new_customer = build_tiktok_events(first_order(), mapping, PiiHasher())
    expected_data = {
        "event": "Purchase",
        "event_time": calendar.timegm((2026, 11, 20, 10, 30, 15)),  # whole seconds of the original time
        "event_id": "order-1001",
        "user": {
            "email": sha256("jane.doe@example.com"),
            "phone": sha256("+14155550123"),
            "external_id": sha256("cus-7"),
            "ttclid": "E.C.P.abc",
            "ttp": "ttp-cookie",
            "ip": "203.0.113.7",
            "user_agent": "Mozilla/5.0",
        },
        "page": {"url": "https://shop.example.com/checkouts/x/thank_you", "referrer": "https://www.tiktok.com/"},
        "properties": {
            "contents": [
                {"content_id": "81001", "content_type": "product", "content_name": "Hoodie - M", "quantity": 2, "price": 39.5},
                {"content_id": "8200", "content_type": "product", "content_name": "Mug", "quantity": 1, "price": 12.0},
            ],
            "currency": "EUR",
            "value": 91.0,
            "order_id": "#1001",
        },
        "limited_data_use": True,
    }
    assert purchase.data == expected_data
    assert (purchase.event, purchase.event_id, purchase.source_event_id) == ("Purchase", "order-1001", "order-1001")
    assert purchase.destination == Destination("web", PIXEL)
    assert new_customer.data == {**expected_data, "event": "NewCustomerPurchase", "event_id": "order-1001:NewCustomerPurchase"}
    assert new_customer.dedup_key == (PIXEL, "NewCustomerPurchase", "order-1001:NewCustomerPurchase")
    assert json.loads(json.dumps(purchase.data)) == expected_data  # JSON-ready


def test_event_ids_are_stable_across_rebuilds():
    mapping = load_mapping(pixel_id=PIXEL, app_id=APP_ID)
    first = [event.event_id for event in build_tiktok_events(first_order(), mapping, PiiHasher())]
    again = [event.event_id for event in build_tiktok_events(first_order(), mapping, PiiHasher())]
    assert first == again == ["order-1001", "order-1001:NewCustomerPurchase"]


@pytest.mark.parametrize(
    ("mode", "expected_ids"),
    [
        ("default", ["81001", "8200"]),  # variant when there is one, else product
        ("product_id", ["8100", "8200"]),
        ("variant_id", ["81001", None]),  # strict: no variant, no content_id
        ("sku", ["SKU-1-M", None]),
    ],
)
def test_content_id_modes(mode, expected_ids):
    mapping = load_mapping({"content_id_mode": mode}, pixel_id=PIXEL, app_id=APP_ID)
    [purchase, _] = build_tiktok_events(first_order(), mapping, PiiHasher())
    contents = purchase.data["properties"]["contents"]
    assert [content.get("content_id") for content in contents] == expected_ids
    assert all(content["content_type"] == "product" for content in contents)


def test_numeric_ids_are_sent_as_strings():
    # TikTok answers 40002 "content_id: Not a valid string" for numbers.
    event = parse_event(
        {"event_id": 991, "source": "web", "event_name": "Viewed Product", "event_time": "2026-11-20T10:00:00Z",
         "page_url": "https://shop.example.com/p", "products": [{"product_id": 8100, "price": 3}]}
    )
    [view] = build_tiktok_events(event, load_mapping(pixel_id=PIXEL, app_id=APP_ID), PiiHasher())
    assert view.data["event_id"] == "991"
    assert view.data["properties"]["contents"] == [{"content_id": "8100", "content_type": "product", "quantity": 1, "price": 3.0}]


def test_app_events_go_to_the_app_without_a_page():
    event = FirstPartyEvent("a1", EventSource.APP, "Add to cart", ORDER_TIME, identity=Identity(external_id="u1"))
    [cart] = build_tiktok_events(event, load_mapping(pixel_id=PIXEL, app_id=APP_ID), PiiHasher())
    assert cart.destination == Destination("app", APP_ID)
    assert "page" not in cart.data
    assert cart.data["user"] == {"external_id": sha256("u1")}
    assert cart.data["properties"] == {}


def test_an_invalid_phone_is_left_out_and_counted():
    event = FirstPartyEvent(
        "w1", EventSource.WEB, "Searched", ORDER_TIME, identity=Identity(phone="+1 123 456 7890", ip="192.0.2.1"),
        page_url="https://shop.example.com/search",
    )
    hasher = PiiHasher()
    [search] = build_tiktok_events(event, load_mapping(pixel_id=PIXEL, app_id=APP_ID), hasher)
    assert search.data["user"] == {"ip": "192.0.2.1"}
    assert sum(hasher.rejections.values()) == 1


def test_a_web_event_without_page_url_cannot_be_built():
    event = FirstPartyEvent("w2", EventSource.WEB, "Searched", ORDER_TIME)
    with pytest.raises(PayloadError, match="w2.*page_url"):
        build_tiktok_events(event, load_mapping(pixel_id=PIXEL, app_id=APP_ID), PiiHasher())


def test_build_all_flattens_in_input_order():
    mapping = load_mapping(pixel_id=PIXEL, app_id=APP_ID)
    session = FirstPartyEvent("s0", EventSource.APP, "Session", ORDER_TIME)  # not sent by default
    built = build_all_tiktok_events([first_order(), session, first_order()], mapping, PiiHasher())
    assert [event.event for event in built] == ["Purchase", "NewCustomerPurchase"] * 2


WEB = Destination("web", PIXEL)
WEB_TEST = Destination("web", PIXEL, "TEST42")
APP = Destination("app", APP_ID)


def tiktok_events(destination: Destination, count: int) -> list[TikTokEvent]:
    return [
        TikTokEvent(destination, "PageView", f"{destination.event_source}-{index}", f"{destination.event_source}-{index}", {"event_id": f"{destination.event_source}-{index}"})
        for index in range(count)
    ]


@pytest.mark.parametrize(("web_count", "app_count"), [(0, 0), (1, 0), (0, 1000), (1000, 1), (1001, 2500)])
def test_n_events_make_ceil_n_over_1000_requests_per_source(web_count, app_count):
    web, app = tiktok_events(WEB, web_count), tiktok_events(APP, app_count)
    mixed = [event for pair in zip(web, app) for event in pair] + web[len(app):] + app[len(web):]
    bodies = batch_requests(mixed)
    web_bodies = [body for body in bodies if body["event_source"] == "web"]
    app_bodies = [body for body in bodies if body["event_source"] == "app"]
    assert len(web_bodies) == math.ceil(web_count / 1000) and len(app_bodies) == math.ceil(app_count / 1000)
    assert all(1 <= len(body["data"]) <= 1000 for body in bodies)
    assert all(body["event_source_id"] == (PIXEL if body["event_source"] == "web" else APP_ID) for body in bodies)
    assert all("test_event_code" not in body for body in bodies)
    # Every event exactly once, in its original order within its source.
    assert [item["event_id"] for body in web_bodies for item in body["data"]] == [event.event_id for event in web]
    assert [item["event_id"] for body in app_bodies for item in body["data"]] == [event.event_id for event in app]


def test_a_test_event_code_makes_its_own_requests():
    batches = batch_events(tiktok_events(WEB, 3) + tiktok_events(WEB_TEST, 2))
    assert [(batch.destination, len(batch.events)) for batch in batches] == [(WEB, 3), (WEB_TEST, 2)]
    assert batches[1].body["test_event_code"] == "TEST42"
    assert list(batches[1].body) == ["event_source", "event_source_id", "test_event_code", "data"]


def test_smaller_batches_on_request_and_limits_enforced():
    assert [len(batch.events) for batch in batch_events(tiktok_events(APP, 7), max_batch=3)] == [3, 3, 1]
    for bad in (0, 1001):
        with pytest.raises(ValueError, match="1 to 1000"):
            batch_events([], max_batch=bad)
