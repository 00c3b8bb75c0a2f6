"""Narrow an hourly settle re-pull of a moved day to the ads that moved (no Dagster import).

The probe (``spend.probe``) tells which days moved, from advertiser and
campaign totals; it cannot tell which ads. At ad level a day of 1,000 ads is
one page of daily rows but 24 pages of hourly rows, and on most moved days
only some ads moved: late conversions reach the ads that had clicks. So for
the hourly table every closed day a settle re-pull pulls is first read at ad
level *daily* (``AUCTION_AD``, every metric the hourly table holds; one page
per 1,000 ad-days), and each ad's row is digested. A moved day then asks the
hourly report only for the ads whose digest differs from the one kept in
``stats_probe_ads`` at the table's last pull of that day, by ``ad_ids``
filters sized so one request is one page (41 ads × 24 hours ≤ 1,000 rows).
The other ads' stored hourly rows are kept as they are, so the partition is
written whole, as after a full pull: same revisions, same data version.

A day is narrowed only when that costs fewer requests than the full hourly
pull (estimated from the ads the day serves), when it has digests from its
last pull, and when its stored rows are real hours (an advertiser without an
hourly breakdown gets daily figures spread over hours: those are re-pulled
whole). For the hourly table the periodic verify (``Why.VERIFY``) is narrowed
too: it distrusts the campaign probe, and the ad-level comparison is exactly
what the campaign probe cannot see (two ads of one campaign moving +x and -x).

Residual risk, stated plainly: a change inside one ad's day that leaves its
daily row equal in every metric (conversions moved from one hour to another)
is invisible here; the settling pull at the end of the window, which is always
a full hourly pull, picks it up. When the ad-level read fails the day is pulled
whole, and digests are only kept for pulls that read them first: a day pulled
without fresh digests forgets its old ones, so it is never narrowed against a
stale baseline.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import pandas as pd
import sqlalchemy as sa

from tiktok_assets.spend.probe import Decision, Why, digest_cell
from tiktok_assets.spend.pull import (
    HOURLY_COLUMNS,
    HOURLY_METRICS,
    AdvertiserProfile,
    contiguous_ranges,
    fetch_hourly_stats_of_ads,
)
from tiktok_assets.spend.revisions import stored_date
from tiktok_assets.spend.settle import age_in_days
from tiktok_assets.tiktok.client import MAX_PAGE_SIZE, REPORT_ID_FILTER_MAX, TikTokClient
from tiktok_assets.tiktok.errors import TikTokError
from tiktok_assets.tiktok.reports import ReportParseError, parse_report_rows

# The hourly table's metrics, read daily at ad level: an ad whose daily row is unchanged is not re-pulled hourly.
AD_ROW_METRICS: tuple[str, ...] = HOURLY_METRICS
# TikTok folds the repeated autumn hour into one row, so an ad's day is at most 24 hourly rows.
HOURS_PER_AD_DAY = 24
NARROWABLE = frozenset({Why.MOVED, Why.VERIFY})


def ads_per_request(page_size: int = MAX_PAGE_SIZE) -> int:
    """Ads per narrowed hourly request: as many as one page holds a whole day of (41 at 1,000 rows a page)."""
    return max(1, min(REPORT_ID_FILTER_MAX, page_size // HOURS_PER_AD_DAY))


def ad_row_digests(frame: pd.DataFrame, dates: Iterable[date]) -> dict[date, dict[str, str]]:
    """Per date, each ad's digest of its ``parse_report_rows`` daily row; every date present (no rows: empty)."""
    digests: dict[date, dict[str, str]] = {day: {} for day in dates}
    if frame.empty:
        return digests
    metrics = sorted(column for column in frame.columns if column not in ("ad_id", "stat_time"))
    days = frame["stat_time"].dt.date.to_numpy()
    ads = frame["ad_id"].astype(str).to_numpy()
    values = zip(*(frame[metric].tolist() for metric in metrics), strict=True)
    for day, ad_id, row in zip(days, ads, values, strict=True):
        if day in digests:
            text = "|".join(digest_cell(value) for value in row)
            digests[day][ad_id] = hashlib.sha256(text.encode()).hexdigest()[:32]
    return digests


def fetch_ad_row_digests(client: TikTokClient, advertiser_id: str, dates: Sequence[date]
                         ) -> dict[date, dict[str, str]]:
    """Read the dates' ad-level daily rows (deleted ads too) and digest them; raises what the client or parser does."""
    rows = [
        row
        for start, end in contiguous_ranges(dates)
        for page in client.report_pages(advertiser_id, start=start, end=end, metrics=AD_ROW_METRICS,
                                        granularity="day", include_deleted=True)
        for row in page
    ]
    frame = parse_report_rows(rows, id_dimension="ad_id", time_dimension="stat_time_day", metrics=AD_ROW_METRICS,
                              advertiser_id=advertiser_id)
    return ad_row_digests(frame, dates)


@dataclass(frozen=True)
class Narrowing:
    """One day's narrowed hourly re-pull: the ads asked for, of how many the day has."""

    ads: frozenset[str]
    of_ads: int


@dataclass(frozen=True)
class NarrowingPlan:
    """What an hourly settle re-pull of one advertiser narrows, and the digests to keep once it is written."""

    days: dict[date, Narrowing] = field(default_factory=dict)
    digests: dict[date, dict[str, str]] = field(default_factory=dict)
    """This run's ad digests of every closed day it pulls (empty when the ad-level read failed)."""
    error: str | None = None


