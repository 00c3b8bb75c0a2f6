"""The first-party event model: what the store's website and app saw (no Dagster import).

Web events follow the Converge event spec (``$page_load``, ``Placed Order``...),
app events the usual mobile-measurement names (``Purchase``, ``Session``...).
Anything else is a *custom* event: it is accepted, and the mapping decides
whether it reaches TikTok.

One flat record shape serves every format, so a line of JSONL, a row of CSV and
a row of the warehouse table ``first_party_events`` carry the same keys
(:data:`RECORD_FIELDS`):

=================  ============================================================
column             content
=================  ============================================================
event_id           required; stable id, shared with the browser pixel for dedup
source             required; ``web`` or ``app``
event_name         required; e.g. ``Placed Order``
event_time         required; ISO 8601 with a zone (``2026-11-20T10:00:00Z``)
                   or unix seconds
email, phone,      identity, all optional; raw or already SHA-256 hex. Hashed
external_id        only when the postback is built, never stored hashed twice
ttclid, ttp, ip,   identity sent as is: TikTok click id, ``_ttp`` cookie,
user_agent         client IP, user agent
page_url,          the page the event happened on (``page_url`` is required
referrer           for web events: TikTok rejects web events without it)
utm_source ...     click parameters captured at landing: utm_source,
cvg_cid            utm_medium, utm_campaign, utm_content, utm_term,
                   cvg_source, cvg_adid (the ad id), cvg_cid (the campaign id)
products           JSON list of ``{product_id, variant_id, sku, name,
                   quantity, price}``; ``product_id`` required in each
value, currency    order value and ISO 4217 currency (required with a value)
order_id,          the order and the store's customer id
customer_id
is_new_customer    ``true`` for a customer's first order, ``false``, or empty
properties         JSON object of extra properties (mapping filters read them)
=================  ============================================================

Loading never stops at a bad line: readers return the good events and a list
of rejects, each with its line number and the reason. A bad identity value
(an email that is no address, such as ``jane doe@example.com`` or
``jane@localhost``; a phone that is no number; an IP that is none) is not a
bad line: the field is left out, the drop counted by reason
(:attr:`LoadResult.field_drops`), and the event kept, because the order is
real whatever its email.
"""

from __future__ import annotations

import csv
import ipaddress
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from operator import attrgetter
from pathlib import Path
from typing import IO, Any, NamedTuple, NoReturn

import numpy as np
import pandas as pd

from tiktok_assets.garbage_collector import gc_paused
from tiktok_assets.postbacks.errors import EventFileError, EventValidationError
from tiktok_assets.postbacks.pii import PiiRejection, already_hashed, is_email


class EventSource(StrEnum):
    WEB = "web"
    APP = "app"


# Converge's web event spec.
WEB_EVENT_NAMES: tuple[str, ...] = (
    "$page_load",
    "Viewed Product",
    "Viewed Collection",
    "Added To Cart",
    "Started Checkout",
    "Added Payment Info",
    "Placed Order",
    "Started Subscription",
    "Activated Subscription",
    "Placed Recurring Subscription Order",
    "Cancelled Subscription",
    "Searched",
    "Subscribed To Newsletter",
)
APP_EVENT_NAMES: tuple[str, ...] = (
    "Achieve level",
    "Add payment info",
    "Add to cart",
    "Complete registration",
    "Initiate checkout",
    "Session",
    "View content",
    "Start trial",
    "Subscription",
    "Purchase",
)
KNOWN_EVENT_NAMES: Mapping[EventSource, frozenset[str]] = {
    EventSource.WEB: frozenset(WEB_EVENT_NAMES),
    EventSource.APP: frozenset(APP_EVENT_NAMES),
}

