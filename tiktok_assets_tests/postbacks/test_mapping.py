"""The mapping: the default table, NewCustomerPurchase, filters, custom events, destinations, bad configs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tiktok_assets.postbacks.errors import MappingConfigError
from tiktok_assets.postbacks.events import APP_EVENT_NAMES, WEB_EVENT_NAMES, EventSource, FirstPartyEvent
from tiktok_assets.postbacks.mapping import Condition, ContentIdMode, Destination, FilterOp, load_mapping
from tiktok_assets.postbacks.payloads import build_tiktok_events
from tiktok_assets.postbacks.pii import PiiHasher

PIXEL = "CPIXEL0001"
APP_ID = "7100000001"

# DESIGN.md, "Event mapping (defaults)", written out by hand.
DEFAULT_WEB = {
    "$page_load": ["PageView"],
    "Viewed Product": ["ViewContent"],
    "Viewed Collection": ["ViewContent"],
    "Added To Cart": ["AddToCart"],
    "Started Checkout": ["InitiateCheckout"],
    "Added Payment Info": ["AddPaymentInfo"],
    "Placed Order": ["Purchase"],
    "Started Subscription": ["Subscribe"],
    "Activated Subscription": ["Subscribe"],
    "Placed Recurring Subscription Order": ["RecurringSubscriptionPaymentSucceeded"],
    "Cancelled Subscription": ["CancelSubscription"],
    "Searched": ["Search"],
    "Subscribed To Newsletter": ["CompleteRegistration"],
}
DEFAULT_APP = {
    "Achieve level": ["AchieveLevel"],
    "Add payment info": ["AddPaymentInfo"],
    "Add to cart": ["AddToCart"],
    "Complete registration": ["Registration"],  # TikTok's app standard events: test_app_events.py
    "Initiate checkout": ["Checkout"],
    "Session": [],
    "View content": ["ViewContent"],
    "Start trial": ["StartTrial"],
    "Subscription": ["Subscribe"],
    "Purchase": ["Purchase"],
}


def make_event(name: str, source: str = "web", **fields) -> FirstPartyEvent:
    fields.setdefault("page_url", "https://shop.example.com/" if source == "web" else None)
    return FirstPartyEvent(
        event_id="evt-9", source=EventSource(source), event_name=name, event_time=datetime(2026, 11, 20, tzinfo=UTC), **fields
    )


def names(event: FirstPartyEvent, mapping) -> list[str]:
    return [tiktok_event.event for tiktok_event in build_tiktok_events(event, mapping, PiiHasher())]


@pytest.fixture(scope="module")
def default_mapping():
    return load_mapping(pixel_id=PIXEL, app_id=APP_ID)


def test_the_expected_tables_cover_every_known_event():
    assert set(DEFAULT_WEB) == set(WEB_EVENT_NAMES) and set(DEFAULT_APP) == set(APP_EVENT_NAMES)


@pytest.mark.parametrize(("event_name", "expected"), DEFAULT_WEB.items())
def test_default_web_rows(default_mapping, event_name, expected):
    built = build_tiktok_events(make_event(event_name), default_mapping, PiiHasher())
    assert [event.event for event in built] == expected
    assert all(event.destination == Destination("web", PIXEL) for event in built)


@pytest.mark.parametrize(("event_name", "expected"), DEFAULT_APP.items())
def test_default_app_rows(default_mapping, event_name, expected):
    built = build_tiktok_events(make_event(event_name, "app"), default_mapping, PiiHasher())
    assert [event.event for event in built] == expected
    assert all(event.destination == Destination("app", APP_ID) for event in built)


def test_new_customer_purchase_only_on_a_first_order(default_mapping):
    first = build_tiktok_events(make_event("Placed Order", is_new_customer=True, value=10.0, currency="USD"), default_mapping, PiiHasher())
    assert [(event.event, event.event_id) for event in first] == [("Purchase", "evt-9"), ("NewCustomerPurchase", "evt-9:NewCustomerPurchase")]
    assert first[1].data["properties"] == first[0].data["properties"] == {"currency": "USD", "value": 10.0}
    assert names(make_event("Placed Order", is_new_customer=False), default_mapping) == ["Purchase"]
    assert names(make_event("Placed Order", is_new_customer=None), default_mapping) == ["Purchase"]
    # Only the web order rule carries it by default.
    assert names(make_event("Purchase", "app", is_new_customer=True), default_mapping) == ["Purchase"]


def test_custom_events_pass_through_only_when_enabled():
    quiz = make_event("Quiz Completed")
    assert names(quiz, load_mapping(pixel_id=PIXEL, app_id=APP_ID)) == []
    passing = load_mapping({"pass_through_custom_events": True}, pixel_id=PIXEL, app_id=APP_ID)
    assert names(quiz, passing) == ["Quiz Completed"]
    # A known event left unmapped on purpose is not a custom event.
    assert names(make_event("Session", "app"), passing) == []


def test_custom_mappings_replace_the_default_and_fan_out():
    mapping = load_mapping(
        {
            "mappings": [
                {"source": "web", "event": "Quiz Completed", "tiktok": "Lead"},
                {"source": "web", "event": "Viewed Product", "tiktok": ["ViewContent", "AddToWishlist"]},
                {"source": "web", "event": "Shared Link", "tiktok": ["ShareLink"], "custom": True},
                {"source": "app", "event": "Session", "tiktok": ["LaunchAPP"]},
            ]
        },
        pixel_id=PIXEL,
        app_id=APP_ID,
    )
    assert names(make_event("Quiz Completed"), mapping) == ["Lead"]
    built = build_tiktok_events(make_event("Viewed Product"), mapping, PiiHasher())
    assert [(event.event, event.event_id) for event in built] == [("ViewContent", "evt-9"), ("AddToWishlist", "evt-9:AddToWishlist")]
    assert names(make_event("Shared Link"), mapping) == ["ShareLink"]
    assert names(make_event("Session", "app"), mapping) == ["LaunchAPP"]
    assert names(make_event("Added To Cart"), mapping) == ["AddToCart"]  # other defaults stay


def test_use_default_mappings_false_sends_only_the_users_rules():
    mapping = load_mapping(
        {"use_default_mappings": False, "mappings": [{"source": "web", "event": "Placed Order", "tiktok": ["Purchase"]}]},
        pixel_id=PIXEL,
    )
    assert names(make_event("Placed Order"), mapping) == ["Purchase"]
    assert names(make_event("Added To Cart"), mapping) == []


def test_filters_choose_which_orders_are_sent():
    mapping = load_mapping(
        {
            "mappings": [
                {"source": "web", "event": "Placed Order", "tiktok": ["Purchase"], "new_customer_event": "NewCustomerPurchase",
                 "where": [{"field": "value", "op": "gt", "value": 0}, {"field": "properties.channel", "op": "equals", "value": "online"}]},
                {"source": "web", "event": "Placed Order", "tiktok": ["PlaceAnOrder"],
                 "where": [{"field": "properties.channel", "op": "in", "value": ["pos", "phone"]}]},
            ]
        },
        pixel_id=PIXEL,
        app_id=APP_ID,
    )

    def order(value, channel, new=None):
        return make_event("Placed Order", value=value, currency="USD", properties={"channel": channel}, is_new_customer=new)

    assert names(order(25.0, "online"), mapping) == ["Purchase"]
    assert names(order(25.0, "online", new=True), mapping) == ["Purchase", "NewCustomerPurchase"]
    assert names(order(0.0, "online", new=True), mapping) == []
    assert names(order(25.0, "pos"), mapping) == ["PlaceAnOrder"]
    assert names(order(25.0, "wholesale"), mapping) == []


EVENT_FOR_CONDITIONS = make_event(
    "Placed Order", value=50.0, currency="EUR", properties={"channel": "online", "score": "7", "cart": {"items": 3}}
)


@pytest.mark.parametrize(
    ("field", "op", "value", "expected"),
    [
        ("currency", "equals", "EUR", True),
        ("currency", "equals", "USD", False),
        ("currency", "not_equals", "USD", True),
        ("properties.channel", "in", ("online", "app"), True),
        ("properties.channel", "not_in", ("online",), False),
        ("value", "gt", 50, False),
        ("value", "gte", 50, True),
        ("value", "lt", 50.01, True),
        ("value", "lte", 49.99, False),
        ("properties.score", "gt", 6, True),  # numeric text compares as a number
        ("properties.cart.items", "equals", 3, True),  # dots go deeper
        ("order_id", "exists", True, False),
        ("order_id", "exists", False, True),
        ("properties.coupon", "exists", True, False),
        ("properties.coupon", "equals", "X", False),  # missing fails equals ...
        ("properties.coupon", "not_equals", "X", True),  # ... and passes not_equals
        ("properties.coupon", "gt", 0, False),
        ("properties.channel", "gt", 0, False),  # text that is no number never orders
    ],
)
def test_each_filter_operator(field, op, value, expected):
    assert Condition(field, FilterOp(op), value).matches(EVENT_FOR_CONDITIONS) is expected


def test_destinations_test_code_and_limited_data_use_come_from_config():
    mapping = load_mapping(
        {
            "limited_data_use": True,
            "content_id_mode": "sku",
            "destinations": {"web": {"pixel_id": PIXEL, "test_event_code": "TEST123"}, "app": {"app_id": 7100000001}},
        }
    )
    assert mapping.destinations == {
        EventSource.WEB: Destination("web", PIXEL, "TEST123"),
        EventSource.APP: Destination("app", "7100000001"),
    }
    assert mapping.limited_data_use is True and mapping.content_id_mode is ContentIdMode.SKU
    [event] = build_tiktok_events(make_event("Searched"), mapping, PiiHasher())
    assert event.data["limited_data_use"] is True


def test_a_disabled_source_needs_no_id_and_sends_nothing():
    mapping = load_mapping({"destinations": {"app": {"enabled": False}}}, pixel_id=PIXEL)
    assert set(mapping.destinations) == {EventSource.WEB}
    assert names(make_event("Purchase", "app"), mapping) == []
    assert names(make_event("Placed Order"), mapping) == ["Purchase"]


def test_ids_given_as_arguments_win_over_the_file(tmp_path):
    path = tmp_path / "mapping.yaml"
    path.write_text("destinations:\n  web: {pixel_id: FROMFILE}\n  app: {app_id: '1'}\ncontent_id_mode: product_id\n", encoding="utf-8")
    mapping = load_mapping(path, pixel_id="FROMENV")
    assert mapping.destinations[EventSource.WEB].event_source_id == "FROMENV"
    assert mapping.destinations[EventSource.APP].event_source_id == "1"
    assert mapping.content_id_mode is ContentIdMode.PRODUCT_ID


@pytest.mark.parametrize(
    ("config", "key", "words"),
    [
        ({"mappings": [{"source": "web", "event": "Placed Order", "tiktok": ["Purchse"]}]}, "mappings[0].tiktok[0]", "did you mean 'Purchase'"),
        ({"mappings": [{"source": "web", "event": "X", "tiktok": ["Lead"], "new_customer_event": "FirstBuy"}]}, "mappings[0].new_customer_event", "custom: true"),
        ({"content_id_mode": "gtin"}, "content_id_mode", "default, product_id, variant_id, sku"),
        ({"mappings": [{"source": "web", "event": "X", "tiktok": ["Lead"], "where": [{"field": "value", "op": "between", "value": 1}]}]}, "mappings[0].where[0].op", "unknown operator"),
        ({"mappings": [{"source": "web", "event": "X", "tiktok": ["Lead"], "where": [{"field": "colour", "op": "exists"}]}]}, "mappings[0].where[0].field", "unknown field"),
        ({"mappings": [{"source": "web", "event": "X", "tiktok": ["Lead"], "where": [{"field": "value", "op": "in", "value": 3}]}]}, "mappings[0].where[0].value", "takes a list"),
        ({"mappings": [{"source": "web", "event": "X", "tiktok": ["Lead"], "where": [{"field": "value", "op": "gt", "value": "10"}]}]}, "mappings[0].where[0].value", "compares numbers"),
        ({"mappings": [{"source": "web", "event": "X", "tiktok": ["Lead"], "where": [{"field": "value", "op": "equals"}]}]}, "mappings[0].where[0].value", "missing"),
        ({"mappings": [{"source": "server", "event": "X", "tiktok": ["Lead"]}]}, "mappings[0].source", "'web' or 'app'"),
        ({"mappings": [{"source": "web", "event": "X"}]}, "mappings[0].tiktok", "missing"),
        ({"mappings": [{"source": "web", "event": "X", "tiktok": ["Lead"], "filters": []}]}, "mappings[0].filters", "did you mean 'where'"),
        ({"mappings": "Purchase"}, "mappings", "list of rules"),
        ({"pass_through_custom_events": "yes"}, "pass_through_custom_events", "true or false"),
        ({"phone_default_region": "Narnia"}, "phone_default_region", "two-letter"),
        ({"destinations": {"web": {"pixel": "X"}}}, "destinations.web.pixel", "unknown setting"),
        ({"destinations": {"crm": {}}}, "destinations.crm", "unknown destination"),
        ({"limited_data": True}, "limited_data", "did you mean 'limited_data_use'"),
    ],
)
def test_bad_configs_raise_naming_the_key(config, key, words):
    with pytest.raises(MappingConfigError) as caught:
        load_mapping(config, pixel_id=PIXEL, app_id=APP_ID)
    assert caught.value.key == key
    assert repr(key) in str(caught.value) and words in str(caught.value)


def test_mapped_sources_without_an_id_raise_naming_the_key():
    with pytest.raises(MappingConfigError) as caught:
        load_mapping(app_id=APP_ID)
    assert caught.value.key == "destinations.web.pixel_id" and "Pixel ID" in str(caught.value)
    with pytest.raises(MappingConfigError) as caught:
        load_mapping(pixel_id=PIXEL)
    assert caught.value.key == "destinations.app.app_id" and "enabled: false" in str(caught.value)


def test_bad_files_raise_naming_the_problem(tmp_path):
    with pytest.raises(MappingConfigError, match="no mapping file"):
        load_mapping(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("mappings: [unclosed\n", encoding="utf-8")
    with pytest.raises(MappingConfigError, match="not valid YAML"):
        load_mapping(broken)
