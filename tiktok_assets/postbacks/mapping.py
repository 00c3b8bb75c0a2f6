"""Which first-party events become which TikTok events: configuration, not code (no Dagster import).

The shipped ``default_mapping.yaml`` holds DESIGN.md's table. A user config
(YAML file or dict, same keys) is laid over it:

- scalar settings (``content_id_mode``, ``pass_through_custom_events``,
  ``limited_data_use``, ``phone_default_region``) replace the defaults;
- ``destinations.web`` / ``destinations.app`` are merged key by key
  (``enabled``, ``pixel_id`` / ``app_id``, ``test_event_code``);
- ``mappings`` entries replace every default rule of the same
  ``(source, event)``; several entries for one event all apply, each with its
  own filters (``where``); ``use_default_mappings: false`` drops the defaults.

A rule::

    - source: web                 # web | app
      event: Placed Order         # the first-party event name
      tiktok: [Purchase]          # one or more TikTok events; [] sends nothing
      new_customer_event: NewCustomerPurchase   # added when is_new_customer is true
      custom: false               # true allows TikTok names outside the standard list
      where:                      # all must hold
        - {field: value, op: gt, value: 0}
        - {field: properties.channel, op: equals, value: online}

Filter fields are the flat event fields (``value``, ``currency``,
``utm_source``, ``email``...) or ``properties.<name>`` (dots go deeper).
Operators: equals, not_equals, in, not_in, gt, gte, lt, lte, exists. A
missing field is ``None``: it fails equals/in/gt/gte/lt/lte and passes
not_equals/not_in; ``exists: false`` selects it.
"""

from __future__ import annotations

import copy
import difflib
import functools
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

import yaml

from tiktok_assets.postbacks.errors import MappingConfigError
from tiktok_assets.postbacks.events import (
    KNOWN_EVENT_NAMES,
    NO_APP,
    SCALAR_FIELD_GETTERS,
    AppInfo,
    EventSource,
    FirstPartyEvent,
)
from tiktok_assets.postbacks.pii import validate_region

DEFAULT_MAPPING_RESOURCE = "default_mapping.yaml"

# TikTok's standard web and app events (Events API 1.3 / Pixel docs), plus the
# commerce events of DESIGN.md's table. `CompletePayment` is the old name of
# `Purchase`; TikTok still accepts it.
TIKTOK_STANDARD_EVENTS = frozenset(
    """
    AchieveLevel AddPaymentInfo AddToCart AddToWishlist ApplicationApproval CancelSubscription Checkout
    ClickButton CompletePayment CompleteRegistration CompleteTutorial Contact CreateGroup CreateRole
    CustomizeProduct Download FindLocation GenerateLead InAppADClick InAppADImpr InitiateCheckout InstallApp
    JoinGroup LaunchAPP Lead LoanApplication LoanApproval LoanDisbursal Login NewCustomerPurchase PageView
    PlaceAnOrder Purchase Rate RecurringSubscriptionPaymentSucceeded Registration Schedule Search
    SpendCredits StartTrial SubmitApplication SubmitForm Subscribe UnlockAchievement ViewContent
    """.split()
)

# TikTok's app standard events (Report App Events / Supported events, business-api.tiktok.com/portal/docs?
# id=1771101186666498, as Segment's TikTok App Events destination, maintained by TikTok, lists them in
# presets.ts). The app list differs from the web's: Registration, not CompleteRegistration; Checkout, not
# InitiateCheckout. A non-custom app rule must name one of these.
TIKTOK_APP_STANDARD_EVENTS = frozenset(
    """
    AchieveLevel AddPaymentInfo AddToCart AddToWishlist Checkout CompleteTutorial CreateGroup CreateRole
    GenerateLead InAppADClick InAppADImpr InstallApp JoinGroup LaunchAPP LoanApplication LoanApproval
    LoanDisbursal Login Purchase Rate Registration Search SpendCredits StartTrial Subscribe UnlockAchievement
    ViewContent
    """.split()
)


class ContentIdMode(StrEnum):
    DEFAULT = "default"
    """variant_id when the product has one, else product_id."""
    PRODUCT_ID = "product_id"
    VARIANT_ID = "variant_id"
    SKU = "sku"


class FilterOp(StrEnum):
    EQUALS = "equals"
    NOT_EQUALS = "not_equals"
    IN = "in"
    NOT_IN = "not_in"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    EXISTS = "exists"