# Active ISO 4217 codes a shop can charge in (precious metals and test codes left out).
ISO_4217_CURRENCIES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD
    BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP
    DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR
    IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD
    MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB
    PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD
    SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS
    VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL
    """.split()
)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who did it. Values are raw (or already SHA-256 hex); hashing happens when a postback is built."""

    email: str | None = None
    phone: str | None = None
    external_id: str | None = None
    ttclid: str | None = None
    ttp: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    # App events only (TikTok's app events: Segment's TikTok App Events destination, maintained by TikTok):
    idfa: str | None = None
    """iOS advertising id (a UUID), or its SHA-256."""
    idfv: str | None = None
    """iOS vendor id (a UUID)."""
    gaid: str | None = None
    """Android advertising id (a UUID), or its SHA-256."""
    att_status: str | None = None
    """iOS App Tracking Transparency: AUTHORIZED, DENIED, NOT_DETERMINED, RESTRICTED or NOT_APPLICABLE."""


@dataclass(frozen=True, slots=True)
class AppInfo:
    """The app an app event happened in, as TikTok's ``app`` object names it."""

    app_id: str | None = None
    """The store's id of the app: App Store id (``id1234567890``) or Google Play package (``com.example.shop``)."""
    app_name: str | None = None
    app_version: str | None = None


@dataclass(frozen=True, slots=True)
class ClickParams:
    """Tracking parameters of the landing URL, kept on every event of the session."""

    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_content: str | None = None
    utm_term: str | None = None
    cvg_source: str | None = None
    cvg_adid: str | None = None
    cvg_cid: str | None = None


@dataclass(frozen=True, slots=True)
class Product:
    product_id: str
    variant_id: str | None = None
    sku: str | None = None
    name: str | None = None
    quantity: int = 1
    price: float | None = None


NO_IDENTITY = Identity()
NO_CLICK = ClickParams()
NO_APP = AppInfo()


@dataclass(frozen=True, slots=True)
class FirstPartyEvent:
    event_id: str
    source: EventSource
    event_name: str
    event_time: datetime
    """Aware, in UTC."""
    identity: Identity = NO_IDENTITY
    page_url: str | None = None
    referrer: str | None = None
    click: ClickParams = NO_CLICK
    products: tuple[Product, ...] = ()
    value: float | None = None
    currency: str | None = None
    order_id: str | None = None
    customer_id: str | None = None
    is_new_customer: bool | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)
    app: AppInfo = NO_APP


IDENTITY_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Identity))
CLICK_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ClickParams))
APP_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(AppInfo))
ATT_STATUSES = frozenset({"AUTHORIZED", "DENIED", "NOT_DETERMINED", "RESTRICTED", "NOT_APPLICABLE"})
_DEVICE_ID_FIELDS = ("idfa", "idfv", "gaid")
PRODUCT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Product))
REQUIRED_FIELDS: tuple[str, ...] = ("event_id", "source", "event_name", "event_time")
RECORD_FIELDS: tuple[str, ...] = (
    *REQUIRED_FIELDS,
    *IDENTITY_FIELDS,
    "page_url",
    "referrer",
    *CLICK_FIELDS,
    "products",
    "value",
    "currency",
    "order_id",
    "customer_id",
    "is_new_customer",
    "properties",
    *APP_FIELDS,
)
"""The flat record: JSONL keys, CSV columns and ``first_party_events`` columns, in order."""

# Plausible event times: catches unix milliseconds and zeroed dates early.
EARLIEST_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_EVENT_TIME = datetime(2100, 1, 1, tzinfo=UTC)
_MILLISECONDS_THRESHOLD = 1e11

