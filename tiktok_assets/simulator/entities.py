"""Synthetic advertisers, campaigns, ad groups and ads, and how they change over time.

Everything here is a pure function of the world seed and a point in time:
entities are built once (``build_entities``) as frozen specs, and the dicts the
API serves are rendered for a given ``now`` (names after renames, pause status,
``modify_time``, and only entities created by then).

Time rules, all in the advertiser's account time zone: the fixed offset of
its ``timezone`` field (``Etc/GMT+8`` is UTC-8 all year). TikTok ad accounts
have no DST and date reports in that offset (tiktok_assets_tests/contract/FACTS.md section 5;
ads.tiktok.com/help/article/time-zone); ``display_timezone`` is only shown:

* pauses follow a :class:`Cycle`: paused for ``length_days`` local days at the
  start of every ``period_days``-day cycle, switching at local midnight — the
  same days the stats show no delivery for the ad (or every ad of a paused
  campaign);
* renames happen every ``period_days`` local days at ``offset_minutes`` past
  local midnight; the name gets a " v2", " v3"... suffix;
* ``create_time``/``modify_time`` are UTC strings like "2022-03-24 12:08:29";
  some ads are never modified and their dicts omit ``modify_time``, as TikTok's do;
* some campaigns, ad groups and ads are **deleted** at a deterministic moment
  (``delete_time``): from then on they deliver nothing, and so nothing under
  them does; their rows say so in ``secondary_status`` (``AD_STATUS_DELETE``,
  or ``AD_STATUS_ADGROUP_DELETE``/``AD_STATUS_CAMPAIGN_DELETE`` when a parent
  went), the way TikTok's enumeration names them;
* a few campaigns are bought by **reservation** (Reach & Frequency,
  ``service_type`` RESERVATION): their stats are only in RESERVATION reports;
  one is a **TopView** buy (``buying_type`` RESERVATION_TOP_VIEW, listed only
  when ``/campaign/get/`` asks that buying type alone, as TikTok documents);
* one web campaign is an **Upgraded Smart+** campaign
  (``campaign_automation_type`` UPGRADED_SMART_PLUS): its "ads" are the
  creatives TikTok reports under ``ad_id``, and each ad group holds one Smart+
  ad (TikTok's ``ad_id_v2``) grouping them (TikTok docs 1740302848100353,
  tiktok_assets_tests/contract/FACTS.md section 14).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
WEB_OBJECTIVE = "WEB_CONVERSIONS"
APP_OBJECTIVE = "APP_PROMOTION"
# TikTok's "Get campaigns" example: an R&F campaign has objective_type RF_REACH and an rf_campaign_type.
RESERVATION_OBJECTIVE = "RF_REACH"
AUCTION = "AUCTION"
RESERVATION = "RESERVATION"
# /campaign/get/ filtering.buying_types values (TikTok docs 1739315828649986).
BUYING_AUCTION = "AUCTION"
BUYING_RF = "RESERVATION_RF"
BUYING_TOP_VIEW = "RESERVATION_TOP_VIEW"
# campaign_automation_type values (same page); report rows of an upgraded campaign's creatives say
# UPGRADED_SMART_PLUS_CREATIVE (TikTok docs 1740302848100353).
MANUAL = "MANUAL"
UPGRADED_SMART_PLUS = "UPGRADED_SMART_PLUS"
UPGRADED_SMART_PLUS_CREATIVE = "UPGRADED_SMART_PLUS_CREATIVE"
# rf_campaign_type of the reservation campaigns (TikTok's "Get campaigns": STANDARD, PULSE, TOPVIEW).
RF_CAMPAIGN_TYPES = {BUYING_RF: "STANDARD", BUYING_TOP_VIEW: "TOPVIEW"}
# ISO 4217 minor units of the currencies the world uses.
CURRENCY_DECIMALS = {"USD": 2, "EUR": 2, "JPY": 0, "GBP": 2, "AUD": 2, "BRL": 2, "CAD": 2, "KRW": 0}


@dataclass(frozen=True)
class MarketProfile:
    """What an advertiser's market looks like: money, zones, prices."""

    currency: str
    display_timezone: str
    timezone: str
    """TikTok's fixed-offset ``timezone`` field (``Etc/GMT+8`` is UTC-8: POSIX signs are inverted)."""
    country: str
    domain: str
    cpm: float
    """Typical cost per 1000 impressions in ``currency``."""
    order_value: float
    """Typical purchase value in ``currency``."""
    has_hourly: bool = True


