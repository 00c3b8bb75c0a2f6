"""The event store's fast path: raw request bodies, stored as received, read back as fresh copies; paths of deeper checks."""

from __future__ import annotations

import gc
import json
from typing import Any

import pytest

from tiktok_assets.simulator import SimClock
from tiktok_assets.simulator.events import NOT_JSON_MESSAGE, EventStore, EventValidationError
from tiktok_assets_tests.simulator.test_events import EMAIL_HASH, NOW, _with, batch, purchase


@pytest.fixture
def store() -> EventStore:
    return EventStore(SimClock(fixed=NOW))


def raw(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def test_a_raw_body_is_stored_as_sent_with_partial_dedup_in_order(store: EventStore) -> None:
    store.track_json(raw(batch(purchase("a"), purchase("b"))))
    result = store.track_json(raw(batch(purchase("b"), purchase("c"), purchase("a"), purchase("d"), test_event_code="T9")))
    assert (result.stored, result.deduplicated) == (2, 2)
    stored = store.accepted()
    assert [(event["event_id"], event["test_event_code"]) for event in stored] == [
        ("a", None), ("b", None), ("c", "T9"), ("d", "T9")]
    assert stored[2] == {**purchase("c"), "event_source": "web", "event_source_id": "PIXEL123", "test_event_code": "T9",
                         "received_at": NOW}
    assert len(store) == 4 and store.duplicates_dropped == 2 and store.requests == {"PIXEL123": 2}


def test_changing_a_tracked_body_or_a_read_copy_changes_nothing_stored(store: EventStore) -> None:
    body = batch(purchase("a"))
    store.track(body)
    body["data"][0]["properties"]["contents"][0]["content_id"] = "changed after sending"
    body["data"][0]["event"] = "Changed"
    store.accepted()[0]["properties"]["contents"][0]["price"] = 0
    kept = store.accepted()[0]
    assert (kept["event"], kept["properties"]["contents"][0]) == (
        "Purchase", {"content_id": "SKU-1", "content_type": "product", "quantity": 2, "price": 19.5})


def test_text_that_is_not_json_is_rejected_and_counted_nowhere(store: EventStore) -> None:
    with pytest.raises(EventValidationError) as raised:
        store.track_json(b'{"event_source": "web", "data": [')
    assert str(raised.value) == NOT_JSON_MESSAGE
    assert (store.rejected_requests, dict(store.requests), len(store)) == (0, {}, 0)
    with pytest.raises(EventValidationError, match="^Request body must be a JSON object$"):
        store.track_json(b"")  # an empty body is JSON null: a rejected request, as before
    assert store.rejected_requests == 1


def test_the_collector_is_running_again_after_a_batch_good_or_bad(store: EventStore) -> None:
    store.track_json(raw(batch(purchase("a"))))
    assert gc.isenabled()
    with pytest.raises(EventValidationError):
        store.track_json(raw(batch(purchase("b", event_time="soon"))))
    assert gc.isenabled()


def test_json_that_orjson_reads_differently_gets_the_answer_json_gives(store: EventStore) -> None:
    # NaN is JSON to Python's json (a number that is not finite), not to orjson.
    nan_price = raw(batch(_with(purchase("nan"), "properties.contents.0.price", float("nan"))))
    with pytest.raises(EventValidationError, match=r"^Batch\.0\.properties\.contents\.0\.price: Not a valid number$"):
        store.track_json(nan_price)
    # orjson reads integers past 64 bits as floats: an event_time must stay an integer (too far in the future).
    far_future = raw(batch(purchase("far", event_time=10**30)))
    with pytest.raises(EventValidationError, match=r"^Batch\.0\.event_time: Must not be more than 5 minutes in the future$"):
        store.track_json(far_future)
    big_quantity = raw(batch(_with(purchase("many"), "properties.contents.0.quantity", 2**70)))
    utf16 = json.dumps(batch(purchase("utf16"))).encode("utf-16")
    assert store.track_json(big_quantity).stored == store.track_json(utf16).stored == 1
    assert [event["properties"]["contents"][0]["quantity"] for event in store.accepted()] == [2**70, 2]


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("user.email", 5, "Batch.0.user.email: Not a valid string"),
        ("user.email", [EMAIL_HASH, 7], "Batch.0.user.email.1: Not a valid string"),
        ("user.email", EMAIL_HASH[:-1], "Batch.0.user.email: Must be a SHA-256 hash"),
        ("user", "someone", "Batch.0.user: Not a valid object"),
        ("page", "https://shop.example.com", "Batch.0.page: Not a valid object"),
        ("page.url", " ", "Batch.0.page.url: Not a valid string"),
        ("page.referrer", 1, "Batch.0.page.referrer: Not a valid string"),
        ("properties", [], "Batch.0.properties: Not a valid object"),
        ("properties.contents", ["SKU-1"], "Batch.0.properties.contents.0: Not a valid object"),
        ("properties.contents.0.quantity", True, "Batch.0.properties.contents.0.quantity: Not a valid integer"),
        ("properties.contents.0.price", float("nan"), "Batch.0.properties.contents.0.price: Not a valid number"),
        ("properties.contents.0.brand", 3, "Batch.0.properties.contents.0.brand: Not a valid string"),
        ("properties.value", float("inf"), "Batch.0.properties.value: Not a valid number"),
        ("properties.value", False, "Batch.0.properties.value: Not a valid number"),
        ("properties.order_id", 1001, "Batch.0.properties.order_id: Not a valid string"),
    ],
)
def test_deeper_problems_are_named_by_path(store: EventStore, path: str, value: Any, message: str) -> None:
    with pytest.raises(EventValidationError) as raised:
        store.track(batch(_with(purchase(), path, value)))
    assert str(raised.value).startswith(message)


def test_the_first_problem_in_order_is_the_one_reported(store: EventStore) -> None:
    two_wrong_fields = _with(_with(purchase("x"), "user.ip", 203), "user.phone", "not hashed")
    late_event = _with(purchase("y"), "properties.contents.0.content_id", 1)
    with pytest.raises(EventValidationError) as raised:
        store.track(batch(purchase("ok"), two_wrong_fields, late_event))
    assert str(raised.value).startswith("Batch.1.user.phone: Must be a SHA-256 hash")
    with pytest.raises(EventValidationError, match=r"^Batch\.0\.event_time: Not a valid integer$"):
        store.track(batch(_with(_with(purchase("z", event_time="now"), "event_id", 5), "user.ip", 1)))


def test_an_integer_value_too_big_for_a_float_is_a_number(store: EventStore) -> None:
    assert store.track(batch(_with(purchase("big"), "properties.value", 10**400))).stored == 1
