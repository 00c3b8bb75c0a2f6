"""Probe before re-pulling: cheap daily totals decide which settle-window days need an ad-level pull (no Dagster import).

A blind settle re-pull asks TikTok for every ad of every day in the window,
every day, although most of those days no longer move. The ad level is the
expensive one: a day of 1,000 ads is one page of daily rows and 24 pages of
hourly rows. So before a settle re-pull each advertiser is *probed*: one
``AUCTION_ADVERTISER`` and one ``AUCTION_CAMPAIGN`` report over the window
(a page or two each), asking every compared metric (spend, impressions,
clicks, conversions, installs, web and app purchases and their value, reach).
Each day's totals are digested and compared with the digest kept in
``stats_probes`` from the probe before that day's last ad-level pull. Only
days whose digest moved are pulled at ad level; the others report their
stored data version unchanged. In the hourly table a pulled day is narrowed further, to the ads whose
ad-level daily row moved (``spend.narrow``).

What is compared with what. The advertiser level counts reservation buying
(Reach & Frequency, TopView) that ad rows lack, and serves deleted entities
without a status filter, so a probe is compared with the *previous probe*,
never with sums of our ad rows. The campaign level asks deleted campaigns'
rows too (``STATUS_ALL``).

Never skipped on a probe (``decide``): a day not over; a day never pulled or
last pulled before it closed (the baseline pull); a day at or past the settle
window (the pull that decides "settled" is always a real one, so a day only
ever settles on ad-level data); a *verify* day, whose age is a multiple of
``TIKTOK_PROBE_VERIFY_EVERY_DAYS`` (default 14; 0 turns it off); a day with no
stored probe; and every day of an advertiser whose probe failed (API or parse
error): the re-pull is then blind, never silently skipped.

Residual risk, stated plainly: a change that leaves the day's advertiser
total *and* every campaign's total equal in *every* metric (one ad +x, another
ad of the same campaign -x in each metric at once) is invisible to the probe.
It is picked up at the day's next verify age, and at the latest by the
settling pull at the end of the window: never later than that, but it can be
late by up to ``verify_every_days`` days. A change TikTok makes after a day
settled is out of reach either way (settled days are not re-pulled).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

import numpy as np
import pandas as pd
import sqlalchemy as sa

from tiktok_assets.spend.pull import DAILY_METRICS
from tiktok_assets.spend.revisions import stored_date
from tiktok_assets.spend.settle import PullRecord, age_in_days
from tiktok_assets.tiktok.client import TikTokClient
from tiktok_assets.tiktok.errors import TikTokError
from tiktok_assets.tiktok.reports import ReportParseError, parse_report_rows

PROBE_ENV = "TIKTOK_REPULL_PROBE"
VERIFY_ENV = "TIKTOK_PROBE_VERIFY_EVERY_DAYS"
DEFAULT_VERIFY_EVERY_DAYS = 14
# Level -> its id dimension, in the order they are digested.
PROBE_LEVELS: dict[str, str] = {"AUCTION_ADVERTISER": "advertiser_id", "AUCTION_CAMPAIGN": "campaign_id"}
# Every metric a re-pull compares (reach too): a probe on spend alone misses a late conversion.
PROBE_METRICS: tuple[str, ...] = DAILY_METRICS
_ON = {"1", "true", "yes", "on"}
_OFF = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class ProbeSettings:
    enabled: bool = True
    verify_every_days: int = DEFAULT_VERIFY_EVERY_DAYS
    """A day is re-pulled at ad level, whatever the probe says, when its age is a multiple of this (0: never)."""


def parse_probe_settings(enabled: object = "on", verify_every_days: object = DEFAULT_VERIFY_EVERY_DAYS
                         ) -> ProbeSettings:
    """Settings from text (``TIKTOK_REPULL_PROBE`` on/off, ``TIKTOK_PROBE_VERIFY_EVERY_DAYS`` 0-28)."""
    flag = str(enabled).strip().lower()
    if flag not in _ON | _OFF:
        raise ValueError(f"{PROBE_ENV} must be on or off, got {enabled!r}")
    try:
        every = int(str(verify_every_days).strip())
    except ValueError:
        raise ValueError(f"{VERIFY_ENV} must be a whole number of days (0 turns the periodic verify off), "
                         f"got {verify_every_days!r}") from None
    if not 0 <= every <= 28:
        raise ValueError(f"{VERIFY_ENV} must be 0 (off) to 28 days, got {every}")
    return ProbeSettings(enabled=flag in _ON, verify_every_days=every)



class Why(StrEnum):
    """Why a day is, or is not, pulled at ad level in a probed re-pull."""

    PROBING_OFF = "probing off"
    PROBE_FAILED = "probe failed: blind re-pull"
    INTRADAY = "day not over"
    NEVER_PULLED = "never pulled"
    BASELINE = "last pull was before the day closed"
    SETTLING = "at or past the settle window: settling pull"
    VERIFY = "periodic full verify"
    NO_PROBE = "no stored probe"
    MOVED = "probe totals moved"
    UNCHANGED = "probe unchanged"


@dataclass(frozen=True)
class DayProbe:
    """One day's probe: the digest of its totals, plus two figures for people reading ``stats_probes``."""

    digest: str
    advertiser_spend: float
    campaigns: int


