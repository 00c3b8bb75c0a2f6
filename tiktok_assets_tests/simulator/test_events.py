"""The Events API: validation with field paths, 48-hour deduplication, batch limits, read-back."""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tiktok_assets.simulator import DEFAULT_ACCESS_TOKEN, SimClock
from tiktok_assets.simulator.events import EventStore, EventValidationError
from tiktok_assets_tests.simulator.conftest import PREFIX

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
EMAIL_HASH = hashlib.sha256(b"someone@example.com").hexdigest()


def purchase(event_id: str = "order-1001", **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event": "Purchase",
        "event_time": int(NOW.timestamp()) - 600,
        "event_id": event_id,
        "user": {"email": EMAIL_HASH, "external_id": hashlib.sha256(b"customer-42").hexdigest(),
                 "ttclid": "E.C.P.abc", "ip": "203.0.113.9", "user_agent": "Mozilla/5.0"},
        "page": {"url": "https://shop.example.com/checkout/thanks", "referrer": "https://shop.example.com/cart"},
        "properties": {
            "contents": [{"content_id": "SKU-1", "content_type": "product", "quantity": 2, "price": 19.5}],
            "currency": "USD",
            "value": 39.0,
            "order_id": "1001",
        },
    }
    event.update(overrides)
    return event


def batch(*events: dict[str, Any], source: str = "web", source_id: str = "PIXEL123", **extra: Any) -> dict[str, Any]:
    return {"event_source": source, "event_source_id": source_id, "data": list(events), **extra}


@pytest.fixture
def clock() -> SimClock:
    return SimClock(fixed=NOW)


@pytest.fixture
def store(clock: SimClock) -> EventStore:
    return EventStore(clock)


