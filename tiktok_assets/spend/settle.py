"""When a day is final: the settle window and the re-pull plan (no Dagster import).

TikTok keeps revising a day for a while after it ends (late conversions
attributed to earlier clicks, invalid-traffic spend corrections). A day is
re-pulled every day while it is inside the settle window; once it is older
than the window and a pull made after it aged out changed nothing, it is
**settled** and is not pulled again unless someone asks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from tiktok_assets.spend.zones import zone_info

DEFAULT_SETTLE_DAYS = 7
# Run tag: stats assets skip partitions that are already settled (the daily re-pull sets it).
SKIP_SETTLED_TAG = "tiktok/skip_settled"
# TikTok's longest attribution window is a 28-day click.
MAX_SETTLE_DAYS = 28


def parse_settle_days(raw: object) -> int:
    """A settle window given as text or a number (the warehouse resource's ``settle_days``, bound to
    TIKTOK_SETTLE_DAYS), checked by ``validate_settle_days``. Nothing here reads the environment: runs pass
    the resource's value."""
    try:
        days = int(str(raw).strip())
    except ValueError:
        raise ValueError(f"TIKTOK_SETTLE_DAYS must be a whole number of days, got {raw!r}") from None
    return validate_settle_days(days)


def validate_settle_days(days: int) -> int:
    if not 1 <= days <= MAX_SETTLE_DAYS:
        raise ValueError(f"settle window (TIKTOK_SETTLE_DAYS) must be 1 to {MAX_SETTLE_DAYS} days (TikTok's longest "
                         f"attribution), got {days}")
    return days


def local_today(zone: str, now_utc: datetime) -> date:
    """The advertiser's calendar date at ``now_utc`` (aware or naive UTC); ``zone`` in any form ``zones`` reads."""
    if now_utc.tzinfo is None:
        now_utc = now_utc.replace(tzinfo=ZoneInfo("UTC"))
    return now_utc.astimezone(zone_info(zone)).date()


def age_in_days(stat_date: date, today: date) -> int:
    """Whole days since ``stat_date`` ended: yesterday is 0, today is -1."""
    return (today - stat_date).days - 1


def is_intraday(stat_date: date, today: date) -> bool:
    """Whether ``stat_date`` has not ended yet where the local date is ``today`` (its age is below 0).

    TikTok's figures for such a day are the day so far: a re-pull that finds
    more is progress, not a revision, so its pulls are written ``intraday``
    (no revision rows) and revision history starts at the first pull after
    the day closed. Such a pull is never one that settles a day either
    (``is_settled`` needs a pull made after the window).
    """
    return age_in_days(stat_date, today) < 0


@dataclass(frozen=True)
class PullRecord:
    """The latest pull of one partition, as ``partition_pulls`` remembers it."""

    stat_date: date
    pulled_on: date
    """The advertiser's local date when the pull happened."""
    changed: bool


def is_settled(record: PullRecord, today: date, settle_days: int) -> bool:
    past_window = age_in_days(record.stat_date, today) >= settle_days
    pulled_after_aging_out = age_in_days(record.stat_date, record.pulled_on) >= settle_days
    return past_window and pulled_after_aging_out and not record.changed


def settled_dates(latest_pulls: Iterable[PullRecord], today: date, settle_days: int) -> set[date]:
    """The dates whose latest pull makes them settled (``is_settled``): the warehouse keeps rows a new pull of
    these no longer serves, so a settled figure never drops because a row went missing."""
    return {record.stat_date for record in latest_pulls if is_settled(record, today, settle_days)}


def repull_dates(today: date, settle_days: int, latest_pulls: Iterable[PullRecord],
                 lookback_days: int = MAX_SETTLE_DAYS * 2) -> list[date]:
    """Dates to pull again today: the settle window, plus older days pulled before but not yet settled.

    The window runs from yesterday back to the day that reaches ``settle_days``
    today, so each day gets one pull after it aged out; that pull decides
    whether it is settled. Days never pulled are left to backfills.
    """
    validate_settle_days(settle_days)
    window = {today - timedelta(days=offset) for offset in range(1, settle_days + 2)}
    oldest = today - timedelta(days=lookback_days)
    unsettled = {
        record.stat_date
        for record in latest_pulls
        if oldest <= record.stat_date < min(window) and not is_settled(record, today, settle_days)
    }
    return sorted(window | unsettled)


def begun_dates(dates: Iterable[date], today: date) -> list[date]:
    """The dates that have begun where the local date is ``today``, sorted.

    One hourly-sync run spans every advertiser's today, so near midnight UTC a
    zone east of UTC asks for a date that has not begun yet in a zone west of
    it. TikTok serves nothing for it, and writing that empty partition would
    record a pull of a day that has not happened.
    """
    return sorted(day for day in set(dates) if day <= today)


def planned_dates(dates: Iterable[date], today: date, settle_days: int, latest_pulls: Iterable[PullRecord]
                  ) -> list[date]:
    """The requested dates this advertiser's re-pull plan (``repull_dates``) wants, sorted.

    A settle run covers every advertiser over one date range; inside it each
    advertiser keeps only its own plan, so settled days and days never pulled
    (those are for backfills) are left out.
    """
    requested = sorted(set(dates))
    if not requested:
        return []
    planned = set(repull_dates(today, settle_days, latest_pulls, lookback_days=(today - requested[0]).days + 1))
    return [day for day in requested if day in planned]
