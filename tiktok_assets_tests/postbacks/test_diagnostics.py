"""Test events and diagnostics (issue 15, defect 8).

``test_event_code`` sends a destination's events to Events Manager's test tool
only (DESIGN.md: the body's optional ``test_event_code``), so a user can check
the setup before going live; it is a setting (mapping YAML or
TIKTOK_EVENTS_TEST_EVENT_CODE) and shows in the run's metadata. Diagnostics
say per destination and TikTok event what was accepted, rejected (with
TikTok's message), deduplicated and dead-lettered, and the match-key coverage
(share of events with email / phone / external_id / ttclid / ip + user_agent),
the proxy we have for TikTok's event match quality.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from tiktok_assets.defs.postbacks import tiktok_event_deliveries
from tiktok_assets.defs.resources import TikTokApiResource, WarehouseResource, postbacks_from_env
from tiktok_assets.postbacks.delivery import deliver
from tiktok_assets.postbacks.events import EventSource, FirstPartyEvent, Identity, Product
from tiktok_assets.postbacks.mapping import load_mapping
from tiktok_assets.postbacks.outbox import (
    delivery_diagnostics,
    delivery_summary,
    map_new_loads,
    match_key_coverage,
    rejection_rate,
)
from tiktok_assets.postbacks.store import store_events
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.postbacks.helpers import APP_ID, PIXEL, STORE_APP_ID, app_event, at, sim_client, web_event

BUYER = Identity(email="ana@example.com", phone="+1 415 555 0123", external_id="cus-1", ip="203.0.113.9",
                 user_agent="Mozilla/5.0")


def shop_events(minute_of_late_order: int = 20) -> list:
    return [
        web_event("o-1", "Placed Order", 10, identity=BUYER, products=(Product("8100", price=5.0),), value=5.0,
                  currency="USD", order_id="1001"),
        web_event("o-1-copy", "Placed Order", 11, identity=BUYER, products=(Product("8100", price=5.0),), value=5.0,
                  currency="USD", order_id="1001"),
        web_event("o-2", "Placed Order", 12, identity=Identity(ttclid="E.C.P.x"), value=7.0, currency="USD",
                  order_id="1002"),
        web_event("p-1", "$page_load", 13, identity=Identity(ttclid="E.C.P.y", ip="198.51.100.1")),
        web_event("p-2", "$page_load", 14),
        # Five minutes and more in the future for TikTok: rejected with its message.
        FirstPartyEvent("p-late", EventSource.WEB, "$page_load", SIM_NOW + timedelta(minutes=minute_of_late_order),
                        page_url="https://shop.example.com/"),
        app_event("a-1", "Add to cart", 15, identity=Identity(gaid="38400000-8cf0-11bd-b23e-10b96e40000d")),
    ]


def test_diagnostics_per_destination_and_event_with_match_key_coverage(engine, mapping, simulator):
    store_events(engine, shop_events(), received_at=SIM_NOW)
    loads = map_new_loads(engine, mapping, now=SIM_NOW)
    with sim_client(simulator) as client:
        deliver(engine, client, clock=at(SIM_NOW))

    diagnostics = delivery_diagnostics(engine, SIM_NOW - timedelta(days=7), SIM_NOW + timedelta(days=1))
    rows = {(row.destination, row.event): row for row in diagnostics.itertuples()}
    assert set(rows) == {(f"web {PIXEL}", "Purchase"), (f"web {PIXEL}", "PageView"), (f"app {APP_ID}", "AddToCart")}
    purchase, page_view, cart = rows[(f"web {PIXEL}", "Purchase")], rows[(f"web {PIXEL}", "PageView")], \
        rows[(f"app {APP_ID}", "AddToCart")]
    assert (purchase.accepted, purchase.rejected, purchase.deduplicated, purchase.dead_lettered) == (2, 0, 1, 0)
    assert (page_view.accepted, page_view.rejected, page_view.deduplicated) == (2, 1, 0)
    assert "Must not be more than 5 minutes in the future" in page_view.rejections
    assert (cart.accepted, cart.rejected) == (1, 0)

    coverage = {(row.destination, row.event): row for row in match_key_coverage(loads.mapped).itertuples()}
    purchases = coverage[(f"web {PIXEL}", "Purchase")]
    # Of the events mapped: o-1 and its copy carry every key but ttclid, o-2 only a ttclid.
    assert (purchases.events, purchases.email, purchases.phone, purchases.external_id, purchases.ttclid,
            purchases.ip_user_agent) == (3, 2 / 3, 2 / 3, 2 / 3, 1 / 3, 2 / 3)
    views = coverage[(f"web {PIXEL}", "PageView")]
    assert (views.events, views.email, views.ttclid, views.ip_user_agent) == (3, 0.0, 1 / 3, 0.0)


def test_test_events_are_counted_apart_from_live_conversions(engine, simulator):
    # Events sent with a test_event_code reach Events Manager's test tool only: accepted there, they are no
    # conversions, and were counted in "accepted" with the live ones (report, summary, diagnostics).
    test_mode = load_mapping({"destinations": {"web": {"test_event_code": "TEST42"},
                                               "app": {"store_app_id": STORE_APP_ID}}}, pixel_id=PIXEL, app_id=APP_ID)
    store_events(engine, [web_event("p-1", "$page_load", 13), web_event("p-2", "$page_load", 14),
                          app_event("a-1", "Add to cart", 15, identity=Identity(gaid="38400000-8cf0-11bd-b23e-10b96e40000d"))],
                 received_at=SIM_NOW)
    map_new_loads(engine, test_mode, now=SIM_NOW)
    with sim_client(simulator) as client:
        report = deliver(engine, client, clock=at(SIM_NOW))

    assert (report.accepted, report.test_accepted) == (1, 2)
    assert report.as_dict()["test_accepted"] == 2
    window = (SIM_NOW - timedelta(days=7), SIM_NOW + timedelta(days=1))
    summary = {row.event: row for row in delivery_summary(engine, *window).itertuples()}
    assert (summary["PageView"].accepted, summary["PageView"].test_accepted) == (0, 2)
    assert (summary["AddToCart"].accepted, summary["AddToCart"].test_accepted) == (1, 0)
    diagnostics = {(row.destination, row.event): row for row in delivery_diagnostics(engine, *window).itertuples()}
    page_views = diagnostics[(f"web {PIXEL}", "PageView")]
    assert (page_views.queued, page_views.accepted, page_views.test_accepted) == (2, 0, 2)
    assert rejection_rate(delivery_summary(engine, *window)) == 0.0


def test_a_test_event_code_from_the_environment_sends_to_the_test_tool_and_shows_in_metadata(
        loopback_simulator, tmp_path, monkeypatch):
    simulator, base_url = loopback_simulator
    now = datetime.now(UTC)
    simulator.clock.set(now)
    for name, value in (("TIKTOK_PIXEL_ID", PIXEL), ("TIKTOK_EVENTS_APP_ID", APP_ID),
                        ("TIKTOK_EVENTS_TEST_EVENT_CODE", "TEST81234")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TIKTOK_EVENT_MAPPING", raising=False)
    # Bound to the variables as the code location binds them: the run resolves them.
    postbacks = postbacks_from_env()
    assert postbacks.settings().test_event_code == "TEST81234"
    warehouse = WarehouseResource(url=f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    store_events(warehouse.get_engine(), [FirstPartyEvent("p-1", EventSource.WEB, "$page_load", hour + timedelta(minutes=5),
                                                          page_url="https://shop.example.com/")], received_at=now)

    with dg.instance_for_test() as instance:
        result = dg.materialize([tiktok_event_deliveries], instance=instance,
                                resources={"tiktok_api": TikTokApiResource(base_url=base_url), "warehouse": warehouse,
                                           "postbacks": postbacks})
    metadata = result.asset_materializations_for_node("tiktok_event_deliveries")[0].metadata

    assert [event["test_event_code"] for event in simulator.events.accepted()] == ["TEST81234"]
    assert metadata["test_event_codes"].value == {f"web {PIXEL}": "TEST81234", f"app {APP_ID}": "TEST81234"}
    assert "TEST81234" in metadata["destinations"].value
    assert "| web " in metadata["diagnostics"].value and "| web " in metadata["match_key_coverage"].value
