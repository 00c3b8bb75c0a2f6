"""Shared pieces of the reliability suite: a small simulated world, a fast client, the pure pull + write path,
and the comparison of a warehouse with the simulator's truth."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tiktok_assets.simulator import DEFAULT_ACCESS_TOKEN, SimClock, Simulator, World
from tiktok_assets.spend.pull import AdvertiserProfile, ad_parents_frame, fetch_daily_stats, fetch_hourly_stats
from tiktok_assets.tiktok.client import RetryPolicy, TikTokClient
from tiktok_assets.warehouse import create_schema, make_engine, write_stats_partitions
from tiktok_assets_tests.conftest import SIM_NOW

METRICS = ["spend", "impressions", "clicks", "conversions", "installs", "purchases", "purchase_value"]
# Simulator truth names -> warehouse names.
TRUTH_NAMES = {"conversion": "conversions", "app_install": "installs", "complete_payment": "purchases",
               "total_complete_payment_rate": "purchase_value"}
STATS_TABLES = ("ad_stats_daily", "ad_stats_hourly")
# Three days ending two days before SIM_NOW: old enough to be served whole, young enough to still be revised.
START, END = date(2026, 11, 15), date(2026, 11, 17)
# Small pages make every report span several pages, so mid-paging faults (total_page change, empty page) bite.
SMALL_PAGE = 25


def small_world(seed: int = 3, n_advertisers: int = 2) -> World:
    """Four advertisers cover USD/EUR/JPY and GBP (the one without an hourly breakdown)."""
    return World(seed, n_advertisers=n_advertisers, campaigns_per_advertiser=1, adgroups_per_campaign=1,
                 ads_per_adgroup=3)


def small_simulator(seed: int = 3, n_advertisers: int = 2) -> Simulator:
    return Simulator(world=small_world(seed, n_advertisers), clock=SimClock(fixed=SIM_NOW), qps=None)


class SmallPageClient(TikTokClient):
    """The real client, asking for small pages so that every listing and report is paged."""

    def report_pages(self, *args, page_size: int = SMALL_PAGE, **kwargs):  # noqa: ANN002, ANN003, ANN201
        return super().report_pages(*args, page_size=page_size, **kwargs)

    def all_pages(self, *args, page_size: int = SMALL_PAGE, **kwargs):  # noqa: ANN002, ANN003, ANN201
        return super().all_pages(*args, page_size=page_size, **kwargs)


def fast_client(sim: Simulator, *, token: str = DEFAULT_ACCESS_TOKEN, max_attempts: int = 6) -> TikTokClient:
    """In-process client with millisecond backoff (retries still happen, they just do not wait)."""
    return SmallPageClient(token, "http://simulator.local", qps=None, transport=sim.transport(), seed=0,
                           retry=RetryPolicy(max_attempts=max_attempts, base_delay=0.001, max_delay=0.002))


def sqlite_engine(path) -> Engine:  # noqa: ANN001 - a pathlib.Path
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    return engine


def pull_and_write(client: TikTokClient, engine: Engine, advertiser_ids: Iterable[str], start: date, end: date,
                   pulled_at=SIM_NOW.replace(tzinfo=None)) -> int:  # noqa: ANN001
    """What the stats assets do, without Dagster: per advertiser, fetch every day and write its partitions.

    Returns the number of partitions written. Raises whatever the client or the warehouse raises.
    """
    dates = [start + timedelta(days=offset) for offset in range((end - start).days + 1)]
    ids = list(advertiser_ids)
    profiles = {str(info["advertiser_id"]): AdvertiserProfile.from_info(info) for info in client.advertiser_info(ids)}
    written = 0
    for advertiser_id in ids:
        profile = profiles[advertiser_id]
        parents = ad_parents_frame(client.ads(advertiser_id))
        for table, fetch in (("ad_stats_daily", fetch_daily_stats), ("ad_stats_hourly", fetch_hourly_stats)):
            frames = fetch(client, profile, dates, parents)
            writes = write_stats_partitions(engine, table, {(advertiser_id, day): frame for day, frame in frames.items()},
                                            pulled_at)
            written += len(writes)
    return written


def query(engine: Engine, sql: str, **params: object) -> pd.DataFrame:
    with engine.connect() as connection:
        frame = pd.DataFrame(connection.execute(sa.text(sql), params).mappings().all())
    for column in frame.columns:
        if len(frame) and isinstance(frame[column].iloc[0], Decimal):
            frame[column] = frame[column].astype(float)
    return frame


def truth_daily(sim: Simulator, advertiser_id: str, start: date, end: date) -> pd.DataFrame:
    truth = sim.world.report_frame(advertiser_id, "AUCTION_AD", "day", start, end, sim.clock.now())
    truth = truth.rename(columns=TRUTH_NAMES)
    return truth.assign(stat_date=truth["stat_time"].dt.date.astype(str))[["ad_id", "stat_date", *METRICS]]


def truth_hourly_rows_by_day(sim: Simulator, advertiser_id: str, start: date, end: date) -> dict[str, int]:
    """Hourly rows the warehouse must hold per day: TikTok's hours, or 24 spread hours per ad-day without a breakdown."""
    if sim.world.advertiser(advertiser_id).has_hourly:
        hourly = sim.world.report_frame(advertiser_id, "AUCTION_AD", "hour", start, end, sim.clock.now())
        return {str(day): int(n) for day, n in hourly.groupby(hourly["stat_time"].dt.date).size().items()}
    daily = truth_daily(sim, advertiser_id, start, end)
    return {day: int(n) * 24 for day, n in daily.groupby("stat_date").size().items()}  # no DST change in range


