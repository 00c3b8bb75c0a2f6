"""The schedules, evaluated as the daemon would from ``build_definitions``.

Partition ranges are date-major ("2026-11-20|<advertiser>"): one range runs
every advertiser over the dates, which are the advertisers' *local* dates.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd
import pytest

from tiktok_assets.partitions import advertiser_date_partitions
from tiktok_assets.warehouse import write_stats_partition
from tiktok_assets.warehouse.tables import frame_columns, stats_table
from tiktok_assets_tests.automation.location import (
    BERLIN,
    ENTITIES,
    LIMITED_TOKEN,
    LONDON,
    LOS_ANGELES,
    STATS,
    TOKYO,
    Location,
    materialized_partitions,
)

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
SKIP_SETTLED = "tiktok/skip_settled"
# The zones the accounts' reports are dated in: the fixed offsets of /advertiser/info/ `timezone`, no DST
# (TikTok: "an ad account created in California will use UTC-8 time zone for the entire year").
ZONES = {LOS_ANGELES: "Etc/GMT+8", BERLIN: "Etc/GMT-1", TOKYO: "Etc/GMT-9", LONDON: "Etc/GMT"}


def _discover(location: Location, simulator, advertiser_ids: list[str] | None) -> None:
    simulator.grant(LIMITED_TOKEN, advertiser_ids)
    location.discover()


def _keys_in_range(location: Location, start: str, end: str) -> set[str]:
    """Dagster's own reading of a range tag pair (not ours)."""
    from dagster._core.definitions.partitions.context import partition_loading_context

    with partition_loading_context(dynamic_partitions_store=location.instance):
        return set(advertiser_date_partitions.get_partition_keys_in_range(dg.PartitionKeyRange(start, end)))


def _keys(dates: list[date] | set[date], advertiser_ids: list[str]) -> set[str]:
    return {f"{day.isoformat()}|{advertiser_id}" for day in dates for advertiser_id in advertiser_ids}


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def _only_request(tick: dg.ScheduleExecutionData) -> dg.RunRequest:
    assert tick.skip_message is None
    assert len(tick.run_requests) == 1
    return tick.run_requests[0]


def _target(location: Location, schedule_name: str) -> set[dg.AssetKey]:
    job_name = location.defs.resolve_schedule_def(schedule_name).job_name
    return set(location.defs.resolve_job_def(job_name).asset_layer.executable_asset_keys)


@pytest.mark.parametrize("schedule_name", ["hourly_sync_schedule", "daily_entities_schedule", "daily_settle_schedule"])
def test_every_schedule_skips_with_a_reason_before_any_advertiser_is_discovered(location, schedule_name) -> None:
    tick = location.schedule_tick(schedule_name, datetime(2026, 11, 20, 6, 30, tzinfo=UTC))

    assert tick.run_requests == []
    assert "No advertisers discovered yet" in tick.skip_message


@pytest.mark.parametrize(
    ("scheduled_utc", "first_day", "last_day"),
    [
        # 12:05 UTC: 04:05 in Los Angeles, 21:05 in Tokyo, everyone on Nov 20.
        (datetime(2026, 11, 20, 12, 5, tzinfo=UTC), date(2026, 11, 19), date(2026, 11, 20)),
        # 23:05 UTC: Los Angeles and London still on Nov 20, Berlin (00:05) and Tokyo (08:05) on Nov 21:
        # from the earliest local yesterday to the latest local today.
        (datetime(2026, 11, 20, 23, 5, tzinfo=UTC), date(2026, 11, 19), date(2026, 11, 21)),
    ],
)
def test_hourly_sync_pulls_local_yesterday_and_today_of_every_advertiser(
    location, loopback_simulator, scheduled_utc: datetime, first_day: date, last_day: date
) -> None:
    simulator, _ = loopback_simulator
    _discover(location, simulator, None)
    advertisers = location.advertisers
    assert sorted(advertisers) == sorted(ZONES)

    request = _only_request(location.schedule_tick("hourly_sync_schedule", scheduled_utc))

    assert request.tags[RANGE_START] == f"{first_day}|{advertisers[0]}"
    assert request.tags[RANGE_END] == f"{last_day}|{advertisers[-1]}"
    assert _keys_in_range(location, request.tags[RANGE_START], request.tags[RANGE_END]) == _keys(
        _days(first_day, last_day), advertisers
    )
    assert request.run_key == f"hourly:{scheduled_utc:%Y-%m-%dT%H}"
    assert _target(location, "hourly_sync_schedule") == set(STATS)


