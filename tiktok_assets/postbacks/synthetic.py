"""A deterministic, realistic first-party event stream for the demo and benchmarks (no Dagster import).

Sessions land from TikTok ads (landing URL with ``cvg_source=tiktok``,
``cvg_adid``, ``cvg_cid``, ``ttclid`` and UTM tags) or from elsewhere (search,
social, email, direct), then walk the funnel page view → product → cart →
checkout → payment → order. Some sessions happen in the app. Orders come from
new customers (``is_new_customer`` true, their first order) or returning ones;
subscriptions renew and cancel in the background. Emails and phones are fake
(``@example.com``, valid-looking US numbers in assorted formats), IPs come from
the documentation ranges.

Each UTC day is generated on its own from ``(seed, day)``, so the events of a
day are the same whichever range asks for them: a daily partition and a
year-long backfill agree. Returning customers are drawn from the new customers
of earlier days, whose number each day's plan fixes up front.
"""

from __future__ import annotations

import functools
import hashlib
import math
import uuid
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from tiktok_assets.garbage_collector import gc_paused
from tiktok_assets.postbacks.events import NO_APP, AppInfo, ClickParams, EventSource, FirstPartyEvent, Identity, Product


@dataclass(frozen=True)
class SyntheticStreamConfig:
    sessions_per_day: float = 1500.0
    """Mean sessions a day (Poisson; weekends a little busier)."""
    tiktok_share: float = 0.4
    """Share of sessions that land from a TikTok ad (when ads are given)."""
    app_share: float = 0.2
    """Share of sessions in the app rather than on the website."""
    returning_order_share: float = 0.35
    subscription_share: float = 0.1
    """Share of web orders that also start a subscription."""
    recurring_orders_per_day: float = 20.0
    cancellations_per_day: float = 3.0
    customer_lookback_days: int = 180
    """How far back a returning customer's first order may be."""
    store_url: str = "https://shop.example.com"
    default_currency: str | None = None
    """Currency of sessions not tied to an ad; None: the first ad's currency, else USD."""


# Probability of reaching each funnel step from the one before:
# product view, cart, checkout, payment info, order.
_FUNNEL_STEPS = np.array([0.65, 0.30, 0.55, 0.80, 0.80])
_ORDER_DEPTH = len(_FUNNEL_STEPS)
# UTC hour weights: quiet at night, busy in the evening.
_HOUR_WEIGHTS = np.array([3, 2, 1.5, 1, 1, 1, 1.5, 2.5, 4, 5, 5.5, 6, 6.5, 6, 5.5, 5.5, 6, 7, 8, 9, 9.5, 9, 7, 5])
_HOUR_PROBABILITIES = _HOUR_WEIGHTS / _HOUR_WEIGHTS.sum()

_FIRST_NAMES = ("ava", "liam", "mia", "noah", "zoe", "omar", "lena", "yuki", "ines", "raj", "sara", "tom", "eva", "kai")
_LAST_NAMES = ("smith", "garcia", "kim", "nguyen", "muller", "rossi", "silva", "khan", "brown", "sato", "novak", "ali")
_AREA_CODES = (212, 206, 305, 312, 310, 415, 512, 617, 646, 702, 404, 213, 303, 718, 917)
_PHONE_FORMATS = ("+1 {a}-{e}-{l}", "({a}) {e}-{l}", "{a}.{e}.{l}", "+1{a}{e}{l}")
_WEB_USER_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
)
_APP_USER_AGENTS = ("ExampleShop/4.2.0 (iPhone; iOS 17.5)", "ExampleShop/4.2.0 (Android 14; Pixel 8)")
# The store's ids of the demo app, as TikTok's app.app_id takes them: App Store id, Google Play package.
_IOS_APP = AppInfo(app_id="id6444000001", app_name="Example Shop", app_version="4.2.0")
_ANDROID_APP = AppInfo(app_id="com.example.shop", app_name="Example Shop", app_version="4.2.0")
# About a quarter of iOS users allow tracking (ATT): the others' apps see no IDFA.
_ATT_AUTHORIZED_SHARE = 0.25


