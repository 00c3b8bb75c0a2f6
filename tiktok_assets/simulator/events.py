"""The Events API (``POST /event/track/``): validation, deduplication and a read-back store.

Validation follows TikTok's: the first problem rejects the **whole batch**
with code 40002 and a message naming the field path, e.g.
``"Batch.0.properties.contents.0.content_id: Not a valid string"``.

Deduplication: TikTok keeps the first event with the same name and
``event_id`` received within 48 hours (of the first one, by the simulator's
clock); later copies are accepted (code 0) but dropped. Keys are scoped per
``event_source_id`` (a pixel or app deduplicates its own events). Events
without an ``event_id`` are never deduplicated.
"""

from __future__ import annotations

import copy
import math
import re
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from tiktok_assets.simulator.clock import SimClock

EVENT_SOURCES = ("web", "app", "offline", "crm")
MAX_EVENTS_PER_REQUEST = 1000
DEDUP_WINDOW = timedelta(hours=48)
MAX_FUTURE_SKEW = timedelta(minutes=5)
MAX_EVENT_AGE = timedelta(days=7)
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_HASHED_USER_FIELDS = ("email", "phone", "external_id")
_PLAIN_USER_FIELDS = ("ttclid", "ttp", "ip", "user_agent")


class EventValidationError(ValueError):
    """A batch was rejected; ``str(error)`` is TikTok's message (field path first)."""


def _is_string(value: object) -> bool:
    return isinstance(value, str)


def _is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value)


def _fail(path: str, message: str) -> EventValidationError:
    return EventValidationError(f"{path}: {message}")


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
    if not _is_string(source_id) or not source_id.strip():
        raise _fail("event_source_id", "Not a valid string")
    if "test_event_code" in body and body["test_event_code"] is not None and not _is_string(body["test_event_code"]):
        raise _fail("test_event_code", "Not a valid string")
    data = body.get("data")
    if data is None:
        raise _fail("data", "Missing data for required field")
    if not isinstance(data, list):
        raise _fail("data", "Not a valid list")
    if not 1 <= len(data) <= MAX_EVENTS_PER_REQUEST:
        raise _fail("data", f"Length must be between 1 and {MAX_EVENTS_PER_REQUEST}")
    for index, event in enumerate(data):
        _validate_event(event, f"Batch.{index}", source, now)


def _validate_event(event: object, path: str, source: str, now: datetime) -> None:
    if not isinstance(event, Mapping):
        raise _fail(path, "Not a valid object")
    name = event.get("event")
    if name is None:
        raise _fail(f"{path}.event", "Missing data for required field")
    if not _is_string(name) or not name.strip():
        raise _fail(f"{path}.event", "Not a valid string")
    event_time = event.get("event_time")
    if event_time is None:
        raise _fail(f"{path}.event_time", "Missing data for required field")
    if not _is_integer(event_time):
        raise _fail(f"{path}.event_time", "Not a valid integer")
    now_seconds = now.timestamp()
    if event_time > now_seconds + MAX_FUTURE_SKEW.total_seconds():
        raise _fail(f"{path}.event_time", "Must not be more than 5 minutes in the future")
    if event_time < now_seconds - MAX_EVENT_AGE.total_seconds():
        raise _fail(f"{path}.event_time", "Must be within the last 7 days")
    if "event_id" in event and event["event_id"] is not None and not _is_string(event["event_id"]):
        raise _fail(f"{path}.event_id", "Not a valid string")
    _validate_user(event.get("user"), f"{path}.user")
    _validate_page(event.get("page"), f"{path}.page", required=source == "web")
    _validate_properties(event.get("properties"), f"{path}.properties")
    limited = event.get("limited_data_use")
    if limited is not None and not isinstance(limited, bool):
        raise _fail(f"{path}.limited_data_use", "Not a valid boolean")


def _validate_user(user: object, path: str) -> None:
    if user is None:
        return
    if not isinstance(user, Mapping):
        raise _fail(path, "Not a valid object")
    for field in _HASHED_USER_FIELDS:
        value = user.get(field)
        if value is None:
            continue
        # TikTok takes one hashed value or a list of them.
        values = value if isinstance(value, list) else [value]
        for position, item in enumerate(values):
            where = f"{path}.{field}" + (f".{position}" if isinstance(value, list) else "")
            if not _is_string(item):
                raise _fail(where, "Not a valid string")
            if not _SHA256_HEX.match(item):
                raise _fail(where, "Must be a SHA-256 hash (64 lowercase hex characters): hash the normalised value")
    for field in _PLAIN_USER_FIELDS:
        value = user.get(field)
        if value is not None and not _is_string(value):
            raise _fail(f"{path}.{field}", "Not a valid string")