def test_hourly_sync_never_guesses_utc_for_an_advertiser_whose_zone_it_does_not_know(location) -> None:
    # Partitions added by hand (e.g. by the UI) before discovery wrote the advertiser's zone.
    # Its "today" is unknown: reading it as UTC would pull the wrong local days (issue 14, defect 5).
    location.instance.add_dynamic_partitions("tiktok_advertisers", [TOKYO])

    tick = location.schedule_tick("hourly_sync_schedule", datetime(2026, 11, 20, 23, 5, tzinfo=UTC))

    assert not tick.run_requests
    assert "time zone" in tick.skip_message and "tiktok_advertisers" in tick.skip_message


def test_daily_entities_snapshots_each_advertiser_once_a_day(location, loopback_simulator) -> None:
    simulator, _ = loopback_simulator
    _discover(location, simulator, [BERLIN, TOKYO])

    tick = location.schedule_tick("daily_entities_schedule", datetime(2026, 11, 20, 6, 0, tzinfo=UTC))

    assert tick.skip_message is None
    assert {(request.partition_key, request.run_key, request.tags["tiktok/advertiser"])
            for request in tick.run_requests} == {
        (BERLIN, f"entities:{BERLIN}:2026-11-20", BERLIN),
        (TOKYO, f"entities:{TOKYO}:2026-11-20", TOKYO),
    }
    # Lifetime totals have no date: snapshotted per advertiser with the entities (defs.levels).
    assert _target(location, "daily_entities_schedule") == {*ENTITIES, dg.AssetKey("lifetime_totals")}


# -- the daily settle re-pull, end to end ---------------------------------------------------------------------


@pytest.fixture
def realtime_location(tmp_path, instance) -> Iterator[tuple[object, Location]]:
    """A simulator on real time: the stats assets decide "settled" against the real clock."""
    from tiktok_assets.simulator import SimClock, Simulator, World, serve

    simulator = Simulator(world=World(seed=7), clock=SimClock(), qps=None)
    with serve(simulator) as base_url:
        yield simulator, Location(base_url, f"sqlite:///{tmp_path / 'warehouse.sqlite'}", instance)


def _pulled_at(zone: str, local_day: date) -> datetime:
    """Local noon of ``local_day`` as the naive UTC the warehouse stores."""
    return datetime.combine(local_day, time(12), ZoneInfo(zone)).astimezone(UTC).replace(tzinfo=None)


def _frame(table: str, advertiser_id: str, zone: str, day: date, spend: float | None) -> pd.DataFrame:
    """No rows (spend None) or one ad's row; only its presence and spend matter here."""
    columns = frame_columns(stats_table(table))
    if spend is None:
        return pd.DataFrame(columns=columns)
    local = datetime.combine(day, time(10))
    row = {name: 0 for name in columns} | {
        "advertiser_id": advertiser_id, "ad_id": "1", "stat_date": day, "campaign_id": "1", "adgroup_id": "1",
        "currency": "USD", "spend": spend, "impressions": 100,
    }
    if table == "ad_stats_hourly":
        utc = local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC).replace(tzinfo=None)
        row |= {"stat_hour_local": local, "stat_hour_utc": utc, "spread": False}
    else:
        row["reach"] = None
    return pd.DataFrame([row], columns=columns)


def _pull(location: Location, advertiser_id: str, day: date, pulled_on: date, spend: float | None = None) -> None:
    """One pull of ``day`` made on local day ``pulled_on``, into both stats tables."""
    zone = ZONES[advertiser_id]
    for table in ("ad_stats_daily", "ad_stats_hourly"):
        write_stats_partition(location.engine, table, advertiser_id, day,
                              _frame(table, advertiser_id, zone, day, spend), _pulled_at(zone, pulled_on))


