"""What the stats schedules ask for (no Dagster import): each advertiser's report zone, the hourly sync's date
range, and the daily settle re-pull's, from the settle planner (``settle.repull_dates``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from tiktok_assets.spend.revisions import latest_pulls
from tiktok_assets.spend.settle import local_today, repull_dates
from tiktok_assets.spend.zones import ZoneError, report_zone

log = logging.getLogger(__name__)
# How far back the settle planner looks for days pulled before but not settled yet: twice TikTok's 28 days.
SETTLE_HISTORY_DAYS = 56


def advertiser_zones(engine: sa.Engine, advertiser_ids: list[str]) -> dict[str, str]:
    """Each advertiser's report zone from its /advertiser/info/ row; one without a readable zone is left out
    (logged, never guessed UTC: its stats run fails its partitions, naming the field)."""
    from tiktok_assets.warehouse.tables import advertisers

    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(advertisers.c.advertiser_id, advertisers.c.display_timezone, advertisers.c.timezone).where(
                advertisers.c.advertiser_id.in_(advertiser_ids)
            )
        ).all()
    zones: dict[str, str] = {}
    for row in rows:
        try:
            zones[row.advertiser_id] = report_zone({"timezone": row.timezone,
                                                    "display_timezone": row.display_timezone})[0]
        except ZoneError as error:
            log.warning("Advertiser %s left out of the schedule's date range: %s", row.advertiser_id, error)
    return zones


def hourly_sync_range(zones: Mapping[str, str], now: datetime) -> tuple[date, date]:
    """From the earliest local "yesterday" to the latest local "today" (zones east of UTC are a day ahead near
    midnight): one run for every advertiser."""
    todays = [local_today(zone, now) for zone in zones.values()]
    return min(todays) - timedelta(days=1), max(todays)


def settle_range(engine: sa.Engine, zones: Mapping[str, str], now: datetime, settle_days: int, *,
                 table_name: str = "ad_stats_daily", pulls_table: sa.Table | None = None) -> tuple[date, date]:
    """The union of every advertiser's re-pull plan today (its local today): the settle window plus older days
    pulled before but not settled yet. Inside the run the stats assets skip each partition already settled.
    ``table_name`` / ``pulls_table``: whose pulls decide (``ad_stats_daily`` in ``partition_pulls`` by default)."""
    wanted: set[date] = set()
    for advertiser_id, zone in zones.items():
        today = local_today(zone, now)
        history = latest_pulls(engine, table_name, advertiser_id, zone,
                               since=today - timedelta(days=SETTLE_HISTORY_DAYS), pulls_table=pulls_table)
        wanted.update(repull_dates(today, settle_days, history))
    return min(wanted), max(wanted)
