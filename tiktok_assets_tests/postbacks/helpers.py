"""Helpers for outbox and delivery tests: clients on the simulator, event makers, what the simulator stored."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from tiktok_assets.postbacks.events import EventSource, FirstPartyEvent, Identity, Product
from tiktok_assets.tiktok.client import RetryPolicy, TikTokClient
from tiktok_assets_tests.conftest import SIM_NOW

PIXEL = "CTESTPIXEL000001"
APP_ID = "7200000000000000001"
# TikTok's app.app_id: the store's id of the app (TikTok's App ID above is the event_source_id).
STORE_APP_ID = "id1234567890"
# Events of the hour before the simulator's "now": young enough for TikTok.
HOUR_START = SIM_NOW.replace(minute=0) - timedelta(hours=1)
HOUR_END = HOUR_START + timedelta(hours=1)
# Fast retries: the faults tests exercise the policy, not its patience.
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.005)


def sim_client(simulator: Any, base_url: str | None = None, *, retry: RetryPolicy = FAST_RETRY, timeout: float = 5.0) -> TikTokClient:
    """A client on the simulator: over the socket at ``base_url``, or in-process when None."""
    from tiktok_assets.simulator import DEFAULT_ACCESS_TOKEN

    if base_url is not None:
        return TikTokClient(DEFAULT_ACCESS_TOKEN, base_url, qps=None, retry=retry, timeout=timeout, sleep=lambda _s: None)
    return TikTokClient(DEFAULT_ACCESS_TOKEN, "http://simulator.local", qps=None, retry=retry, timeout=timeout,
                        transport=simulator.transport(), sleep=lambda _s: None)


def web_event(event_id: str, name: str, minute: int = 10, **fields: Any) -> FirstPartyEvent:
    """A web event in the test hour, with a page URL (TikTok requires one for web events)."""
    fields.setdefault("page_url", f"https://shop.example.com/{event_id}")
    return FirstPartyEvent(event_id=event_id, source=EventSource.WEB, event_name=name,
                           event_time=HOUR_START + timedelta(minutes=minute), **fields)


def app_event(event_id: str, name: str, minute: int = 10, **fields: Any) -> FirstPartyEvent:
    return FirstPartyEvent(event_id=event_id, source=EventSource.APP, event_name=name,
                           event_time=HOUR_START + timedelta(minutes=minute), **fields)


def order(event_id: str, *, new_customer: bool | None, value: float = 50.0, minute: int = 20, **fields: Any) -> FirstPartyEvent:
    return web_event(
        event_id, "Placed Order", minute,
        identity=Identity(email=" Ana.Silva@Example.com ", phone="(415) 555-0123", ip="203.0.113.9"),
        products=(Product("8100", "81001", "SKU-1-M", "Hoodie - M", 1, value),), value=value, currency="USD",
        order_id=f"#{event_id}", customer_id="cus-1", is_new_customer=new_customer, **fields,
    )


def accepted_keys(simulator: Any) -> list[tuple[str, str, str]]:
    """(event_source_id, event, event_id) of every event the simulator stored, in arrival order, repeats kept."""
    return [(event["event_source_id"], event["event"], event["event_id"]) for event in simulator.events.accepted()]


def at(moment: datetime) -> Callable[[], datetime]:
    """A clock for deliver() that stays at ``moment``."""
    return lambda: moment
