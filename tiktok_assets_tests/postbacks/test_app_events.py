"""App events to spec (issue 15, defect 5).

Sources, re-typed (not copied) from the best-known public sender of TikTok app
events, Segment's "TikTok App Events" destination, which TikTok maintains
(github.com/segmentio/action-destinations, packages/destination-actions/src/
destinations/tiktok-app-events: reportAppEvent/types.ts, utils.ts,
formatter.ts, constants.ts, fields/common_fields.ts, presets.ts), and TikTok's
"Report App Events" / "Supported events" docs it links
(business-api.tiktok.com/portal/docs?id=1771101186666498):

- an app event carries ``app: {app_id, app_name?, app_version?}``, where
  ``app_id`` is the store's id of the app (App Store id, Google Play package),
  not the TikTok App ID of ``event_source_id``;
- ``user.idfa`` (iOS advertising id) is sent as is, upper case, or lower-case
  SHA-256 when hashed upstream; ``user.idfv`` (iOS vendor id) as is;
  ``user.gaid`` (Android advertising id) as is, lower case;
- ``user.att_status`` is one of AUTHORIZED, DENIED, NOT_DETERMINED,
  RESTRICTED, NOT_APPLICABLE (required from iOS 14.5; NOT_APPLICABLE on
  Android and before iOS 14);
- app standard event names are TikTok's app list (AchieveLevel,
  AddPaymentInfo, AddToCart, AddToWishlist, Checkout, CompleteTutorial,
  ... Purchase, Rate, Registration, Search, ... StartTrial, Subscribe,
  UnlockAchievement, ViewContent): ``Registration`` and ``Checkout``, not the
  web's ``CompleteRegistration`` / ``InitiateCheckout``.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from tiktok_assets.postbacks.delivery import deliver
from tiktok_assets.postbacks.errors import MappingConfigError
from tiktok_assets.postbacks.events import AppInfo, Identity, parse_event
from tiktok_assets.postbacks.mapping import load_mapping
from tiktok_assets.postbacks.outbox import map_new_loads
from tiktok_assets.postbacks.payloads import build_tiktok_events
from tiktok_assets.postbacks.pii import PiiHasher
from tiktok_assets.postbacks.store import store_events
from tiktok_assets.simulator.events import EventStore, EventValidationError
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.postbacks.helpers import APP_ID, PIXEL, app_event, at, sim_client

IDFA = "6D92078A-8246-4BA4-AE5B-76104861E7DC"
IDFV = "A3B1C2D4-0000-4E5F-8A9B-0C1D2E3F4A5B"
GAID = "38400000-8cf0-11bd-b23e-10b96e40000d"  # Google's documented example AAID
NOW_SECONDS = int(SIM_NOW.timestamp()) - 600


def app_body(**item_changes) -> dict:
    item = {"event": "AddToCart", "event_time": NOW_SECONDS, "event_id": "a-1",
            "user": {"idfa": IDFA, "att_status": "AUTHORIZED"},
            "app": {"app_id": "id1234567890", "app_name": "Example Shop", "app_version": "4.2.0"},
            "properties": {"currency": "USD", "value": 20.0}}
    item.update(item_changes)
    return {"event_source": "app", "event_source_id": APP_ID, "data": [{k: v for k, v in item.items() if v is not None}]}


@pytest.fixture
def store(sim_clock) -> EventStore:
    return EventStore(sim_clock)


def test_the_simulator_rejects_the_app_bodies_sent_before_naming_the_field(store):
    # What postbacks sent for an app event before the fix: no app object.
    with pytest.raises(EventValidationError, match=r"^Batch\.0\.app\.app_id: Missing data for required field"):
        store.track(app_body(app=None))
    with pytest.raises(EventValidationError, match=r"^Batch\.0\.app\.app_id: Not a valid string"):
        store.track(app_body(app={"app_id": 1234567890}))


@pytest.mark.parametrize(("user", "path"), [
    ({"idfa": IDFA, "att_status": "authorised"}, "Batch.0.user.att_status"),
    ({"idfa": "not-an-idfa", "att_status": "AUTHORIZED"}, "Batch.0.user.idfa"),
    ({"gaid": 42}, "Batch.0.user.gaid"),
    ({"idfv": "A3B1C2D4"}, "Batch.0.user.idfv"),
])
def test_the_simulator_checks_device_ids_and_att_status(store, user, path):
    with pytest.raises(EventValidationError, match=rf"^{path.replace('.', chr(92) + '.')}: "):
        store.track(app_body(user=user))


def test_the_simulator_takes_an_app_event_to_spec(store):
    assert store.track(app_body()).stored == 1
    hashed_idfa = "a" * 64
    assert store.track(app_body(event_id="a-2", user={"idfa": hashed_idfa, "idfv": IDFV, "att_status": "DENIED"})).stored == 1
    assert store.track(app_body(event_id="a-3", user={"gaid": GAID, "att_status": "NOT_APPLICABLE"})).stored == 1


def test_app_events_carry_the_app_device_ids_and_att_status():
    mapping = load_mapping({"destinations": {"app": {"store_app_id": "com.example.shop", "app_name": "Example Shop"}}},
                           pixel_id=PIXEL, app_id=APP_ID)
    ios = app_event("i-1", "Add to cart", identity=Identity(idfa=IDFA.lower(), idfv=IDFV, att_status="AUTHORIZED"),
                    app=AppInfo(app_id="id1234567890", app_version="4.2.0"))
    android = app_event("g-1", "Add to cart", identity=Identity(gaid=GAID.upper()))
    hasher = PiiHasher()
    (ios_event,), (android_event,) = (build_tiktok_events(event, mapping, hasher) for event in (ios, android))

    # The event's own store id wins over the configured one (an iOS and an Android app have different ids).
    assert ios_event.data["app"] == {"app_id": "id1234567890", "app_name": "Example Shop", "app_version": "4.2.0"}
    assert {key: ios_event.data["user"][key] for key in ("idfa", "idfv", "att_status")} == {
        "idfa": IDFA, "idfv": IDFV, "att_status": "AUTHORIZED"}
    assert android_event.data["app"] == {"app_id": "com.example.shop", "app_name": "Example Shop"}
    # Android has no ATT: NOT_APPLICABLE, as TikTok asks.
    assert android_event.data["user"] == {"gaid": GAID, "att_status": "NOT_APPLICABLE"}


def test_app_standard_event_names_are_tiktoks_app_list():
    mapping = load_mapping(pixel_id=PIXEL, app_id=APP_ID)
    hasher = PiiHasher()
    assert [event.event for event in build_tiktok_events(app_event("r", "Complete registration"), mapping, hasher)] == ["Registration"]
    assert [event.event for event in build_tiktok_events(app_event("c", "Initiate checkout"), mapping, hasher)] == ["Checkout"]
    # A web-only name for an app event is refused with the app name to use.
    with pytest.raises(MappingConfigError, match=r"mappings\[0\]\.tiktok\[0\].*'Registration'"):
        load_mapping({"mappings": [{"source": "app", "event": "Complete registration", "tiktok": ["CompleteRegistration"]}]},
                     pixel_id=PIXEL, app_id=APP_ID)


def test_bad_device_ids_are_dropped_and_counted_and_att_status_normalised():
    dropped: Counter[str] = Counter()
    event = parse_event({"event_id": "a1", "source": "app", "event_name": "Purchase", "event_time": NOW_SECONDS,
                         "idfa": "00000000-0000-0000-0000-000000000000", "gaid": "not a gaid", "idfv": IDFV,
                         "att_status": "denied", "app_id": "id1234567890", "app_version": "4.2.0"}, dropped=dropped)
    assert (event.identity.idfa, event.identity.gaid, event.identity.idfv) == (None, None, IDFV)
    assert event.identity.att_status == "DENIED"
    assert event.app == AppInfo(app_id="id1234567890", app_version="4.2.0")
    # The zero IDFA is what iOS gives when tracking is not authorised: no id at all.
    assert dropped == {"idfa_invalid": 1, "gaid_invalid": 1}


def test_app_events_reach_the_simulator_to_spec(engine, simulator):
    mapping = load_mapping({"destinations": {"app": {"store_app_id": "id1234567890"}}}, pixel_id=PIXEL, app_id=APP_ID)
    store_events(engine, [app_event("buy-1", "Purchase", value=9.99, currency="EUR", identity=Identity(idfa=IDFA)),
                          app_event("reg-1", "Complete registration", identity=Identity(gaid=GAID))],
                 received_at=SIM_NOW)
    map_new_loads(engine, mapping, now=SIM_NOW)
    with sim_client(simulator) as client:
        report = deliver(engine, client, clock=at(SIM_NOW + timedelta(minutes=1)))

    assert (report.accepted, report.rejected) == (2, 0)
    stored = {event["event_id"]: event for event in simulator.events.accepted(APP_ID)}
    assert stored["buy-1"]["app"] == {"app_id": "id1234567890"} and stored["buy-1"]["user"]["att_status"] == "AUTHORIZED"
    assert stored["reg-1"]["event"] == "Registration"
