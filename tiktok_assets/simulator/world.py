"""A deterministic synthetic TikTok Ads world: advertisers, entities and hourly stats from a seed.

Pure (numpy/pandas, no HTTP): the simulator's HTTP layer serves from
:meth:`World.report_frame` and the entity methods, and tests use the same
methods as ground truth, so what the API says and what tests expect cannot
drift apart.

Faithful quirks, on purpose:

* **Time zones.** Report rows (and start/end dates) are dated in the fixed
  offset of the advertiser's ``timezone`` (``Etc/GMT+8`` = UTC-8 all year),
  never in ``display_timezone``: TikTok ad accounts have no DST, so every day
  has 24 hours (tiktok_assets_tests/contract/FACTS.md section 5, lead decision 2).
* **No hourly data for one advertiser.** The GBP advertiser (the fourth) has
  daily data but its hourly report is an empty list, as TikTok serves for some
  accounts.
* **No delivery, no row.** Hours (and days) with no impressions have no row:
  before an ad was created, while it or its campaign is paused, quiet nights.
* **Revisions.** What is served for local day D depends on ``now``. With
  age = whole local days since D ended (-1 while D is running), D is final
  once age >= ``settle_days``. Before that conversions, installs, purchases
  and purchase value are late (a share of final that rises with age), and for
  some (ad, day) pairs spend/impressions/clicks are a few percent high for the
  first two days (invalid-traffic removal). Values change only when age
  changes, so two pulls on the same simulated day are identical; only hours
  that ended before ``now`` are served. ``settle_days=0`` disables revisions.
* **Roll-ups.** Ad group, campaign and advertiser rows are exact sums of their
  ads, and a day is the exact sum of its hours (money in integer minor units
  until formatting). Reach is the exception: it is not additive, so higher
  levels deduplicate it (see :func:`stats.rolled_up_reach`), and hourly reach
  is "-".
* **Entities change.** Some ads and campaigns get renamed or paused at
  deterministic moments, about one ad in seven launches after ``epoch``
  (and does not exist before), and some ads have no ``modify_time``.
* **Deletions.** Some campaigns, ad groups and ads are deleted at
  deterministic moments: no delivery from the deletion hour on (for
  everything under a deleted parent too), and the rows from before stay in
  the ground truth. Which rows a report *serves* depends on status filters:
  :meth:`World.deleted_masks` says which entities were gone at ``now``.
* **Two revenues.** Web ads earn ``complete_payment`` (count) and
  ``total_complete_payment_rate`` (value), app ads ``purchase`` and
  ``total_purchase_value``; neither kind ever has the other's.
* **Reservation buying.** ``reservation_campaigns`` Reach & Frequency
  campaigns are listed with the other entities, but their stats are a
  separate book: never in AUCTION ad, ad group or campaign rows (our
  assumption, UNCONFIRMED), always in AUCTION_ADVERTISER rows (TikTok
  documents the advertiser level as the whole account), and alone in
  ``report_frame(..., service_type="RESERVATION")`` (TikTok's deprecated
  RESERVATION reports).
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

import numpy as np
import pandas as pd

from tiktok_assets.simulator import engagement, stats
from tiktok_assets.simulator.gmv_max import GmvMaxBook
from tiktok_assets.simulator.entities import (
    AdgroupSpec,
    AdSpec,
    AdvertiserSpec,
    CampaignSpec,
    EntityTree,
    AUCTION,
    RESERVATION,
    ad_row,
    adgroup_row,
    build_entities,
    campaign_row,
    effective_delete_time,
    local_date,
    smart_plus_ad_id,
)

Granularity = Literal["day", "hour"]

DATA_LEVELS = ("AD", "ADGROUP", "CAMPAIGN", "ADVERTISER")
SERVICE_TYPES = (AUCTION, RESERVATION)
# The levels a status can be asked about (an advertiser is never deleted here).
STATUS_LEVELS = ("AD", "ADGROUP", "CAMPAIGN")
ID_DIMENSION = {"AD": "ad_id", "ADGROUP": "adgroup_id", "CAMPAIGN": "campaign_id", "ADVERTISER": "advertiser_id"}
TIME_DIMENSION = {"day": "stat_time_day", "hour": "stat_time_hour"}
COUNT_METRICS = ("impressions", "clicks", "conversion", "app_install", "complete_payment", "purchase")
MONEY_METRICS = ("spend", "total_complete_payment_rate", "total_purchase_value", "cpc", "cpm")
# Every metric the simulator serves, in the report frame's column order.
REPORT_METRICS = (
    "spend",
    "impressions",
    "clicks",
    "conversion",
    "app_install",
    "complete_payment",
    "total_complete_payment_rate",
    "purchase",
    "total_purchase_value",
    "reach",
    "ctr",
    "cpc",
    "cpm",
)
DEFAULT_EPOCH = date(2026, 1, 1)
_FRAME_CACHE_SIZE = 16


def normalise_data_level(data_level: str) -> str:
    """"AUCTION_AD", "RESERVATION_AD" or "AD" (any case) -> "AD"."""
    level = data_level.upper().removeprefix("AUCTION_").removeprefix("RESERVATION_")
    if level not in DATA_LEVELS:
        raise ValueError(f"Unknown data level {data_level!r}: use one of "
                         f"{', '.join('AUCTION_' + name for name in DATA_LEVELS)} (or RESERVATION_...)")
    return level


def _service(service_type: str) -> str:
    if service_type not in SERVICE_TYPES:
        raise ValueError(f"Unknown service_type {service_type!r}: use AUCTION or RESERVATION")
    return service_type


def _aware_utc(moment: datetime, what: str = "now") -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (e.g. datetime(..., tzinfo=UTC)), got naive {moment!r}")
    return moment.astimezone(UTC)


class _ByteBudgetCache:
    """LRU of numpy arrays bounded by total bytes; thread-safe (values are computed outside the lock)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get_or_compute(self, key: Hashable, compute: Callable[[], np.ndarray]) -> np.ndarray:
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None:
                self._entries.move_to_end(key)
                return cached
        value = compute()
        value.setflags(write=False)
        with self._lock:
            if key not in self._entries:
                self._entries[key] = value
                self._bytes += value.nbytes
                while self._bytes > self._max_bytes and len(self._entries) > 1:
                    _, evicted = self._entries.popitem(last=False)
                    self._bytes -= evicted.nbytes
        return value


