"""Video, engagement and page-event counts: served per (ad, local hour) from the world's own delivery.

Each modelled count is a share of a *parent* count of the same ad and hour (impressions, clicks, or another
modelled count), the share drawn once per (ad, metric) and the rounding per (ad, hour), so:

* a child never exceeds its parent in any cell, hence in any sum either: video_views_p100 <= p75 <= p50 <= p25
  <= video_watched_2s <= video_play_actions <= impressions (the order Airbyte's recorded row has, and what the
  names mean: FACTS.md section 13);
* every count is computed per ad and hour and then summed like the core metrics, so days are the sum of their
  hours and ad groups, campaigns and advertisers the sum of their ads;
* the counts follow what is served: when an invalid-traffic correction lowers a young day's impressions, its
  video plays drop with them (a revision), and the events that arrive late (registrations, leads, carts) rise
  with the day's age as conversions do (``stats.maturity``).

Pure numpy, no HTTP. Which metrics are modelled, and from what, is :data:`MODELLED`; the rest of the catalogue
is served as TikTok's "-" (``endpoints._column``).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tiktok_assets.simulator import counters, stats


@dataclass(frozen=True)
class Share:
    parent: str
    """``impressions``, ``clicks`` or a modelled metric listed before this one."""
    low: float
    high: float
    """The ad's share of its parent is drawn in [low, high] (at most 1: a child never exceeds its parent)."""
    late: bool = False
    """Attributed to the click, so it rises while the day matures (as conversions do)."""


# In dependency order: a parent comes before its children.
MODELLED: dict[str, Share] = {
    "video_play_actions": Share("impressions", 0.55, 0.92),
    "video_watched_2s": Share("video_play_actions", 0.10, 0.35),
    "video_watched_6s": Share("video_watched_2s", 0.15, 0.45),
    "video_views_p25": Share("video_watched_2s", 0.50, 0.85),
    "video_views_p50": Share("video_views_p25", 0.35, 0.60),
    "video_views_p75": Share("video_views_p50", 0.50, 0.80),
    "video_views_p100": Share("video_views_p75", 0.50, 0.80),
    "engaged_view": Share("video_watched_6s", 0.60, 1.00),
    "paid_engaged_view": Share("engaged_view", 0.80, 1.00),
    "engaged_view_15s": Share("engaged_view", 0.30, 0.60),
    "paid_engaged_view_15s": Share("engaged_view_15s", 0.80, 1.00),
    "likes": Share("impressions", 0.002, 0.012),
    "comments": Share("likes", 0.02, 0.10),
    "shares": Share("likes", 0.02, 0.12),
    "follows": Share("impressions", 0.0002, 0.0015),
    "profile_visits": Share("impressions", 0.0005, 0.004),
    "clicks_on_music_disc": Share("impressions", 0.0, 0.0008),
    "total_pageview": Share("clicks", 0.50, 0.95),
    "registration": Share("clicks", 0.0, 0.05, late=True),
    "sales_lead": Share("clicks", 0.0, 0.02, late=True),
    "web_event_add_to_cart": Share("clicks", 0.0, 0.08, late=True),
    "total_app_event_add_to_cart": Share("clicks", 0.0, 0.06, late=True),
}
# Sums of modelled and core counts, as TikTok's "engagements" counts every interaction with the ad.
SUMS: dict[str, tuple[str, ...]] = {
    "engagements": ("clicks", "likes", "comments", "shares", "follows", "profile_visits"),
}
EXTRA_COUNTS: tuple[str, ...] = (*MODELLED, *SUMS)
"""Every count this module serves, in the order :func:`served_extras` stacks them."""
_CORE = {"impressions": stats.IMPRESSIONS, "clicks": stats.CLICKS}
# Counter streams of the draws: far from ``stats.Stream``'s, one pair per metric.
_STREAM_BASE = 1000


def _stream(seed: int, metric: str, which: int) -> np.uint64:
    return counters.stream_key(seed, _STREAM_BASE + 2 * (zlib.crc32(metric.encode()) % 100_000) + which)


def served_extras(dense: np.ndarray, ads: stats.AdArrays, seed: int, day_ordinal: int, *, age: int,
                  settle_days: int,
                  revisions: Sequence[tuple[int, str, int]] = ()) -> np.ndarray:
    """``(len(EXTRA_COUNTS), local hour slot, ad)`` int64 counts from one day's served core values.

    ``dense`` is ``stats.served_day``'s array (core metrics by local hour slot and ad). ``revisions`` are
    ``World.revise`` corrections (ad position, metric, delta), added to the ad's busiest hour.
    """
    n_slots, n_ads = dense.shape[1], dense.shape[2]
    values: dict[str, np.ndarray] = {name: dense[index].astype(np.float64) for name, index in _CORE.items()}
    serial = ads.serial[None, :]
    cells = np.int64(day_ordinal) * 24 + np.arange(n_slots, dtype=np.int64)[:, None]
    maturity = stats.maturity(age, settle_days)
    for name, share in MODELLED.items():
        rate = share.low + (share.high - share.low) * counters.uniform(_stream(seed, name, 0), ads.serial,
                                                                       np.int64(0))
        if share.late:
            rate = rate * maturity
        rounding = counters.uniform(_stream(seed, name, 1), serial, cells)
        parent = values[share.parent]
        # floor(p * r + u) with r <= 1 and u < 1 never exceeds p: the funnel holds in every cell.
        values[name] = np.minimum(parent, np.floor(parent * rate[None, :] + rounding))
    for name, parts in SUMS.items():
        values[name] = sum((values[part] for part in parts), np.zeros((n_slots, n_ads)))
    out = np.stack([values[name] for name in EXTRA_COUNTS]).astype(np.int64)
    if revisions:
        busiest = np.argmax(dense[stats.IMPRESSIONS], axis=0)
        for ad, metric, delta in revisions:
            index = EXTRA_COUNTS.index(metric)
            out[index, busiest[ad], ad] = max(0, out[index, busiest[ad], ad] + delta)
    return out