def _validate_page(page: object, path: str, *, required: bool) -> None:
    if page is None:
        if required:
            raise _fail(f"{path}.url", "Missing data for required field")
        return
    if not isinstance(page, Mapping):
        raise _fail(path, "Not a valid object")
    url = page.get("url")
    if url is None:
        if required:
            raise _fail(f"{path}.url", "Missing data for required field")
    elif not _is_string(url) or not url.strip():
        raise _fail(f"{path}.url", "Not a valid string")
    referrer = page.get("referrer")
    if referrer is not None and not _is_string(referrer):
        raise _fail(f"{path}.referrer", "Not a valid string")


def _validate_properties(properties: object, path: str) -> None:
    if properties is None:
        return
    if not isinstance(properties, Mapping):
        raise _fail(path, "Not a valid object")
    contents = properties.get("contents")
    if contents is not None:
        if not isinstance(contents, list):
            raise _fail(f"{path}.contents", "Not a valid list")
        for index, content in enumerate(contents):
            where = f"{path}.contents.{index}"
            if not isinstance(content, Mapping):
                raise _fail(where, "Not a valid object")
            for field in ("content_id", "content_type", "content_name", "content_category", "brand"):
                if content.get(field) is not None and not _is_string(content[field]):
                    raise _fail(f"{where}.{field}", "Not a valid string")
            if content.get("quantity") is not None and not _is_integer(content["quantity"]):
                raise _fail(f"{where}.quantity", "Not a valid integer")
            if content.get("price") is not None and not _is_number(content["price"]):
                raise _fail(f"{where}.price", "Not a valid number")
    value = properties.get("value")
    if value is not None and not _is_number(value):
        raise _fail(f"{path}.value", "Not a valid number")
    currency = properties.get("currency")
    if value is not None and currency is None:
        raise _fail(f"{path}.currency", "Missing data for required field (required when value is given)")
    if currency is not None and (not _is_string(currency) or not _CURRENCY.match(currency)):
        raise _fail(f"{path}.currency", "Must be an ISO 4217 currency code of 3 uppercase letters")
    for field in ("order_id", "shop_id", "query", "description", "content_type"):
        if properties.get(field) is not None and not _is_string(properties[field]):
            raise _fail(f"{path}.{field}", "Not a valid string")


@dataclass(frozen=True)
class TrackResult:
    stored: int
    deduplicated: int


class EventStore:
    """Accepted Events API events, with TikTok's 48-hour deduplication; thread-safe."""

    def __init__(self, clock: SimClock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._accepted: list[dict[str, Any]] = []
        self._first_seen: dict[tuple[str, str, str], datetime] = {}
        self.duplicates_dropped = 0
        self.requests: Counter[str] = Counter()
        """Requests per ``event_source_id``, accepted or rejected."""
        self.rejected_requests = 0

    def track(self, body: object) -> TrackResult:
        """Validate and store one batch; raises :class:`EventValidationError` (nothing stored) on a bad one."""
        now = self._clock.now()
        with self._lock:
            if isinstance(body, Mapping) and isinstance(body.get("event_source_id"), str):
                self.requests[body["event_source_id"]] += 1
            try:
                validate_track_body(body, now)
            except EventValidationError:
                self.rejected_requests += 1
                raise
            batch = cast(Mapping[str, Any], body)
            stored = deduplicated = 0
            for event in batch["data"]:
                event_id = event.get("event_id")
                if event_id is not None:
                    key = (batch["event_source_id"], event["event"], event_id)
                    first = self._first_seen.get(key)
                    if first is not None and now - first < DEDUP_WINDOW:
                        deduplicated += 1
                        continue
                    self._first_seen[key] = now
                record = copy.deepcopy(dict(event))
                record.update(
                    event_source=batch["event_source"],
                    event_source_id=batch["event_source_id"],
                    test_event_code=batch.get("test_event_code"),
                    received_at=now,
                )
                self._accepted.append(record)
                stored += 1
            self.duplicates_dropped += deduplicated
            return TrackResult(stored=stored, deduplicated=deduplicated)

    def accepted(self, event_source_id: str | None = None) -> list[dict[str, Any]]:
        """Copies of the stored events (optionally of one pixel/app), in arrival order."""
        with self._lock:
            return [copy.deepcopy(event) for event in self._accepted
                    if event_source_id is None or event["event_source_id"] == event_source_id]

    def clear(self) -> None:
        with self._lock:
            self._accepted.clear()
            self._first_seen.clear()
            self.duplicates_dropped = 0
            self.rejected_requests = 0
            self.requests.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._accepted)