def _with(event: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``event`` with the dotted ``path`` set to ``value`` (or removed when value is ...)."""
    changed = copy.deepcopy(event)
    target: Any = changed
    parts = path.split(".")
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if value is ...:
        del target[parts[-1]]
    else:
        target[parts[-1]] = value
    return changed


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("properties.contents.0.content_id", 123, "Batch.0.properties.contents.0.content_id: Not a valid string"),
        ("properties.contents.0.quantity", 1.5, "Batch.0.properties.contents.0.quantity: Not a valid integer"),
        ("properties.contents.0.price", "19.50", "Batch.0.properties.contents.0.price: Not a valid number"),
        ("properties.contents", {"content_id": "x"}, "Batch.0.properties.contents: Not a valid list"),
        ("properties.value", "39", "Batch.0.properties.value: Not a valid number"),
        ("properties.currency", "usd", "Batch.0.properties.currency: Must be an ISO 4217"),
        ("properties.currency", ..., "Batch.0.properties.currency: Missing data"),
        ("event", ..., "Batch.0.event: Missing data for required field"),
        ("event", "", "Batch.0.event: Not a valid string"),
        ("event_time", "1763641800", "Batch.0.event_time: Not a valid integer"),
        ("event_time", 1763641800.5, "Batch.0.event_time: Not a valid integer"),
        ("event_time", int(NOW.timestamp()) + 301, "Batch.0.event_time: Must not be more than 5 minutes in the future"),
        ("event_time", int((NOW - timedelta(days=7, seconds=1)).timestamp()), "Batch.0.event_time: Must be within the last 7 days"),
        ("event_id", 1001, "Batch.0.event_id: Not a valid string"),
        ("user.email", "someone@example.com", "Batch.0.user.email: Must be a SHA-256 hash"),
        ("user.email", EMAIL_HASH.upper(), "Batch.0.user.email: Must be a SHA-256 hash"),
        ("user.phone", "+14155550100", "Batch.0.user.phone: Must be a SHA-256 hash"),
        ("user.external_id", ["ab" * 32, "not-hashed"], "Batch.0.user.external_id.1: Must be a SHA-256 hash"),
        ("user.ip", 203, "Batch.0.user.ip: Not a valid string"),
        ("page.url", ..., "Batch.0.page.url: Missing data for required field"),
        ("page", ..., "Batch.0.page.url: Missing data for required field"),
        ("limited_data_use", "yes", "Batch.0.limited_data_use: Not a valid boolean"),
    ],
)
def test_invalid_fields_reject_the_batch_naming_the_path(store: EventStore, path, value, message) -> None:
    with pytest.raises(EventValidationError) as raised:
        store.track(batch(_with(purchase(), path, value)))
    assert str(raised.value).startswith(message)
    assert store.accepted() == [] and store.rejected_requests == 1


def test_edges_that_are_accepted(store: EventStore) -> None:
    events = [
        purchase("e1", event_time=int(NOW.timestamp()) + 299),
        purchase("e2", event_time=int((NOW - timedelta(days=7) + timedelta(seconds=5)).timestamp())),
        _with(purchase("e3"), "properties.value", 39),        # an int is a number
        _with(purchase("e4"), "properties", ...),             # properties are optional
        _with(purchase("e5"), "user", ...),
        purchase("e6", event="CompletePayment"),            # the old name is still accepted
        _with(purchase("e7"), "event_id", ...),               # no event_id: stored, never deduplicated
    ]
    result = store.track(batch(*events))
    assert result.stored == 7 and result.deduplicated == 0


def test_app_events_need_no_page_url(store: EventStore) -> None:
    event = _with(purchase(), "page", ...)
    # App events carry TikTok's app object instead (issue 15, defect 5: tiktok_assets/simulator/events.py).
    store.track(batch({**event, "app": {"app_id": "id1234567890"}}, source="app", source_id="APP-1"))
    with pytest.raises(EventValidationError, match=r"Batch\.0\.page\.url"):
        store.track(batch(event, source="web"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"event_source_id": "P", "data": [{}]}, "event_source: Missing data for required field"),
        ({"event_source": "tv", "event_source_id": "P", "data": [{}]}, "event_source: Must be one of: web, app, offline, crm"),
        ({"event_source": "web", "data": [{}]}, "event_source_id: Missing data for required field"),
        ({"event_source": "web", "event_source_id": 7, "data": [{}]}, "event_source_id: Not a valid string"),
        ({"event_source": "web", "event_source_id": "P", "data": []}, "data: Length must be between 1 and 1000"),
        ({"event_source": "web", "event_source_id": "P", "data": {"event": "x"}}, "data: Not a valid list"),
        ({"event_source": "web", "event_source_id": "P"}, "data: Missing data for required field"),
        (["not", "an", "object"], "Request body must be a JSON object"),
    ],
)
def test_top_level_problems_are_named(store: EventStore, body, message) -> None:
    with pytest.raises(EventValidationError) as raised:
        store.track(body)
    assert str(raised.value) == message


def test_one_bad_event_rejects_the_whole_batch(store: EventStore) -> None:
    good = [purchase(f"ok-{n}") for n in range(5)]
    bad = _with(purchase("bad"), "properties.contents.0.content_id", 99)
    with pytest.raises(EventValidationError, match=r"^Batch\.3\.properties\.contents\.0\.content_id"):
        store.track(batch(*good[:3], bad, *good[3:]))
    assert store.accepted() == []


def test_batches_hold_at_most_1000_events(store: EventStore) -> None:
    assert store.track(batch(*(purchase(f"id-{n}") for n in range(1000)))).stored == 1000
    with pytest.raises(EventValidationError, match="data: Length must be between 1 and 1000"):
        store.track(batch(*(purchase(f"more-{n}") for n in range(1001))))
    assert len(store) == 1000


def test_duplicates_within_48_hours_are_dropped_and_later_ones_kept(store: EventStore, clock: SimClock) -> None:
    store.track(batch(purchase("order-1")))
    clock.advance(timedelta(hours=47, minutes=59))
    refreshed = purchase("order-1", event_time=int(clock.now().timestamp()) - 60)
    result = store.track(batch(refreshed, purchase("order-1", event="AddToCart", event_time=refreshed["event_time"])))
    assert (result.stored, result.deduplicated) == (1, 1)  # same event_id, other event name: kept
    assert store.duplicates_dropped == 1
    clock.advance(timedelta(minutes=1))  # exactly 48 h after the first one
    later = purchase("order-1", event_time=int(clock.now().timestamp()) - 60)
    assert store.track(batch(later)).stored == 1
    purchases = [event for event in store.accepted() if event["event"] == "Purchase"]
    assert [event["received_at"] for event in purchases] == [NOW, NOW + timedelta(hours=48)]


def test_duplicates_in_one_batch_and_across_sources(store: EventStore) -> None:
    result = store.track(batch(purchase("dup"), purchase("dup"), purchase("dup")))
    assert (result.stored, result.deduplicated) == (1, 2)
    # another pixel deduplicates its own events
    assert store.track(batch(purchase("dup"), source_id="OTHER-PIXEL")).stored == 1


def test_read_back_records_source_and_counts_requests(store: EventStore) -> None:
    store.track(batch(purchase("a"), test_event_code="TEST123"))
    store.track(batch({**purchase("b"), "app": {"app_id": "com.example.shop"}}, source="app", source_id="APP-9"))
    with pytest.raises(EventValidationError):
        store.track(batch(purchase(event="")))
    stored = store.accepted()
    assert [(e["event_id"], e["event_source"], e["event_source_id"], e["test_event_code"]) for e in stored] == [
        ("a", "web", "PIXEL123", "TEST123"), ("b", "app", "APP-9", None)]
    assert stored[0]["properties"]["contents"][0]["content_id"] == "SKU-1"
    assert stored[0]["received_at"] == NOW
    assert store.requests == {"PIXEL123": 2, "APP-9": 1}
    assert [e["event_id"] for e in store.accepted("APP-9")] == ["b"]
    stored[0]["event"] = "changed"  # read-back hands out copies
    assert store.accepted()[0]["event"] == "Purchase"
    store.clear()
    assert store.accepted() == [] and store.duplicates_dropped == 0 and not store.requests


def test_event_track_over_the_api(client, simulator) -> None:
    headers = {"Access-Token": DEFAULT_ACCESS_TOKEN}
    ok = client.post(PREFIX + "/event/track/", headers=headers, json=batch(purchase("api-1")))
    assert ok.status_code == 200
    body = ok.json()
    assert (body["code"], body["message"]) == (0, "OK") and body["request_id"]
    again = client.post(PREFIX + "/event/track/", headers=headers, json=batch(purchase("api-1")))
    assert again.json()["code"] == 0
    assert len(simulator.events.accepted()) == 1 and simulator.events.duplicates_dropped == 1
    bad = client.post(PREFIX + "/event/track/", headers=headers,
                      json=batch(_with(purchase("api-2"), "properties.contents.0.content_id", 5)))
    assert bad.status_code == 200
    assert (bad.json()["code"], bad.json()["message"]) == (
        40002, "Batch.0.properties.contents.0.content_id: Not a valid string")
    garbage = client.post(PREFIX + "/event/track/", headers=headers, content=b"{not json")
    assert garbage.json()["code"] == 40002
    unauthorised = client.post(PREFIX + "/event/track/", headers={"Access-Token": "nope"}, json=batch(purchase("x")))
    assert unauthorised.json()["code"] == 40105
    assert len(simulator.events.accepted()) == 1
