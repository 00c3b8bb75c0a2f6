"""A deterministic synthetic TikTok Ads world: advertisers, entities and hourly stats from a seed.

Pure (numpy/pandas, no HTTP): the simulator's HTTP layer serves from
:meth:`World.report_frame` and the entity methods, and tests use the same
methods as ground truth, so what the API says and what tests expect cannot
drift apart.

Faithful quirks, on purpose:

* **Time zones.** Report rows are dated in the advertiser's
  ``display_timezone`` (IANA, with DST). On the autumn fall-back day the
  repeated local hour is served as **one** row holding both instances; on the
  spring-forward day the missing local hour simply has no row.
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
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

import numpy as np
import pandas as pd

from tiktok_assets.simulator import stats
from tiktok_assets.simulator.entities import (
    AdgroupSpec,
    AdSpec,
    AdvertiserSpec,
    CampaignSpec,
    EntityTree,
    ad_row,
    adgroup_row,
    build_entities,
    campaign_row,
    local_date,
)

Granularity = Literal["day", "hour"]

DATA_LEVELS = ("AD", "ADGROUP", "CAMPAIGN", "ADVERTISER")
ID_DIMENSION = {"AD": "ad_id", "ADGROUP": "adgroup_id", "CAMPAIGN": "campaign_id", "ADVERTISER": "advertiser_id"}
TIME_DIMENSION = {"day": "stat_time_day", "hour": "stat_time_hour"}
COUNT_METRICS = ("impressions", "clicks", "conversion", "app_install", "complete_payment")
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
    "total_purchase_value",
    "reach",
    "ctr",
    "cpc",
    "cpm",
)
DEFAULT_EPOCH = date(2026, 1, 1)
_FRAME_CACHE_SIZE = 16


def normalise_data_level(data_level: str) -> str:
    """"AUCTION_AD" or "AD" (any case) -> "AD"."""
    level = data_level.upper().removeprefix("AUCTION_")
    if level not in DATA_LEVELS:
        raise ValueError(f"Unknown data level {data_level!r}: use one of "
                         f"{', '.join('AUCTION_' + name for name in DATA_LEVELS)}")
    return level


def _aware_utc(moment: datetime, what: str = "now") -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (e.g. datetime(..., tzinfo=UTC)), got naive {moment!r}")
    return moment.astimezone(UTC)


class _ByteBudgetCache:
    """LRU of numpy arrays bounded by total bytes; thread-safe (values are computed outside the lock)."""

    def __init__(self, max_bytes: int) -> None:
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
class _AdvertiserWorld:
    spec: AdvertiserSpec
    campaigns: tuple[CampaignSpec, ...]
    adgroups: tuple[AdgroupSpec, ...]
    ads: tuple[AdSpec, ...]
    arrays: stats.AdArrays
    entity_ids: dict[str, np.ndarray]
    """Per data level, the ids of its rows in order (object arrays)."""
    group_starts: dict[str, np.ndarray]
    """Per data level above AD, the index of each group's first ad (ads are grouped contiguously)."""


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
        tree = build_entities(seed, per_advertiser, campaigns_per_advertiser, adgroups_per_campaign, ads_per_adgroup,
                              datetime.combine(epoch, time(0), tzinfo=UTC))
        self._advertisers = _index_tree(tree)
        self._final_cache = _ByteBudgetCache(cache_megabytes * 1024 * 1024 // 2)
        self._served_cache = _ByteBudgetCache(cache_megabytes * 1024 * 1024 // 2)
        self._frames: OrderedDict[Hashable, pd.DataFrame] = OrderedDict()
        self._frames_lock = threading.Lock()

    @classmethod
    def sized(cls, n_ads: int = 1000, n_advertisers: int = 2, seed: int = 7, settle_days: int = 7,
              **kwargs: object) -> World:
        """A world with exactly ``n_ads`` ads over ``n_advertisers`` (20 ads per campaign), for benchmarks."""
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

    def campaigns(self, advertiser_id: str, now: datetime) -> list[dict[str, object]]:
        """``/campaign/get/`` rows as of ``now`` (campaigns created later do not exist yet)."""
        world, now = self._world_of(advertiser_id), _aware_utc(now)
        return [campaign_row(campaign, now, world.spec.zone) for campaign in world.campaigns
                if campaign.create_time <= now]

    def adgroups(self, advertiser_id: str, now: datetime) -> list[dict[str, object]]:
        world, now = self._world_of(advertiser_id), _aware_utc(now)
        return [adgroup_row(adgroup, now) for adgroup in world.adgroups if adgroup.create_time <= now]

    def ads(self, advertiser_id: str, now: datetime) -> list[dict[str, object]]:
        world, now = self._world_of(advertiser_id), _aware_utc(now)
        campaigns = {campaign.campaign_id: campaign for campaign in world.campaigns}
        adgroups = {adgroup.adgroup_id: adgroup for adgroup in world.adgroups}
        return [ad_row(ad, campaigns[ad.campaign_id], adgroups[ad.adgroup_id], now, world.spec.zone)
                for ad in world.ads if ad.create_time <= now]

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
    ) -> pd.DataFrame:
        """The rows the BASIC report serves for [start, end] at ``now``, typed.

        Columns: the level's id dimension (``ad_id``...), ``stat_time`` (naive
        local Timestamp), then :data:`REPORT_METRICS` — counts as int64, money
        as floats with the currency's decimals, NaN where the API serves "-".
        Rows are ordered by stat_time, then id.
        """
        return self.cached_report_frame(advertiser_id, data_level, granularity, start, end, now).copy()

    def cached_report_frame(self, advertiser_id: str, data_level: str, granularity: Granularity, start: date,
                            end: date, now: datetime) -> pd.DataFrame:
        """:meth:`report_frame` without the defensive copy: callers must not modify the result."""
        level = normalise_data_level(data_level)
        if granularity not in TIME_DIMENSION:
            raise ValueError(f"granularity must be 'day' or 'hour', got {granularity!r}")
        if end < start:
            raise ValueError(f"end date {end} is before start date {start}")
        world, now = self._world_of(advertiser_id), _aware_utc(now)
        if granularity == "hour" and not world.spec.has_hourly:
            return _empty_frame(ID_DIMENSION[level])
        plans = self._plans(world, start, end, now)
        key = (world.spec.advertiser_id, level, granularity, tuple(plan.key() for plan in plans))
        with self._frames_lock:
            frame = self._frames.get(key)
            if frame is not None:
                self._frames.move_to_end(key)
                return frame
        frame = self._build_frame(world, level, granularity, plans)
        with self._frames_lock:
            self._frames[key] = frame
            while len(self._frames) > _FRAME_CACHE_SIZE:
                self._frames.popitem(last=False)
        return frame

    def count_report_rows_upper_bound(self, advertiser_id: str, data_level: str, granularity: Granularity,
                                      start: date, end: date) -> int:
        """Rows a report could at most have (entities × days, × 24 hourly): TikTok's "too large" test."""
        world = self._world_of(advertiser_id)
        entities = len(world.entity_ids[normalise_data_level(data_level)])
        return entities * ((end - start).days + 1) * (24 if granularity == "hour" else 1)

    def _plans(self, world: _AdvertiserWorld, start: date, end: date, now: datetime) -> list[_DayPlan]:
        today = local_date(now, world.spec.zone)
        plans = []
        day = start
        while day <= end:
            age = (today - day).days - 1
            if age < -1:
                break
            hours = stats.day_hours(world.spec.display_timezone, day)
            served = hours.n_hours if age >= 0 else hours.hours_ended_by(now)
            if served:
                # Ages past the settle window all serve the final values: one cache entry.
                plans.append(_DayPlan(day, min(age, self.settle_days), served))
            day += timedelta(days=1)
        return plans

    def _served(self, world: _AdvertiserWorld, plan: _DayPlan) -> np.ndarray:
        hours = stats.day_hours(world.spec.display_timezone, plan.day)
        advertiser_id = world.spec.advertiser_id

        def final() -> np.ndarray:
            return stats.final_day(world.arrays, self._keys, hours)

        def served() -> np.ndarray:
            final_values = self._final_cache.get_or_compute((advertiser_id, plan.day.toordinal()), final)
            return stats.served_day(final_values, world.arrays, self._keys, hours, age=plan.age,
                                    settle_days=self.settle_days, hours_served=plan.hours_served)

        return self._served_cache.get_or_compute((advertiser_id, *plan.key()), served)

    def _build_frame(self, world: _AdvertiserWorld, level: str, granularity: Granularity,
                     plans: Sequence[_DayPlan]) -> pd.DataFrame:
        entity_index: list[np.ndarray] = []
        stat_times: list[np.ndarray] = []
        values: list[np.ndarray] = []
        reach: list[np.ndarray] = []
        starts = world.group_starts.get(level)
        for plan in plans:
            dense = self._served(world, plan)
            grouped = dense if starts is None else np.add.reduceat(dense, starts, axis=2)
            midnight = np.datetime64(plan.day, "h")
            if granularity == "hour":
                slot, entity = np.nonzero(grouped[stats.IMPRESSIONS] > 0)
                values.append(grouped[:, slot, entity])
                stat_times.append(midnight + slot.astype("timedelta64[h]"))
            else:
                daily = grouped.sum(axis=1)
                (entity,) = np.nonzero(daily[stats.IMPRESSIONS] > 0)
                values.append(daily[:, entity])
                stat_times.append(np.full(len(entity), midnight))
                per_ad = stats.ad_reach(world.arrays, self._keys, plan.day.toordinal(),
                                        dense[stats.IMPRESSIONS].sum(axis=0))
                level_reach = per_ad if starts is None else stats.rolled_up_reach(per_ad, starts)
                reach.append(level_reach[entity])
            entity_index.append(entity)
        id_column = ID_DIMENSION[level]
        if not entity_index or not sum(len(part) for part in entity_index):
            return _empty_frame(id_column)
        merged = np.concatenate(values, axis=1)
        scale = 10.0 ** world.spec.currency_decimals
        decimals = world.spec.currency_decimals
        impressions = merged[stats.IMPRESSIONS]
        clicks = merged[stats.CLICKS]
        spend = merged[stats.SPEND] / scale
        purchase_value = merged[stats.PURCHASE_VALUE] / scale
        with np.errstate(divide="ignore", invalid="ignore"):
            ctr = np.where(impressions > 0, np.round(clicks / impressions * 100.0, 2), np.nan)
            cpc = np.where(clicks > 0, np.round(spend / clicks, decimals), np.nan)
            cpm = np.where(impressions > 0, np.round(spend / impressions * 1000.0, decimals), np.nan)
        frame = pd.DataFrame({
            id_column: world.entity_ids[level][np.concatenate(entity_index)],
            "stat_time": np.concatenate(stat_times).astype("datetime64[ns]"),
            "spend": spend,
            "impressions": impressions,
            "clicks": clicks,
            "conversion": merged[stats.CONVERSION],
            "app_install": merged[stats.APP_INSTALL],
            "complete_payment": merged[stats.COMPLETE_PAYMENT],
            "total_complete_payment_rate": purchase_value,
            "total_purchase_value": purchase_value.copy(),
            "reach": np.concatenate(reach).astype(np.float64) if reach else np.full(len(spend), np.nan),
            "ctr": ctr,
            "cpc": cpc,
            "cpm": cpm,
        })
        return frame


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
        scale = 10.0 ** advertiser.currency_decimals
        no_pause = (1, 0, 0)

        def schedule(cycle: object) -> tuple[int, int, int]:
            return no_pause if cycle is None else (cycle.period_days, cycle.phase, cycle.length_days)  # type: ignore[attr-defined]

        arrays = stats.AdArrays(
            serial=np.array([serial_of[a.ad_id] for a in ads], dtype=np.int64),
            first_hour=np.array([math.ceil(a.create_time.timestamp() / 3600) for a in ads], dtype=np.int64),
            daily_impressions=np.array([a.stats.daily_impressions for a in ads]),
            ctr=np.array([a.stats.ctr for a in ads]),
            cpm_minor=np.array([a.stats.cpm * scale for a in ads]),
            conversion_rate=np.array([a.stats.conversion_rate for a in ads]),
            purchase_rate=np.array([a.stats.purchase_rate for a in ads]),
            order_value_minor=np.array([a.stats.order_value * scale for a in ads]),
            is_app=np.array([a.is_app for a in ads], dtype=bool),
            ad_pause=np.array([schedule(a.pause) for a in ads], dtype=np.int64).reshape(-1, 3),
            campaign_pause=np.array([schedule(campaign_of[a.campaign_id].pause) for a in ads],
                                    dtype=np.int64).reshape(-1, 3),
        )
        adgroup_ids = np.array([a.adgroup_id for a in ads], dtype=object)
        campaign_ids = np.array([a.campaign_id for a in ads], dtype=object)
        adgroup_starts = _run_starts(adgroup_ids)
        campaign_starts = _run_starts(campaign_ids)
        worlds[advertiser_id] = _AdvertiserWorld(
            spec=advertiser,
            campaigns=campaigns,
            adgroups=adgroups,
            ads=ads,
            arrays=arrays,
            entity_ids={
                "AD": np.array([a.ad_id for a in ads], dtype=object),
                "ADGROUP": adgroup_ids[adgroup_starts],
                "CAMPAIGN": campaign_ids[campaign_starts],
                "ADVERTISER": np.array([advertiser_id], dtype=object),
            },
            group_starts={"ADGROUP": adgroup_starts, "CAMPAIGN": campaign_starts,
                          "ADVERTISER": np.array([0], dtype=np.int64)},
        )
    return worlds


def _run_starts(ids: np.ndarray) -> np.ndarray:
    """Index where each run of equal consecutive ids starts."""
    if len(ids) == 0:
        return np.array([], dtype=np.int64)
    change = np.ones(len(ids), dtype=bool)
    change[1:] = ids[1:] != ids[:-1]
    return np.flatnonzero(change)