@dataclass(frozen=True)
class _Book:
    """One buying type's ads of one advertiser (auction or reservation), as arrays for the stats."""

    service_type: str
    arrays: stats.AdArrays
    entity_ids: dict[str, np.ndarray]
    """Per data level, the ids of its rows in order (object arrays)."""
    group_starts: dict[str, np.ndarray]
    """Per data level above AD, the index of each group's first ad (ads are grouped contiguously)."""
    deleted_at: dict[str, np.ndarray]
    """Per status level, per ad: when the ad's entity at that level stopped existing (epoch seconds, inf never)."""
    ad_ancestors: dict[str, np.ndarray]
    """Per status level, per ad: the id of the ad's entity at that level (its own id at "AD")."""

    def starts(self, level: str) -> np.ndarray | None:
        return self.group_starts.get(level)


@dataclass(frozen=True)
class _AdvertiserWorld:
    spec: AdvertiserSpec
    campaigns: tuple[CampaignSpec, ...]
    adgroups: tuple[AdgroupSpec, ...]
    ads: tuple[AdSpec, ...]
    books: dict[str, _Book]


@dataclass(frozen=True)
class _DayPlan:
    day: date
    age: int
    hours_served: int

    def key(self) -> tuple[int, int, int]:
        return (self.day.toordinal(), self.age, self.hours_served)