# The first four are the ones the brief asks for; World(n_advertisers > 4) adds more.
MARKETS: tuple[MarketProfile, ...] = (
    MarketProfile("USD", "America/Los_Angeles", "Etc/GMT+8", "US", "shop-us.example.com", 7.5, 64.0),
    MarketProfile("EUR", "Europe/Berlin", "Etc/GMT-1", "DE", "shop-de.example.com", 6.0, 58.0),
    MarketProfile("JPY", "Asia/Tokyo", "Etc/GMT-9", "JP", "shop-jp.example.com", 950.0, 7800.0),
    # TikTok serves no hourly breakdown for some accounts: this one only has daily data.
    MarketProfile("GBP", "Europe/London", "Etc/GMT", "GB", "shop-uk.example.com", 5.5, 49.0, has_hourly=False),
    MarketProfile("AUD", "Australia/Sydney", "Etc/GMT-10", "AU", "shop-au.example.com", 9.0, 92.0),
    MarketProfile("BRL", "America/Sao_Paulo", "Etc/GMT+3", "BR", "shop-br.example.com", 24.0, 260.0),
    MarketProfile("CAD", "America/Toronto", "Etc/GMT+5", "CA", "shop-ca.example.com", 8.0, 79.0),
    MarketProfile("KRW", "Asia/Seoul", "Etc/GMT-9", "KR", "shop-kr.example.com", 8500.0, 72000.0),
)

_COMPANIES = ("Northwind Goods", "Lumen Apparel", "Sakura Living", "Thistle & Co", "Wattle Outdoor", "Ipanema Beauty",
              "Maple Kitchen", "Hanok Home")
_WEB_THEMES = ("Evergreen", "Spring Sale", "Summer Drop", "Back to School", "Black Friday", "Holiday Gifting",
               "New Arrivals", "Retargeting", "Bestsellers", "Bundle Offer")
_APP_THEMES = ("App Installs", "App Launch", "App Re-engagement")
_AUDIENCES = ("Broad", "Interest: Beauty", "Interest: Fitness", "Lookalike 1%", "Retargeting 30d", "Custom: Buyers")
_AGE_BANDS = ("18-24", "25-34", "35-44", "18-44", "25-54")
_CREATIVES = ("UGC Testimonial", "Product Demo", "Unboxing", "Creator Spark Ad", "Static Carousel", "Founder Story",
              "Before-After", "Tutorial")

UTM_QUERY = "utm_source=tiktok&utm_medium=paid_social&utm_campaign=__CAMPAIGN_NAME__&utm_content=__CID_NAME__"
# Converge-style first-party attribution parameters, filled in by TikTok's URL macros at click time.
CONVERGE_QUERY = "cvg_source=tiktok&cvg_adid=__CID__&cvg_cid=__CAMPAIGN_ID__&ttclid=__CALLBACK_PARAM__"


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