def _device(session_id: str, user_agent: str) -> dict[str, str]:
    """Device ids of an app session, made from its id (the stream's random draws stay as they were)."""
    digest = hashlib.sha256(session_id.encode()).digest()
    if "iPhone" not in user_agent:
        return {"gaid": str(uuid.UUID(bytes=digest[:16], version=4))}
    device = {"idfv": str(uuid.UUID(bytes=digest[:16], version=4)).upper()}
    if digest[16] < 256 * _ATT_AUTHORIZED_SHARE:
        device["idfa"] = str(uuid.UUID(bytes=digest[16:32], version=4)).upper()
        device["att_status"] = "AUTHORIZED"
    else:
        device["att_status"] = "DENIED"
    return device
# Non-TikTok traffic: (utm_source, utm_medium, referrer, weight).
_OTHER_SOURCES = (
    ("google", "cpc", "https://www.google.com/", 0.3),
    ("facebook", "paid_social", "https://m.facebook.com/", 0.2),
    ("newsletter", "email", None, 0.1),
    (None, None, "https://www.google.com/", 0.2),  # organic search
    (None, None, None, 0.2),  # direct
)
_OTHER_SOURCE_PROBABILITIES = np.array([weight for *_, weight in _OTHER_SOURCES])
_SEARCH_TERMS = ("hoodie", "socks", "gift", "black tee", "sale", "backpack", "cap")
_NOUNS = ("Hoodie", "Tee", "Cap", "Backpack", "Socks", "Jacket", "Beanie", "Tote", "Joggers", "Scarf", "Mug", "Bottle")
_ADJECTIVES = ("Classic", "Everyday", "Trail", "Cloud", "Urban", "Summit")
_SIZES = ("S", "M", "L")
_TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


@dataclass(frozen=True)
class _CatalogItem:
    handle: str
    product: Product


@dataclass(frozen=True)
class _Ad:
    ad_id: str
    campaign_id: str
    currency: str


@dataclass(frozen=True)
class _DayPlan:
    """Session-level draws of one day, made in bulk with numpy."""

    start_seconds: np.ndarray
    in_app: np.ndarray
    ad_index: np.ndarray
    """Index into the ads, -1 for sessions not from TikTok."""
    other_source: np.ndarray
    depth: np.ndarray
    """Funnel steps reached: 0 landing only ... 5 order."""
    new_customer: np.ndarray
    new_customer_count: int


def generate_events(
    ads: Sequence[Mapping[str, Any]],
    start: datetime,
    end: datetime,
    *,
    seed: int = 0,
    config: SyntheticStreamConfig = SyntheticStreamConfig(),
) -> list[FirstPartyEvent]:
    """Events with ``start <= event_time < end``, sorted by time; the same inputs give the same events.

    ``ads`` are dicts with ``ad_id``, ``campaign_id`` and optionally
    ``advertiser_id`` and ``currency``; with no ads, no session comes from TikTok.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes (UTC): event times are in UTC")
    if end <= start:
        raise ValueError(f"end {end.isoformat()} must be after start {start.isoformat()}")
    ad_list = _ads(ads, config)
    events: list[FirstPartyEvent] = []
    # Sessions that began the day before can run past midnight into the range.
    day = (start.astimezone(UTC) - timedelta(days=1)).date()
    last_day = (end.astimezone(UTC) - timedelta(microseconds=1)).date()
    with gc_paused():
        while day <= last_day:
            day_events = _DayWriter(ad_list, day, seed, config).events()
            events.extend(event for event in day_events if start <= event.event_time < end)
            day += timedelta(days=1)
    events.sort(key=lambda event: (event.event_time, event.event_id))
    return events


def generate_day(
    ads: Sequence[Mapping[str, Any]],
    day: date,
    *,
    seed: int = 0,
    config: SyntheticStreamConfig = SyntheticStreamConfig(),
) -> list[FirstPartyEvent]:
    """Every event of the sessions that start on ``day`` (UTC), some ending after midnight, sorted by time."""
    events = _DayWriter(_ads(ads, config), day, seed, config).events()
    events.sort(key=lambda event: (event.event_time, event.event_id))
    return events


def _ads(ads: Sequence[Mapping[str, Any]], config: SyntheticStreamConfig) -> tuple[_Ad, ...]:
    parsed = []
    for index, ad in enumerate(ads):
        missing = [key for key in ("ad_id", "campaign_id") if not ad.get(key)]
        if missing:
            raise ValueError(f"ads[{index}] lacks {', '.join(missing)}: each ad needs ad_id and campaign_id")
        parsed.append(_Ad(str(ad["ad_id"]), str(ad["campaign_id"]), str(ad.get("currency") or _default_currency(ads, config))))
    return tuple(parsed)


def _default_currency(ads: Sequence[Mapping[str, Any]], config: SyntheticStreamConfig) -> str:
    if config.default_currency:
        return config.default_currency
    for ad in ads:
        if ad.get("currency"):
            return str(ad["currency"])
    return "USD"


@functools.lru_cache(maxsize=16)
def _ad_traits(seed: int, ads: tuple[_Ad, ...]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per ad: traffic weight and conversion multiplier, fixed by seed and ad id (some ads are just better)."""
    weights, multipliers = [], []
    for ad in ads:
        rng = random.Random(f"{seed}:ad:{ad.ad_id}")
        weights.append(rng.lognormvariate(0.0, 0.8))
        multipliers.append(rng.uniform(0.5, 1.5))
    return tuple(weights), tuple(multipliers)