@dataclass(frozen=True)
class Decision:
    stat_date: date
    repull: bool
    why: Why


def _forced(stat_date: date, today: date, settle_days: int, latest: PullRecord | None,
            settings: ProbeSettings) -> Why | None:
    """The reason a day is pulled whatever a probe says; None when the probe decides."""
    if not settings.enabled:
        return Why.PROBING_OFF
    age = age_in_days(stat_date, today)
    if age < 0:
        return Why.INTRADAY
    if latest is None:
        return Why.NEVER_PULLED
    if age_in_days(stat_date, latest.pulled_on) < 0:
        return Why.BASELINE
    if age >= settle_days:
        return Why.SETTLING
    if settings.verify_every_days and age > 0 and age % settings.verify_every_days == 0:
        return Why.VERIFY
    return None


def probe_dates(dates: Iterable[date], today: date, settle_days: int, latest: Mapping[date, PullRecord],
                settings: ProbeSettings) -> list[date]:
    """The dates a probe can decide (none forced): the range to probe. Empty: no probe is needed."""
    return sorted(day for day in set(dates) if _forced(day, today, settle_days, latest.get(day), settings) is None)


def decide(dates: Iterable[date], today: date, settle_days: int, latest: Mapping[date, PullRecord],
           stored: Mapping[date, str], probed: Mapping[date, DayProbe] | None, settings: ProbeSettings
           ) -> list[Decision]:
    """Per date, whether it needs an ad-level pull. ``probed`` None: the probe failed, so every date is pulled.

    ``stored``: each date's digest from the probe before its last ad-level pull.
    """
    decisions = []
    for day in sorted(set(dates)):
        forced = _forced(day, today, settle_days, latest.get(day), settings)
        if forced is not None:
            decisions.append(Decision(day, True, forced))
        elif probed is None:
            decisions.append(Decision(day, True, Why.PROBE_FAILED))
        elif day not in stored:
            decisions.append(Decision(day, True, Why.NO_PROBE))
        elif day not in probed or probed[day].digest != stored[day]:
            decisions.append(Decision(day, True, Why.MOVED))
        else:
            decisions.append(Decision(day, False, Why.UNCHANGED))
    return decisions