_ORDERED_OPS: dict[FilterOp, Callable[[float, float], bool]] = {
    FilterOp.GT: operator.gt,
    FilterOp.GTE: operator.ge,
    FilterOp.LT: operator.lt,
    FilterOp.LTE: operator.le,
}
FILTER_FIELDS = frozenset(SCALAR_FIELD_GETTERS)
PROPERTIES_PREFIX = "properties."


@dataclass(frozen=True)
class Condition:
    """One filter on an event: ``field op value``."""

    field: str
    op: FilterOp
    value: Any = None
    _get: Callable[[FirstPartyEvent], Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_get", _field_getter(self.field))

    def matches(self, event: FirstPartyEvent) -> bool:
        actual = self._get(event)
        op = self.op
        if op is FilterOp.EXISTS:
            return (actual is not None) is self.value
        if op is FilterOp.EQUALS:
            return actual == self.value
        if op is FilterOp.NOT_EQUALS:
            return actual != self.value
        if op is FilterOp.IN:
            return actual in self.value
        if op is FilterOp.NOT_IN:
            return actual not in self.value
        number = _as_number(actual)
        return number is not None and _ORDERED_OPS[op](number, self.value)


def _field_getter(name: str) -> Callable[[FirstPartyEvent], Any]:
    if name in SCALAR_FIELD_GETTERS:
        return SCALAR_FIELD_GETTERS[name]
    path = name.removeprefix(PROPERTIES_PREFIX).split(".")

    def get_property(event: FirstPartyEvent) -> Any:
        value: Any = event.properties
        for key in path:
            if not isinstance(value, Mapping):
                return None
            value = value.get(key)
        return value

    return get_property


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class MappingRule:
    source: EventSource
    event: str
    tiktok_events: tuple[str, ...]
    where: tuple[Condition, ...] = ()
    new_customer_event: str | None = None
    custom: bool = False

    def applies_to(self, event: FirstPartyEvent) -> bool:
        return all(condition.matches(event) for condition in self.where)


@dataclass(frozen=True)
class Destination:
    """Where a TikTok event goes: one pixel (web) or one app, optionally in test mode."""

    event_source: str
    """``web`` or ``app``, as the Events API spells it."""
    event_source_id: str
    """The pixel id (web) or TikTok app id (app)."""
    test_event_code: str | None = None


@dataclass(frozen=True)
class SanityBounds:
    """The largest order value, product price and quantity taken for a sale; beyond them an event is dead-lettered.

    A value of 1e20 or a quantity of 10^12 is a broken export (cents sent as
    units twice over, an id in the quantity column), and once sent TikTok
    would count it in ROAS for good. ``per_currency`` replaces ``max_value``
    for currencies whose unit is worth little (a yen, a rupiah).
    """

    max_value: float = 1_000_000.0
    max_quantity: int = 10_000
    per_currency: Mapping[str, float] = field(default_factory=dict)

    def max_value_in(self, currency: str | None) -> float:
        return self.per_currency.get(currency, self.max_value) if currency is not None else self.max_value

    def problem(self, event: FirstPartyEvent) -> str | None:
        """Why ``event`` is outside the bounds, in words naming the bound; None when it is inside."""
        limit = self.max_value_in(event.currency)
        if event.value is not None and event.value > limit:
            return f"value {event.value:g} {event.currency} is above the bound of {limit:,.0f} {event.currency} (sanity_bounds)"
        for product in event.products:
            if product.quantity > self.max_quantity:
                return (f"quantity {product.quantity} of product {product.product_id} is above the bound of "
                        f"{self.max_quantity:,} (sanity_bounds.max_quantity)")
            if product.price is not None and product.price > limit:
                return (f"price {product.price:g} {event.currency} of product {product.product_id} is above the bound "
                        f"of {limit:,.0f} {event.currency} (sanity_bounds)")
        return None


@dataclass(frozen=True)
class MappingConfig:
    rules: Mapping[tuple[EventSource, str], tuple[MappingRule, ...]]
    destinations: Mapping[EventSource, Destination]
    """Only enabled sources appear; events of other sources are not sent."""
    content_id_mode: ContentIdMode = ContentIdMode.DEFAULT
    pass_through_custom_events: bool = False
    limited_data_use: bool = False
    phone_default_region: str = "US"
    bounds: SanityBounds = field(default_factory=SanityBounds)
    app_defaults: AppInfo = NO_APP
    """``destinations.app.store_app_id`` / ``app_name``: TikTok's ``app`` object for app events that name none."""

    def tiktok_events_for(self, event: FirstPartyEvent) -> tuple[str, ...]:
        """The TikTok event names to send for ``event``, primary first, without repeats."""
        if event.source not in self.destinations:
            return ()
        rules = self.rules.get((event.source, event.event_name))
        if rules is None:
            if self.pass_through_custom_events and event.event_name not in KNOWN_EVENT_NAMES[event.source]:
                return (event.event_name,)
            return ()
        if len(rules) == 1 and not rules[0].where and not rules[0].new_customer_event:
            return rules[0].tiktok_events
        names: list[str] = []
        for rule in rules:
            if not rule.applies_to(event):
                continue
            extra = (rule.new_customer_event,) if rule.new_customer_event and event.is_new_customer is True else ()
            names.extend(name for name in (*rule.tiktok_events, *extra) if name not in names)
        return tuple(names)


# ---------------------------------------------------------------- loading

_TOP_LEVEL_KEYS = frozenset(
    {"content_id_mode", "pass_through_custom_events", "limited_data_use", "phone_default_region",
     "destinations", "mappings", "use_default_mappings", "sanity_bounds"}
)
_DESTINATION_ID_KEY = {EventSource.WEB: "pixel_id", EventSource.APP: "app_id"}
_RULE_KEYS = frozenset({"source", "event", "tiktok", "new_customer_event", "custom", "where"})
# Names other tools use for the same rule keys.
_RULE_KEY_SYNONYMS = {"filters": "where", "filter": "where", "conditions": "where", "tiktok_events": "tiktok", "tiktok_event": "tiktok", "name": "event"}
_CONDITION_KEYS = frozenset({"field", "op", "value"})


def load_mapping(
    config: str | Path | Mapping[str, Any] | None = None,
    *,
    pixel_id: str | None = None,
    app_id: str | None = None,
    fallback_pixel_id: str | None = None,
    fallback_app_id: str | None = None,
    store_app_id: str | None = None,
    fallback_store_app_id: str | None = None,
    test_event_code: str | None = None,
) -> MappingConfig:
    """The shipped defaults with ``config`` (a YAML path or a dict) laid over them.

    ``pixel_id`` / ``app_id``, when given, win over the file (they usually come
    from the environment). ``fallback_pixel_id`` / ``fallback_app_id`` apply
    only where neither sets one (the simulator's ids in the demo). Raises
    :class:`MappingConfigError` naming the key.
    """
    user = _read_document(config)
    document = _merge(default_mapping_document(), user)
    for source, value, fallback in ((EventSource.WEB, pixel_id, fallback_pixel_id), (EventSource.APP, app_id, fallback_app_id)):
        settings = document["destinations"][source.value]
        id_key = _DESTINATION_ID_KEY[source]
        if value is not None:
            settings[id_key] = value
        elif settings.get(id_key) is None and fallback is not None:
            settings[id_key] = fallback
    if test_event_code is not None:
        # One code for both destinations (TIKTOK_EVENTS_TEST_EVENT_CODE): Events Manager's test tool shows them.
        for source in EventSource:
            document["destinations"][source.value]["test_event_code"] = test_event_code
    app_settings = document["destinations"][EventSource.APP.value]
    if store_app_id is not None:
        app_settings["store_app_id"] = store_app_id
    elif app_settings.get("store_app_id") is None and fallback_store_app_id is not None:
        app_settings["store_app_id"] = fallback_store_app_id
    return build_mapping(document, user_rule_count=len(user.get("mappings") or ()))


@functools.cache
def _default_text() -> str:
    return resources.files("tiktok_assets.postbacks").joinpath(DEFAULT_MAPPING_RESOURCE).read_text(encoding="utf-8")


def default_mapping_document() -> dict[str, Any]:
    """The shipped ``default_mapping.yaml`` as a fresh dict (safe to modify)."""
    return yaml.safe_load(_default_text())


def _read_document(config: str | Path | Mapping[str, Any] | None) -> dict[str, Any]:
    if config is None:
        return {}
    if isinstance(config, Mapping):
        document: Any = copy.deepcopy(dict(config))
    else:
        path = Path(config)
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise MappingConfigError("(file)", f"no mapping file at {path}: check the path") from None
        except yaml.YAMLError as exc:
            raise MappingConfigError("(file)", f"{path} is not valid YAML: {exc}") from None
        if document is None:
            return {}
    if not isinstance(document, dict):
        raise MappingConfigError("(top level)", f"must be a mapping of settings, got {type(document).__name__}")
    _refuse_unknown_keys(document, _TOP_LEVEL_KEYS, "", "setting")
    return document


def _merge(defaults: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
    merged = {key: value for key, value in defaults.items() if key not in ("destinations", "mappings")}
    merged.update({key: value for key, value in user.items()
                   if key not in ("destinations", "mappings", "use_default_mappings", "sanity_bounds")})
    # Bounds merge key by key, currencies too: a user bound for one currency keeps the defaults of the others.
    user_bounds = user.get("sanity_bounds") or {}
    if not isinstance(user_bounds, dict):
        raise MappingConfigError("sanity_bounds", "must be a mapping of max_value, max_quantity and currencies")
    default_bounds = defaults.get("sanity_bounds") or {}
    merged["sanity_bounds"] = {**default_bounds, **user_bounds,
                               "currencies": {**(default_bounds.get("currencies") or {}),
                                              **(user_bounds.get("currencies") or {})}}
    user_destinations = user.get("destinations") or {}
    if not isinstance(user_destinations, dict):
        raise MappingConfigError("destinations", "must be a mapping with 'web' and/or 'app'")
    merged["destinations"] = {}
    for source, default_settings in defaults["destinations"].items():
        settings = user_destinations.get(source) or {}
        if not isinstance(settings, dict):
            raise MappingConfigError(f"destinations.{source}", "must be a mapping of settings")
        merged["destinations"][source] = {**default_settings, **settings}
    for source in user_destinations:
        if source not in defaults["destinations"]:
            raise MappingConfigError(f"destinations.{source}", "unknown destination; use 'web' or 'app'")

    user_rules = user.get("mappings") or []
    if not isinstance(user_rules, list):
        raise MappingConfigError("mappings", "must be a list of rules (source, event, tiktok)")
    use_defaults = user.get("use_default_mappings", True)
    if not isinstance(use_defaults, bool):
        raise MappingConfigError("use_default_mappings", f"must be true or false, got {use_defaults!r}")
    replaced = {(rule.get("source"), rule.get("event")) for rule in user_rules if isinstance(rule, dict)}
    default_rules = [rule for rule in defaults["mappings"] if (rule["source"], rule["event"]) not in replaced] if use_defaults else []
    # User rules first so their positions in error keys match the user's file.
    merged["mappings"] = [*user_rules, *default_rules]
    return merged


def build_mapping(document: Mapping[str, Any], *, user_rule_count: int | None = None) -> MappingConfig:
    """Validate a complete mapping document (defaults already merged in) into a :class:`MappingConfig`.

    Rules past ``user_rule_count`` came from the shipped defaults and are
    named ``default mappings[i]`` in errors.
    """
    content_id_mode = document.get("content_id_mode", ContentIdMode.DEFAULT.value)
    if content_id_mode not in ContentIdMode.__members__.values():
        _fail("content_id_mode", f"unknown mode {content_id_mode!r}; use one of {', '.join(ContentIdMode)}")
    flags = {name: document.get(name, False) for name in ("pass_through_custom_events", "limited_data_use")}
    for name, value in flags.items():
        if not isinstance(value, bool):
            _fail(name, f"must be true or false, got {value!r}")
    region = document.get("phone_default_region", "US")
    try:
        validate_region(region)
    except (ValueError, TypeError) as exc:
        _fail("phone_default_region", str(exc))

    raw_rules = document.get("mappings") or []
    user_count = len(raw_rules) if user_rule_count is None else user_rule_count
    rules: dict[tuple[EventSource, str], list[MappingRule]] = {}
    for index, raw in enumerate(raw_rules):
        key = f"mappings[{index}]" if index < user_count else f"default mappings[{index - user_count}]"
        rule = _rule(raw, key)
        rules.setdefault((rule.source, rule.event), []).append(rule)

    destinations = _destinations(document.get("destinations") or {}, rules, flags["pass_through_custom_events"])
    app_settings = (document.get("destinations") or {}).get("app") or {}
    return MappingConfig(
        app_defaults=AppInfo(_optional_text(app_settings.get("store_app_id"), "destinations.app.store_app_id"),
                             _optional_text(app_settings.get("app_name"), "destinations.app.app_name")),
        bounds=_bounds(document.get("sanity_bounds") or {}),
        rules={key: tuple(value) for key, value in rules.items()},
        destinations=destinations,
        content_id_mode=ContentIdMode(content_id_mode),
        pass_through_custom_events=flags["pass_through_custom_events"],
        limited_data_use=flags["limited_data_use"],
        phone_default_region=region,
    )


def _destinations(
    raw: Mapping[str, Any], rules: Mapping[tuple[EventSource, str], list[MappingRule]], pass_through: bool
) -> dict[EventSource, Destination]:
    destinations: dict[EventSource, Destination] = {}
    for source in EventSource:
        settings = raw.get(source.value) or {}
        id_key = _DESTINATION_ID_KEY[source]
        prefix = f"destinations.{source.value}"
        known = {"enabled", "test_event_code", id_key} | ({"store_app_id", "app_name"} if source is EventSource.APP else set())
        _refuse_unknown_keys(settings, frozenset(known), f"{prefix}.", "setting")
        enabled = settings.get("enabled", True)
        if not isinstance(enabled, bool):
            _fail(f"{prefix}.enabled", f"must be true or false, got {enabled!r}")
        if not enabled:
            continue
        source_id = _optional_text(settings.get(id_key), f"{prefix}.{id_key}")
        sends_something = pass_through or any(
            rule.tiktok_events or rule.new_customer_event for (rule_source, _), group in rules.items() if rule_source is source for rule in group
        )
        if source_id is None:
            if sends_something:
                what = "TikTok Pixel ID" if source is EventSource.WEB else "TikTok App ID"
                _fail(f"{prefix}.{id_key}", f"{source.value} events are mapped but no {what} is set; set it (Events Manager) or set {prefix}.enabled: false")
            continue
        test_event_code = _optional_text(settings.get("test_event_code"), f"{prefix}.test_event_code")
        destinations[source] = Destination(source.value, source_id, test_event_code)
    return destinations


def _bounds(raw: Mapping[str, Any]) -> SanityBounds:
    _refuse_unknown_keys(raw, frozenset({"max_value", "max_quantity", "currencies"}), "sanity_bounds.", "setting")
    defaults = SanityBounds()

    def positive(value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            _fail(key, f"must be a number above 0, got {value!r}")
        return float(value)

    currencies = raw.get("currencies") or {}
    if not isinstance(currencies, Mapping):
        _fail("sanity_bounds.currencies", "must map ISO 4217 codes to the largest value, e.g. {JPY: 150000000}")
    quantity = raw.get("max_quantity", defaults.max_quantity)
    if isinstance(quantity, float) and quantity.is_integer():
        quantity = int(quantity)
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        _fail("sanity_bounds.max_quantity", f"must be a whole number of at least 1, got {quantity!r}")
    return SanityBounds(
        max_value=positive(raw.get("max_value", defaults.max_value), "sanity_bounds.max_value"),
        max_quantity=quantity,
        per_currency={str(code).upper(): positive(value, f"sanity_bounds.currencies.{code}")
                      for code, value in currencies.items()},
    )


def _rule(raw: Any, key: str) -> MappingRule:
    if not isinstance(raw, dict):
        _fail(key, "must be a mapping with source, event and tiktok")
    _refuse_unknown_keys(raw, _RULE_KEYS, f"{key}.", "rule key", _RULE_KEY_SYNONYMS)
    source = raw.get("source")
    if source not in ("web", "app"):
        _fail(f"{key}.source", f"must be 'web' or 'app', got {source!r}")
    event = raw.get("event")
    if not isinstance(event, str) or not event.strip():
        _fail(f"{key}.event", "must name the first-party event, e.g. 'Placed Order'")
    custom = raw.get("custom", False)
    if not isinstance(custom, bool):
        _fail(f"{key}.custom", f"must be true or false, got {custom!r}")
    targets = raw.get("tiktok")
    if targets is None:
        _fail(f"{key}.tiktok", "is missing: list the TikTok events to send ([] to send nothing)")
    if isinstance(targets, str):
        targets = [targets]
    if not isinstance(targets, list):
        _fail(f"{key}.tiktok", "must be a TikTok event name or a list of them")
    standard = TIKTOK_APP_STANDARD_EVENTS if source == "app" else TIKTOK_STANDARD_EVENTS
    tiktok_events = tuple(_tiktok_name(name, f"{key}.tiktok[{index}]", custom, standard, source)
                          for index, name in enumerate(targets))
    new_customer = raw.get("new_customer_event")
    if new_customer is not None:
        new_customer = _tiktok_name(new_customer, f"{key}.new_customer_event", custom, standard, source)
    where = raw.get("where") or []
    if not isinstance(where, list):
        _fail(f"{key}.where", "must be a list of conditions {field, op, value}")
    return MappingRule(
        source=EventSource(source),
        event=event.strip(),
        tiktok_events=tuple(dict.fromkeys(tiktok_events)),
        where=tuple(_condition(item, f"{key}.where[{index}]") for index, item in enumerate(where)),
        new_customer_event=new_customer,
        custom=custom,
    )


# The web name an app rule may reach for, and TikTok's app name for it.
_APP_NAME_FOR_WEB_NAME = {"CompleteRegistration": "Registration", "InitiateCheckout": "Checkout",
                          "CompletePayment": "Purchase", "PlaceAnOrder": "Checkout"}


def _tiktok_name(name: Any, key: str, custom: bool, standard: frozenset[str], source: str) -> str:
    if not isinstance(name, str) or not name.strip():
        _fail(key, f"must be a TikTok event name, got {name!r}")
    name = name.strip()
    if not custom and name not in standard:
        kind = "app standard event" if source == "app" else "standard event"
        suggestion = (f" (did you mean {_APP_NAME_FOR_WEB_NAME[name]!r}?)" if source == "app" and name in _APP_NAME_FOR_WEB_NAME
                      else _suggest(name, standard))
        _fail(key, f"{name!r} is not a TikTok {kind}{suggestion}; fix the name, or set custom: true on the rule to send a custom event")
    return name


def _condition(raw: Any, key: str) -> Condition:
    if not isinstance(raw, dict):
        _fail(key, "must be a mapping {field, op, value}")
    _refuse_unknown_keys(raw, _CONDITION_KEYS, f"{key}.", "condition key")
    name = raw.get("field")
    if not isinstance(name, str) or not (name in FILTER_FIELDS or (name.startswith(PROPERTIES_PREFIX) and len(name) > len(PROPERTIES_PREFIX))):
        _fail(f"{key}.field", f"unknown field {name!r}{_suggest(str(name), FILTER_FIELDS)}; use an event field ({', '.join(sorted(FILTER_FIELDS))}) or properties.<name>")
    op_text = raw.get("op")
    if op_text not in FilterOp.__members__.values():
        _fail(f"{key}.op", f"unknown operator {op_text!r}; use one of {', '.join(FilterOp)}")
    op = FilterOp(op_text)
    if op is FilterOp.EXISTS:
        value = raw.get("value", True)
        if not isinstance(value, bool):
            _fail(f"{key}.value", f"exists takes true or false, got {value!r}")
    elif "value" not in raw:
        _fail(f"{key}.value", f"is missing: {op.value} compares the field with a value")
    else:
        value = raw["value"]
        if op in (FilterOp.IN, FilterOp.NOT_IN):
            if not isinstance(value, list):
                _fail(f"{key}.value", f"{op.value} takes a list, got {value!r}")
            value = tuple(value)
        elif op in _ORDERED_OPS and (isinstance(value, bool) or not isinstance(value, (int, float))):
            _fail(f"{key}.value", f"{op.value} compares numbers, got {value!r}")
    return Condition(field=name, op=op, value=value)


def _optional_text(value: Any, key: str) -> str | None:
    if value is None:
        return None
    # YAML reads a numeric app id as an int; TikTok ids are strings.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        _fail(key, f"must be text, got {type(value).__name__}")
    return value.strip() or None


def _refuse_unknown_keys(
    raw: Mapping[Any, Any], known: frozenset[str], prefix: str, what: str, synonyms: Mapping[str, str] | None = None
) -> None:
    unknown = sorted(str(name) for name in raw if name not in known)
    if unknown:
        _fail(f"{prefix}{unknown[0]}", f"unknown {what}{_suggest(unknown[0], known, synonyms)}; known: {', '.join(sorted(known))}")


def _suggest(word: str, choices: frozenset[str], synonyms: Mapping[str, str] | None = None) -> str:
    close = [synonyms[word]] if synonyms and word in synonyms else difflib.get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _fail(key: str, problem: str) -> NoReturn:
    raise MappingConfigError(key, problem)