def _day_plan(
    seed: int, ordinal: int, ad_weights: tuple[float, ...], ad_multipliers: tuple[float, ...], config: SyntheticStreamConfig
) -> _DayPlan:
    rng = np.random.default_rng([seed, ordinal])
    weekend = date.fromordinal(ordinal).weekday() >= 5
    count = int(rng.poisson(config.sessions_per_day * (1.15 if weekend else 1.0)))
    hours = rng.choice(24, size=count, p=_HOUR_PROBABILITIES)
    start_seconds = np.sort(hours * 3600 + rng.integers(0, 3600, size=count))
    in_app = rng.random(count) < config.app_share
    from_tiktok = (rng.random(count) < config.tiktok_share) & (len(ad_weights) > 0)
    if ad_weights:
        weights = np.asarray(ad_weights)
        ad_index = np.where(from_tiktok, rng.choice(len(weights), size=count, p=weights / weights.sum()), -1)
        multiplier = np.where(from_tiktok, np.asarray(ad_multipliers)[np.maximum(ad_index, 0)], 1.0)
    else:
        ad_index = np.full(count, -1)
        multiplier = np.ones(count)
    other_source = rng.choice(len(_OTHER_SOURCES), size=count, p=_OTHER_SOURCE_PROBABILITIES)
    step_probability = np.broadcast_to(_FUNNEL_STEPS, (count, _ORDER_DEPTH)).copy()
    step_probability[:, 1] = np.minimum(step_probability[:, 1] * multiplier, 0.95)  # the ad's pull shows at the cart
    reached = rng.random((count, _ORDER_DEPTH)) < step_probability
    depth = np.cumprod(reached, axis=1).sum(axis=1)
    new_customer = (depth == _ORDER_DEPTH) & (rng.random(count) >= config.returning_order_share)
    return _DayPlan(start_seconds, in_app, ad_index, other_source, depth, new_customer, int(new_customer.sum()))


@functools.lru_cache(maxsize=65_536)
def _new_customer_count(
    seed: int, ordinal: int, ad_weights: tuple[float, ...], ad_multipliers: tuple[float, ...], config: SyntheticStreamConfig
) -> int:
    # Returning customers look back over many days: keep only the count, not each day's arrays.
    return _day_plan(seed, ordinal, ad_weights, ad_multipliers, config).new_customer_count


