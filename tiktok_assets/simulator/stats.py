"""Hourly ad stats: the final values, and what TikTok serves at a given age (revisions).

Final values are drawn per (ad, UTC hour) from counter-based hashes keyed by
the world seed, so any day is computed directly and identically every time.
Money is kept in integer minor units (cents, or whole yen) until the very end,
so hourly rows add up to daily rows to the cent.

Arrays are shaped ``(metric, ad, hour)`` for final values and
``(metric, local hour slot, ad)`` once served; the metric axis follows
:data:`METRICS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

import numpy as np

from tiktok_assets.simulator import counters
from tiktok_assets.simulator.entities import local_midnight, zone_info

# complete_payment/purchase_value are the web Complete Payment; purchase/app_purchase_value the in-app purchases.
METRICS = ("spend", "impressions", "clicks", "conversion", "app_install", "complete_payment", "purchase_value",
           "purchase", "app_purchase_value")
(SPEND, IMPRESSIONS, CLICKS, CONVERSION, APP_INSTALL, COMPLETE_PAYMENT, PURCHASE_VALUE, PURCHASE,
 APP_PURCHASE_VALUE) = range(len(METRICS))
# Late-arriving counts, and the value that follows each.
LATE_COUNTS = ((COMPLETE_PAYMENT, PURCHASE_VALUE), (PURCHASE, APP_PURCHASE_VALUE))
NEVER = np.iinfo(np.int64).max
HOURS_PER_DAY_SLOTS = 24
# Invalid-traffic corrections (spend/impressions/clicks) are settled this many days after the day ends.
CORRECTION_DAYS = 2

# Share of an ad's daily impressions by local hour: quiet at night, peak in the evening.
_DIURNAL_WEIGHTS = np.array([0.9, 0.6, 0.4, 0.3, 0.3, 0.4, 0.8, 1.5, 2.2, 2.8, 3.2, 3.5,
                             3.8, 3.7, 3.6, 3.8, 4.2, 4.8, 5.6, 6.4, 6.8, 6.2, 4.4, 2.4])
DIURNAL_SHARE = _DIURNAL_WEIGHTS / _DIURNAL_WEIGHTS.sum()
# Monday..Sunday: weekends deliver a little more.
WEEKDAY_FACTOR = np.array([0.95, 0.93, 0.96, 1.0, 1.05, 1.12, 1.09])


class Stream:
    """Stream numbers of the counter-based draws; one per independent quantity."""

    IMPRESSIONS_CLICKS = 1
    COST_CONVERSIONS = 2
    PURCHASES_VALUE = 3
    ROUNDING = 4
    DAY_LEVEL = 5
    CORRECTION_PICK = 6
    CORRECTION_SIZE = 7
    FREQUENCY = 8


@dataclass(frozen=True)
class DayHours:
    """The UTC hours making up one local day, and the local wall-clock hour of each."""

    day: date
    epoch_hours: np.ndarray
    """UTC hours since 1970-01-01 (23, 24 or 25 of them on DST days)."""
    slots: np.ndarray
    """Local hour of day (0..23) of each; the fall-back day repeats one."""

    @property
    def n_hours(self) -> int:
        return len(self.epoch_hours)

    @property
    def slots_unique(self) -> bool:
        return len(np.unique(self.slots)) == len(self.slots)

    def hours_ended_by(self, now: datetime) -> int:
        """How many of the day's hours had ended at ``now`` (only those are served)."""
        now_hours = now.timestamp() / 3600.0
        return int(np.count_nonzero(self.epoch_hours + 1 <= now_hours))


