"""The Events API (``POST /event/track/``): validation, deduplication and a read-back store.

Validation follows TikTok's: the first problem rejects the **whole batch**
with code 40002 and a message naming the field path, e.g.
``"Batch.0.properties.contents.0.content_id: Not a valid string"``.

App events (``event_source: app``) follow TikTok's app events, as the
best-known public sender of them, Segment's "TikTok App Events" destination
(maintained by TikTok; github.com/segmentio/action-destinations,
packages/destination-actions/src/destinations/tiktok-app-events:
reportAppEvent/types.ts, utils.ts, formatter.ts, constants.ts,
fields/common_fields.ts) builds them after TikTok's "Report App Events" docs
(business-api.tiktok.com/portal/docs?id=1771101186666498): each carries
``app: {app_id, app_name?, app_version?}``; ``user.idfa`` / ``user.idfv`` /
``user.gaid`` are device ids (a UUID, or a lower-case SHA-256 when hashed);
``user.att_status`` is one of AUTHORIZED, DENIED, NOT_DETERMINED, RESTRICTED,
NOT_APPLICABLE.

Deduplication: TikTok keeps the first event with the same name and
``event_id`` received within 48 hours (of the first one, by the simulator's
clock); later copies are accepted (code 0) but dropped. Keys are scoped per
``event_source_id`` (a pixel or app deduplicates its own events). Events
without an ``event_id`` are never deduplicated.

Speed matters here: the postbacks benchmark sends a million events through
this module while sharing the CPU with the code it measures. So bodies are
decoded by orjson with the collector paused, field paths are only formatted
once a check fails, and accepted batches are kept as the JSON text they
arrived as (decoded again on read), not as a million live dicts the garbage
collector walks again and again.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import orjson

from tiktok_assets.garbage_collector import gc_paused
from tiktok_assets.simulator.clock import SimClock

EVENT_SOURCES = ("web", "app", "offline", "crm")
MAX_EVENTS_PER_REQUEST = 1000
DEDUP_WINDOW = timedelta(hours=48)
MAX_FUTURE_SKEW = timedelta(minutes=5)
MAX_EVENT_AGE = timedelta(days=7)
NOT_JSON_MESSAGE = "Request body is not valid JSON."
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_DEVICE_ID = re.compile(r"^(?:[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|[0-9a-f]{64})$")
_DEVICE_ID_FIELDS = ("idfa", "idfv", "gaid")
ATT_STATUSES = ("AUTHORIZED", "DENIED", "NOT_DETERMINED", "RESTRICTED", "NOT_APPLICABLE")
_APP_TEXT_FIELDS = ("app_name", "app_version")
_HASHED_USER_FIELDS = ("email", "phone", "external_id")
_PLAIN_USER_FIELDS = ("ttclid", "ttp", "ip", "user_agent")
_CONTENT_TEXT_FIELDS = ("content_id", "content_type", "content_name", "content_category", "brand")
_PROPERTY_TEXT_FIELDS = ("order_id", "shop_id", "query", "description", "content_type")
# dict first: decoded JSON objects are dicts, and an exact type match skips the slower ABC check.
_JSON_OBJECT = (dict, Mapping)


class EventValidationError(ValueError):
    """A batch was rejected; ``str(error)`` is TikTok's message (field path first)."""


def _is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    # Floats first: they are most numbers sent, and the test is then a third of the cost.
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool)


def _fail(path: str, message: str) -> EventValidationError:
    return EventValidationError(f"{path}: {message}")


@dataclass(frozen=True, slots=True)
class _TimeBounds:
    """The accepted ``event_time`` range (epoch seconds) at one moment, worked out once per batch."""

    oldest: float
    newest: float

    @classmethod
    def at(cls, now: datetime) -> _TimeBounds:
        now_seconds = now.timestamp()
        return cls(now_seconds - MAX_EVENT_AGE.total_seconds(), now_seconds + MAX_FUTURE_SKEW.total_seconds())