def test_daily_settle_repulls_the_window_and_unsettled_days_and_skips_settled_ones(
    realtime_location, monkeypatch
) -> None:
    monkeypatch.setenv("TIKTOK_SETTLE_DAYS", "7")
    simulator, location = realtime_location
    _discover(location, simulator, [LOS_ANGELES, TOKYO])
    now = datetime.now(UTC)
    la_today = now.astimezone(ZoneInfo(ZONES[LOS_ANGELES])).date()
    tokyo_today = now.astimezone(ZoneInfo(ZONES[TOKYO])).date()

    # Settled = older than the 7-day window, and its latest pull came after it aged out
    # (8+ days after the day) and changed nothing.
    la = la_today
    _pull(location, LOS_ANGELES, la - timedelta(14), pulled_on=la - timedelta(2))  # settled
    _pull(location, LOS_ANGELES, la - timedelta(13), pulled_on=la - timedelta(2))  # settled
    _pull(location, LOS_ANGELES, la - timedelta(12), pulled_on=la - timedelta(10))  # pulled too early: unsettled
    _pull(location, LOS_ANGELES, la - timedelta(11), pulled_on=la - timedelta(3))  # settled (exactly 8 days on)
    _pull(location, LOS_ANGELES, la - timedelta(10), pulled_on=la - timedelta(9), spend=5.0)
    _pull(location, LOS_ANGELES, la - timedelta(10), pulled_on=la - timedelta(2), spend=6.5)  # still moving: unsettled
    _pull(location, LOS_ANGELES, la - timedelta(9), pulled_on=la - timedelta(8), spend=3.0)
    _pull(location, LOS_ANGELES, la - timedelta(9), pulled_on=la - timedelta(1), spend=3.0)  # latest unchanged: settled
    for offset in range(9, 15):
        _pull(location, TOKYO, tokyo_today - timedelta(offset), pulled_on=tokyo_today - timedelta(1))  # all settled

    request = _only_request(location.schedule_tick("daily_settle_schedule", now))

    # One run over every advertiser: from the oldest unsettled day to the latest local yesterday.
    first, last = la - timedelta(12), max(la_today, tokyo_today) - timedelta(1)
    advertisers = location.advertisers
    assert request.tags[RANGE_START] == f"{first}|{advertisers[0]}"
    assert request.tags[RANGE_END] == f"{last}|{advertisers[-1]}"
    assert request.tags[SKIP_SETTLED] == "true"
    # The instance holds back a second every-advertiser run while one is going (tag_concurrency_limits).
    assert request.tags["tiktok/advertiser"] == "all"
    # TikTok's own level totals (defs.levels) and GMV Max campaigns (defs.gmv_max) are re-pulled over the settle
    # window with the ad rows.
    assert _target(location, "daily_settle_schedule") == {
        *STATS, *(dg.AssetKey(f"{level}_stats_daily") for level in ("campaign", "adgroup", "advertiser")),
        dg.AssetKey("gmv_max_stats_daily")}

    result = location.execute_request(request, STATS)

    # Inside the range, each settled partition is skipped; the window and the unsettled days are pulled.
    # A settle re-pulls only days that have ended locally: when Tokyo is already a day ahead,
    # the range's last day is Los Angeles' today, which the hourly sync owns.
    la_pulled = {la - timedelta(12), la - timedelta(10), *_days(la - timedelta(8), min(last, la - timedelta(1)))}
    tokyo_pulled = set(_days(tokyo_today - timedelta(8), last))
    expected = _keys(la_pulled, [LOS_ANGELES]) | _keys(tokyo_pulled, [TOKYO])
    assert materialized_partitions(result, "ad_stats_daily") == expected
    assert materialized_partitions(result, "ad_stats_hourly") == expected
    settled_in_range = _keys({la - timedelta(11), la - timedelta(9)}, [LOS_ANGELES])
    assert not settled_in_range & materialized_partitions(result, "ad_stats_daily")
