"""Events API payloads and batches (no Dagster import).

One first-party event becomes zero or more :class:`TikTokEvent` s, each with
the JSON-ready ``data`` item the Events API wants; :func:`batch_requests`
packs them into ``POST /event/track/`` bodies of at most 1,000 events, one
destination (pixel or app, test code) a body.

Event ids: the first TikTok event of a first-party event reuses its
``event_id``, because the browser pixel sent the same event under that id and
TikTok keeps only the first event with the same name and id (48 hours).
Further events (``NewCustomerPurchase``, extra targets of a rule) get
``"{event_id}:{TikTok event}"``: stable across re-runs, so a retry never
counts twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from tiktok_assets.garbage_collector import gc_paused
from tiktok_assets.postbacks.errors import PayloadError
from tiktok_assets.postbacks.events import NO_IDENTITY, EventSource, FirstPartyEvent, Product
from tiktok_assets.postbacks.mapping import ContentIdMode, Destination, MappingConfig
from tiktok_assets.postbacks.pii import PiiHasher, already_hashed

MAX_EVENTS_PER_REQUEST = 1000

_CONTENT_ID: dict[ContentIdMode, Callable[[Product], str | None]] = {
    ContentIdMode.DEFAULT: lambda product: product.variant_id or product.product_id,
    ContentIdMode.PRODUCT_ID: attrgetter("product_id"),
    # Strict modes: a product without that id is sent without content_id rather
    # than under an id from another namespace that would not match the catalog.
    ContentIdMode.VARIANT_ID: attrgetter("variant_id"),
    ContentIdMode.SKU: attrgetter("sku"),
}


@dataclass(frozen=True, slots=True)
class TikTokEvent:
    """One event for the Events API. ``data`` is shared read-only between the events of one source event."""

    destination: Destination
    event: str
    event_id: str
    source_event_id: str
    """The first-party event it came from (outbox bookkeeping)."""
    data: Mapping[str, Any]
    problem: str | None = None
    """Why it must not be sent (outside the sanity bounds): it is dead-lettered when queued."""

    @property
    def dedup_key(self) -> tuple[str, str, str]:
        """What TikTok deduplicates on: the same name and event_id at one pixel or app."""
        return (self.destination.event_source_id, self.event, self.event_id)


@dataclass(frozen=True, slots=True)
class EventBatch:
    """Events for one request: one destination, at most 1,000 events."""

    destination: Destination
    events: tuple[TikTokEvent, ...]

    @property
    def body(self) -> dict[str, Any]:
        return track_body(self.destination, [event.data for event in self.events])


def track_body(destination: Destination, data: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``POST /event/track/`` body carrying ``data`` items to ``destination``."""
    body: dict[str, Any] = {"event_source": destination.event_source, "event_source_id": destination.event_source_id}
    if destination.test_event_code:
        body["test_event_code"] = destination.test_event_code
    body["data"] = data
    return body


def build_tiktok_events(event: FirstPartyEvent, mapping: MappingConfig, hasher: PiiHasher) -> list[TikTokEvent]:
    """The TikTok events ``mapping`` sends for ``event``, primary first (``[]`` when none)."""
    names = mapping.tiktok_events_for(event)
    if not names:
        return []
    destination = mapping.destinations[event.source]
    event_id = event.event_id
    event_time = int(event.event_time.timestamp())
    common: dict[str, Any] = {"user": _user(event, hasher)}
    if event.source is EventSource.APP:
        common["app"] = _app(event, mapping)
        _device(event, common["user"])
    if event.page_url is not None:
        page = {"url": event.page_url}
        if event.referrer is not None:
            page["referrer"] = event.referrer
        common["page"] = page
    elif event.source is EventSource.WEB:
        raise PayloadError(f"event {event_id!r} ({event.event_name}): web events need page_url; TikTok rejects a web event without page.url")
    common["properties"] = _properties(event, mapping.content_id_mode)
    common["limited_data_use"] = mapping.limited_data_use
    problem = mapping.bounds.problem(event) if event.value is not None or event.products else None
    tiktok_events = []
    for position, name in enumerate(names):
        tiktok_event_id = event_id if position == 0 else f"{event_id}:{name}"
        data = {"event": name, "event_time": event_time, "event_id": tiktok_event_id, **common}
        tiktok_events.append(TikTokEvent(destination, name, tiktok_event_id, event_id, data, problem))
    return tiktok_events


def build_all_tiktok_events(events: Iterable[FirstPartyEvent], mapping: MappingConfig, hasher: PiiHasher) -> list[TikTokEvent]:
    """:func:`build_tiktok_events` over many events, flattened, in input order."""
    built: list[TikTokEvent] = []
    extend = built.extend
    with gc_paused():
        for event in events:
            extend(build_tiktok_events(event, mapping, hasher))
    return built