@lru_cache(maxsize=64)
def zone_info(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_date(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def local_midnight(day_ordinal: int, zone: ZoneInfo) -> datetime:
    """The UTC instant local day ``day_ordinal`` starts."""
    return datetime.combine(date.fromordinal(day_ordinal), time(0), tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class Cycle:
    """A change that recurs every ``period_days`` local days (a pause window or a rename)."""

    period_days: int
    phase: int
    length_days: int = 0
    offset_minutes: int = 0

    def paused_on(self, day_ordinal: int) -> bool:
        return (day_ordinal + self.phase) % self.period_days < self.length_days

    def last_pause_toggle(self, day_ordinal: int) -> int:
        """Ordinal of the latest local day (≤ ``day_ordinal``) whose midnight flipped the status."""
        position = (day_ordinal + self.phase) % self.period_days
        if position < self.length_days:
            return day_ordinal - position
        return day_ordinal - (position - self.length_days)

    def _rename_day(self, moment: datetime, zone: ZoneInfo) -> int:
        # Renames happen offset_minutes after local midnight: shift so the day boundary is midnight.
        return local_date(moment - timedelta(minutes=self.offset_minutes), zone).toordinal()

    def renames(self, created: datetime, now: datetime, zone: ZoneInfo) -> tuple[int, datetime | None]:
        """(how many renames happened in (created, now], instant of the latest one)."""
        today = self._rename_day(now, zone)
        count = (today + self.phase) // self.period_days - (self._rename_day(created, zone) + self.phase) // self.period_days
        if count <= 0:
            return 0, None
        last_day = today - (today + self.phase) % self.period_days
        return count, local_midnight(last_day, zone) + timedelta(minutes=self.offset_minutes)


@dataclass(frozen=True)
class AdvertiserSpec:
    advertiser_id: str
    name: str
    company: str
    market: MarketProfile
    create_time: datetime
    balance: float

    @property
    def currency(self) -> str:
        return self.market.currency

    @property
    def currency_decimals(self) -> int:
        return CURRENCY_DECIMALS.get(self.market.currency, 2)

    @property
    def display_timezone(self) -> str:
        return self.market.display_timezone

    @property
    def report_timezone(self) -> str:
        """The zone reports are dated in: ``timezone``, a fixed offset (never ``display_timezone``, which has DST)."""
        return self.market.timezone

    @property
    def zone(self) -> ZoneInfo:
        return zone_info(self.market.timezone)

    @property
    def has_hourly(self) -> bool:
        return self.market.has_hourly

    def info(self) -> dict[str, object]:
        """The ``/advertiser/info/`` row."""
        return {
            "advertiser_id": self.advertiser_id,
            "name": self.name,
            "company": self.company,
            "status": "STATUS_ENABLE",
            "role": "ROLE_ADVERTISER",
            "currency": self.market.currency,
            "timezone": self.market.timezone,
            "display_timezone": self.market.display_timezone,
            "country": self.market.country,
            "address": f"{10 + int(self.advertiser_id[-2:])} Market Street",
            "language": "en",
            "advertiser_account_type": "AUCTION",
            "balance": self.balance,
            # /advertiser/info/ gives create_time as unix seconds, unlike the entity endpoints.
            "create_time": int(self.create_time.timestamp()),
        }


@dataclass(frozen=True)
class CampaignSpec:
    campaign_id: str
    advertiser_id: str
    base_name: str
    objective_type: str
    budget: float
    create_time: datetime
    rename: Cycle | None
    pause: Cycle | None
    delete_time: datetime | None = None
    service_type: str = AUCTION
    buying_type: str = BUYING_AUCTION
    automation_type: str = MANUAL

    @property
    def is_app(self) -> bool:
        return self.objective_type == APP_OBJECTIVE

    @property
    def is_upgraded_smart_plus(self) -> bool:
        return self.automation_type == UPGRADED_SMART_PLUS


@dataclass(frozen=True)
class AdgroupSpec:
    adgroup_id: str
    campaign_id: str
    advertiser_id: str
    base_name: str
    budget: float
    create_time: datetime
    modify_time: datetime
    is_app: bool
    delete_time: datetime | None = None
    service_type: str = AUCTION


@dataclass(frozen=True)
class AdStatsParams:
    """How one ad performs when it delivers (final values; revisions come on top)."""

    daily_impressions: float
    ctr: float
    cpm: float
    conversion_rate: float
    """Conversions per click (web) or installs per click (app)."""
    purchase_rate: float
    """Purchases per conversion: web Complete Payments, or in-app purchases per install for app campaigns."""
    order_value: float


@dataclass(frozen=True)
class AdSpec:
    ad_id: str
    adgroup_id: str
    campaign_id: str
    advertiser_id: str
    base_name: str
    create_time: datetime
    landing_page_url: str | None
    is_app: bool
    rename: Cycle | None
    pause: Cycle | None
    has_modify_time: bool
    stats: AdStatsParams
    delete_time: datetime | None = None


@dataclass(frozen=True)
class EntityTree:
    advertisers: tuple[AdvertiserSpec, ...]
    campaigns: tuple[CampaignSpec, ...]
    adgroups: tuple[AdgroupSpec, ...]
    ads: tuple[AdSpec, ...]


def _rng(seed: int, *path: object) -> random.Random:
    # String seeds are hashed with SHA-512 by random.Random: stable across runs and
    # processes, and each entity's draws do not depend on how many others exist.
    return random.Random("/".join(str(part) for part in (seed, *path)))


def _entity_id(seed: int, kind: str, serial: int) -> str:
    base = 1_700_000_000_000_000_000 + _rng(seed, "id-base", kind).randrange(9 * 10**16)
    return str(base + serial * 1_000_000 + _rng(seed, "id", kind, serial).randrange(1_000_000))


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    seconds = max(0, int((end - start).total_seconds()))
    return start + timedelta(seconds=rng.randrange(seconds + 1))


def _cycle(rng: random.Random, periods: tuple[int, int], lengths: tuple[int, int] = (0, 0)) -> Cycle:
    period = rng.randint(*periods)
    return Cycle(period_days=period, phase=rng.randrange(period), length_days=rng.randint(*lengths),
                 offset_minutes=rng.randrange(24 * 60))


# Shares of entities deleted at some moment between the epoch and the end of the simulated period.
DELETE_SHARE = {"campaign": 0.08, "adgroup": 0.2, "ad": 0.1}
# Campaigns and ad groups go only late in the period, so most of the simulated year has every campaign whole.
DELETE_FROM_DAY = {"campaign": 270, "adgroup": 270, "ad": 0}
# Reservation (R&F) campaigns: one ad group of this many ads each.
RESERVATION_ADS = 2


def _deletion(seed: int, kind: str, serial: int, created: datetime, epoch: datetime, until: datetime,
              *, first: bool = False) -> datetime | None:
    # An advertiser's first campaign, its first ad group and that one's first ad are never deleted: however
    # small the world, every advertiser keeps delivering.
    if first:
        return None
    # Its own stream: deciding deletions draws nothing from the entity's other streams.
    rng = _rng(seed, "delete", kind, serial)
    if rng.random() >= DELETE_SHARE[kind]:
        return None
    start = max(created + timedelta(days=3), epoch + timedelta(days=DELETE_FROM_DAY[kind]))
    return _between(rng, start, until) if start < until else None


def _earliest(*moments: datetime | None) -> datetime | None:
    present = [moment for moment in moments if moment is not None]
    return min(present) if present else None


def build_entities(
    seed: int,
    ads_per_advertiser: Sequence[int],
    campaigns_per_advertiser: int,
    adgroups_per_campaign: int,
    ads_per_adgroup: int,
    epoch: datetime,
    reservation_campaigns: int = 0,
    topview_campaigns: int = 0,
    smart_plus_campaigns: int = 0,
) -> EntityTree:
    """Build the entity tree; ``ads_per_advertiser[i]`` caps advertiser i's ads (the last campaigns get fewer).

    ``reservation_campaigns`` R&F campaigns go to advertisers 0, 2, 4..., one each (never more than there are
    such advertisers), after every auction entity, so adding them changes no auction entity's ids or draws;
    ``topview_campaigns`` TopView campaigns follow them, on advertisers 2, 4... (the next with R&F, which already
    have reservation spend beyond their ad rows; advertiser 0 when there is no such one). ``smart_plus_campaigns``: the second campaign of advertisers
    1, 3, 5... is an Upgraded Smart+ one; only its flag changes, no draw, id, count or total.
    """
    advertisers: list[AdvertiserSpec] = []
    campaigns: list[CampaignSpec] = []
    adgroups: list[AdgroupSpec] = []
    ads: list[AdSpec] = []
    late_ads_until = epoch + timedelta(days=540)
    for adv_index, ad_budget in enumerate(ads_per_advertiser):
        market = MARKETS[adv_index % len(MARKETS)]
        rng = _rng(seed, "advertiser", adv_index)
        advertiser_id = str(7 * 10**18 + adv_index * 10**15 + rng.randrange(10**15))
        company = _COMPANIES[adv_index % len(_COMPANIES)]
        suffix = f" {adv_index // len(MARKETS) + 1}" if adv_index >= len(MARKETS) else ""
        advertiser = AdvertiserSpec(
            advertiser_id=advertiser_id,
            name=f"{company} {market.country}{suffix}",
            company=company,
            market=market,
            create_time=epoch - timedelta(days=730 + rng.randrange(730), seconds=rng.randrange(86400)),
            balance=round(rng.uniform(500, 20000) * (market.cpm / 7.5), CURRENCY_DECIMALS.get(market.currency, 2)),
        )
        advertisers.append(advertiser)
        n_campaigns = min(campaigns_per_advertiser,
                          math.ceil(ad_budget / max(1, adgroups_per_campaign * ads_per_adgroup)))
        for c in range(n_campaigns):
            if ad_budget <= 0:
                break
            serial = len(campaigns)
            crng = _rng(seed, "campaign", serial)
            # Every third campaign promotes the advertiser's app.
            is_app = c % 3 == 2
            theme = crng.choice(_APP_THEMES if is_app else _WEB_THEMES)
            budget = round(crng.uniform(500, 4000) * market.cpm / 7.5, 0)
            created = _between(crng, advertiser.create_time + timedelta(days=30), epoch - timedelta(days=60))
            campaign = CampaignSpec(
                campaign_id=_entity_id(seed, "campaign", serial),
                advertiser_id=advertiser_id,
                base_name=f"{market.country} | {'App' if is_app else 'Web'} | {theme} {c + 1}",
                objective_type=APP_OBJECTIVE if is_app else WEB_OBJECTIVE,
                budget=budget,
                create_time=created,
                rename=_cycle(crng, (30, 90)) if crng.random() < 0.35 else None,
                pause=_cycle(crng, (20, 60), (1, 4)) if crng.random() < 0.2 else None,
                delete_time=_deletion(seed, "campaign", serial, created, epoch, late_ads_until, first=c == 0),
                automation_type=(UPGRADED_SMART_PLUS if c == 1 and adv_index % 2 == 1
                                 and adv_index // 2 < smart_plus_campaigns and not is_app else MANUAL),
            )
            campaigns.append(campaign)
            for g in range(adgroups_per_campaign):
                if ad_budget <= 0:
                    break
                adgroup = _build_adgroup(seed, len(adgroups), campaign, g, adgroups_per_campaign, epoch,
                                         late_ads_until, first=c == 0 and g == 0)
                adgroups.append(adgroup)
                for n in range(ads_per_adgroup):
                    if ad_budget <= 0:
                        break
                    ad_budget -= 1
                    ads.append(_build_ad(seed, len(ads), advertiser, campaign, adgroup, n, epoch, late_ads_until,
                                         first=c == 0 and g == 0 and n == 0))
    reservation = [(r, BUYING_RF) for r in range(min(reservation_campaigns, math.ceil(len(advertisers) / 2)))]
    reservation += [(r, BUYING_TOP_VIEW) for r in range(min(topview_campaigns, math.ceil(len(advertisers) / 2)))]
    for r, buying_type in reservation:
        # TopView buys go to the next advertiser with R&F (the third), so the first keeps its figures.
        shift = 2 if buying_type == BUYING_TOP_VIEW and 2 * r + 2 < len(advertisers) else 0
        advertiser = advertisers[2 * r + shift]
        serial = len(campaigns)
        crng = _rng(seed, "campaign", serial)
        market = advertiser.market
        label = "TopView" if buying_type == BUYING_TOP_VIEW else "Reach & Frequency"
        campaign = CampaignSpec(
            campaign_id=_entity_id(seed, "campaign", serial),
            advertiser_id=advertiser.advertiser_id,
            base_name=f"{market.country} | {label} | {crng.choice(_WEB_THEMES)} "
                      f"{'T' if buying_type == BUYING_TOP_VIEW else 'R'}{r + 1}",
            objective_type=RESERVATION_OBJECTIVE,
            budget=round(crng.uniform(2000, 9000) * market.cpm / 7.5, 0),
            create_time=_between(crng, advertiser.create_time + timedelta(days=30), epoch - timedelta(days=60)),
            rename=None,
            pause=None,
            service_type=RESERVATION,
            buying_type=buying_type,
        )
        campaigns.append(campaign)
        adgroup = _build_adgroup(seed, len(adgroups), campaign, 0, 1, epoch, late_ads_until)
        adgroups.append(adgroup)
        # A TopView buy is one takeover creative; an R&F buy has a few ads.
        for n in range(1 if buying_type == BUYING_TOP_VIEW else RESERVATION_ADS):
            ads.append(_build_ad(seed, len(ads), advertiser, campaign, adgroup, n, epoch, late_ads_until))
    return EntityTree(tuple(advertisers), tuple(campaigns), tuple(adgroups), tuple(ads))


def _build_adgroup(seed: int, serial: int, campaign: CampaignSpec, g: int, per_campaign: int, epoch: datetime,
                   until: datetime, *, first: bool = False) -> AdgroupSpec:
    grng = _rng(seed, "adgroup", serial)
    created = campaign.create_time + timedelta(seconds=grng.randrange(10 * 86400))
    return AdgroupSpec(
        adgroup_id=_entity_id(seed, "adgroup", serial),
        campaign_id=campaign.campaign_id,
        advertiser_id=campaign.advertiser_id,
        base_name=f"{grng.choice(_AUDIENCES)} | {grng.choice(_AGE_BANDS)} | #{g + 1}",
        budget=round(campaign.budget / per_campaign, 0),
        create_time=created,
        modify_time=created + timedelta(seconds=grng.randrange(30 * 86400)),
        is_app=campaign.is_app,
        delete_time=(None if campaign.service_type == RESERVATION
                     else _deletion(seed, "adgroup", serial, created, epoch, until, first=first)),
        service_type=campaign.service_type,
    )


def _build_ad(seed: int, serial: int, advertiser: AdvertiserSpec, campaign: CampaignSpec, adgroup: AdgroupSpec,
              n: int, epoch: datetime, late_ads_until: datetime, *, first: bool = False) -> AdSpec:
    rng = _rng(seed, "ad", serial)
    market = advertiser.market
    # About one ad in seven launches after the epoch, so "ads that do not exist yet" is a live case.
    if rng.random() < 0.15:
        created = _between(rng, epoch, late_ads_until)
    else:
        created = _between(rng, adgroup.create_time, epoch - timedelta(days=30))
    parent_deleted = _earliest(campaign.delete_time, adgroup.delete_time)
    if parent_deleted is not None and created >= parent_deleted - timedelta(days=1):
        # Nobody launches an ad into a deleted campaign: this one came a while before it went.
        earliest = min(adgroup.create_time, parent_deleted - timedelta(days=2))
        created = _between(_rng(seed, "ad-before-delete", serial), earliest, parent_deleted - timedelta(days=1))
    rename = _cycle(rng, (14, 60)) if rng.random() < 0.3 else None
    pause = _cycle(rng, (8, 30), (1, 3)) if rng.random() < 0.25 else None
    has_modify_time = rename is not None or pause is not None or rng.random() < 0.5
    ad_id = _entity_id(seed, "ad", serial)
    url_roll = rng.random()
    product = f"https://{market.domain}/p/{rng.randrange(100, 999)}"
    url: str | None
    if campaign.is_app:
        url = None if url_roll < 0.6 else f"https://apps.example.com/app/{advertiser.advertiser_id[-6:]}"
    elif url_roll < 0.45:
        url = f"{product}?{UTM_QUERY}&{CONVERGE_QUERY}"
    elif url_roll < 0.75:
        url = f"{product}?{UTM_QUERY}"
    else:
        url = product
    reservation = campaign.service_type == RESERVATION
    # Reservation buys a lot of impressions: four times an average auction ad.
    daily_impressions = math.exp(rng.uniform(math.log(1500), math.log(80000))) * (4.0 if reservation else 1.0)
    ctr = rng.uniform(0.004, 0.025)
    cpm = market.cpm * rng.uniform(0.6, 1.6)
    conversion_rate = rng.uniform(0.05, 0.25) if campaign.is_app else rng.uniform(0.01, 0.07)
    purchase_rate = 0.0 if campaign.is_app else rng.uniform(0.25, 0.8)
    order_value = 0.0 if campaign.is_app else market.order_value * rng.uniform(0.6, 1.6)
    base_name = f"{rng.choice(_CREATIVES)} #{n + 1:02d}"
    if campaign.is_app:
        # In-app purchases per install and their value: drawn last, so every earlier draw stays as it was.
        purchase_rate = rng.uniform(0.02, 0.12)
        order_value = market.order_value * rng.uniform(0.08, 0.3)
    stats = AdStatsParams(daily_impressions=daily_impressions, ctr=ctr, cpm=cpm, conversion_rate=conversion_rate,
                          purchase_rate=purchase_rate, order_value=order_value)
    if reservation:
        delete_time = None
    else:
        delete_time = _deletion(seed, "ad", serial, created, epoch, late_ads_until, first=first)
    return AdSpec(
        ad_id=ad_id,
        adgroup_id=adgroup.adgroup_id,
        campaign_id=campaign.campaign_id,
        advertiser_id=advertiser.advertiser_id,
        base_name=base_name,
        create_time=created,
        landing_page_url=url,
        is_app=campaign.is_app,
        rename=rename,
        pause=pause,
        has_modify_time=has_modify_time,
        stats=stats,
        delete_time=delete_time,
    )


def effective_delete_time(ad: AdSpec, adgroup: AdgroupSpec, campaign: CampaignSpec) -> datetime | None:
    """When the ad stopped existing: its own deletion or its ad group's or campaign's, whichever came first."""
    return _earliest(ad.delete_time, adgroup.delete_time, campaign.delete_time)


# -- rendering at a point in time ---------------------------------------------------------


def _name_at(base: str, rename: Cycle | None, created: datetime, now: datetime, zone: ZoneInfo
             ) -> tuple[str, datetime | None]:
    if rename is None:
        return base, None
    count, last = rename.renames(created, now, zone)
    return (f"{base} v{count + 1}" if count else base), last


def _status_at(pause: Cycle | None, created: datetime, now: datetime, zone: ZoneInfo) -> tuple[str, datetime | None]:
    if pause is None:
        return "ENABLE", None
    today = local_date(now, zone).toordinal()
    toggled = local_midnight(pause.last_pause_toggle(today), zone)
    status = "DISABLE" if pause.paused_on(today) else "ENABLE"
    return status, (toggled if toggled > created else None)


def _latest(created: datetime, *changes: datetime | None) -> datetime:
    return max([created, *(change for change in changes if change is not None)])


def campaign_name_at(campaign: CampaignSpec, now: datetime, zone: ZoneInfo) -> str:
    return _name_at(campaign.base_name, campaign.rename, campaign.create_time, _as_of(now, campaign.delete_time),
                    zone)[0]


def _as_of(now: datetime, deleted: datetime | None) -> datetime:
    # A deleted entity is frozen as it was: no renames or pauses after its deletion.
    return now if deleted is None or deleted > now else deleted


def _gone(deleted: datetime | None, now: datetime) -> bool:
    return deleted is not None and deleted <= now


# Deleted entities keep operation_status DISABLE (the switch is off); secondary_status tells deleted from paused.
def campaign_row(campaign: CampaignSpec, now: datetime, zone: ZoneInfo) -> dict[str, object]:
    as_of = _as_of(now, campaign.delete_time)
    name, renamed = _name_at(campaign.base_name, campaign.rename, campaign.create_time, as_of, zone)
    status, toggled = _status_at(campaign.pause, campaign.create_time, as_of, zone)
    deleted = _gone(campaign.delete_time, now)
    if deleted:
        status, secondary = "DISABLE", "CAMPAIGN_STATUS_DELETE"
    else:
        secondary = f"CAMPAIGN_STATUS_{status}"
    # Fields as in TikTok's "Get campaigns" response example (docs id 1739315828649986).
    row: dict[str, object] = {
        "advertiser_id": campaign.advertiser_id,
        "campaign_id": campaign.campaign_id,
        "campaign_name": name,
        "campaign_type": "REGULAR_CAMPAIGN",
        "objective_type": campaign.objective_type,
        "objective": "LANDING_PAGE",
        "is_new_structure": True,
        # False for Manual and Upgraded Smart+ alike; campaign_automation_type tells them apart (TikTok docs).
        "is_smart_performance_campaign": False,
        "campaign_automation_type": campaign.automation_type,
        "operation_status": status,
        "secondary_status": secondary,
        "budget_mode": "BUDGET_MODE_DAY" if campaign.service_type == AUCTION else "BUDGET_MODE_TOTAL",
        "budget": campaign.budget,
        "deep_bid_type": None,
        "create_time": format_time(campaign.create_time),
        "modify_time": format_time(_latest(campaign.create_time, renamed, toggled,
                                           campaign.delete_time if deleted else None)),
    }
    if campaign.service_type == RESERVATION:
        row["rf_campaign_type"] = RF_CAMPAIGN_TYPES[campaign.buying_type]
    return row


def adgroup_row(adgroup: AdgroupSpec, campaign: CampaignSpec, now: datetime, zone: ZoneInfo) -> dict[str, object]:
    campaign_status, _ = _status_at(campaign.pause, campaign.create_time, _as_of(now, campaign.delete_time), zone)
    status = "ENABLE"
    if _gone(adgroup.delete_time, now):
        status, secondary = "DISABLE", "ADGROUP_STATUS_DELETE"
    elif _gone(campaign.delete_time, now):
        status, secondary = "DISABLE", "ADGROUP_STATUS_CAMPAIGN_DELETE"
    elif campaign_status == "DISABLE":
        secondary = "ADGROUP_STATUS_CAMPAIGN_DISABLE"
    else:
        secondary = "ADGROUP_STATUS_DELIVERY_OK"
    deleted = _earliest(adgroup.delete_time, campaign.delete_time)
    modified = adgroup.modify_time if adgroup.modify_time <= now else adgroup.create_time
    if _gone(deleted, now):
        modified = max(modified, deleted)  # type: ignore[type-var]
    reservation = adgroup.service_type == RESERVATION
    return {
        "advertiser_id": adgroup.advertiser_id,
        "campaign_id": adgroup.campaign_id,
        "adgroup_id": adgroup.adgroup_id,
        "adgroup_name": adgroup.base_name,
        "operation_status": status,
        "secondary_status": secondary,
        "promotion_type": "APP_ANDROID" if adgroup.is_app else "WEBSITE",
        "optimization_goal": "REACH" if reservation else ("INSTALL" if adgroup.is_app else "CONVERT"),
        "placement_type": "PLACEMENT_TYPE_AUTOMATIC",
        "budget_mode": "BUDGET_MODE_TOTAL" if reservation else "BUDGET_MODE_DAY",
        "budget": adgroup.budget,
        "create_time": format_time(adgroup.create_time),
        "modify_time": format_time(modified),
    }


def ad_row(ad: AdSpec, campaign: CampaignSpec, adgroup: AdgroupSpec, now: datetime, zone: ZoneInfo
           ) -> dict[str, object]:
    deleted = effective_delete_time(ad, adgroup, campaign)
    as_of = _as_of(now, deleted)
    name, renamed = _name_at(ad.base_name, ad.rename, ad.create_time, as_of, zone)
    status, toggled = _status_at(ad.pause, ad.create_time, as_of, zone)
    campaign_status, _ = _status_at(campaign.pause, campaign.create_time, as_of, zone)
    if _gone(ad.delete_time, now):
        status, secondary = "DISABLE", "AD_STATUS_DELETE"
    elif _gone(adgroup.delete_time, now):
        status, secondary = "DISABLE", "AD_STATUS_ADGROUP_DELETE"
    elif _gone(campaign.delete_time, now):
        status, secondary = "DISABLE", "AD_STATUS_CAMPAIGN_DELETE"
    elif status == "DISABLE":
        secondary = "AD_STATUS_DISABLE"
    elif campaign_status == "DISABLE":
        secondary = "AD_STATUS_CAMPAIGN_DISABLE"
    else:
        secondary = "AD_STATUS_DELIVERY_OK"
    row: dict[str, object] = {
        "advertiser_id": ad.advertiser_id,
        "campaign_id": ad.campaign_id,
        "campaign_name": campaign_name_at(campaign, now, zone),
        "adgroup_id": ad.adgroup_id,
        "adgroup_name": adgroup.base_name,
        "ad_id": ad.ad_id,
        "ad_name": name,
        "operation_status": status,
        "secondary_status": secondary,
        "ad_format": "SINGLE_VIDEO",
        "call_to_action": "DOWNLOAD" if ad.is_app else "SHOP_NOW",
        "landing_page_url": ad.landing_page_url,
        "create_time": format_time(ad.create_time),
        "campaign_automation_type": campaign.automation_type,
        # An Upgraded Smart+ campaign's rows are creatives; ad_id_v2 is the Smart+ ad grouping them (UNCONFIRMED
        # that /ad/get/ lists creatives so; FACTS.md section 14). A manual ad is its own ad_id_v2 (UNCONFIRMED).
        "ad_id_v2": smart_plus_ad_id(adgroup) if campaign.is_upgraded_smart_plus else ad.ad_id,
    }
    if ad.has_modify_time:
        gone = _gone(deleted, now)
        row["modify_time"] = format_time(_latest(ad.create_time, renamed, toggled, deleted if gone else None))
    return row


def smart_plus_ad_id(adgroup: AdgroupSpec) -> str:
    """The id of the one Upgraded Smart+ ad (asset group) of an ad group: a 19-digit id derived from the ad group's."""
    return str(int(adgroup.adgroup_id) % 10**17 + 18 * 10**17)


def is_deleted(row: dict[str, object]) -> bool:
    """Whether an entity row (as rendered above) is of a deleted campaign, ad group or ad."""
    return str(row.get("secondary_status", "")).endswith("_DELETE")