class World:
    """Deterministic advertisers, entities and stats from ``seed``; see the module docstring."""

    def __init__(
        self,
        seed: int = 7,
        n_advertisers: int = 4,
        campaigns_per_advertiser: int = 3,
        adgroups_per_campaign: int = 2,
        ads_per_adgroup: int = 3,
        settle_days: int = 7,
        *,
        n_ads: int | None = None,
        epoch: date = DEFAULT_EPOCH,
        cache_megabytes: int = 256,
        reservation_campaigns: int | None = None,
        topview_campaigns: int | None = None,
        smart_plus_campaigns: int | None = None,
        gmv_max_advertisers: int | None = None,
    ) -> None:
        for name, value in (("n_advertisers", n_advertisers), ("campaigns_per_advertiser", campaigns_per_advertiser),
                            ("adgroups_per_campaign", adgroups_per_campaign), ("ads_per_adgroup", ads_per_adgroup)):
            if value < 1:
                raise ValueError(f"World({name}={value}): must be at least 1")
        if settle_days < 0:
            raise ValueError(f"World(settle_days={settle_days}): must be 0 (no revisions) or more")
        capacity = campaigns_per_advertiser * adgroups_per_campaign * ads_per_adgroup
        if n_ads is None:
            per_advertiser = [capacity] * n_advertisers
        else:
            if not n_advertisers <= n_ads <= capacity * n_advertisers:
                raise ValueError(
                    f"World(n_ads={n_ads}) needs between {n_advertisers} and {capacity * n_advertisers} ads for "
                    f"{n_advertisers} advertisers of {capacity} ads each; use World.sized(n_ads=...) instead"
                )
            base, extra = divmod(n_ads, n_advertisers)
            per_advertiser = [base + (1 if index < extra else 0) for index in range(n_advertisers)]
        self.seed = seed
        self.settle_days = settle_days
        self.epoch = epoch
        self._keys = stats.StreamKeys.for_seed(seed)
        if reservation_campaigns is None:
            # Only worlds with a few campaigns per advertiser get R&F ones: small test worlds stay auction-only.
            reservation_campaigns = 2 if campaigns_per_advertiser >= 3 else 0
        # Issue 17's buying kinds, few and only in the same worlds: one TopView buy, one Upgraded Smart+ campaign
        # (a flag on an existing web campaign), one advertiser with a TikTok Shop and GMV Max campaigns.
        kinds = 1 if campaigns_per_advertiser >= 3 else 0
        topview_campaigns = kinds if topview_campaigns is None else topview_campaigns
        smart_plus_campaigns = kinds if smart_plus_campaigns is None else smart_plus_campaigns
        gmv_max_advertisers = kinds if gmv_max_advertisers is None else gmv_max_advertisers
        for name, value in (("reservation_campaigns", reservation_campaigns), ("topview_campaigns", topview_campaigns),
                            ("smart_plus_campaigns", smart_plus_campaigns),
                            ("gmv_max_advertisers", gmv_max_advertisers)):
            if value < 0:
                raise ValueError(f"World({name}={value}): must be 0 or more")
        tree = build_entities(seed, per_advertiser, campaigns_per_advertiser, adgroups_per_campaign, ads_per_adgroup,
                              datetime.combine(epoch, time(0), tzinfo=UTC), reservation_campaigns,
                              topview_campaigns, smart_plus_campaigns)
        self._tree = tree
        self._advertisers = _index_tree(tree)
        self._final_cache = _ByteBudgetCache(cache_megabytes * 1024 * 1024 // 2)
        self._served_cache = _ByteBudgetCache(cache_megabytes * 1024 * 1024 // 2)
        self._frames: OrderedDict[Hashable, pd.DataFrame] = OrderedDict()
        self._frames_lock = threading.Lock()
        # (advertiser_id, service type, day ordinal) -> [(ad position, metric index, minor units)]: revise().
        self._revisions: dict[tuple[str, str, int], list[tuple[int, int, int]]] = {}
        # The same for the engagement counts: [(ad position, metric name, count)].
        self._extra_revisions: dict[tuple[str, str, int], list[tuple[int, str, int]]] = {}
        self.gmv_max = GmvMaxBook(seed, tree.advertisers, gmv_max_advertisers,
                                  datetime.combine(epoch, time(0), tzinfo=UTC), settle_days)
        """TikTok Shop stores and GMV Max campaigns (``simulator.gmv_max``), served by /gmv_max/... only."""

    @classmethod
    def sized(cls, n_ads: int = 1000, n_advertisers: int = 2, seed: int = 7, settle_days: int = 7,
              **kwargs: object) -> World:
        """A world with exactly ``n_ads`` ads over ``n_advertisers`` (20 ads per campaign), for benchmarks.

        No reservation, TopView, Smart+ or GMV Max campaigns unless asked for (they would add ads or requests).
        """
        for name in ("reservation_campaigns", "topview_campaigns", "smart_plus_campaigns", "gmv_max_advertisers"):
            kwargs.setdefault(name, 0)
        adgroups_per_campaign, ads_per_adgroup = 4, 5
        per_advertiser = math.ceil(n_ads / n_advertisers)
        campaigns = max(1, math.ceil(per_advertiser / (adgroups_per_campaign * ads_per_adgroup)))
        return cls(seed=seed, n_advertisers=n_advertisers, campaigns_per_advertiser=campaigns,
                   adgroups_per_campaign=adgroups_per_campaign, ads_per_adgroup=ads_per_adgroup,
                   settle_days=settle_days, n_ads=n_ads, **kwargs)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return (f"World(seed={self.seed}, advertisers={len(self._advertisers)}, ads={self.n_ads}, "
                f"settle_days={self.settle_days})")

    # -- entities -----------------------------------------------------------------------------

    @property
    def advertisers(self) -> list[dict[str, object]]:
        """The ``/advertiser/info/`` rows of every advertiser."""
        return [world.spec.info() for world in self._advertisers.values()]

    @property
    def advertiser_ids(self) -> list[str]:
        return list(self._advertisers)

    @property
    def n_ads(self) -> int:
        return sum(len(world.ads) for world in self._advertisers.values())

    def advertiser(self, advertiser_id: str) -> AdvertiserSpec:
        return self._world_of(advertiser_id).spec

    # Entity rows include deleted entities (their secondary_status says so): the ground truth. The API
    # hides them unless a status filter asks (endpoints.py).

    def campaigns(self, advertiser_id: str, now: datetime) -> list[dict[str, object]]:
        """``/campaign/get/`` rows as of ``now`` (campaigns created later do not exist yet), deleted ones too."""
        world, now = self._world_of(advertiser_id), _aware_utc(now)
        return [campaign_row(campaign, now, world.spec.zone) for campaign in world.campaigns
                if campaign.create_time <= now]

    def adgroups(self, advertiser_id: str, now: datetime) -> list[dict[str, object]]:
        world, now = self._world_of(advertiser_id), _aware_utc(now)
        campaigns = {campaign.campaign_id: campaign for campaign in world.campaigns}
        return [adgroup_row(adgroup, campaigns[adgroup.campaign_id], now, world.spec.zone)
                for adgroup in world.adgroups if adgroup.create_time <= now]

    def ads(self, advertiser_id: str, now: datetime) -> list[dict[str, object]]:
        world, now = self._world_of(advertiser_id), _aware_utc(now)
        campaigns = {campaign.campaign_id: campaign for campaign in world.campaigns}
        adgroups = {adgroup.adgroup_id: adgroup for adgroup in world.adgroups}
        return [ad_row(ad, campaigns[ad.campaign_id], adgroups[ad.adgroup_id], now, world.spec.zone)
                for ad in world.ads if ad.create_time <= now]

    def buying_types(self, advertiser_id: str) -> dict[str, str]:
        """campaign_id -> its /campaign/get/ buying type (AUCTION, RESERVATION_RF, RESERVATION_TOP_VIEW)."""
        return {campaign.campaign_id: campaign.buying_type for campaign in self._world_of(advertiser_id).campaigns}

    def smart_plus_campaign_ids(self, advertiser_id: str) -> list[str]:
        """Ids of the advertiser's Upgraded Smart+ campaigns."""
        return [campaign.campaign_id for campaign in self._world_of(advertiser_id).campaigns
                if campaign.is_upgraded_smart_plus]

    def ad_ids_v2(self, advertiser_id: str) -> dict[str, str]:
        """ad_id -> ad_id_v2: an Upgraded Smart+ creative's Smart+ ad, a manual ad's own id."""
        world = self._world_of(advertiser_id)
        smart = {campaign.campaign_id for campaign in world.campaigns if campaign.is_upgraded_smart_plus}
        adgroups = {adgroup.adgroup_id: adgroup for adgroup in world.adgroups}
        return {ad.ad_id: (smart_plus_ad_id(adgroups[ad.adgroup_id]) if ad.campaign_id in smart else ad.ad_id)
                for ad in world.ads}

    def automation_types(self, advertiser_id: str) -> dict[str, str]:
        """campaign_id -> campaign_automation_type."""
        return {campaign.campaign_id: campaign.automation_type for campaign in self._world_of(advertiser_id).campaigns}

    def reservation_campaign_ids(self, advertiser_id: str) -> list[str]:
        """Ids of the advertiser's campaigns bought by reservation (served only by RESERVATION reports)."""
        return [campaign.campaign_id for campaign in self._world_of(advertiser_id).campaigns
                if campaign.service_type == RESERVATION]

    def deletions(self, advertiser_id: str) -> list[tuple[str, str, datetime]]:
        """(level, id, deletion instant) of the advertiser's campaigns, ad groups and ads that get deleted, by time.

        The instant is when the entity itself was deleted; everything under it goes at the same moment.
        """
        world = self._world_of(advertiser_id)
        found = [(level, getattr(entity, f"{level.lower()}_id"), entity.delete_time)
                 for level, entities in (("CAMPAIGN", world.campaigns), ("ADGROUP", world.adgroups), ("AD", world.ads))
                 for entity in entities if entity.delete_time is not None]
        return sorted(found, key=lambda item: item[2])

    def delete(self, entity_id: str, at: datetime) -> None:
        """Delete a campaign, ad group or ad at ``at`` (replacing any deletion the seed gave it), for tests.

        From the hour of ``at`` on it (and everything under it) delivers nothing; its rows from before stay in the
        ground truth, and the API hides them unless a status filter asks.
        """
        at = _aware_utc(at, "at")
        entity_id = str(entity_id)
        tree = self._tree
        for name in ("campaigns", "adgroups", "ads"):
            entities = getattr(tree, name)
            key = f"{name[:-1]}_id"
            if any(getattr(entity, key) == entity_id for entity in entities):
                replaced = tuple(dataclasses.replace(entity, delete_time=at) if getattr(entity, key) == entity_id
                                 else entity for entity in entities)
                self._tree = dataclasses.replace(tree, **{name: replaced})
                break
        else:
            raise KeyError(f"No campaign, ad group or ad {entity_id} in this world (seed {self.seed})")
        self._advertisers = _index_tree(self._tree)
        # Every cached value may hold the entity's delivery: start afresh (a test-only path, not a hot one).
        self._final_cache = _ByteBudgetCache(self._final_cache.max_bytes)
        self._served_cache = _ByteBudgetCache(self._served_cache.max_bytes)
        with self._frames_lock:
            self._frames.clear()

    def revise(self, ad_id: str, day: date, metric: str, delta: float) -> None:
        """From now on serve ``ad_id``'s ``metric`` on local ``day`` moved by ``delta``, for tests.

        Stands for a correction TikTok makes to one ad's figures of one day (on
        top of the seeded revisions), at any age, settled days included. Money
        in the currency's units (``delta`` 1.5 is 1.50 USD), counts as counts;
        the change lands in the ad's busiest hour of the day, so hourly rows
        still add up to the daily one. ``metric`` is a name of ``stats.METRICS`` or of ``engagement.EXTRA_COUNTS``;
        a value never goes below 0. Revisions add up.
        """
        if metric not in stats.METRICS and metric not in engagement.EXTRA_COUNTS:
            raise ValueError(f"revise(metric={metric!r}): one of {', '.join(stats.METRICS)} or "
                             f"{', '.join(engagement.EXTRA_COUNTS)}")
        ad_id = str(ad_id)
        for advertiser_id, world in self._advertisers.items():
            for book in world.books.values():
                found = np.flatnonzero(book.entity_ids["AD"] == ad_id)
                if len(found):
                    key = (advertiser_id, book.service_type, day.toordinal())
                    if metric in engagement.EXTRA_COUNTS:
                        # An engagement count alone moves (its funnel parents do not): a test's correction.
                        self._extra_revisions.setdefault(key, []).append((int(found[0]), metric, int(round(delta))))
                    else:
                        index = stats.METRICS.index(metric)
                        money = index in (stats.SPEND, stats.PURCHASE_VALUE, stats.APP_PURCHASE_VALUE)
                        minor = round(delta * 10 ** world.spec.currency_decimals) if money else round(delta)
                        self._revisions.setdefault(key, []).append((int(found[0]), index, int(minor)))
                    # Cached values may hold the day: start afresh (a test-only path, not a hot one).
                    self._final_cache = _ByteBudgetCache(self._final_cache.max_bytes)
                    self._served_cache = _ByteBudgetCache(self._served_cache.max_bytes)
                    with self._frames_lock:
                        self._frames.clear()
                    return
        raise KeyError(f"No ad {ad_id} in this world (seed {self.seed})")

    def _world_of(self, advertiser_id: str) -> _AdvertiserWorld:
        try:
            return self._advertisers[str(advertiser_id)]
        except KeyError:
            raise KeyError(f"Advertiser {advertiser_id} is not in this world (seed {self.seed}); "
                           f"its advertisers are {', '.join(self._advertisers)}") from None

    # -- stats --------------------------------------------------------------------------------

    def age_of(self, advertiser_id: str, day: date, now: datetime) -> int:
        """Whole local days since ``day`` ended at ``now`` (-1 while it runs, less when still ahead)."""
        today = local_date(_aware_utc(now), self._world_of(advertiser_id).spec.zone)
        return (today - day).days - 1

    def is_final(self, advertiser_id: str, day: date, now: datetime) -> bool:
        """Whether ``day``'s served values are final (will not be revised any more) at ``now``."""
        return stats.is_final(self.age_of(advertiser_id, day, now), self.settle_days)

    def report_frame(
        self,
        advertiser_id: str,
        data_level: str,
        granularity: Granularity,
        start: date,
        end: date,
        now: datetime,
        *,
        service_type: str = AUCTION,
        hide_deleted: bool = False,
    ) -> pd.DataFrame:
        """The rows the BASIC report has for [start, end] at ``now``, typed.

        Columns: the level's id dimension (``ad_id``...), ``stat_time`` (naive
        local Timestamp), then :data:`REPORT_METRICS` — counts as int64, money
        as floats with the currency's decimals, NaN where the API serves "-".
        Rows are ordered by stat_time, then id. Deleted entities' rows (from
        before their deletion) are included unless ``hide_deleted``, which
        drops the rows of entities of this level that were gone at ``now``:
        what TikTok serves when no status filter asks for them.
        """
        visible = None
        if hide_deleted and normalise_data_level(data_level) in STATUS_LEVELS:
            level = normalise_data_level(data_level)
            visible = ~self.deleted_masks(advertiser_id, level, now, service_type=service_type)[level]
        return self.cached_report_frame(advertiser_id, data_level, granularity, start, end, now,
                                        service_type=service_type, visible=visible).copy()

    def cached_report_frame(self, advertiser_id: str, data_level: str, granularity: Granularity, start: date,
                            end: date, now: datetime, *, service_type: str = AUCTION,
                            visible: np.ndarray | None = None, extras: bool = False) -> pd.DataFrame:
        """:meth:`report_frame` without the defensive copy: callers must not modify the result.

        ``visible``: per entity of the level (in :meth:`deleted_masks` order), whether its rows are served.
        ``extras``: add the video, engagement and page-event counts of ``engagement.EXTRA_COUNTS`` as columns
        (same rows; computed only when a report asks for one of them).
        """
        level = normalise_data_level(data_level)
        if granularity not in TIME_DIMENSION:
            raise ValueError(f"granularity must be 'day' or 'hour', got {granularity!r}")
        if end < start:
            raise ValueError(f"end date {end} is before start date {start}")
        world, now = self._world_of(advertiser_id), _aware_utc(now)
        book = world.books[_service(service_type)]
        if granularity == "hour" and not world.spec.has_hourly:
            return _empty_frame(ID_DIMENSION[level])
        plans = self._plans(world, start, end, now)
        key: tuple[Hashable, ...] = (world.spec.advertiser_id, book.service_type, level, granularity,
                                     tuple(plan.key() for plan in plans), extras)
        whole = self._cached(key, lambda: self._build_frame(world, book, level, granularity, plans, extras))
        frame, positions = whole
        if visible is None or visible.all():
            return frame
        if len(visible) != len(book.entity_ids[level]):
            raise ValueError(f"visible has {len(visible)} flags for {len(book.entity_ids[level])} {level} entities")
        shown = self._cached((*key, np.packbits(visible).tobytes()),
                             lambda: (frame[visible[positions]].reset_index(drop=True), positions[visible[positions]]))
        return shown[0]

    def _cached(self, key: Hashable, build: Callable[[], tuple[pd.DataFrame, np.ndarray]]
                ) -> tuple[pd.DataFrame, np.ndarray]:
        with self._frames_lock:
            found = self._frames.get(key)
            if found is not None:
                self._frames.move_to_end(key)
                return found
        built = build()
        with self._frames_lock:
            self._frames[key] = built
            while len(self._frames) > _FRAME_CACHE_SIZE:
                self._frames.popitem(last=False)
        return built

    def deleted_masks(self, advertiser_id: str, data_level: str, now: datetime, *,
                      service_type: str = AUCTION) -> dict[str, np.ndarray]:
        """For the entities of ``data_level`` (in report order), whether each was gone at ``now``.

        Keyed by status level at or above ``data_level`` ("AD", "ADGROUP", "CAMPAIGN"): for ads, "AD" is
        whether the ad was gone (deleted itself or with its ad group or campaign), "CAMPAIGN" whether its
        campaign was. The advertiser level has no statuses (empty dict).
        """
        level = normalise_data_level(data_level)
        book = self._world_of(advertiser_id).books[_service(service_type)]
        moment = _aware_utc(now).timestamp()
        starts = book.starts(level)
        masks = {}
        for status_level in STATUS_LEVELS[STATUS_LEVELS.index(level):] if level in STATUS_LEVELS else ():
            per_ad = book.deleted_at[status_level] <= moment
            masks[status_level] = per_ad if starts is None else per_ad[starts]
        return masks

    def entity_ids(self, advertiser_id: str, data_level: str, *, service_type: str = AUCTION
                   ) -> dict[str, np.ndarray]:
        """For the entities of ``data_level`` (in report order): their own ids and their ancestors', by level."""
        level = normalise_data_level(data_level)
        book = self._world_of(advertiser_id).books[_service(service_type)]
        starts = book.starts(level)
        return {status_level: (ids if starts is None else ids[starts])
                for status_level, ids in book.ad_ancestors.items()
                if level not in STATUS_LEVELS or STATUS_LEVELS.index(status_level) >= STATUS_LEVELS.index(level)}

    def count_report_rows_upper_bound(self, advertiser_id: str, data_level: str, granularity: Granularity,
                                      start: date, end: date, *, service_type: str = AUCTION) -> int:
        """Rows a report could at most have (entities × days, × 24 hourly): TikTok's "too large" test."""
        book = self._world_of(advertiser_id).books[_service(service_type)]
        entities = len(book.entity_ids[normalise_data_level(data_level)])
        return entities * ((end - start).days + 1) * (24 if granularity == "hour" else 1)

    def _plans(self, world: _AdvertiserWorld, start: date, end: date, now: datetime) -> list[_DayPlan]:
        today = local_date(now, world.spec.zone)
        plans = []
        day = start
        while day <= end:
            age = (today - day).days - 1
            if age < -1:
                break
            hours = stats.day_hours(world.spec.report_timezone, day)
            served = hours.n_hours if age >= 0 else hours.hours_ended_by(now)
            if served:
                # Ages past the settle window all serve the final values: one cache entry.
                plans.append(_DayPlan(day, min(age, self.settle_days), served))
            day += timedelta(days=1)
        return plans

    def _served(self, world: _AdvertiserWorld, book: _Book, plan: _DayPlan) -> np.ndarray:
        hours = stats.day_hours(world.spec.report_timezone, plan.day)
        advertiser_id = world.spec.advertiser_id

        def final() -> np.ndarray:
            return stats.final_day(book.arrays, self._keys, hours)

        def served() -> np.ndarray:
            final_values = self._final_cache.get_or_compute((advertiser_id, book.service_type, plan.day.toordinal()),
                                                            final)
            dense = stats.served_day(final_values, book.arrays, self._keys, hours, age=plan.age,
                                     settle_days=self.settle_days, hours_served=plan.hours_served)
            revisions = self._revisions.get((advertiser_id, book.service_type, plan.day.toordinal()), [])
            if revisions:
                dense = dense.copy()
            for ad, metric, minor in revisions:
                busiest = int(np.argmax(dense[stats.IMPRESSIONS, :, ad]))
                dense[metric, busiest, ad] = max(0, dense[metric, busiest, ad] + minor)
            return dense

        return self._served_cache.get_or_compute((advertiser_id, book.service_type, *plan.key()), served)

    def _extras(self, world: _AdvertiserWorld, book: _Book, plan: _DayPlan, dense: np.ndarray) -> np.ndarray:
        revisions = self._extra_revisions.get((world.spec.advertiser_id, book.service_type, plan.day.toordinal()), [])
        return engagement.served_extras(dense, book.arrays, self.seed, plan.day.toordinal(), age=plan.age,
                                        settle_days=self.settle_days, revisions=revisions)

    def _build_frame(self, world: _AdvertiserWorld, book: _Book, level: str, granularity: Granularity,
                     plans: Sequence[_DayPlan], extras: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
        extra_values: list[np.ndarray] = []
        entity_index: list[np.ndarray] = []
        stat_times: list[np.ndarray] = []
        values: list[np.ndarray] = []
        reach: list[np.ndarray] = []
        starts = book.starts(level)
        id_column = ID_DIMENSION[level]
        # AUCTION_ADVERTISER is the whole account: TikTok adds reservation delivery in
        # (tiktok_assets_tests/contract/FACTS.md section 6).
        books = [book]
        if level == "ADVERTISER" and book.service_type == AUCTION:
            books.append(world.books[RESERVATION])
        books = [each for each in books if each.arrays.n_ads]
        if not books:
            return _empty_frame(id_column), np.array([], dtype=np.int64)
        for plan in plans:
            parts = [self._served(world, each, plan) for each in books]
            dense = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=2)
            grouped = dense if starts is None else np.add.reduceat(dense, starts, axis=2)
            extra_grouped = None
            if extras:
                # Per ad and hour first, then summed as the core metrics are: the roll-ups stay exact sums.
                extra_parts = [self._extras(world, each, plan, part) for each, part in zip(books, parts, strict=True)]
                extra_dense = extra_parts[0] if len(extra_parts) == 1 else np.concatenate(extra_parts, axis=2)
                extra_grouped = extra_dense if starts is None else np.add.reduceat(extra_dense, starts, axis=2)
            midnight = np.datetime64(plan.day, "h")
            if granularity == "hour":
                slot, entity = np.nonzero(grouped[stats.IMPRESSIONS] > 0)
                values.append(grouped[:, slot, entity])
                if extra_grouped is not None:
                    extra_values.append(extra_grouped[:, slot, entity])
                stat_times.append(midnight + slot.astype("timedelta64[h]"))
            else:
                daily = grouped.sum(axis=1)
                (entity,) = np.nonzero(daily[stats.IMPRESSIONS] > 0)
                values.append(daily[:, entity])
                if extra_grouped is not None:
                    extra_values.append(extra_grouped.sum(axis=1)[:, entity])
                stat_times.append(np.full(len(entity), midnight))
                per_ad = np.concatenate([
                    stats.ad_reach(each.arrays, self._keys, plan.day.toordinal(), part[stats.IMPRESSIONS].sum(axis=0))
                    for each, part in zip(books, parts, strict=True)])
                level_reach = per_ad if starts is None else stats.rolled_up_reach(per_ad, starts)
                reach.append(level_reach[entity])
            entity_index.append(entity)
        if not entity_index or not sum(len(part) for part in entity_index):
            return _empty_frame(id_column), np.array([], dtype=np.int64)
        positions = np.concatenate(entity_index)
        merged = np.concatenate(values, axis=1)
        scale = 10.0 ** world.spec.currency_decimals
        decimals = world.spec.currency_decimals
        impressions = merged[stats.IMPRESSIONS]
        clicks = merged[stats.CLICKS]
        spend = merged[stats.SPEND] / scale
        with np.errstate(divide="ignore", invalid="ignore"):
            ctr = np.where(impressions > 0, np.round(clicks / impressions * 100.0, 2), np.nan)
            cpc = np.where(clicks > 0, np.round(spend / clicks, decimals), np.nan)
            cpm = np.where(impressions > 0, np.round(spend / impressions * 1000.0, decimals), np.nan)
        frame = pd.DataFrame({
            id_column: book.entity_ids[level][positions],
            "stat_time": np.concatenate(stat_times).astype("datetime64[ns]"),
            "spend": spend,
            "impressions": impressions,
            "clicks": clicks,
            "conversion": merged[stats.CONVERSION],
            "app_install": merged[stats.APP_INSTALL],
            "complete_payment": merged[stats.COMPLETE_PAYMENT],
            "total_complete_payment_rate": merged[stats.PURCHASE_VALUE] / scale,
            "purchase": merged[stats.PURCHASE],
            "total_purchase_value": merged[stats.APP_PURCHASE_VALUE] / scale,
            "reach": np.concatenate(reach).astype(np.float64) if reach else np.full(len(spend), np.nan),
            "ctr": ctr,
            "cpc": cpc,
            "cpm": cpm,
        })
        if extras:
            merged_extras = np.concatenate(extra_values, axis=1)
            for index, name in enumerate(engagement.EXTRA_COUNTS):
                frame[name] = merged_extras[index]
        positions.setflags(write=False)
        return frame, positions


def _empty_frame(id_column: str) -> pd.DataFrame:
    columns: dict[str, pd.Series] = {
        id_column: pd.Series([], dtype=object),
        "stat_time": pd.Series([], dtype="datetime64[ns]"),
    }
    for metric in REPORT_METRICS:
        columns[metric] = pd.Series([], dtype="int64" if metric in COUNT_METRICS else "float64")
    return pd.DataFrame(columns)


def _index_tree(tree: EntityTree) -> dict[str, _AdvertiserWorld]:
    worlds: dict[str, _AdvertiserWorld] = {}
    serial_of = {ad.ad_id: serial for serial, ad in enumerate(tree.ads)}
    for advertiser in tree.advertisers:
        advertiser_id = advertiser.advertiser_id
        campaigns = tuple(c for c in tree.campaigns if c.advertiser_id == advertiser_id)
        adgroups = tuple(g for g in tree.adgroups if g.advertiser_id == advertiser_id)
        ads = tuple(a for a in tree.ads if a.advertiser_id == advertiser_id)
        campaign_of = {c.campaign_id: c for c in campaigns}
        adgroup_of = {g.adgroup_id: g for g in adgroups}
        books = {
            service_type: _book(service_type, advertiser, [a for a in ads
                                                           if campaign_of[a.campaign_id].service_type == service_type],
                                campaign_of, adgroup_of, serial_of)
            for service_type in SERVICE_TYPES
        }
        worlds[advertiser_id] = _AdvertiserWorld(spec=advertiser, campaigns=campaigns, adgroups=adgroups, ads=ads,
                                                 books=books)
    return worlds


def _seconds(moment: datetime | None) -> float:
    return math.inf if moment is None else moment.timestamp()


def _book(service_type: str, advertiser: AdvertiserSpec, ads: list[AdSpec], campaign_of: dict[str, CampaignSpec],
          adgroup_of: dict[str, AdgroupSpec], serial_of: dict[str, int]) -> _Book:
    scale = 10.0 ** advertiser.currency_decimals
    no_pause = (1, 0, 0)

    def schedule(cycle: object) -> tuple[int, int, int]:
        return no_pause if cycle is None else (cycle.period_days, cycle.phase, cycle.length_days)  # type: ignore[attr-defined]

    gone = [effective_delete_time(a, adgroup_of[a.adgroup_id], campaign_of[a.campaign_id]) for a in ads]
    arrays = stats.AdArrays(
        serial=np.array([serial_of[a.ad_id] for a in ads], dtype=np.int64),
        first_hour=np.array([math.ceil(a.create_time.timestamp() / 3600) for a in ads], dtype=np.int64),
        end_hour=np.array([stats.NEVER if moment is None else int(moment.timestamp() // 3600) for moment in gone],
                          dtype=np.int64),
        daily_impressions=np.array([a.stats.daily_impressions for a in ads], dtype=np.float64),
        ctr=np.array([a.stats.ctr for a in ads], dtype=np.float64),
        cpm_minor=np.array([a.stats.cpm * scale for a in ads], dtype=np.float64),
        conversion_rate=np.array([a.stats.conversion_rate for a in ads], dtype=np.float64),
        purchase_rate=np.array([a.stats.purchase_rate for a in ads], dtype=np.float64),
        order_value_minor=np.array([a.stats.order_value * scale for a in ads], dtype=np.float64),
        is_app=np.array([a.is_app for a in ads], dtype=bool),
        ad_pause=np.array([schedule(a.pause) for a in ads], dtype=np.int64).reshape(-1, 3),
        campaign_pause=np.array([schedule(campaign_of[a.campaign_id].pause) for a in ads],
                                dtype=np.int64).reshape(-1, 3),
    )
    adgroup_ids = np.array([a.adgroup_id for a in ads], dtype=object)
    campaign_ids = np.array([a.campaign_id for a in ads], dtype=object)
    adgroup_starts = _run_starts(adgroup_ids)
    campaign_starts = _run_starts(campaign_ids)
    return _Book(
        service_type=service_type,
        arrays=arrays,
        entity_ids={
            "AD": np.array([a.ad_id for a in ads], dtype=object),
            "ADGROUP": adgroup_ids[adgroup_starts],
            "CAMPAIGN": campaign_ids[campaign_starts],
            "ADVERTISER": np.array([advertiser.advertiser_id], dtype=object),
        },
        group_starts={"ADGROUP": adgroup_starts, "CAMPAIGN": campaign_starts,
                      "ADVERTISER": np.array([0], dtype=np.int64)},
        ad_ancestors={"AD": np.array([a.ad_id for a in ads], dtype=object), "ADGROUP": adgroup_ids,
                      "CAMPAIGN": campaign_ids},
        deleted_at={
            "AD": np.array([_seconds(moment) for moment in gone], dtype=np.float64),
            "ADGROUP": np.array([_seconds(min(filter(None, (adgroup_of[a.adgroup_id].delete_time,
                                                             campaign_of[a.campaign_id].delete_time)),
                                              default=None)) for a in ads], dtype=np.float64),
            "CAMPAIGN": np.array([_seconds(campaign_of[a.campaign_id].delete_time) for a in ads], dtype=np.float64),
        },
    )


def _run_starts(ids: np.ndarray) -> np.ndarray:
    """Index where each run of equal consecutive ids starts."""
    if len(ids) == 0:
        return np.array([], dtype=np.int64)
    change = np.ones(len(ids), dtype=bool)
    change[1:] = ids[1:] != ids[:-1]
    return np.flatnonzero(change)
