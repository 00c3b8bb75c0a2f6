"""First-party events: validation naming the field, readers that never stop at a bad line, frames."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pandas as pd
import pytest

from tiktok_assets.postbacks.errors import EventFileError, EventValidationError
from tiktok_assets.postbacks.events import (
    NO_CLICK,
    NO_IDENTITY,
    RECORD_FIELDS,
    ClickParams,
    EventSource,
    FirstPartyEvent,
    Identity,
    Product,
    event_to_record,
    events_from_rows,
    events_to_frame,
    frame_to_events,
    parse_event,
    read_csv,
    read_jsonl,
    write_jsonl,
)


def order_record(**changes) -> dict:
    record = {
        "event_id": "evt-1",
        "source": "web",
        "event_name": "Placed Order",
        "event_time": "2026-11-20T10:00:00Z",
        "email": "Jane.Doe@Example.com",
        "phone": "(415) 555-0123",
        "ip": "203.0.113.7",
        "page_url": "https://shop.example.com/checkouts/abc/thank_you",
        "cvg_source": "tiktok",
        "cvg_adid": 1790000000001,
        "products": [{"product_id": 123, "variant_id": "456", "sku": "SKU-1", "name": "Hoodie", "quantity": 2, "price": "19.50"}],
        "value": 39,
        "currency": "usd",
        "order_id": "#1001",
        "is_new_customer": True,
        "properties": {"channel": "online"},
    }
    record.update(changes)
    return {key: value for key, value in record.items() if value is not ...}


def test_a_valid_record_becomes_a_typed_event():
    event = parse_event(order_record())
    assert event.event_id == "evt-1"
    assert event.source is EventSource.WEB
    assert event.event_time == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert event.identity == Identity(email="Jane.Doe@Example.com", phone="(415) 555-0123", ip="203.0.113.7")
    assert event.click == ClickParams(cvg_source="tiktok", cvg_adid="1790000000001")
    assert event.products == (Product(product_id="123", variant_id="456", sku="SKU-1", name="Hoodie", quantity=2, price=19.5),)
    assert (event.value, event.currency, event.is_new_customer) == (39.0, "USD", True)
    assert event.properties == {"channel": "online"}


def test_event_time_offsets_and_unix_seconds_end_up_in_utc():
    # 12:00 at +02:00 is 10:00 UTC; 2026-11-20 is day 20777 after 1970-01-01 (56 years, 14 leap days, 323 days),
    # so 10:00 UTC that day is 20777 * 86400 + 36000 = 1795168800.
    expected = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert parse_event(order_record(event_time="2026-11-20T12:00:00+02:00")).event_time == expected
    assert parse_event(order_record(event_time=1795168800)).event_time == expected
    assert parse_event(order_record(event_time="1795168800")).event_time == expected


def test_app_events_need_no_page_url_and_integer_event_ids_become_text():
    event = parse_event({"event_id": 77, "source": "app", "event_name": "Session", "event_time": "2026-11-20T10:00:00Z"})
    assert event.event_id == "77" and event.page_url is None and event.source is EventSource.APP


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"event_id": ...}, "event_id", "missing"),
        ({"event_id": "   "}, "event_id", "missing"),
        ({"event_name": ...}, "event_name", "missing"),
        ({"source": "server"}, "source", "'web' or 'app'"),
        ({"event_time": ...}, "event_time", "missing"),
        ({"event_time": "2026-11-20T10:00:00"}, "event_time", "no time zone"),
        ({"event_time": "yesterday"}, "event_time", "ISO 8601"),
        ({"event_time": 1795168800000}, "event_time", "milliseconds"),
        ({"event_time": "1850-01-01T00:00:00Z"}, "event_time", "outside"),
        ({"currency": "US$"}, "currency", "ISO 4217"),
        ({"currency": "XYZ"}, "currency", "ISO 4217"),
        ({"currency": ...}, "currency", "required when value"),
        ({"value": -5}, "value", "negative"),
        ({"value": "lots"}, "value", "number"),
        ({"value": True}, "value", "boolean"),
        ({"value": float("inf")}, "value", "finite"),
        ({"page_url": ...}, "page_url", "required for web"),
        ({"page_url": "/checkout"}, "page_url", "absolute"),
        ({"products": {"product_id": "1"}}, "products", "list"),
        ({"products": "[{"}, "products", "JSON"),
        ({"products": [{"name": "x"}]}, "products[0].product_id", "missing"),
        ({"products": [{"product_id": "1", "quantity": 0}]}, "products[0].quantity", "at least 1"),
        ({"products": [{"product_id": "1", "price": -1}]}, "products[0].price", "negative"),
        ({"products": [{"product_id": "1", "colour": "red"}]}, "products[0].colour", "unknown product field"),
        ({"properties": ["a"]}, "properties", "object"),
        ({"is_new_customer": "maybe"}, "is_new_customer", "true, false"),
        ({"order_total": 3}, "order_total", "unknown field"),
        ({"email": 42}, "email", "string"),
    ],
)
def test_each_malformed_field_is_rejected_naming_the_field_and_event(changes, field, words):
    with pytest.raises(EventValidationError) as caught:
        parse_event(order_record(**changes))
    error = caught.value
    assert error.field == field
    assert f"'{field}'" in str(error) and words in str(error)
    if field != "event_id":
        assert error.event_id == "evt-1" and "evt-1" in str(error)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"email": "jane doe@example.com"}, "email_invalid"),
        ({"email": "jane@localhost"}, "email_invalid"),
        ({"email": "jane.doe@example"}, "email_invalid"),
        ({"email": "not an email"}, "email_invalid"),
        ({"phone": "call me"}, "phone_invalid"),
        ({"phone": "12-34"}, "phone_invalid"),
        ({"ip": "300.1.1.1"}, "ip_invalid"),
    ],
)
def test_a_bad_identity_value_drops_the_field_not_the_event(changes, reason):
    # Issue 15, defect 4: an order with a mistyped email is still an order; only the email is left out.
    dropped = Counter()
    event = parse_event(order_record(**changes), dropped=dropped)
    (name,) = changes
    assert getattr(event.identity, name) is None
    assert (event.event_id, event.value, event.order_id) == ("evt-1", 39.0, "#1001")
    assert dropped == {reason: 1}
    # The other identity fields are kept.
    kept = {"email", "phone", "ip"} - {name}
    assert all(getattr(event.identity, other) is not None for other in kept)
    # Only the reason is kept: never the value.
    assert next(iter(changes.values())) not in repr(event) + repr(dropped)


def test_readers_count_dropped_fields_per_reason_and_keep_the_events(tmp_path):
    path = tmp_path / "orders.jsonl"
    path.write_text("\n".join(json.dumps(order_record(event_id=f"o-{index}", email=email)) for index, email in
                              enumerate(["jane doe@example.com", "jane@localhost", "ok@example.com"])) + "\n")
    loaded = read_jsonl(path)
    assert [event.event_id for event in loaded.events] == ["o-0", "o-1", "o-2"] and loaded.rejects == []
    assert loaded.field_drops == {"email_invalid": 2}
    csv_path = tmp_path / "orders.csv"
    csv_path.write_text("event_id,source,event_name,event_time,page_url,email,phone\n"
                        "c-1,web,Placed Order,2026-11-20T10:00:00Z,https://shop.example.com/,jane@localhost,call me\n")
    loaded_csv = read_csv(csv_path)
    assert [event.event_id for event in loaded_csv.events] == ["c-1"]
    assert loaded_csv.field_drops == {"email_invalid": 1, "phone_invalid": 1}


def test_an_already_hashed_email_or_phone_is_accepted():
    digest = "a" * 64
    event = parse_event(order_record(email=digest, phone=digest))
    assert event.identity.email == digest and event.identity.phone == digest


def test_read_jsonl_keeps_good_lines_and_reports_each_bad_one(tmp_path):
    good = order_record()
    lines = [
        json.dumps(good),
        "{not json",
        "",
        json.dumps(order_record(event_id="evt-2", currency="ZZZ")),
        json.dumps(order_record(event_id="evt-3", email=None, phone=None)),
        json.dumps(["a", "list"]),
    ]
    path = tmp_path / "events.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"\xff\xfe broken utf-8\n")
    events, rejects = read_jsonl(path)
    assert [event.event_id for event in events] == ["evt-1", "evt-3"]
    assert [(reject.line, reject.event_id) for reject in rejects] == [(2, None), (4, "evt-2"), (6, None), (7, None)]
    assert "not valid JSON" in rejects[0].reason
    assert "'currency'" in rejects[1].reason and "line 4" in rejects[1].reason
    assert "JSON object" in rejects[2].reason
    assert "UTF-8" in rejects[3].reason


def test_read_csv_reads_json_cells_and_rejects_bad_rows(tmp_path):
    path = tmp_path / "events.csv"
    products = json.dumps([{"product_id": "9", "price": 5}]).replace('"', '""')
    path.write_text(
        "event_id,source,event_name,event_time,email,page_url,products,value,currency,is_new_customer,properties\n"
        f'a,web,Placed Order,2026-11-20T10:00:00Z,a@b.co,https://s.example.com/,"{products}",5,EUR,true,"{{""channel"": ""pos""}}"\n'
        "b,app,Session,2026-11-20T10:00:00Z,,,,,,,\n"
        "c,web,Placed Order,2026-11-20T10:00:00Z,,https://s.example.com/,[oops,,,,\n"
        "d,app,Session,2026-11-20T10:00:00Z,,,,,,,,extra\n"
        "e,app,Session\n",
        encoding="utf-8",
    )
    events, rejects = read_csv(path)
    assert [event.event_id for event in events] == ["a", "b"]
    first = events[0]
    assert first.products == (Product(product_id="9", price=5.0),)
    assert (first.value, first.currency, first.is_new_customer, first.properties) == (5.0, "EUR", True, {"channel": "pos"})
    assert events[1].is_new_customer is None and events[1].products == ()
    assert [(reject.line, reject.event_id) for reject in rejects] == [(4, "c"), (5, "d"), (6, "e")]
    assert "'products'" in rejects[0].reason and "JSON" in rejects[0].reason
    assert "has 12 fields, the header has 11" in rejects[1].reason
    assert "has 3 fields, the header has 11" in rejects[2].reason


def test_read_csv_refuses_a_header_without_required_columns(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("event_id,event_name,colour\nx,y,z\n", encoding="utf-8")
    with pytest.raises(EventFileError, match="missing required column\\(s\\) source, event_time; unknown column\\(s\\) colour"):
        read_csv(path)


def test_readers_name_a_missing_file(tmp_path):
    with pytest.raises(EventFileError, match="no event file"):
        read_jsonl(tmp_path / "nope.jsonl")


def full_event() -> FirstPartyEvent:
    return FirstPartyEvent(
        event_id="e1",
        source=EventSource.WEB,
        event_name="Placed Order",
        event_time=datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC),
        identity=Identity(email="a@b.co", phone="+14155550123", external_id="c1", ttclid="T", ttp="P", ip="192.0.2.1", user_agent="UA"),
        page_url="https://s.example.com/thank_you",
        referrer="https://www.tiktok.com/",
        click=ClickParams("tiktok", "paid", "c", "a", "t", "tiktok", "1", "2"),
        products=(Product("p1", "v1", "s1", "Hoodie", 2, 10.5), Product("p2")),
        value=21.0,
        currency="USD",
        order_id="o1",
        customer_id="c1",
        is_new_customer=False,
        properties={"channel": "online", "nested": {"a": 1}},
    )


def bare_event() -> FirstPartyEvent:
    return FirstPartyEvent("e2", EventSource.APP, "Session", datetime(2026, 11, 20, 11, tzinfo=UTC))


def test_frame_has_the_table_columns_and_round_trips():
    events = [full_event(), bare_event()]
    frame = events_to_frame(events)
    assert list(frame.columns) == list(RECORD_FIELDS)
    assert str(frame["event_time"].dtype) == "datetime64[ns, UTC]"
    assert frame.loc[0, "event_time"] == pd.Timestamp("2026-11-20T10:00:00.123456Z")
    assert frame["value"].tolist()[0] == 21.0 and pd.isna(frame.loc[1, "value"])
    assert str(frame["is_new_customer"].dtype) == "boolean" and frame.loc[0, "is_new_customer"] == False  # noqa: E712
    assert json.loads(frame.loc[0, "products"]) == [
        {"product_id": "p1", "variant_id": "v1", "sku": "s1", "name": "Hoodie", "quantity": 2, "price": 10.5},
        {"product_id": "p2", "quantity": 1},
    ]
    assert frame.loc[1, "products"] is None and frame.loc[1, "email"] is None
    assert frame["source"].tolist() == ["web", "app"] and type(frame["source"][0]) is str
    assert frame_to_events(frame) == events


def test_empty_frame_keeps_its_column_types():
    frame = events_to_frame([])
    assert list(frame.columns) == list(RECORD_FIELDS) and len(frame) == 0
    assert frame["email"].dtype == object
    assert frame_to_events(frame) == []


def table_row(event: FirstPartyEvent, **changes) -> tuple:
    """``event`` as a row of ``first_party_events`` comes back from the database: naive UTC time, JSON text."""
    record = events_to_frame([event]).astype(object).iloc[0].to_dict()
    record = {name: None if pd.isna(value) else value for name, value in record.items()}
    record["event_time"] = event.event_time.astimezone(UTC).replace(tzinfo=None)
    record.update(changes)
    return tuple(record[name] for name in RECORD_FIELDS)


def test_table_rows_become_the_events_they_were_made_from():
    events = [full_event(), bare_event()]
    read = events_from_rows([table_row(event) for event in events])
    assert read == events
    assert all(event.event_time.tzinfo is UTC for event in read)
    assert type(read[0].value) is float and read[0].is_new_customer is False and read[1].is_new_customer is None
    assert read[1].properties == {} and read[1].products == () and read[1].value is None


def test_rows_take_aware_times_decimal_values_and_nan_as_missing():
    paris = timezone(timedelta(hours=1))
    aware = table_row(full_event(), event_time=datetime(2026, 11, 20, 11, 0, 0, 123456, tzinfo=paris), value=Decimal("21.000000"))
    nan_value = table_row(full_event(), value=float("nan"), is_new_customer=1)
    [from_aware, from_nan] = events_from_rows([aware, nan_value])
    assert from_aware == full_event() and from_aware.event_time.tzinfo is UTC and type(from_aware.value) is float
    assert from_nan.value is None and from_nan.is_new_customer is True


def test_rows_share_equal_identities_clicks_and_products_and_an_empty_one_is_the_default():
    session = [full_event(), replace(full_event(), event_id="e1b", properties={}), bare_event()]
    first, second, bare = events_from_rows([table_row(event) for event in session])
    assert first.identity is second.identity and first.click is second.click and first.products is second.products
    assert bare.identity is NO_IDENTITY and bare.click is NO_CLICK
    assert second.properties == {} and first.properties is not second.properties


def test_a_frame_with_only_some_columns_reads_the_others_as_missing():
    frame = pd.DataFrame({
        "event_id": ["e3"], "source": ["app"], "event_name": ["Purchase"],
        "event_time": [pd.Timestamp("2026-11-20T12:00:00+01:00")], "email": ["a@b.co"], "value": [float("nan")],
    })
    assert frame_to_events(frame) == [
        FirstPartyEvent("e3", EventSource.APP, "Purchase", datetime(2026, 11, 20, 11, tzinfo=UTC), identity=Identity(email="a@b.co")),
    ]


def test_records_round_trip_through_jsonl_and_csv(tmp_path):
    events = [full_event(), bare_event()]
    assert [parse_event(event_to_record(event)) for event in events] == events
    assert write_jsonl(events, tmp_path / "e.jsonl") == 2
    assert tuple(read_jsonl(tmp_path / "e.jsonl")) == (events, [])
    events_to_frame(events).to_csv(tmp_path / "e.csv", index=False)
    assert tuple(read_csv(tmp_path / "e.csv")) == (events, [])