class _DayWriter:
    """Turns one day's plan into events, session by session."""

    def __init__(self, ads: tuple[_Ad, ...], day: date, seed: int, config: SyntheticStreamConfig) -> None:
        self.ads = ads
        self.day = day
        self.seed = seed
        self.config = config
        self.traits = _ad_traits(seed, ads)
        self.plan = _day_plan(seed, day.toordinal(), *self.traits, config)
        self.rng = random.Random(f"{seed}:{day.isoformat()}")
        self.midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        self.catalog = _catalog(seed)
        self.currency = _default_currency([{"currency": ad.currency} for ad in ads], config)
        self.id_prefix = f"s{seed}-{day:%Y%m%d}"
        self.new_customers_so_far = 0
        self.out: list[FirstPartyEvent] = []

    def events(self) -> list[FirstPartyEvent]:
        plan = self.plan
        for session in range(len(plan.start_seconds)):
            self._session(session)
        self._background()
        return self.out

    # -- one session

    def _session(self, session: int) -> None:
        plan, rng = self.plan, self.rng
        ad = self.ads[plan.ad_index[session]] if plan.ad_index[session] >= 0 else None
        in_app = bool(plan.in_app[session])
        depth = int(plan.depth[session])
        currency = ad.currency if ad else self.currency
        time = self.midnight + timedelta(seconds=int(plan.start_seconds[session]))
        session_id = f"{self.id_prefix}-{session:05d}"
        step = 0

        def emit(name: str, when: datetime, identity: Identity, page: str | None, **fields: Any) -> None:
            nonlocal step
            self.out.append(
                FirstPartyEvent(
                    event_id=f"{session_id}-{step:02d}",
                    source=EventSource.APP if in_app else EventSource.WEB,
                    event_name=name,
                    event_time=when,
                    identity=identity,
                    page_url=None if in_app else page,
                    referrer=None if in_app else referrer,
                    click=click,
                    currency=currency if fields.get("value") is not None else None,
                    app=app,
                    **fields,
                )
            )
            step += 1

        landing_item = rng.choice(self.catalog)
        click, landing_url, referrer = self._landing(ad, int(plan.other_source[session]), landing_item.handle)
        ip = self._ip()
        # Drawn in the order they always were: the stream stays the same for a seed.
        ttclid = _token(rng, 48) if ad and not in_app else None
        ttp = None if in_app else _token(rng, 27)
        user_agent = rng.choice(_APP_USER_AGENTS if in_app else _WEB_USER_AGENTS)
        device = _device(session_id, user_agent) if in_app else {}
        app = (_IOS_APP if "iPhone" in user_agent else _ANDROID_APP) if in_app else NO_APP
        anonymous = Identity(ttclid=ttclid, ttp=ttp, ip=ip, user_agent=user_agent, **device)
        names = _APP_NAMES if in_app else _WEB_NAMES
        store = self.config.store_url

        emit(names["landing"], time, anonymous, landing_url)
        referrer = None  # the outside referrer belongs to the landing page only
        if not in_app and rng.random() < 0.35:
            time = self._later(time)
            emit("Viewed Collection", time, anonymous, f"{store}/collections/all")
        if not in_app and rng.random() < 0.12:
            time = self._later(time)
            term = rng.choice(_SEARCH_TERMS)
            emit("Searched", time, anonymous, f"{store}/search?q={term.replace(' ', '+')}", properties={"query": term})
        if in_app and rng.random() < 0.08:
            time = self._later(time)
            emit("Achieve level", time, anonymous, None, properties={"level": rng.randint(2, 30)})

        cart: list[Product] = []
        if depth >= 1:
            viewed = [landing_item, *rng.sample(self.catalog, rng.randint(0, 2))]
            for item in viewed:
                time = self._later(time)
                product = _in_stock_variant(rng, item)
                emit(names["view"], time, anonymous, f"{store}/products/{item.handle}", products=(product,), value=product.price)
                cart.append(product)
        if depth >= 2:
            lines = tuple(_with_quantity(product, rng.choice((1, 1, 1, 2))) for product in cart[: rng.randint(1, len(cart))])
            time = self._later(time)
            emit(names["cart"], time, anonymous, f"{store}/cart", products=lines, value=_total(lines))
            cart = list(lines)

        customer = None
        known = anonymous
        if depth >= 3:
            customer = self._customer(session, depth)
            known = Identity(
                email=customer.email, phone=customer.phone, external_id=customer.customer_id,
                ttclid=anonymous.ttclid, ttp=anonymous.ttp, ip=ip, user_agent=anonymous.user_agent, **device,
            )
            checkout = f"{store}/checkouts/{_token(rng, 20).lower()}"
            lines = tuple(cart)
            time = self._later(time)
            emit(names["checkout"], time, known, checkout, products=lines, value=_total(lines), customer_id=customer.customer_id)
            if depth >= 4:
                time = self._later(time)
                emit(names["payment"], time, known, f"{checkout}/payment", products=lines, value=_total(lines), customer_id=customer.customer_id)
            if depth >= 5:
                time = self._later(time)
                order_id = f"{self.id_prefix}-{session:05d}"
                emit(
                    names["order"], time, known, f"{checkout}/thank_you", products=lines, value=_total(lines),
                    order_id=order_id, customer_id=customer.customer_id, is_new_customer=customer.is_new,
                    properties={"channel": "online", "payment_method": rng.choice(("card", "card", "paypal", "apple_pay"))},
                )
                if not in_app and rng.random() < self.config.subscription_share:
                    subscription = {"subscription_id": f"sub-{order_id}", "interval": "month"}
                    for name in ("Started Subscription", "Activated Subscription"):
                        time = self._later(time)
                        emit(name, time, known, f"{store}/account/subscriptions", products=lines[:1], value=_total(lines[:1]),
                             customer_id=customer.customer_id, properties=subscription)
            if rng.random() < 0.05:
                time = self._later(time)
                emit(names["registration"], time, known, f"{store}/account/register", customer_id=customer.customer_id)
        if in_app and rng.random() < 0.03:
            time = self._later(time)
            emit("Start trial", time, anonymous, None)
        if in_app and customer is not None and rng.random() < 0.05:
            time = self._later(time)
            emit("Subscription", time, known, None, customer_id=customer.customer_id)

    def _landing(self, ad: _Ad | None, other_source: int, handle: str) -> tuple[ClickParams, str, str | None]:
        store = self.config.store_url
        if ad is not None:
            click = ClickParams(
                utm_source="tiktok", utm_medium="paid_social", utm_campaign=ad.campaign_id, utm_content=ad.ad_id,
                cvg_source="tiktok", cvg_adid=ad.ad_id, cvg_cid=ad.campaign_id,
            )
            query = (
                f"utm_source=tiktok&utm_medium=paid_social&utm_campaign={ad.campaign_id}&utm_content={ad.ad_id}"
                f"&cvg_source=tiktok&cvg_adid={ad.ad_id}&cvg_cid={ad.campaign_id}"
            )
            return click, f"{store}/products/{handle}?{query}", "https://www.tiktok.com/"
        utm_source, utm_medium, referrer, _ = _OTHER_SOURCES[other_source]
        if utm_source is None:
            return ClickParams(), f"{store}/", referrer
        campaign = "spring_sale" if utm_medium != "email" else "weekly_digest"
        click = ClickParams(utm_source=utm_source, utm_medium=utm_medium, utm_campaign=campaign)
        return click, f"{store}/products/{handle}?utm_source={utm_source}&utm_medium={utm_medium}&utm_campaign={campaign}", referrer

    def _later(self, time: datetime) -> datetime:
        return time + timedelta(seconds=self.rng.randint(5, 180))

    def _ip(self) -> str:
        rng = self.rng
        if rng.random() < 0.1:
            return f"2001:db8::{rng.randint(1, 0xFFFF):x}"
        return f"{rng.choice(('203.0.113', '198.51.100', '192.0.2'))}.{rng.randint(1, 254)}"

    # -- customers

    def _customer(self, session: int, depth: int) -> _Customer:
        if depth < _ORDER_DEPTH:
            # Reached checkout without ordering: a guest who typed an email, not a customer yet.
            return _Customer.make(self.seed, self.day, session, is_new=None, prefix="guest")
        if self.plan.new_customer[session]:
            customer = _Customer.make(self.seed, self.day, self.new_customers_so_far, is_new=True)
            self.new_customers_so_far += 1
            return customer
        return self._returning_customer()

    def _returning_customer(self) -> _Customer:
        for _ in range(20):
            first_day = self.day - timedelta(days=self.rng.randint(1, self.config.customer_lookback_days))
            count = _new_customer_count(self.seed, first_day.toordinal(), *self.traits, self.config)
            if count:
                return _Customer.make(self.seed, first_day, self.rng.randrange(count), is_new=False)
        return _Customer.make(self.seed, self.day, self.rng.randrange(1_000_000), is_new=None, prefix="guest")

    # -- subscriptions renewing and cancelling, outside any session

    def _background(self) -> None:
        rng, store, config = self.rng, self.config.store_url, self.config
        renewals = _poisson(rng, config.recurring_orders_per_day)
        cancellations = _poisson(rng, config.cancellations_per_day)
        for index in range(renewals + cancellations):
            customer = self._returning_customer()
            product = _in_stock_variant(rng, rng.choice(self.catalog))
            when = self.midnight + timedelta(seconds=rng.randrange(86_400))
            identity = Identity(email=customer.email, phone=customer.phone, external_id=customer.customer_id)
            event_id = f"{self.id_prefix}-bg{index:04d}"
            common = dict(
                event_id=event_id, source=EventSource.WEB, event_time=when, identity=identity,
                page_url=f"{store}/account/subscriptions", customer_id=customer.customer_id, products=(product,),
            )
            if index < renewals:
                self.out.append(FirstPartyEvent(
                    event_name="Placed Recurring Subscription Order", value=product.price, currency=self.currency,
                    order_id=event_id, is_new_customer=False, properties={"channel": "subscription"}, **common,
                ))
            else:
                self.out.append(FirstPartyEvent(event_name="Cancelled Subscription", properties={"reason": rng.choice(("price", "not_needed", "other"))}, **common))


