"""The spend import's frames, pulled from the simulator, go into the warehouse as they are.

A contract test between tiktok_assets.spend.pull (which shapes frames) and the
warehouse (which checks them): if either side renames a column, this fails.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pandas as pd

from sqlalchemy.engine import Engine

from tiktok_assets.simulator import DEFAULT_ACCESS_TOKEN, SimClock, Simulator
from tiktok_assets.spend.pull import AdvertiserProfile, ad_parents_frame, fetch_daily_stats, fetch_hourly_stats
from tiktok_assets.tiktok.client import TikTokClient
from tiktok_assets.warehouse import (
    PartitionWrite,
    partition_data_version,
    read_stats,
    upsert_advertisers,
    write_entity_snapshot,
    write_stats_partitions,
)

DAYS = [date(2026, 11, 17), date(2026, 11, 18), date(2026, 11, 19)]


def test_simulated_pulls_and_a_revising_re_pull(engine: Engine, simulator: Simulator, sim_clock: SimClock) -> None:
    client = TikTokClient(DEFAULT_ACCESS_TOKEN, "http://simulator.local", qps=None, transport=simulator.transport())
    ids = [str(row["advertiser_id"]) for row in client.authorised_advertisers()]
    info = client.advertiser_info(ids[:1])[0]
    profile = AdvertiserProfile.from_info(info)
    pulled_at = sim_clock.now().astimezone(UTC).replace(tzinfo=None)
    upsert_advertisers(engine, [info], pulled_at)
    ads = client.ads(profile.advertiser_id)
    assert write_entity_snapshot(engine, "ad", profile.advertiser_id, ads, pulled_at).opened == len(ads)
    parents = ad_parents_frame(ads)

    def pull(table: str, fetch: Callable[..., dict[date, pd.DataFrame]], at: datetime) -> dict[tuple[str, date], PartitionWrite]:
        frames = fetch(client, profile, DAYS, parents)
        return write_stats_partitions(engine, table, {(profile.advertiser_id, day): frames[day] for day in DAYS}, at)

    daily = pull("ad_stats_daily", fetch_daily_stats, pulled_at)
    hourly = pull("ad_stats_hourly", fetch_hourly_stats, pulled_at)
    for day in DAYS:
        key = (profile.advertiser_id, day)
        assert daily[key].first_pull and daily[key].inserted == daily[key].rows_served > 0
        # The hourly rows of a day add up to its daily row (the simulator's ground truth is hourly).
        assert round(hourly[key].spend_after, 2) == round(daily[key].spend_after, 2)
        assert partition_data_version(engine, "ad_stats_daily", *key) == daily[key].data_version
    stored = read_stats(engine, "ad_stats_hourly", profile.advertiser_id)
    assert set(stored["stat_date"]) == set(DAYS)

    # Nothing moved: same versions, nothing written.
    again = pull("ad_stats_daily", fetch_daily_stats, pulled_at + timedelta(minutes=5))
    assert [write.changed for write in again.values()] == [False] * 3
    # Three days later TikTok has revised the recent days (late conversions).
    sim_clock.advance(timedelta(days=3))
    later = pull("ad_stats_daily", fetch_daily_stats, pulled_at + timedelta(days=3))
    assert any(write.updated for write in later.values())
    assert all(write.data_version != daily[key].data_version for key, write in later.items() if write.updated)
