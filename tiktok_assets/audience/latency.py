"""When a day of audience data is complete, and its settle plan (no Dagster import).

TikTok releases audience breakdowns hours after the day they describe (``Breakdown.latency``: 16 hours for
age, gender, platform and province, per its "Data latency for reports" page). A pull before then stores a day
that is still filling up, and its first re-pull would log the rest of the day as "revisions".

So an audience day runs on a clock ``latency`` behind the wall clock: it is *complete* once its end (local
midnight after it, in the advertiser's report zone) plus the latency has passed, and it is not pulled before.
From then on the stats' settle rules (``spend.settle``) apply unchanged on that late clock: the settle window
counts days since the day became complete, and a day is settled once a pull made after it aged out of the
window changed nothing. On the late clock a complete day is never "intraday", so every audience pull is
tracked from its first one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

from tiktok_assets.spend.settle import PullRecord, local_today, planned_dates, repull_dates, settled_dates
from tiktok_assets.spend.zones import zone_info


def late_clock(now_utc: datetime, latency: timedelta) -> datetime:
    """The moment whose data is complete now: ``now_utc`` minus the latency (aware UTC)."""
    if now_utc.tzinfo is None:
        now_utc = now_utc.replace(tzinfo=UTC)
    return now_utc - latency


def audience_today(zone: str, now_utc: datetime, latency: timedelta) -> date:
    """The local date on the late clock: every date before it is complete."""
    return local_today(zone, late_clock(now_utc, latency))


def complete_at(stat_date: date, zone: str, latency: timedelta) -> datetime:
    """When TikTok's audience figures for ``stat_date`` are complete (aware UTC)."""
    day_end = datetime.combine(stat_date + timedelta(days=1), time(), tzinfo=zone_info(zone))
    return day_end.astimezone(UTC) + latency


def complete_dates(dates: Iterable[date], zone: str, now_utc: datetime, latency: timedelta) -> list[date]:
    """The dates whose audience data is complete at ``now_utc``, sorted (the others are not pulled yet)."""
    today = audience_today(zone, now_utc, latency)
    return sorted(day for day in set(dates) if day < today)


def audience_plan(dates: Iterable[date], zone: str, now_utc: datetime, latency: timedelta, settle_days: int,
                  latest_pulls: Iterable[PullRecord]) -> list[date]:
    """The complete dates a settle re-pull wants (``settle.planned_dates`` on the late clock)."""
    today = audience_today(zone, now_utc, latency)
    return planned_dates(complete_dates(dates, zone, now_utc, latency), today, settle_days, latest_pulls)


def audience_settled(latest_pulls: Iterable[PullRecord], zone: str, now_utc: datetime, latency: timedelta,
                     settle_days: int) -> set[date]:
    """Dates settled on the late clock (``settle.settled_dates``): their stored rows a pull lacks are kept."""
    return settled_dates(latest_pulls, audience_today(zone, now_utc, latency), settle_days)


def audience_repull_dates(now_utc: datetime, zone: str, latency: timedelta, settle_days: int,
                          latest_pulls: Iterable[PullRecord]) -> list[date]:
    """What a daily audience run asks for one advertiser and breakdown: the settle window on the late clock
    (the newest complete day first pulled, the window's days pulled again) plus older days not settled yet."""
    return repull_dates(audience_today(zone, now_utc, latency), settle_days, latest_pulls)