_WEB_NAMES = {
    "landing": "$page_load", "view": "Viewed Product", "cart": "Added To Cart", "checkout": "Started Checkout",
    "payment": "Added Payment Info", "order": "Placed Order", "registration": "Subscribed To Newsletter",
}
_APP_NAMES = {
    "landing": "Session", "view": "View content", "cart": "Add to cart", "checkout": "Initiate checkout",
    "payment": "Add payment info", "order": "Purchase", "registration": "Complete registration",
}


@dataclass(frozen=True)
class _Customer:
    customer_id: str
    email: str
    phone: str | None
    is_new: bool | None

    @classmethod
    def make(cls, seed: int, first_day: date, index: int, *, is_new: bool | None, prefix: str = "cus") -> _Customer:
        """The customer whose first order was the ``index``-th new-customer order of ``first_day``: the same every time."""
        rng = random.Random(f"{seed}:{prefix}:{first_day.isoformat()}:{index}")
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        number = f"{first_day:%y%m%d}{index:05d}"
        # Mixed case on purpose: hashing must lowercase before SHA-256.
        email = f"{first}.{last}.{prefix}{number}@example.com"
        if rng.random() < 0.3:
            email = email.title()
        phone = None
        if rng.random() < 0.7:
            parts = {"a": rng.choice(_AREA_CODES), "e": rng.randint(200, 999), "l": f"{rng.randint(0, 9999):04d}"}
            phone = rng.choice(_PHONE_FORMATS).format(**parts)
        return cls(f"{prefix}-{number}", email, phone, is_new)


