"""Rejections: the event TikTok names is dead-lettered with TikTok's message, the rest of its batch is delivered."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tiktok_assets.postbacks.delivery import deliver, rejected_index, resend_dead_letters
from tiktok_assets.postbacks.mapping import Destination
from tiktok_assets.postbacks.outbox import delivery_summary, enqueue, rejection_rate
from tiktok_assets.postbacks.payloads import TikTokEvent
from tiktok_assets.postbacks.store import postback_batches, postback_dead_letters, postback_outbox, postback_payloads
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.postbacks.helpers import HOUR_END, HOUR_START, PIXEL, accepted_keys, at, sim_client

EVENT_TIME = int(HOUR_START.timestamp()) + 600
DESTINATION = Destination("web", PIXEL)


def view(event_id: str, content_id: object = "8100", destination: Destination = DESTINATION) -> TikTokEvent:
    data = {
        "event": "ViewContent", "event_time": EVENT_TIME, "event_id": event_id,
        "page": {"url": "https://shop.example.com/p"},
        "properties": {"contents": [{"content_id": content_id, "content_type": "product", "quantity": 1}]},
    }
    return TikTokEvent(destination, "ViewContent", event_id, event_id, data)


def test_rejected_events_are_dead_lettered_with_tiktoks_message_and_the_rest_delivered(engine, simulator):
    # Events 2 and 7 carry a numeric content_id, which TikTok refuses ("Not a valid string").
    events = [view(f"v{index}", 8100 if index in (2, 7) else "8100") for index in range(10)]
    enqueue(engine, events, now=SIM_NOW)

    with sim_client(simulator) as client:
        report = deliver(engine, client, clock=at(SIM_NOW))

    # Request 1 names event 2; request 2 (9 left) names the old event 7, now at index 6; request 3 goes through.
    first, second = "Batch.2.properties.contents.0.content_id: Not a valid string", "Batch.6.properties.contents.0.content_id: Not a valid string"
    assert (report.batches, report.accepted, report.rejected) == (3, 8, 2)
    assert sorted(event_id for _, _, event_id in accepted_keys(simulator)) == [f"v{i}" for i in (0, 1, 3, 4, 5, 6, 8, 9)]
    with engine.connect() as connection:
        letters = connection.execute(
            sa.select(postback_dead_letters.c.event_id, postback_dead_letters.c.reason, postback_dead_letters.c.code,
                      postback_dead_letters.c.message, postback_dead_letters.c.payload)
            .order_by(postback_dead_letters.c.dead_letter_id)
        ).all()
        batches = connection.execute(
            sa.select(postback_batches.c.size, postback_batches.c.outcome, postback_batches.c.code, postback_batches.c.message)
            .order_by(postback_batches.c.batch_id)
        ).all()
        states = dict(connection.execute(
            sa.select(postback_outbox.c.event_id, postback_outbox.c.state).order_by(postback_outbox.c.event_id)).all())
    assert [(row.event_id, row.reason, row.code, row.message) for row in letters] == [
        ("v2", "rejected", 40002, first), ("v7", "rejected", 40002, second)]
    assert all('"content_id":8100' in row.payload for row in letters)  # kept as sent, for a fix and replay
    assert batches == [(10, "rejected", 40002, first), (9, "rejected", 40002, second), (8, "accepted", 0, "OK")]
    assert states == {f"v{i}": "dead" if i in (2, 7) else "accepted" for i in range(10)}
    summary = delivery_summary(engine, HOUR_START, HOUR_END)
    assert summary[["queued", "sent", "accepted", "rejected", "dead_lettered", "undelivered"]].iloc[0].tolist() == [10, 10, 8, 2, 2, 0]
    # Sent in more than one request: the 8 accepted (re-sent after v2's rejection) and v7 (rejected on its second).
    assert summary["retried"].iloc[0] == 9
    assert rejection_rate(summary) == 2 / 10


def test_a_request_rejected_as_a_whole_dead_letters_its_events(engine, simulator):
    blank = Destination("web", " ")  # TikTok: "event_source_id: Not a valid string"
    enqueue(engine, [view("x1", destination=blank), view("x2", destination=blank), view("ok")], now=SIM_NOW)

    with sim_client(simulator) as client:
        report = deliver(engine, client, clock=at(SIM_NOW))

    assert (report.accepted, report.rejected) == (1, 2)
    with engine.connect() as connection:
        letters = connection.execute(
            sa.select(postback_dead_letters.c.event_id, postback_dead_letters.c.message, postback_dead_letters.c.detail)
            .order_by(postback_dead_letters.c.event_id)
        ).all()
    assert [(row.event_id, row.message) for row in letters] == [
        ("x1", "event_source_id: Not a valid string"), ("x2", "event_source_id: Not a valid string")]
    assert letters[0].detail.startswith("TikTok rejected the whole request (code 40002)")


def test_rejected_index_reads_tiktoks_batch_path():
    assert rejected_index("Batch.12.user.email: Must be a SHA-256 hash", 20) == 12
    assert rejected_index("Batch.12.user.email: ...", 12) is None  # out of range: not this batch's event
    assert rejected_index("event_source_id: Not a valid string", 5) is None
    assert rejected_index("data: Batch.1 mentioned later", 5) is None


def test_rejected_events_fixed_by_hand_are_sent_again_and_other_dead_letters_never(engine, simulator):
    enqueue(engine, [view("good"), view("bad-1", 8100), view("bad-2", 8100)], now=SIM_NOW)
    with sim_client(simulator) as client:
        assert deliver(engine, client, clock=at(SIM_NOW)).rejected == 2
    # Fixed by hand: the stored payload of bad-1 gets a string content_id.
    with engine.begin() as connection:
        outbox_id = connection.execute(
            sa.select(postback_outbox.c.outbox_id).where(postback_outbox.c.event_id == "bad-1")).scalar_one()
        connection.execute(sa.update(postback_payloads).where(postback_payloads.c.outbox_id == outbox_id)
                           .values(payload=sa.func.replace(postback_payloads.c.payload, '"content_id":8100', '"content_id":"8100"')))
        # A dedup_window dead letter must never go out again, whatever it is asked.
        connection.execute(sa.update(postback_outbox).where(postback_outbox.c.event_id == "bad-2")
                           .values(dead_reason="dedup_window"))

    assert resend_dead_letters(engine, ["bad-1", "bad-2"]) == 1
    assert resend_dead_letters(engine, ["bad-1"]) == 0  # queued already, not dead any more
    with sim_client(simulator) as client:
        report = deliver(engine, client, clock=at(SIM_NOW))

    assert (report.accepted, report.rejected) == (1, 0)
    assert sorted(event_id for _, _, event_id in accepted_keys(simulator)) == ["bad-1", "good"]
    with engine.connect() as connection:
        states = dict(connection.execute(sa.select(postback_outbox.c.event_id, postback_outbox.c.state)).all())
        letters = connection.execute(sa.select(postback_dead_letters.c.event_id)).scalars().all()
    assert states == {"good": "accepted", "bad-1": "accepted", "bad-2": "dead"}
    assert sorted(letters) == ["bad-1", "bad-2"]  # the history stays
    with pytest.raises(TypeError, match="single string"):
        resend_dead_letters(engine, "bad-1")