_PHONE_CHARS = re.compile(r"\+?[0-9 ()./-]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# What iOS and Android give instead of an advertising id when the user limits tracking: no id at all.
_ZERO_UUID = "00000000-0000-0000-0000-000000000000"
_TRUE_TEXT = frozenset({"true", "1", "yes"})
_FALSE_TEXT = frozenset({"false", "0", "no"})
_ID_FIELDS = frozenset({"external_id", "order_id", "customer_id", "cvg_adid", "cvg_cid"})
_RECORD_FIELD_SET = frozenset(RECORD_FIELDS)


class Rejected(NamedTuple):
    """A line that could not become an event."""

    line: int
    event_id: str | None
    reason: str


@dataclass(frozen=True)
class LoadResult:
    """What a reader made of a file; unpacks as ``events, rejects``."""

    events: list[FirstPartyEvent]
    rejects: list[Rejected]
    field_drops: Mapping[str, int] = field(default_factory=dict)
    """Identity values left out of kept events, by reason (``email_invalid``, ``phone_invalid``, ``ip_invalid``)."""

    def __iter__(self) -> Iterator[Any]:
        return iter((self.events, self.rejects))


# ---------------------------------------------------------------- parsing


def parse_event(record: Mapping[str, Any], *, dropped: Counter[str] | None = None) -> FirstPartyEvent:
    """Validate one flat record (see the module docstring) into a :class:`FirstPartyEvent`.

    Raises :class:`EventValidationError` naming the field and the event_id.
    ``products`` and ``properties`` may be given as JSON text (CSV cells, warehouse rows).
    An email, phone or IP that is text but no address, number or IP is left
    out of the event instead, its reason counted in ``dropped``.
    """
    if not isinstance(record, Mapping):
        raise EventValidationError("(record)", f"must be a JSON object, got {type(record).__name__}")
    raw_id = record.get("event_id")
    event_id = _text(raw_id, "event_id", None, allow_int=True)
    if event_id is None:
        raise EventValidationError("event_id", "is missing: every event needs a stable event_id (it dedups with the pixel)")
    check = _Checker(event_id, Counter() if dropped is None else dropped)
    unknown = sorted(str(key) for key in record if key not in _RECORD_FIELD_SET)
    if unknown:
        check.fail(", ".join(unknown), f"unknown field(s); move extra data under 'properties' (accepted: {', '.join(RECORD_FIELDS)})")

    source_text = check.text(record.get("source"), "source")
    if source_text is None or source_text.lower() not in ("web", "app"):
        check.fail("source", f"must be 'web' or 'app', got {source_text!r}")
    source = EventSource(source_text.lower())
    event_name = check.text(record.get("event_name"), "event_name")
    if event_name is None:
        check.fail("event_name", "is missing")
    event_time = check.event_time(record.get("event_time"))

    email = check.text(record.get("email"), "email")
    if email is not None and not (is_email(email) or already_hashed(email)):
        email = check.drop(PiiRejection.EMAIL_INVALID)
    phone = check.text(record.get("phone"), "phone")
    if phone is not None and not already_hashed(phone) and not _phone_shaped(phone):
        phone = check.drop(PiiRejection.PHONE_INVALID)
    ip = check.text(record.get("ip"), "ip")
    if ip is not None:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            ip = check.drop(PiiRejection.IP_INVALID)
    devices = {name: check.device_id(record.get(name), name) for name in _DEVICE_ID_FIELDS}
    att_status = check.text(record.get("att_status"), "att_status")
    if att_status is not None and (att_status := att_status.upper()) not in ATT_STATUSES:
        att_status = check.drop(PiiRejection.ATT_STATUS_INVALID)
    identity = Identity(
        email=email,
        phone=phone,
        external_id=check.text(record.get("external_id"), "external_id"),
        ttclid=check.text(record.get("ttclid"), "ttclid"),
        ttp=check.text(record.get("ttp"), "ttp"),
        ip=ip,
        user_agent=check.text(record.get("user_agent"), "user_agent"),
        att_status=att_status,
        **devices,
    )
    page_url = check.text(record.get("page_url"), "page_url")
    if page_url is None and source is EventSource.WEB:
        check.fail("page_url", "is required for web events: TikTok's Events API rejects a web event without page.url")
    if page_url is not None and not page_url.startswith(("https://", "http://")):
        check.fail("page_url", f"must be an absolute http(s) URL, got {page_url[:80]!r}")
    click = ClickParams(*(check.text(record.get(name), name) for name in CLICK_FIELDS))

    value = check.amount(record.get("value"), "value")
    currency = check.text(record.get("currency"), "currency")
    if currency is not None:
        currency = currency.upper()
        if currency not in ISO_4217_CURRENCIES:
            check.fail("currency", f"{currency!r} is not an ISO 4217 currency code such as 'USD' or 'EUR'")
    elif value is not None:
        check.fail("currency", "is required when value is set (TikTok needs both)")

    return FirstPartyEvent(
        event_id=event_id,
        source=source,
        event_name=event_name,
        event_time=event_time,
        identity=identity,
        page_url=page_url,
        referrer=check.text(record.get("referrer"), "referrer"),
        click=click,
        products=check.products(record.get("products")),
        value=value,
        currency=currency,
        order_id=check.text(record.get("order_id"), "order_id"),
        customer_id=check.text(record.get("customer_id"), "customer_id"),
        is_new_customer=check.flag(record.get("is_new_customer"), "is_new_customer"),
        properties=check.properties(record.get("properties")),
        app=AppInfo(*(check.text(record.get(name), name) for name in APP_FIELDS)),
    )


def _text(raw: Any, name: str, event_id: str | None, *, allow_int: bool = False) -> str | None:
    """A stripped string or None; ids may arrive as JSON numbers and become strings (TikTok wants string ids)."""
    if raw is None:
        return None
    if isinstance(raw, str):
        return raw.strip() or None
    if allow_int and isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)
    if isinstance(raw, float) and math.isnan(raw):  # an empty cell read by pandas
        return None
    raise EventValidationError(name, f"must be a string, got {type(raw).__name__}", event_id=event_id)