def truth_hourly_rows(sim: Simulator, advertiser_id: str, start: date, end: date) -> int:
    return sum(truth_hourly_rows_by_day(sim, advertiser_id, start, end).values())


def assert_warehouse_equals_truth(engine: Engine, sim: Simulator, advertiser_ids: Iterable[str], start: date,
                                  end: date) -> None:
    """Every ad-day and ad-hour of the range is stored once, with the simulator's numbers; nothing else is stored."""
    columns = ", ".join(METRICS)
    for advertiser_id in advertiser_ids:
        truth = truth_daily(sim, advertiser_id, start, end)
        daily = query(engine, f"select ad_id, stat_date, {columns} from ad_stats_daily where advertiser_id = :a",
                      a=advertiser_id)
        assert len(daily) == len(truth) > 0, f"advertiser {advertiser_id}: {len(daily)} daily rows, truth {len(truth)}"
        daily["stat_date"] = pd.to_datetime(daily["stat_date"]).dt.date.astype(str)
        joined = truth.merge(daily, on=["ad_id", "stat_date"], how="outer", suffixes=("_truth", ""), indicator=True,
                             validate="one_to_one")
        assert (joined["_merge"] == "both").all(), f"advertiser {advertiser_id}: rows missing or extra"
        for metric in METRICS:
            assert np.allclose(joined[metric], joined[f"{metric}_truth"], atol=1e-6), (advertiser_id, metric)
        hourly = query(engine, f"select ad_id, stat_date, {columns} from ad_stats_hourly where advertiser_id = :a",
                       a=advertiser_id)
        assert len(hourly) == truth_hourly_rows(sim, advertiser_id, start, end), advertiser_id
        hourly["stat_date"] = pd.to_datetime(hourly["stat_date"]).dt.date.astype(str)
        summed = hourly.groupby(["ad_id", "stat_date"], as_index=False)[METRICS].sum()
        joined = truth.merge(summed, on=["ad_id", "stat_date"], suffixes=("_truth", ""), validate="one_to_one")
        assert len(joined) == len(truth), f"advertiser {advertiser_id}: an ad-day has no hours"
        for metric in METRICS:
            assert np.allclose(joined[metric], joined[f"{metric}_truth"], atol=0.005), (advertiser_id, metric)


def assert_no_partition_half_written(engine: Engine, sim: Simulator, advertiser_ids: Iterable[str], start: date,
                                     end: date) -> int:
    """Each stored partition is complete and recorded in partition_pulls; the others hold no row at all.

    Returns how many partitions are complete.
    """
    complete = 0
    for advertiser_id in advertiser_ids:
        truth = truth_daily(sim, advertiser_id, start, end)
        hourly_truth = truth_hourly_rows_by_day(sim, advertiser_id, start, end)
        days = sorted(set(truth["stat_date"]))
        for table in STATS_TABLES:
            stored = query(engine, f"select stat_date, count(*) as n from {table} where advertiser_id = :a "
                                   "group by stat_date", a=advertiser_id)
            stored_by_day = ({} if stored.empty else
                             dict(zip(pd.to_datetime(stored["stat_date"]).dt.date.astype(str), stored["n"], strict=True)))
            pulls = query(engine, "select stat_date, rows_served from partition_pulls where table_name = :t "
                                  "and advertiser_id = :a", t=table, a=advertiser_id)
            pulled = set() if pulls.empty else set(pd.to_datetime(pulls["stat_date"]).dt.date.astype(str))
            for day in days:
                daily_rows = int((truth["stat_date"] == day).sum())
                expected = daily_rows if table == "ad_stats_daily" else hourly_truth.get(day, 0)
                got = int(stored_by_day.get(day, 0))
                assert got in (0, expected), f"{table} {advertiser_id} {day}: {got} rows, truth {expected}: half-written"
                assert (got == expected) == (day in pulled), (
                    f"{table} {advertiser_id} {day}: rows {got} but partition_pulls {'has' if day in pulled else 'lacks'} it"
                )
                complete += got == expected
    return complete