def narrowed_days(decisions: Iterable[Decision], fresh: Mapping[date, Mapping[str, str]],
                  stored: Mapping[date, Mapping[str, str]], page_size: int = MAX_PAGE_SIZE) -> dict[date, Narrowing]:
    """The pulled days worth narrowing, with the ads whose digest moved (or appeared, or went)."""
    per_request = ads_per_request(page_size)
    narrowed = {}
    for decision in decisions:
        day = decision.stat_date
        if not decision.repull or decision.why not in NARROWABLE or day not in fresh or not stored.get(day):
            continue
        now, before = fresh[day], stored[day]
        everyone = now.keys() | before.keys()
        moved = frozenset(ad for ad in everyone if now.get(ad) != before.get(ad))
        full_requests = max(1, math.ceil(len(now) * HOURS_PER_AD_DAY / page_size))
        if math.ceil(len(moved) / per_request) < full_requests:
            narrowed[day] = Narrowing(moved, len(everyone))
    return narrowed


def plan_narrowing(client: TikTokClient, engine: sa.Engine, table: str, advertiser_id: str,
                   decisions: Sequence[Decision], today: date) -> NarrowingPlan:
    """Read the pulled closed days at ad level and pick the narrowed ones; a failed read narrows nothing."""
    closed = sorted(d.stat_date for d in decisions if d.repull and age_in_days(d.stat_date, today) >= 0)
    if not closed:
        return NarrowingPlan()
    try:
        fresh = fetch_ad_row_digests(client, advertiser_id, closed)
    except (TikTokError, ReportParseError) as exc:
        # TikTok's errors carry its message and request id, never the token.
        return NarrowingPlan(error=f"{type(exc).__name__}: {exc}")
    stored = stored_ad_row_digests(engine, table, advertiser_id, closed)
    return NarrowingPlan(narrowed_days(decisions, fresh, stored), fresh)


def narrowed_hourly_partition(client: TikTokClient, engine: sa.Engine, profile: AdvertiserProfile, day: date,
                              narrowing: Narrowing, parents: pd.DataFrame) -> pd.DataFrame | None:
    """The day's whole hourly content: the moved ads as TikTok serves them now, the others as stored.

    None when the stored day holds spread rows (no hourly breakdown): the caller pulls it whole.
    """
    from tiktok_assets.warehouse.reads import read_stats

    stored = read_stats(engine, "ad_stats_hourly", profile.advertiser_id, day, day)
    if stored["spread"].astype(bool).any():
        return None
    fresh = (fetch_hourly_stats_of_ads(client, profile, day, sorted(narrowing.ads), parents,
                                       per_request=ads_per_request())
             if narrowing.ads else pd.DataFrame(columns=HOURLY_COLUMNS))
    kept = stored.loc[~stored["ad_id"].isin(narrowing.ads), HOURLY_COLUMNS]
    kept = kept.assign(stat_date=day)
    pieces = [piece for piece in (kept, fresh[HOURLY_COLUMNS]) if not piece.empty]
    if not pieces:
        return pd.DataFrame(columns=HOURLY_COLUMNS)
    return pd.concat(pieces, ignore_index=True) if len(pieces) > 1 else pieces[0].reset_index(drop=True)


def stored_ad_row_digests(engine: sa.Engine, table: str, advertiser_id: str, dates: Sequence[date]
                          ) -> dict[date, dict[str, str]]:
    from tiktok_assets.warehouse.tables import stats_probe_ads as kept

    if not dates:
        return {}
    query = sa.select(kept.c.stat_date, kept.c.ad_id, kept.c.row_digest).where(
        kept.c.table_name == table, kept.c.advertiser_id == advertiser_id, kept.c.stat_date.in_(sorted(set(dates))))
    digests: dict[date, dict[str, str]] = {}
    with engine.connect() as connection:
        for day, ad_id, digest in connection.execute(query):
            digests.setdefault(stored_date(day), {})[ad_id] = digest
    return digests


def save_ad_row_digests(engine: sa.Engine, table: str, advertiser_id: str, pulled: Iterable[date],
                        digests: Mapping[date, Mapping[str, str]], probed_at: datetime,
                        forget_before: date | None = None) -> None:
    """Keep the digests of the pulled days, in one transaction; a pulled day without digests forgets its old ones.

    ``forget_before``: digests of older days are dropped too (past the settle window a day is pulled whole).
    """
    from tiktok_assets.warehouse.tables import naive_utc
    from tiktok_assets.warehouse.tables import stats_probe_ads as kept

    days = sorted(set(pulled))
    if not days and forget_before is None:
        return
    at = naive_utc(probed_at)
    mine = sa.and_(kept.c.table_name == table, kept.c.advertiser_id == advertiser_id)
    rows = [{"table_name": table, "advertiser_id": advertiser_id, "stat_date": day, "ad_id": ad_id,
             "row_digest": digest, "probed_at": at}
            for day in days for ad_id, digest in sorted(digests.get(day, {}).items())]
    with engine.begin() as connection:
        if days:
            connection.execute(sa.delete(kept).where(mine, kept.c.stat_date.in_(days)))
        if forget_before is not None:
            connection.execute(sa.delete(kept).where(mine, kept.c.stat_date < forget_before))
        if rows:
            connection.execute(sa.insert(kept), rows)