@functools.lru_cache(maxsize=16)
def _catalog(seed: int) -> tuple[_CatalogItem, ...]:
    rng = random.Random(f"{seed}:catalog")
    items = []
    for index in range(24):
        name = f"{_ADJECTIVES[index % len(_ADJECTIVES)]} {_NOUNS[index % len(_NOUNS)]}"
        product_id = str(8_100_000_000 + index * 7919)
        price = float(rng.choice((12, 18, 24, 29, 35, 48, 59, 79, 99))) - 0.01 * rng.choice((0, 1, 5))
        items.append(_CatalogItem(name.lower().replace(" ", "-"), Product(product_id=product_id, name=name, price=round(price, 2), sku=f"SKU-{index:03d}")))
    return tuple(items)


def _in_stock_variant(rng: random.Random, item: _CatalogItem) -> Product:
    product = item.product
    if rng.random() < 0.25:  # one-size products have no variant
        return product
    size = rng.choice(_SIZES)
    variant_id = str(int(product.product_id) * 10 + _SIZES.index(size))
    return Product(product_id=product.product_id, variant_id=variant_id, sku=f"{product.sku}-{size}", name=f"{product.name} - {size}", price=product.price)


def _with_quantity(product: Product, quantity: int) -> Product:
    return Product(product.product_id, product.variant_id, product.sku, product.name, quantity, product.price)


def _total(lines: Sequence[Product]) -> float:
    return round(sum(line.quantity * (line.price or 0.0) for line in lines), 2)


def _token(rng: random.Random, length: int) -> str:
    return "".join(rng.choices(_TOKEN_ALPHABET, k=length))


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: small means only, which is all the background needs.
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