def validate_track_body(body: object, now: datetime) -> None:
    """Raise :class:`EventValidationError` for the first problem in an ``/event/track/`` body."""
    if not isinstance(body, Mapping):
        raise EventValidationError("Request body must be a JSON object")
    source = body.get("event_source")
    if source is None:
        raise _fail("event_source", "Missing data for required field")
    if source not in EVENT_SOURCES:
        raise _fail("event_source", f"Must be one of: {', '.join(EVENT_SOURCES)}")
    source_id = body.get("event_source_id")
    if source_id is None:
        raise _fail("event_source_id", "Missing data for required field")
    if not isinstance(source_id, str) or not source_id.strip():
        raise _fail("event_source_id", "Not a valid string")
    if "test_event_code" in body and body["test_event_code"] is not None and not isinstance(body["test_event_code"], str):
        raise _fail("test_event_code", "Not a valid string")
    data = body.get("data")
    if data is None:
        raise _fail("data", "Missing data for required field")
    if not isinstance(data, list):
        raise _fail("data", "Not a valid list")
    if not 1 <= len(data) <= MAX_EVENTS_PER_REQUEST:
        raise _fail("data", f"Length must be between 1 and {MAX_EVENTS_PER_REQUEST}")
    bounds = _TimeBounds.at(now)
    page_required = source == "web"
    is_app = source == "app"
    for index, event in enumerate(data):
        _validate_event(event, index, page_required, bounds)
        if is_app:
            _validate_app_event(event, index)


# The checks below get the event's index, not its path: a path is only formatted for the error message.


def _require_text(container: Mapping[str, Any], key: str, path: str) -> None:
    """A required field that must be a non-empty string, refused with TikTok's two messages."""
    value = container.get(key)
    if value is None:
        raise _fail(path, "Missing data for required field")
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, "Not a valid string")


def _validate_event(event: object, index: int, page_required: bool, bounds: _TimeBounds) -> None:
    if not isinstance(event, _JSON_OBJECT):
        raise _fail(f"Batch.{index}", "Not a valid object")
    _require_text(event, "event", f"Batch.{index}.event")
    event_time = event.get("event_time")
    if event_time is None:
        raise _fail(f"Batch.{index}.event_time", "Missing data for required field")
    if not _is_integer(event_time):
        raise _fail(f"Batch.{index}.event_time", "Not a valid integer")
    if event_time > bounds.newest:
        raise _fail(f"Batch.{index}.event_time", "Must not be more than 5 minutes in the future")
    if event_time < bounds.oldest:
        raise _fail(f"Batch.{index}.event_time", "Must be within the last 7 days")
    event_id = event.get("event_id")
    if event_id is not None and not isinstance(event_id, str):
        raise _fail(f"Batch.{index}.event_id", "Not a valid string")
    user = event.get("user")
    if user is not None:
        _validate_user(user, index)
    page = event.get("page")
    if page is not None or page_required:
        _validate_page(page, index, page_required)
    properties = event.get("properties")
    if properties is not None:
        _validate_properties(properties, index)
    limited = event.get("limited_data_use")
    if limited is not None and not isinstance(limited, bool):
        raise _fail(f"Batch.{index}.limited_data_use", "Not a valid boolean")


def _validate_app_event(event: Mapping[str, Any], index: int) -> None:
    """What an app event needs beyond any event's checks: the ``app`` object, and device ids and ATT status
    of the documented shapes."""
    app = event.get("app")
    if app is None:
        raise _fail(f"Batch.{index}.app.app_id", "Missing data for required field")
    if not isinstance(app, _JSON_OBJECT):
        raise _fail(f"Batch.{index}.app", "Not a valid object")
    _require_text(app, "app_id", f"Batch.{index}.app.app_id")
    for field in _APP_TEXT_FIELDS:
        text = app.get(field)
        if text is not None and not isinstance(text, str):
            raise _fail(f"Batch.{index}.app.{field}", "Not a valid string")
    user = event.get("user")
    if not isinstance(user, _JSON_OBJECT):
        return
    for field in _DEVICE_ID_FIELDS:
        value = user.get(field)
        if value is None:
            continue
        if not isinstance(value, str):
            raise _fail(f"Batch.{index}.user.{field}", "Not a valid string")
        if not _DEVICE_ID.match(value):
            raise _fail(f"Batch.{index}.user.{field}", "Must be a device id (UUID) or its SHA-256 hash")
    att_status = user.get("att_status")
    if att_status is not None and att_status not in ATT_STATUSES:
        raise _fail(f"Batch.{index}.user.att_status", f"Must be one of: {', '.join(ATT_STATUSES)}")


def _validate_user(user: object, index: int) -> None:
    if not isinstance(user, _JSON_OBJECT):
        raise _fail(f"Batch.{index}.user", "Not a valid object")
    for field in _HASHED_USER_FIELDS:
        value = user.get(field)
        if value is None:
            continue
        # TikTok takes one hashed value or a list of them.
        if not isinstance(value, list):
            _check_hash(value, index, field, None)
            continue
        for position, item in enumerate(value):
            _check_hash(item, index, field, position)
    for field in _PLAIN_USER_FIELDS:
        value = user.get(field)
        if value is not None and not isinstance(value, str):
            raise _fail(f"Batch.{index}.user.{field}", "Not a valid string")