@lru_cache(maxsize=8192)
def day_hours(zone_name: str, day: date) -> DayHours:
    zone = zone_info(zone_name)
    start = local_midnight(day.toordinal(), zone)
    end = local_midnight(day.toordinal() + 1, zone)
    if start.timestamp() % 3600 or end.timestamp() % 3600:
        raise ValueError(f"Time zone {zone_name} has a non-whole-hour offset on {day}: the simulator needs whole hours")
    first = int(start.timestamp()) // 3600
    epoch_hours = first + np.arange(int((end - start).total_seconds()) // 3600, dtype=np.int64)
    slots = np.array([datetime.fromtimestamp(int(hour) * 3600, zone).hour for hour in epoch_hours], dtype=np.int64)
    epoch_hours.setflags(write=False)
    slots.setflags(write=False)
    return DayHours(day=day, epoch_hours=epoch_hours, slots=slots)


@dataclass(frozen=True)
class AdArrays:
    """One advertiser's ads as parallel arrays (entity order: by campaign, then ad group)."""

    serial: np.ndarray
    first_hour: np.ndarray
    """First UTC epoch hour the ad can deliver in (the hour after it was created)."""
    end_hour: np.ndarray
    """First UTC epoch hour it no longer delivers in (the hour it, its ad group or campaign was deleted; NEVER)."""
    daily_impressions: np.ndarray
    ctr: np.ndarray
    cpm_minor: np.ndarray
    conversion_rate: np.ndarray
    purchase_rate: np.ndarray
    order_value_minor: np.ndarray
    is_app: np.ndarray
    ad_pause: np.ndarray
    """(period, phase, length) rows; length 0 never pauses."""
    campaign_pause: np.ndarray

    @property
    def n_ads(self) -> int:
        return len(self.serial)

    def paused_on(self, day_ordinal: int) -> np.ndarray:
        """Ads with no delivery on this local day (the ad or its campaign is paused)."""
        paused = np.zeros(self.n_ads, dtype=bool)
        for schedule in (self.ad_pause, self.campaign_pause):
            period, phase, length = schedule[:, 0], schedule[:, 1], schedule[:, 2]
            paused |= (day_ordinal + phase) % period < length
        return paused


@dataclass(frozen=True)
class StreamKeys:
    impressions_clicks: np.uint64
    cost_conversions: np.uint64
    purchases_value: np.uint64
    rounding: np.uint64
    day_level: np.uint64
    correction_pick: np.uint64
    correction_size: np.uint64
    frequency: np.uint64

    @classmethod
    def for_seed(cls, seed: int) -> StreamKeys:
        return cls(
            impressions_clicks=counters.stream_key(seed, Stream.IMPRESSIONS_CLICKS),
            cost_conversions=counters.stream_key(seed, Stream.COST_CONVERSIONS),
            purchases_value=counters.stream_key(seed, Stream.PURCHASES_VALUE),
            rounding=counters.stream_key(seed, Stream.ROUNDING),
            day_level=counters.stream_key(seed, Stream.DAY_LEVEL),
            correction_pick=counters.stream_key(seed, Stream.CORRECTION_PICK),
            correction_size=counters.stream_key(seed, Stream.CORRECTION_SIZE),
            frequency=counters.stream_key(seed, Stream.FREQUENCY),
        )


def _binomial(trials: np.ndarray, probability: np.ndarray, z: np.ndarray) -> np.ndarray:
    # Normal approximation with rounding, clipped to [0, trials]: cheap, vectorised,
    # and deterministic given z (a true binomial draw would need a sequential RNG).
    mean = trials * probability
    draw = np.floor(mean + np.sqrt(mean * (1.0 - probability)) * z + 0.5)
    return np.clip(draw, 0.0, trials)


def final_day(ads: AdArrays, keys: StreamKeys, hours: DayHours) -> np.ndarray:
    """Final hourly values ``(metric, ad, hour)`` (int64) for one local day of one advertiser."""
    serial = ads.serial[:, None]
    epoch_hours = hours.epoch_hours[None, :]
    ordinal = hours.day.toordinal()
    z_impressions, z_clicks = counters.normal_pair(keys.impressions_clicks, serial, epoch_hours)
    z_cost, z_conversions = counters.normal_pair(keys.cost_conversions, serial, epoch_hours)
    z_purchases, z_value = counters.normal_pair(keys.purchases_value, serial, epoch_hours)
    rounding = counters.uniform(keys.rounding, serial, epoch_hours)
    z_day, _ = counters.normal_pair(keys.day_level, ads.serial, np.int64(ordinal))

    share = DIURNAL_SHARE[hours.slots] * WEEKDAY_FACTOR[hours.day.weekday()]
    day_factor = ads.daily_impressions * np.exp(0.2 * z_day - 0.02)
    expected = day_factor[:, None] * share[None, :] * np.exp(0.25 * z_impressions - 0.03125)
    delivering = ((epoch_hours >= ads.first_hour[:, None]) & (epoch_hours < ads.end_hour[:, None])
                  & ~ads.paused_on(ordinal)[:, None])
    impressions = np.where(delivering, np.floor(expected + rounding), 0.0)
    clicks = _binomial(impressions, ads.ctr[:, None], z_clicks)
    spend = np.floor(impressions * (ads.cpm_minor[:, None] / 1000.0) * np.exp(0.08 * z_cost) + 0.5)
    # App campaigns optimise for installs and count them as their conversions.
    conversions = _binomial(clicks, ads.conversion_rate[:, None], z_conversions)
    app = ads.is_app[:, None]
    installs = np.where(app, conversions, 0.0)
    # Web ads buy on the site (Complete Payment), app ads in the app (purchase): same draws, kept apart.
    buyers = _binomial(conversions, ads.purchase_rate[:, None], z_purchases)
    value = np.floor(buyers * ads.order_value_minor[:, None] * np.exp(0.35 * z_value - 0.06) + 0.5)
    web_buyers, web_value = np.where(app, 0.0, buyers), np.where(app, 0.0, value)
    app_buyers, app_value = np.where(app, buyers, 0.0), np.where(app, value, 0.0)
    return np.stack([spend, impressions, clicks, conversions, installs, web_buyers, web_value, app_buyers,
                     app_value]).astype(np.int64)


def maturity(age: int, settle_days: int) -> float:
    """Share of the final late-arriving conversions visible ``age`` days after the day ended.

    Age -1 is the day still running. Strictly below 1 until ``settle_days``, exactly 1 from then.
    """
    if settle_days <= 0 or age >= settle_days:
        return 1.0
    return 1.0 - 0.4 * (1.0 - (age + 1) / (settle_days + 1)) ** 1.5


def is_final(age: int, settle_days: int) -> bool:
    return settle_days <= 0 or age >= settle_days


def correction_excess(ads: AdArrays, keys: StreamKeys, day_ordinal: int) -> np.ndarray:
    """Per ad, the share of this day's delivery later removed as invalid traffic (0 for most ads)."""
    picked = counters.uniform(keys.correction_pick, ads.serial, np.int64(day_ordinal)) < 0.3
    size = 0.01 + 0.04 * counters.uniform(keys.correction_size, ads.serial, np.int64(day_ordinal))
    return np.where(picked, size, 0.0)


def served_day(final: np.ndarray, ads: AdArrays, keys: StreamKeys, hours: DayHours, *, age: int,
               settle_days: int, hours_served: int) -> np.ndarray:
    """What the API serves for the day at ``age``: ``(metric, local hour slot, ad)`` int64.

    Late conversions: conversion, app_install, complete_payment and purchase are
    the final values times :func:`maturity`, floored, so they only ever rise;
    each purchase value follows its purchases. Invalid-traffic corrections: for some (ad, day)
    pairs spend, impressions and clicks are served a few percent high for the
    first :data:`CORRECTION_DAYS` days, then corrected down to final.
    Invariants hold at every age: clicks ≤ impressions, conversion ≤ clicks,
    complete_payment ≤ conversion, purchase ≤ app_install.
    """
    values = final
    if hours_served < hours.n_hours:
        values = values.copy()
        values[:, :, hours_served:] = 0
    if not is_final(age, settle_days):
        base = values
        values = values.copy()
        share = maturity(age, settle_days)
        for metric in (CONVERSION, APP_INSTALL, COMPLETE_PAYMENT, PURCHASE):
            values[metric] = np.floor(base[metric] * share)
        for count, value in LATE_COUNTS:
            final_count = base[count]
            values[value] = np.where(
                final_count > 0,
                np.floor(base[value] * values[count] / np.maximum(final_count, 1) + 0.5),
                0,
            )
        correction_days = min(CORRECTION_DAYS, settle_days)
        if age < correction_days:
            weight = (correction_days - age) / (correction_days + 1)
            factor = 1.0 + correction_excess(ads, keys, hours.day.toordinal())[:, None] * weight
            for metric in (SPEND, IMPRESSIONS, CLICKS):
                values[metric] = np.floor(base[metric] * factor + 0.5)
            values[CLICKS] = np.minimum(values[CLICKS], values[IMPRESSIONS])
    dense = np.zeros((len(METRICS), HOURS_PER_DAY_SLOTS, ads.n_ads), dtype=np.int64)
    by_hour = values.transpose(0, 2, 1)
    if hours.slots_unique:
        dense[:, hours.slots, :] = by_hour
    else:
        # Fall-back day: the repeated local hour is one row holding both instances.
        np.add.at(dense, (slice(None), hours.slots), by_hour)
    return dense


def ad_reach(ads: AdArrays, keys: StreamKeys, day_ordinal: int, daily_impressions: np.ndarray) -> np.ndarray:
    """Daily unique reach per ad: impressions over a per-(ad, day) frequency of 1.05-1.8."""
    frequency = 1.05 + 0.75 * counters.uniform(keys.frequency, ads.serial, np.int64(day_ordinal))
    return np.where(daily_impressions > 0, np.maximum(1, np.floor(daily_impressions / frequency)), 0).astype(np.int64)


def rolled_up_reach(reach: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Reach of groups of ads: people see several ads, so the sum is deduplicated by 15%, never below the largest member."""
    total = np.add.reduceat(reach, starts)
    largest = np.maximum.reduceat(reach, starts)
    return np.maximum(largest, np.floor(total * 0.85).astype(np.int64))
