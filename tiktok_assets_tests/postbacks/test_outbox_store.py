"""The postbacks tables: first-party events stored once and read back whole, an idempotent outbox holding hashed PII only."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa

from tiktok_assets.postbacks.delivery import claim_batch, pending_destinations
from tiktok_assets.postbacks.events import ClickParams, Identity, Product
from tiktok_assets.postbacks.outbox import map_and_enqueue, overdue_events
from tiktok_assets.postbacks.store import (
    POSTBACK_TABLES,
    ensure_postback_tables,
    first_party_events,
    hours_received_since,
    postback_outbox,
    postback_payloads,
    read_events,
    store_events,
)
from tiktok_assets.postbacks.synthetic import SyntheticStreamConfig, generate_events
from tiktok_assets.warehouse import make_engine
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.postbacks.helpers import (
    APP_ID,
    HOUR_END,
    HOUR_START,
    PIXEL,
    app_event,
    order,
    web_event,
)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_events_are_stored_once_and_read_back_equal(engine):
    full = web_event(
        "w-1", "Placed Order", 5,
        identity=Identity(email="Ana@Example.com", phone="+1 415 555 0123", external_id="CUS-1", ttclid="E.C.P.x",
                          ttp="ttp-1", ip="2001:db8::7", user_agent="Mozilla/5.0"),
        referrer="https://www.tiktok.com/",
        click=ClickParams(utm_source="tiktok", cvg_source="tiktok", cvg_adid="1790000000001", cvg_cid="1780000000001"),
        products=(Product("8100", "81001", "SKU-1", "Hoodie, \"M\"", 2, 39.5),), value=79.0, currency="EUR",
        order_id="#1", customer_id="CUS-1", is_new_customer=True, properties={"channel": "online", "coupon": None},
    )
    bare = app_event("a-1", "Session", 0)
    returning = order("w-2", new_customer=False, minute=59)
    outside = web_event("w-3", "$page_load", 60)  # the next hour: excluded by the half-open window

    first = store_events(engine, [full, bare, returning, outside], received_at=SIM_NOW)
    again = store_events(engine, [full, returning], received_at=SIM_NOW + timedelta(minutes=1))

    assert (first.inserted, first.already_stored) == (4, 0)
    assert (again.inserted, again.already_stored) == (0, 2)
    assert read_events(engine, HOUR_START, HOUR_END) == [bare, full, returning]
    with engine.connect() as connection:
        stored = connection.execute(sa.select(first_party_events.c.email, first_party_events.c.received_at)
                                    .where(first_party_events.c.event_id == "w-1")).one()
    # Raw identity is kept here (the only place), and the first load's time stays.
    assert stored == ("Ana@Example.com", SIM_NOW.replace(tzinfo=None))


def test_read_events_gives_back_a_stored_synthetic_day_in_time_order(engine):
    day_start = HOUR_START - timedelta(hours=23)
    stream = generate_events([{"ad_id": "1790000000001", "campaign_id": "1780000000001", "currency": "USD"}],
                             day_start, HOUR_END, seed=5, config=SyntheticStreamConfig(sessions_per_day=150))
    # Values the stream never makes: all six decimals a Money column keeps, and no value with a currency.
    odd = [replace(stream[0], event_id="odd-1", value=89999999.654321, is_new_customer=False),
           replace(stream[1], event_id="odd-2", value=0.000001), replace(stream[2], event_id="odd-3", value=None)]
    store_events(engine, stream + odd, received_at=SIM_NOW)

    # The window's zone does not matter: it is the same instants in UTC.
    cet = timezone(timedelta(hours=1))
    read = read_events(engine, day_start.astimezone(cet), HOUR_END.astimezone(cet))

    expected = sorted(stream + odd, key=lambda event: (event.event_time, event.source.value, event.event_id))
    assert len(read) > 300 and read == expected
    assert {event.event_time.tzinfo for event in read} == {UTC}
    assert {type(event.value) for event in read} == {float, type(None)}
    assert {event.is_new_customer for event in read} == {True, False, None}


def test_hours_received_since_names_each_event_hour_of_newer_loads(engine):
    early, late = datetime(2026, 11, 20, 8, tzinfo=UTC), datetime(2026, 11, 20, 9, tzinfo=UTC)
    store_events(engine, [web_event("a", "$page_load", 5), web_event("b", "$page_load", 65)], received_at=early)
    store_events(engine, [web_event("c", "$page_load", 70), web_event("d", "$page_load", 75), web_event("e", "$page_load", 130)],
                 received_at=late)

    everything = hours_received_since(engine, None)
    newer = hours_received_since(engine, early)

    hour = HOUR_START.replace(tzinfo=None)
    assert [(h.hour, h.events) for h in everything] == [(hour, 1), (hour + timedelta(hours=1), 3), (hour + timedelta(hours=2), 1)]
    assert [(h.hour, h.latest_received_at, h.events) for h in newer] == [
        (hour + timedelta(hours=1), late.replace(tzinfo=None), 2),
        (hour + timedelta(hours=2), late.replace(tzinfo=None), 1),
    ]


def test_enqueue_is_idempotent_and_payloads_hold_only_hashed_identity(engine, mapping):
    events = [order("o-1", new_customer=True), order("o-2", new_customer=False), web_event("p-1", "$page_load"),
              app_event("s-1", "Session"), app_event("v-1", "View content")]
    store_events(engine, events, received_at=SIM_NOW)

    first = map_and_enqueue(engine, HOUR_START, HOUR_END, mapping, now=SIM_NOW)
    second = map_and_enqueue(engine, HOUR_START, HOUR_END, mapping, now=SIM_NOW + timedelta(hours=1))

    # o-1: Purchase + NewCustomerPurchase; o-2: Purchase; p-1: PageView; v-1: ViewContent; Session is not sent.
    assert (first.first_party_events, first.tiktok_events, first.unmapped_events) == (5, 5, 1)
    assert (first.enqueued.queued, first.enqueued.already_queued) == (5, 0)
    assert (second.enqueued.queued, second.enqueued.already_queued) == (0, 5)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(postback_outbox.c.event_source_id, postback_outbox.c.event, postback_outbox.c.event_id,
                      postback_outbox.c.state, postback_outbox.c.attempts, postback_outbox.c.first_queued_at,
                      postback_payloads.c.payload)
            .join_from(postback_outbox, postback_payloads, postback_payloads.c.outbox_id == postback_outbox.c.outbox_id)
            .order_by(postback_outbox.c.outbox_id)
        ).all()
    assert {(row[0], row[1], row[2]) for row in rows} == {
        (PIXEL, "Purchase", "o-1"), (PIXEL, "NewCustomerPurchase", "o-1:NewCustomerPurchase"),
        (PIXEL, "Purchase", "o-2"), (PIXEL, "PageView", "p-1"), (APP_ID, "ViewContent", "v-1"),
    }
    assert {(row[3], row[4], row[5]) for row in rows} == {("pending", 0, SIM_NOW.replace(tzinfo=None))}
    payloads = " ".join(row[6] for row in rows)
    for raw in ("ana.silva", "@example.com", "555-0123", "5550123"):
        assert raw.lower() not in payloads.lower()
    purchase = json.loads(next(row[6] for row in rows if row[2] == "o-1"))
    assert purchase["user"]["email"] == sha256("ana.silva@example.com")
    assert purchase["user"]["phone"] == sha256("+14155550123")
    assert purchase["user"]["ip"] == "203.0.113.9"


def test_ensure_postback_tables_creates_them_on_an_older_warehouse(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE ad_stats_daily (x INTEGER)"))

    ensure_postback_tables(engine)
    ensure_postback_tables(engine)  # and again: a no-op

    names = set(sa.inspect(engine).get_table_names())
    assert {table.name for table in POSTBACK_TABLES} <= names
    engine.dispose()


def test_overdue_events_counts_what_waits_too_long_in_either_state(engine, mapping):
    queued_at = SIM_NOW - timedelta(hours=10)
    store_events(engine, [web_event(f"w{index}", "$page_load", minute=index) for index in range(5)], received_at=queued_at)
    map_and_enqueue(engine, HOUR_START, HOUR_END, mapping, now=queued_at)
    (destination,) = pending_destinations(engine)
    claim_batch(engine, destination, 2, owner="someone", now=SIM_NOW)

    overdue = overdue_events(engine, SIM_NOW - timedelta(hours=6))
    recent = overdue_events(engine, SIM_NOW - timedelta(hours=11))

    assert (overdue.events, overdue.by_state, overdue.oldest_queued_at) == (5, {"pending": 3, "sending": 2}, queued_at.replace(tzinfo=None))
    assert (recent.events, recent.by_state, recent.oldest_queued_at) == (0, {}, None)