def _phone_shaped(phone: str) -> bool:
    """Digits and separators, 7 to 15 digits (E.164) after a ``00`` prefix; phonenumbers decides validity when
    hashing (it is ~25 µs a number)."""
    if not _PHONE_CHARS.fullmatch(phone):
        return False
    digits = sum(ch.isdigit() for ch in phone)
    if phone.startswith("00"):
        digits -= 2
    return 7 <= digits <= 15


@dataclass(slots=True)
class _Checker:
    """Field validators that know which event they are checking, for the error message."""

    event_id: str
    dropped: Counter[str]

    def fail(self, name: str, problem: str) -> NoReturn:
        raise EventValidationError(name, problem, event_id=self.event_id)

    def drop(self, reason: PiiRejection) -> None:
        """Count a value left out of the event (the value itself is not kept anywhere)."""
        self.dropped[reason.value] += 1

    def device_id(self, raw: Any, name: str) -> str | None:
        """A device id as TikTok takes it: a UUID, or a SHA-256 hex digest; the zero UUID is no id."""
        value = self.text(raw, name)
        if value is None or already_hashed(value):
            return value
        if not _UUID.fullmatch(value) or value == _ZERO_UUID:
            return self.drop(PiiRejection(f"{name}_invalid"))
        return value

    def text(self, raw: Any, name: str) -> str | None:
        return _text(raw, name, self.event_id, allow_int=name in _ID_FIELDS)

    def event_time(self, raw: Any) -> datetime:
        if raw is None or raw == "":
            self.fail("event_time", "is missing")
        if isinstance(raw, datetime):
            moment = raw
        elif isinstance(raw, (int, float, str)) and not isinstance(raw, bool):
            moment = self._moment_from(raw)
        else:
            self.fail("event_time", f"must be ISO 8601 text or unix seconds, got {type(raw).__name__}")
        if moment.tzinfo is None or moment.utcoffset() is None:
            self.fail("event_time", f"{raw!r} has no time zone: add 'Z' or an offset such as +02:00")
        moment = moment.astimezone(UTC)
        if not EARLIEST_EVENT_TIME <= moment < LATEST_EVENT_TIME:
            self.fail("event_time", f"{raw!r} is outside {EARLIEST_EVENT_TIME:%Y}-{LATEST_EVENT_TIME:%Y}")
        return moment

    def _moment_from(self, raw: int | float | str) -> datetime:
        seconds: float | None = None
        if isinstance(raw, str):
            text = raw.strip()
            try:
                seconds = float(text)
            except ValueError:
                try:
                    return datetime.fromisoformat(text)
                except ValueError:
                    self.fail("event_time", f"{raw!r} is not ISO 8601 (e.g. 2026-11-20T10:00:00Z) nor unix seconds")
        else:
            seconds = float(raw)
        if not math.isfinite(seconds):
            self.fail("event_time", f"{raw!r} is not a finite number of seconds")
        if abs(seconds) >= _MILLISECONDS_THRESHOLD:
            self.fail("event_time", f"{raw!r} looks like unix milliseconds: send seconds")
        return datetime.fromtimestamp(seconds, UTC)

    def amount(self, raw: Any, name: str) -> float | None:
        if raw is None or raw == "":
            return None
        if isinstance(raw, bool):
            self.fail(name, "must be a number, got a boolean")
        if isinstance(raw, (int, float)):
            number = float(raw)
        elif isinstance(raw, str):
            try:
                number = float(raw.strip())
            except ValueError:
                self.fail(name, f"must be a number, got {raw[:40]!r}")
        else:
            self.fail(name, f"must be a number, got {type(raw).__name__}")
        if math.isnan(number) and not isinstance(raw, str):  # an empty cell read by pandas
            return None
        if not math.isfinite(number):
            self.fail(name, f"must be a finite number, got {raw!r}")
        if number < 0:
            self.fail(name, f"must not be negative, got {number}")
        return number

    def flag(self, raw: Any, name: str) -> bool | None:
        if raw is None or isinstance(raw, bool):
            return raw
        if isinstance(raw, str):
            text = raw.strip().lower()
            if not text:
                return None
            if text in _TRUE_TEXT:
                return True
            if text in _FALSE_TEXT:
                return False
        self.fail(name, f"must be true, false or empty, got {raw!r}")

    def json_value(self, raw: Any, name: str) -> Any:
        if not isinstance(raw, str):
            return raw
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            self.fail(name, f"is not valid JSON ({exc.msg} at column {exc.colno})")

    def products(self, raw: Any) -> tuple[Product, ...]:
        items = self.json_value(raw, "products")
        if items is None:
            return ()
        if not isinstance(items, list):
            self.fail("products", f"must be a list of objects, got {type(items).__name__}")
        return tuple(self.product(item, f"products[{index}]") for index, item in enumerate(items))

    def product(self, item: Any, where: str) -> Product:
        if not isinstance(item, Mapping):
            self.fail(where, f"must be an object, got {type(item).__name__}")
        unknown = sorted(str(key) for key in item if key not in PRODUCT_FIELDS)
        if unknown:
            self.fail(f"{where}.{unknown[0]}", f"unknown product field (accepted: {', '.join(PRODUCT_FIELDS)})")
        ids = {key: _text(item.get(key), f"{where}.{key}", self.event_id, allow_int=True) for key in ("product_id", "variant_id", "sku")}
        if ids["product_id"] is None:
            self.fail(f"{where}.product_id", "is missing")
        quantity = item.get("quantity", 1)
        if isinstance(quantity, str) and quantity.strip().isdigit():
            quantity = int(quantity)
        if isinstance(quantity, float) and quantity.is_integer():
            quantity = int(quantity)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            self.fail(f"{where}.quantity", f"must be a whole number of at least 1, got {quantity!r}")
        return Product(
            product_id=ids["product_id"],
            variant_id=ids["variant_id"],
            sku=ids["sku"],
            name=self.text(item.get("name"), f"{where}.name"),
            quantity=quantity,
            price=self.amount(item.get("price"), f"{where}.price"),
        )

    def properties(self, raw: Any) -> dict[str, Any]:
        value = self.json_value(raw, "properties")
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.fail("properties", f"must be an object, got {type(value).__name__}")
        return dict(value)