def _user(event: FirstPartyEvent, hasher: PiiHasher) -> dict[str, str]:
    identity = event.identity
    if identity is NO_IDENTITY:
        return {}
    # One test per field: this runs for every event, and a table of (key, value)
    # pairs filtered by a comprehension took 1.6x as long (measured).
    user: dict[str, str] = {}
    if identity.email is not None and (email := hasher.email(identity.email)) is not None:
        user["email"] = email
    if identity.phone is not None and (phone := hasher.phone(identity.phone)) is not None:
        user["phone"] = phone
    if identity.external_id is not None and (external_id := hasher.external_id(identity.external_id)) is not None:
        user["external_id"] = external_id
    if identity.ttclid is not None:
        user["ttclid"] = identity.ttclid
    if identity.ttp is not None:
        user["ttp"] = identity.ttp
    if identity.ip is not None:
        user["ip"] = identity.ip
    if identity.user_agent is not None:
        user["user_agent"] = identity.user_agent
    return user


def _app(event: FirstPartyEvent, mapping: MappingConfig) -> dict[str, str]:
    """TikTok's ``app`` object: the event's own store id, name and version, else the configured ones.

    Without any store id it is ``{}``, and TikTok refuses the event ("app.app_id: Missing data"): dead-lettered
    with that message, which says what to set (``destinations.app.store_app_id``, or ``app_id`` on the events).
    """
    app, defaults = event.app, mapping.app_defaults
    fields = {"app_id": app.app_id or defaults.app_id, "app_name": app.app_name or defaults.app_name,
              "app_version": app.app_version}
    return {name: value for name, value in fields.items() if value is not None}


def _device(event: FirstPartyEvent, user: dict[str, str]) -> None:
    """The device ids and ATT status of an app event, as TikTok's app events take them.

    IDFA and IDFV as is in upper case, GAID in lower case; a SHA-256 digest in lower case (Segment's TikTok App
    Events destination, maintained by TikTok, formatter.ts / utils.ts). ``att_status`` when the event has none:
    NOT_APPLICABLE on Android (no ATT there, as TikTok asks); AUTHORIZED with an IDFA, since iOS gives apps the
    IDFA only once the user authorised tracking (the zero id otherwise, dropped at load); else left out.
    """
    identity = event.identity
    if identity.idfa is not None:
        user["idfa"] = identity.idfa.lower() if already_hashed(identity.idfa) else identity.idfa.upper()
    if identity.idfv is not None:
        user["idfv"] = identity.idfv.upper()
    if identity.gaid is not None:
        user["gaid"] = identity.gaid.lower()
    if identity.att_status is not None:
        user["att_status"] = identity.att_status
    elif identity.idfa is not None:
        user["att_status"] = "AUTHORIZED"
    elif identity.gaid is not None:
        user["att_status"] = "NOT_APPLICABLE"


def _properties(event: FirstPartyEvent, content_id_mode: ContentIdMode) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    if event.products:
        content_id = _CONTENT_ID[content_id_mode]
        properties["contents"] = [_content(product, content_id(product)) for product in event.products]
    if event.currency is not None:
        properties["currency"] = event.currency
    if event.value is not None:
        properties["value"] = event.value
    if event.order_id is not None:
        properties["order_id"] = event.order_id
    return properties


def _content(product: Product, content_id: str | None) -> dict[str, Any]:
    # TikTok rejects a numeric content_id ("Not a valid string"): always text.
    content: dict[str, Any] = {} if content_id is None else {"content_id": str(content_id)}
    content["content_type"] = "product"
    if product.name is not None:
        content["content_name"] = product.name
    content["quantity"] = product.quantity
    if product.price is not None:
        content["price"] = product.price
    return content


def batch_events(tiktok_events: Iterable[TikTokEvent], max_batch: int = MAX_EVENTS_PER_REQUEST) -> list[EventBatch]:
    """Group by destination (pixel or app, and test code), in order of first appearance, then cut into batches of ``max_batch``.

    n events of one destination make exactly ceil(n / max_batch) batches.
    """
    if not 1 <= max_batch <= MAX_EVENTS_PER_REQUEST:
        raise ValueError(f"max_batch must be 1 to {MAX_EVENTS_PER_REQUEST} (the Events API limit), got {max_batch}")
    groups: dict[Destination, list[TikTokEvent]] = {}
    for tiktok_event in tiktok_events:
        group = groups.get(tiktok_event.destination)
        if group is None:
            group = groups[tiktok_event.destination] = []
        group.append(tiktok_event)
    return [
        EventBatch(destination, tuple(group[start : start + max_batch]))
        for destination, group in groups.items()
        for start in range(0, len(group), max_batch)
    ]


def batch_requests(tiktok_events: Iterable[TikTokEvent], max_batch: int = MAX_EVENTS_PER_REQUEST) -> list[dict[str, Any]]:
    """Request bodies for ``POST /open_api/v1.3/event/track/`` (see :func:`batch_events`)."""
    return [batch.body for batch in batch_events(tiktok_events, max_batch)]