def _check_hash(item: object, index: int, field: str, position: int | None) -> None:
    if isinstance(item, str) and _SHA256_HEX.match(item):
        return
    where = f"Batch.{index}.user.{field}" + ("" if position is None else f".{position}")
    if not isinstance(item, str):
        raise _fail(where, "Not a valid string")
    raise _fail(where, "Must be a SHA-256 hash (64 lowercase hex characters): hash the normalised value")


def _validate_page(page: object, index: int, required: bool) -> None:
    if page is None:
        if required:
            raise _fail(f"Batch.{index}.page.url", "Missing data for required field")
        return
    if not isinstance(page, _JSON_OBJECT):
        raise _fail(f"Batch.{index}.page", "Not a valid object")
    url = page.get("url")
    if url is None:
        if required:
            raise _fail(f"Batch.{index}.page.url", "Missing data for required field")
    elif not isinstance(url, str) or not url.strip():
        raise _fail(f"Batch.{index}.page.url", "Not a valid string")
    referrer = page.get("referrer")
    if referrer is not None and not isinstance(referrer, str):
        raise _fail(f"Batch.{index}.page.referrer", "Not a valid string")


def _validate_properties(properties: object, index: int) -> None:
    if not isinstance(properties, _JSON_OBJECT):
        raise _fail(f"Batch.{index}.properties", "Not a valid object")
    contents = properties.get("contents")
    if contents is not None:
        if not isinstance(contents, list):
            raise _fail(f"Batch.{index}.properties.contents", "Not a valid list")
        for position, content in enumerate(contents):
            _validate_content(content, index, position)
    value = properties.get("value")
    if value is not None and not _is_number(value):
        raise _fail(f"Batch.{index}.properties.value", "Not a valid number")
    currency = properties.get("currency")
    if value is not None and currency is None:
        raise _fail(f"Batch.{index}.properties.currency", "Missing data for required field (required when value is given)")
    if currency is not None and (not isinstance(currency, str) or not _CURRENCY.match(currency)):
        raise _fail(f"Batch.{index}.properties.currency", "Must be an ISO 4217 currency code of 3 uppercase letters")
    for field in _PROPERTY_TEXT_FIELDS:
        text = properties.get(field)
        if text is not None and not isinstance(text, str):
            raise _fail(f"Batch.{index}.properties.{field}", "Not a valid string")


def _validate_content(content: object, index: int, position: int) -> None:
    if not isinstance(content, _JSON_OBJECT):
        raise _fail(f"Batch.{index}.properties.contents.{position}", "Not a valid object")
    for field in _CONTENT_TEXT_FIELDS:
        text = content.get(field)
        if text is not None and not isinstance(text, str):
            raise _fail(f"Batch.{index}.properties.contents.{position}.{field}", "Not a valid string")
    quantity = content.get("quantity")
    if quantity is not None and not _is_integer(quantity):
        raise _fail(f"Batch.{index}.properties.contents.{position}.quantity", "Not a valid integer")
    price = content.get("price")
    if price is not None and not _is_number(price):
        raise _fail(f"Batch.{index}.properties.contents.{position}.price", "Not a valid number")


def _problem_in(body: object, now: datetime) -> EventValidationError | None:
    try:
        validate_track_body(body, now)
    except EventValidationError as problem:
        return problem
    return None


def _decode_and_check(raw: bytes, now: datetime) -> tuple[object, EventValidationError | None]:
    """``raw`` decoded as ``json.loads`` reads it, and its first problem (None for a good batch).

    orjson decodes twice as fast, but refuses a few things json takes (NaN,
    UTF-16, lone surrogates) and reads integers beyond 64 bits as floats. A
    good batch reads the same either way where it matters (only a number
    field can hold such a float and pass); anything orjson refuses or finds a
    problem in is read again by json, so the answer is always json's.
    """
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    else:
        problem = _problem_in(body, now)
        if problem is None:
            return body, None
    try:
        body = json.loads(raw)
    except ValueError:
        raise EventValidationError(NOT_JSON_MESSAGE) from None
    return body, _problem_in(body, now)


@dataclass(frozen=True)
class TrackResult:
    stored: int
    deduplicated: int


