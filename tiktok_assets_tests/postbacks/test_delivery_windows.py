"""TikTok's time limits: no re-send once the 48 h dedup window may have closed, no event older than TikTok accepts."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tiktok_assets.postbacks.delivery import DeliverySettings, claim_batch, deliver, expire_unsendable, pending_destinations
from tiktok_assets.postbacks.outbox import map_and_enqueue
from tiktok_assets.postbacks.store import postback_dead_letters, postback_outbox, postback_queue, store_events
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.postbacks.helpers import HOUR_END, HOUR_START, accepted_keys, app_event, at, sim_client, web_event

MINUTES_BEFORE_NOW = int((SIM_NOW - HOUR_START).total_seconds() // 60)  # web_event's minute for SIM_NOW


def dead_letters_by_id(engine) -> dict[str, tuple[str, str]]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(postback_dead_letters.c.event_id, postback_dead_letters.c.reason, postback_dead_letters.c.detail)).all()
    return {event_id: (reason, detail) for event_id, reason, detail in rows}


def test_stale_claims_are_resent_inside_the_dedup_window_and_dead_lettered_past_it(engine, mapping, simulator):
    store_events(engine, [web_event(f"w{index}", "$page_load", minute=index) for index in range(10)], received_at=SIM_NOW)
    map_and_enqueue(engine, HOUR_START, HOUR_END, mapping, now=SIM_NOW)
    (destination,) = pending_destinations(engine)
    # Two senders claimed a batch each and died before recording anything.
    claim_batch(engine, destination, 5, owner="gone-early", now=SIM_NOW - timedelta(hours=2))
    claim_batch(engine, destination, 5, owner="gone-late", now=SIM_NOW)

    with sim_client(simulator) as client:
        report = deliver(engine, client, clock=at(SIM_NOW + timedelta(hours=46, minutes=30)))

    # The early claim was first sent 48.5 h ago: TikTok may no longer remember it, so a copy could count twice.
    assert (report.reclaimed, report.not_sent["dedup_window"], report.accepted) == (10, 5, 5)
    assert sorted(event_id for _, _, event_id in accepted_keys(simulator)) == [f"w{index}" for index in range(5, 10)]
    letters = dead_letters_by_id(engine)
    assert sorted(letters) == [f"w{index}" for index in range(5)]
    assert {reason for reason, _ in letters.values()} == {"dedup_window"}
    assert all(detail.startswith("dedup window passed, not re-sent to avoid a duplicate") for _, detail in letters.values())


def test_events_older_than_tiktok_accepts_are_dead_lettered_unsent(engine, mapping, simulator):
    day = 24 * 60
    events = [
        web_event("web-8d", "$page_load", minute=MINUTES_BEFORE_NOW - 8 * day),
        web_event("web-7d-edge", "$page_load", minute=MINUTES_BEFORE_NOW - 7 * day + 10),  # inside the 15 min margin
        web_event("web-6d", "$page_load", minute=MINUTES_BEFORE_NOW - 6 * day),
        app_event("app-8d", "Add to cart", minute=MINUTES_BEFORE_NOW - 8 * day),
        app_event("app-1h", "Add to cart", minute=MINUTES_BEFORE_NOW - 60),
    ]
    store_events(engine, events, received_at=SIM_NOW)
    map_and_enqueue(engine, SIM_NOW - timedelta(days=9), SIM_NOW, mapping, now=SIM_NOW)

    with sim_client(simulator) as client:
        report = deliver(engine, client, clock=at(SIM_NOW))

    assert report.not_sent == {"too_old": 3}
    assert sorted(event_id for _, _, event_id in accepted_keys(simulator)) == ["app-1h", "web-6d"]
    assert dead_letters_by_id(engine) == {
        "web-8d": ("too_old", "older than TikTok accepts (7 days for web events): not sent"),
        "web-7d-edge": ("too_old", "older than TikTok accepts (7 days for web events): not sent"),
        "app-8d": ("too_old", "older than TikTok accepts (7 days for app events): not sent"),
    }
    with engine.connect() as connection:
        unsent = connection.execute(sa.select(postback_outbox.c.attempts).where(postback_outbox.c.state == "dead")).scalars().all()
    assert unsent == [0, 0, 0]


@pytest.mark.parametrize("window", [timedelta(hours=48), timedelta(hours=49), timedelta(0)])
def test_the_resend_window_must_sit_inside_tiktoks_dedup_window(window):
    with pytest.raises(ValueError, match="48 h dedup window"):
        DeliverySettings(resend_window=window)


# PostgreSQL only: SQLite lets one writer in at a time, so nothing runs alongside.
@pytest.mark.parametrize("warehouse_url", ["postgres"], indirect=True)
def test_expiring_leaves_queue_rows_another_claim_holds_instead_of_waiting_on_it(engine, mapping):
    # A claim locks its queue rows, then updates their outbox rows; expiring must lock in the same order,
    # or the two can wait on each other in a circle (PostgreSQL would abort one as a deadlock).
    day = 24 * 60
    store_events(engine, [web_event(f"old-{index}", "$page_load", minute=MINUTES_BEFORE_NOW - 8 * day + index)
                          for index in range(2)], received_at=SIM_NOW)
    map_and_enqueue(engine, SIM_NOW - timedelta(days=9), SIM_NOW, mapping, now=SIM_NOW)
    with engine.connect() as connection:
        held, free = connection.execute(
            sa.select(postback_outbox.c.outbox_id, postback_outbox.c.event_id).order_by(postback_outbox.c.outbox_id)).all()
    with engine.connect() as claimer:
        claimer.execute(sa.select(postback_queue.c.outbox_id).where(postback_queue.c.outbox_id == held.outbox_id)
                        .with_for_update())
        with ThreadPoolExecutor(1) as pool:
            expiring = pool.submit(expire_unsendable, engine, settings=DeliverySettings(), now=SIM_NOW)
            try:
                expired = expiring.result(timeout=20)
            finally:
                claimer.rollback()  # lets an expiry that waited on the claimer finish, so the test fails rather than hangs
    assert expired == {"too_old": 1}
    assert set(dead_letters_by_id(engine)) == {free.event_id}