# ---------------------------------------------------------------- files


def read_jsonl(path: str | Path) -> LoadResult:
    """Read one flat record per line; blank lines are skipped, bad lines become rejects."""
    events: list[FirstPartyEvent] = []
    rejects: list[Rejected] = []
    drops: Counter[str] = Counter()
    with _open(path, "rb") as handle, gc_paused():
        for line_number, raw_line in enumerate(handle, start=1):
            try:
                text = raw_line.decode("utf-8")
            except UnicodeDecodeError as exc:
                rejects.append(Rejected(line_number, None, f"line {line_number}: not UTF-8 ({exc.reason} at byte {exc.start})"))
                continue
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                rejects.append(Rejected(line_number, None, f"line {line_number}: not valid JSON ({exc.msg} at column {exc.colno})"))
                continue
            _parse_into(record, line_number, events, rejects, drops)
    return LoadResult(events, rejects, dict(sorted(drops.items())))


def read_csv(path: str | Path) -> LoadResult:
    """Read a CSV whose header holds :data:`RECORD_FIELDS` (any order, optional ones may be left out).

    ``products`` and ``properties`` cells hold JSON; empty cells mean "not set".
    A header without the required columns, or with unknown ones, raises
    :class:`EventFileError`; a bad row becomes a reject.
    """
    events: list[FirstPartyEvent] = []
    rejects: list[Rejected] = []
    drops: Counter[str] = Counter()
    with _open(path, "r", newline="", encoding="utf-8") as handle, gc_paused():
        reader = csv.DictReader(handle, restkey="(extra)", restval=None)
        header = reader.fieldnames or []
        missing = [name for name in REQUIRED_FIELDS if name not in header]
        unknown = [name for name in header if name not in _RECORD_FIELD_SET]
        if missing or unknown:
            problems = ([f"missing required column(s) {', '.join(missing)}"] if missing else []) + (
                [f"unknown column(s) {', '.join(unknown)}"] if unknown else []
            )
            raise EventFileError(f"{path}: {'; '.join(problems)}. Accepted columns: {', '.join(RECORD_FIELDS)}")
        for row in reader:
            line_number = reader.line_num
            extra = row.pop("(extra)", None)
            absent = sum(value is None for value in row.values())
            if extra is not None or absent:
                count = len(header) + len(extra or ()) - absent
                reason = f"line {line_number}: has {count} fields, the header has {len(header)}"
                rejects.append(Rejected(line_number, row.get("event_id") or None, reason))
                continue
            _parse_into(row, line_number, events, rejects, drops)
    return LoadResult(events, rejects, dict(sorted(drops.items())))