def digest_cell(value: object) -> str:
    """One metric value as digested: "-" for empty, money at the warehouse's 6 decimals, counts as integers."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return "-"
    if isinstance(value, (float, np.floating)):
        # Money at the warehouse's 6 decimals: float noise must not look like a revision.
        return f"{round(float(value), 6):.6f}"
    return str(int(value))


def day_probes(frames: Mapping[str, pd.DataFrame], dates: Iterable[date]) -> dict[date, DayProbe]:
    """Per date, the digest of every level's rows of that date (``parse_report_rows`` frames by level).

    A date no level served a row for still gets a digest (of nothing), so "no
    delivery" stays comparable with "no delivery".
    """
    lines: dict[date, list[str]] = {day: [] for day in dates}
    spend: dict[date, float] = dict.fromkeys(lines, 0.0)
    campaigns: dict[date, int] = dict.fromkeys(lines, 0)
    for level, id_dimension in PROBE_LEVELS.items():
        frame = frames.get(level)
        if frame is None or frame.empty:
            continue
        metrics = sorted(column for column in frame.columns if column not in (id_dimension, "stat_time"))
        ordered = frame.assign(probe_day=frame["stat_time"].dt.date).sort_values(["probe_day", id_dimension])
        for values in ordered.to_dict("records"):
            day = values["probe_day"]
            if day not in lines:
                continue
            lines[day].append("|".join([level, str(values[id_dimension]), *(digest_cell(values[m]) for m in metrics)]))
            if level == "AUCTION_ADVERTISER":
                spend[day] += float(values.get("spend") or 0.0)
            else:
                campaigns[day] += 1
    return {day: DayProbe(hashlib.sha256("\n".join(rows).encode()).hexdigest()[:32], round(spend[day], 6),
                          campaigns[day])
            for day, rows in lines.items()}


def fetch_probes(client: TikTokClient, advertiser_id: str, dates: Sequence[date]) -> dict[date, DayProbe]:
    """Probe the dates: one advertiser-level and one campaign-level daily report over their span (TikTok's 30-day
    limit splits it), a gap costing nothing: a level's day is one row per campaign.

    The advertiser level takes no status filter (it has none); the campaign
    level asks deleted campaigns too. Raises what the client or parser raises.
    """
    frames: dict[str, list[pd.DataFrame]] = {level: [] for level in PROBE_LEVELS}
    for start, end in [(min(dates), max(dates))] if dates else []:
        for level, id_dimension in PROBE_LEVELS.items():
            rows = client.report(advertiser_id, start=start, end=end, metrics=list(PROBE_METRICS), data_level=level,
                                 granularity="day", include_deleted=True)
            frames[level].append(parse_report_rows(rows, id_dimension=id_dimension, time_dimension="stat_time_day",
                                                   metrics=PROBE_METRICS, advertiser_id=advertiser_id))
    return day_probes({level: pd.concat(parts, ignore_index=True) for level, parts in frames.items() if parts}, dates)


@dataclass(frozen=True)
class RepullPlan:
    """What a probed re-pull of one advertiser does."""

    decisions: list[Decision]
    probes: dict[date, DayProbe] = field(default_factory=dict)
    """This run's probe of each probed date: saved once the date's ad-level pull is written."""
    data_versions: dict[date, str] = field(default_factory=dict)
    """Stored data version of each skipped date, reported again unchanged."""
    probe_error: str | None = None

    @property
    def pull_dates(self) -> list[date]:
        return [decision.stat_date for decision in self.decisions if decision.repull]

    @property
    def skipped(self) -> list[Decision]:
        return [decision for decision in self.decisions if not decision.repull]


def plan_repull(client: TikTokClient, engine: sa.Engine, table: str, advertiser_id: str, dates: Sequence[date],
                today: date, settle_days: int, history: Iterable[PullRecord], settings: ProbeSettings) -> RepullPlan:
    """Probe what can be probed and decide each date; a failed probe makes the re-pull blind."""
    latest = {record.stat_date: record for record in history}
    if not probe_dates(dates, today, settle_days, latest, settings):
        return RepullPlan(decide(dates, today, settle_days, latest, {}, {}, settings))
    # The days pulled whatever the probe says are probed too (the same one or two requests cover the
    # window): their probe is stored with their pull, so the next run can skip them.
    wanted = sorted(day for day in set(dates) if age_in_days(day, today) >= 0)
    try:
        probed: dict[date, DayProbe] | None = fetch_probes(client, advertiser_id, wanted)
        error = None
    except (TikTokError, ReportParseError) as exc:
        # TikTok's errors carry its message and request id, never the token.
        probed, error = None, f"{type(exc).__name__}: {exc}"
    decisions = decide(dates, today, settle_days, latest, stored_probes(engine, table, advertiser_id, wanted),
                       probed, settings)
    skipped = [decision.stat_date for decision in decisions if not decision.repull]
    versions = latest_data_versions(engine, table, advertiser_id, skipped)
    # A skipped day must re-report its stored version; should none be found, it is pulled instead.
    decisions = [Decision(d.stat_date, True, Why.NEVER_PULLED) if not d.repull and d.stat_date not in versions else d
                 for d in decisions]
    return RepullPlan(decisions, probed or {}, versions, error)


def stored_probes(engine: sa.Engine, table: str, advertiser_id: str, dates: Sequence[date]) -> dict[date, str]:
    from tiktok_assets.warehouse.tables import stats_probes

    if not dates:
        return {}
    query = sa.select(stats_probes.c.stat_date, stats_probes.c.probe_digest).where(
        stats_probes.c.table_name == table, stats_probes.c.advertiser_id == advertiser_id,
        stats_probes.c.stat_date.between(min(dates), max(dates)))
    with engine.connect() as connection:
        return {stored_date(day): digest for day, digest in connection.execute(query)}


def save_probes(engine: sa.Engine, table: str, advertiser_id: str, probes: Mapping[date, DayProbe],
                probed_at: datetime) -> None:
    """Replace the stored probe of these dates, in one transaction (re-running it is a no-op)."""
    from tiktok_assets.warehouse.tables import naive_utc, stats_probes

    if not probes:
        return
    at = naive_utc(probed_at)
    with engine.begin() as connection:
        connection.execute(sa.delete(stats_probes).where(
            stats_probes.c.table_name == table, stats_probes.c.advertiser_id == advertiser_id,
            stats_probes.c.stat_date.in_(sorted(probes))))
        connection.execute(sa.insert(stats_probes), [
            {"table_name": table, "advertiser_id": advertiser_id, "stat_date": day, "probe_digest": probe.digest,
             "advertiser_spend": probe.advertiser_spend, "campaigns": probe.campaigns, "probed_at": at}
            for day, probe in sorted(probes.items())])


def latest_data_versions(engine: sa.Engine, table: str, advertiser_id: str, dates: Sequence[date]) -> dict[date, str]:
    """The data version the latest pull of each date wrote (``partition_pulls``)."""
    from tiktok_assets.warehouse.tables import partition_pulls as pulls

    if not dates:
        return {}
    latest = (
        sa.select(sa.func.max(pulls.c.pull_id).label("pull_id"))
        .where(pulls.c.table_name == table, pulls.c.advertiser_id == advertiser_id,
               pulls.c.stat_date.in_(sorted(set(dates))))
        .group_by(pulls.c.stat_date)
        .subquery()
    )
    query = sa.select(pulls.c.stat_date, pulls.c.data_version).join(latest, pulls.c.pull_id == latest.c.pull_id)
    with engine.connect() as connection:
        return {stored_date(day): version for day, version in connection.execute(query)}