@dataclass(frozen=True, slots=True)
class _StoredBatch:
    """One request with kept events, as received: its JSON text and which of its ``data`` items were kept.

    Bytes cannot be changed by whoever sent or reads the events, and cost the
    collector nothing; :meth:`EventStore.accepted` decodes fresh copies.
    """

    raw: bytes
    kept: Sequence[int]
    event_source: str
    event_source_id: str
    test_event_code: str | None
    received_at: datetime

    def records(self) -> list[dict[str, Any]]:
        data = json.loads(self.raw)["data"]
        records = []
        for index in self.kept:
            record = data[index]
            record.update(event_source=self.event_source, event_source_id=self.event_source_id,
                          test_event_code=self.test_event_code, received_at=self.received_at)
            records.append(record)
        return records


class EventStore:
    """Accepted Events API events, with TikTok's 48-hour deduplication; thread-safe."""

    def __init__(self, clock: SimClock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._batches: list[_StoredBatch] = []
        self._stored_events = 0
        self._first_seen: dict[tuple[str, str, str], datetime] = {}
        self.duplicates_dropped = 0
        self.requests: Counter[str] = Counter()
        """Requests per ``event_source_id``, accepted or rejected."""
        self.rejected_requests = 0

    def track_json(self, raw: bytes) -> TrackResult:
        """Decode, validate and store one request body as received over HTTP.

        Raises :class:`EventValidationError` (nothing stored) for a bad batch,
        and for text that is not JSON (counted as no pixel's or app's request:
        it names none).
        """
        now = self._clock.now()
        # A decoded batch is ~30,000 containers living exactly as long as the call; collector passes over
        # them cost the served simulator ~1.2 of ~7 µs an event (measured). JSON trees hold no cycles.
        with gc_paused():
            body, problem = _decode_and_check(raw or b"null", now)
            result = self._record(body, problem, raw, now)
            # Free the tree while the collector is still paused, or its next pass walks all of it once.
            del body
        return result

    def track(self, body: object) -> TrackResult:
        """Validate and store one decoded batch; raises :class:`EventValidationError` (nothing stored) on a bad one.

        ``body`` must be JSON-serialisable, as any request body is: the store
        keeps its JSON text, so changing ``body`` afterwards changes nothing stored.
        """
        now = self._clock.now()
        return self._record(body, _problem_in(body, now), None, now)

    def _record(self, body: object, problem: EventValidationError | None, raw: bytes | None,
                now: datetime) -> TrackResult:
        """Count the request, then raise ``problem`` or store the batch's new events."""
        with self._lock:
            if isinstance(body, Mapping) and isinstance(body.get("event_source_id"), str):
                self.requests[body["event_source_id"]] += 1
            if problem is not None:
                self.rejected_requests += 1
                raise problem
            batch = cast(Mapping[str, Any], body)
            if raw is None:
                raw = json.dumps(batch, separators=(",", ":")).encode()
            kept = self._keep_firsts(batch["event_source_id"], batch["data"], now)
            deduplicated = len(batch["data"]) - len(kept)
            if kept:
                self._batches.append(_StoredBatch(raw, kept, batch["event_source"], batch["event_source_id"],
                                                  batch.get("test_event_code"), now))
                self._stored_events += len(kept)
            self.duplicates_dropped += deduplicated
            return TrackResult(stored=len(kept), deduplicated=deduplicated)

    def _keep_firsts(self, source_id: str, data: list[Mapping[str, Any]], now: datetime) -> Sequence[int]:
        """Indexes of the events to keep: not seen (same name and id at this source) in the last 48 hours.

        Records each kept event as first seen now; call with the lock held.
        """
        first_seen = self._first_seen
        kept = []
        for index, event in enumerate(data):
            event_id = event.get("event_id")
            if event_id is not None:
                key = (source_id, event["event"], event_id)
                first = first_seen.get(key)
                if first is not None and now - first < DEDUP_WINDOW:
                    continue
                first_seen[key] = now
            kept.append(index)
        # Usually all of them: a range holds that in 48 bytes instead of a thousand ints.
        return range(len(data)) if len(kept) == len(data) else tuple(kept)

    def accepted(self, event_source_id: str | None = None) -> list[dict[str, Any]]:
        """Copies of the stored events (optionally of one pixel/app), in arrival order."""
        with self._lock:
            batches = [batch for batch in self._batches
                       if event_source_id is None or batch.event_source_id == event_source_id]
        return [record for batch in batches for record in batch.records()]

    def clear(self) -> None:
        with self._lock:
            self._batches.clear()
            self._stored_events = 0
            self._first_seen.clear()
            self.duplicates_dropped = 0
            self.rejected_requests = 0
            self.requests.clear()

    def __len__(self) -> int:
        with self._lock:
            return self._stored_events