def write_jsonl(events: Iterable[FirstPartyEvent], path: str | Path) -> int:
    """Write events as flat JSON lines (readable by :func:`read_jsonl`); returns the count."""
    count = 0
    with open(path, "w", encoding="utf-8") as handle:
        for event in events:
            handle.write(json.dumps(event_to_record(event), separators=(",", ":")))
            handle.write("\n")
            count += 1
    return count


def _open(path: str | Path, mode: str, **kwargs: Any) -> IO[Any]:
    try:
        return open(path, mode, **kwargs)
    except FileNotFoundError:
        raise EventFileError(f"no event file at {path}: check the path (the readers take .jsonl or .csv files)") from None


def _parse_into(record: Any, line_number: int, events: list[FirstPartyEvent], rejects: list[Rejected],
                drops: Counter[str]) -> None:
    # A line's drops count only if the line is kept: a rejected line is counted once, as a reject.
    dropped: Counter[str] = Counter()
    try:
        events.append(parse_event(record, dropped=dropped))
    except EventValidationError as exc:
        rejects.append(Rejected(line_number, exc.event_id, f"line {line_number}: {exc}"))
    else:
        drops.update(dropped)


# ---------------------------------------------------------------- records and frames

# Where each flat scalar column lives on the event; shared by records (JSONL),
# frames (warehouse) and mapping filters. event_time, products and properties
# are special-cased by each.
SCALAR_FIELD_PATHS: dict[str, str] = {
    "event_id": "event_id",
    "source": "source",
    "event_name": "event_name",
    **{name: f"identity.{name}" for name in IDENTITY_FIELDS},
    "page_url": "page_url",
    "referrer": "referrer",
    **{name: f"click.{name}" for name in CLICK_FIELDS},
    "value": "value",
    "currency": "currency",
    "order_id": "order_id",
    "customer_id": "customer_id",
    "is_new_customer": "is_new_customer",
    **{name: f"app.{name}" for name in APP_FIELDS},
}
SCALAR_FIELD_GETTERS: dict[str, Callable[[FirstPartyEvent], Any]] = {name: attrgetter(path) for name, path in SCALAR_FIELD_PATHS.items()}
# All scalar columns of one event in one C call; zip(*) then turns rows into columns.
_ALL_SCALARS = attrgetter(*SCALAR_FIELD_PATHS.values())
_TYPED_COLUMNS = frozenset({"event_time", "value", "is_new_customer"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _json_or_none(value: Any) -> str | None:
    return json.dumps(value, separators=(",", ":"), sort_keys=True) if value else None


def _product_record(product: Product) -> dict[str, Any]:
    return {name: getattr(product, name) for name in PRODUCT_FIELDS if getattr(product, name) is not None}


def event_to_record(event: FirstPartyEvent) -> dict[str, Any]:
    """The flat JSON-ready record of an event; :func:`parse_event` reads it back to an equal event."""
    record = dict(zip(SCALAR_FIELD_PATHS, _ALL_SCALARS(event)))
    record["source"] = event.source.value
    record["event_time"] = event.event_time.astimezone(UTC).isoformat().replace("+00:00", "Z")
    record["products"] = [_product_record(product) for product in event.products]
    record["properties"] = dict(event.properties)
    return {name: record[name] for name in RECORD_FIELDS if record[name] not in (None, [], {})}


def events_to_frame(events: Iterable[FirstPartyEvent]) -> pd.DataFrame:
    """A flat frame for the ``first_party_events`` table, columns :data:`RECORD_FIELDS`.

    ``event_time`` is ``datetime64[ns, UTC]``, ``value`` float (NaN when unset),
    ``is_new_customer`` nullable boolean, ``products``/``properties`` JSON text
    (None when empty), everything else text or None.
    """
    events = list(events)
    with gc_paused():
        return _events_to_frame(events)


def _events_to_frame(events: list[FirstPartyEvent]) -> pd.DataFrame:
    count = len(events)
    if count:
        columns: dict[str, Any] = dict(zip(SCALAR_FIELD_PATHS, zip(*map(_ALL_SCALARS, events))))
    else:
        columns = {name: [] for name in SCALAR_FIELD_PATHS}
    columns["source"] = [source.value for source in columns["source"]]
    micros = np.fromiter(((event.event_time - _EPOCH) // _MICROSECOND for event in events), dtype=np.int64, count=count)
    columns["event_time"] = pd.to_datetime(micros, unit="us", utc=True).as_unit("ns")
    # Many events carry equal products (views of one product): encode each distinct tuple once (3x faster).
    products_json: dict[tuple[Product, ...], str | None] = {}
    columns["products"] = [
        products_json[event.products] if event.products in products_json
        else products_json.setdefault(event.products, _json_or_none([_product_record(product) for product in event.products]))
        for event in events
    ]
    columns["properties"] = [_json_or_none(event.properties) for event in events]
    columns["value"] = np.array([np.nan if value is None else value for value in columns["value"]], dtype=np.float64)
    columns["is_new_customer"] = pd.array(list(columns["is_new_customer"]), dtype="boolean")
    # Plain object arrays: pandas converts tuples and lists ~5x slower itself.
    return pd.DataFrame(
        {name: columns[name] if name in _TYPED_COLUMNS else np.array(columns[name], dtype=object) for name in RECORD_FIELDS},
        index=pd.RangeIndex(count),
    )


def frame_to_events(frame: pd.DataFrame) -> list[FirstPartyEvent]:
    """The inverse of :func:`events_to_frame` (e.g. rows read back from ``first_party_events``).

    Rows are trusted, as they were validated on the way in; run untrusted
    frames through :func:`parse_event` row by row instead.
    """
    missing = [name for name in REQUIRED_FIELDS if name not in frame.columns]
    if missing:
        raise EventFileError(f"frame lacks required column(s) {', '.join(missing)}; expected {', '.join(RECORD_FIELDS)}")
    with gc_paused():
        return _frame_to_events(frame)


def _frame_to_events(frame: pd.DataFrame) -> list[FirstPartyEvent]:
    count = len(frame)

    def column(name: str) -> list[Any]:
        if name not in frame.columns:
            return [None] * count
        series = frame[name]
        return series.astype(object).where(series.notna(), None).tolist()

    times = pd.DatetimeIndex(pd.to_datetime(frame["event_time"], utc=True)).to_pydatetime().tolist()
    return _events_from_rows(zip(*(times if name == "event_time" else column(name) for name in RECORD_FIELDS)))


def events_from_rows(rows: Iterable[Sequence[Any]]) -> list[FirstPartyEvent]:
    """Events from rows holding the :data:`RECORD_FIELDS` columns in that order (rows of ``first_party_events``).

    ``event_time`` is a datetime, naive UTC (the warehouse's form) or aware;
    ``products`` and ``properties`` are JSON text; a missing value is None (a
    NaN ``value`` counts as missing too). Rows are trusted, as in
    :func:`frame_to_events`: it reads a frame through this function.
    """
    with gc_paused():
        return _events_from_rows(rows)


def _columns(first: str, last: str) -> slice:
    return slice(RECORD_FIELDS.index(first), RECORD_FIELDS.index(last) + 1)


# RECORD_FIELDS in runs of neighbours, each unpacked from a row in one slice.
_REQUIRED_COLUMNS = _columns(REQUIRED_FIELDS[0], REQUIRED_FIELDS[-1])
_IDENTITY_COLUMNS = _columns(IDENTITY_FIELDS[0], IDENTITY_FIELDS[-1])
_PAGE_COLUMNS = _columns("page_url", "referrer")
_CLICK_COLUMNS = _columns(CLICK_FIELDS[0], CLICK_FIELDS[-1])
_ORDER_COLUMNS = _columns("products", "properties")
_APP_COLUMNS = _columns(APP_FIELDS[0], APP_FIELDS[-1])
_SOURCES = {source.value: source for source in EventSource}


def _events_from_rows(rows: Iterable[Sequence[Any]]) -> list[FirstPartyEvent]:
    # The events of one session repeat its identity and click parameters:
    # equal values share one frozen object, built once (and memory with it).
    identities: dict[tuple[Any, ...], Identity] = {(None,) * len(IDENTITY_FIELDS): NO_IDENTITY}
    clicks: dict[tuple[Any, ...], ClickParams] = {(None,) * len(CLICK_FIELDS): NO_CLICK}
    apps: dict[tuple[Any, ...], AppInfo] = {(None,) * len(APP_FIELDS): NO_APP}
    products_cache: dict[str, tuple[Product, ...]] = {}
    events = []
    append = events.append
    for row in rows:
        identity_values = row[_IDENTITY_COLUMNS]
        identity = identities.get(identity_values)
        if identity is None:
            identity = identities[identity_values] = Identity(*identity_values)
        click_values = row[_CLICK_COLUMNS]
        click = clicks.get(click_values)
        if click is None:
            click = clicks[click_values] = ClickParams(*click_values)
        app_values = row[_APP_COLUMNS]
        app = apps.get(app_values)
        if app is None:
            app = apps[app_values] = AppInfo(*app_values)
        event_id, source, event_name, time = row[_REQUIRED_COLUMNS]
        page_url, referrer = row[_PAGE_COLUMNS]
        products, value, currency, order_id, customer_id, flag, properties = row[_ORDER_COLUMNS]
        append(FirstPartyEvent(
            event_id=str(event_id),
            source=_SOURCES[source],
            event_name=event_name,
            event_time=time.replace(tzinfo=UTC) if time.tzinfo is None else time.astimezone(UTC),
            identity=identity,
            page_url=page_url,
            referrer=referrer,
            click=click,
            products=_products_from_json(products, products_cache),
            # NaN: a missing value in a float column (pandas, or a NaN numeric).
            value=None if value is None or math.isnan(value) else float(value),
            currency=currency,
            order_id=order_id,
            customer_id=customer_id,
            is_new_customer=None if flag is None else bool(flag),
            properties=json.loads(properties) if properties else {},
            app=app,
        ))
    return events


def _products_from_json(text: str | None, cache: dict[str, tuple[Product, ...]]) -> tuple[Product, ...]:
    # Products are frozen, so events with the same products text can share one tuple.
    if not text:
        return ()
    products = cache.get(text)
    if products is None:
        products = cache[text] = tuple(Product(**item) for item in json.loads(text))
    return products
