"""Bench 2, processing ceiling: rows/s of our parse + write path alone, report pages already in memory.

    python -m bench.processing                                  # 30 days × 1,000 ads hourly, SQLite and Postgres
    python -m bench.processing --days 7 --ads 1000 --warehouse sqlite

The pages are fetched once from the in-process simulator, kept as decoded JSON,
then fed through the real ``fetch_hourly_stats`` (parse + shape) and
``write_stats_partitions`` (first write, an unchanged re-pull of the last week,
a re-pull of the last week with a tenth of the rows revised). If this ceiling
is far above the backfill's rows/s, the API, not our code, is the bottleneck.
Targets (issue 8): ≥ 100,000 rows/s into Postgres, ≥ 50,000 rows/s into SQLite.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from bench._common import (
    LAST_FULL_DAY,
    SIM_NOW,
    Stopwatch,
    add_warehouse_argument,
    days_ending,
    rate,
    temporary_warehouse,
    warehouses_of,
    write_results,
)
from tiktok_assets.spend.pull import HOURLY_METRICS, AdvertiserProfile, ad_parents_frame, fetch_hourly_stats
from tiktok_assets.tiktok.client import TikTokClient

TARGETS_ROWS_PER_S = {"sqlite": 50_000, "postgres": 100_000}
SLICE_DAYS = 30


class PagesInMemory:
    """Stands in for :class:`TikTokClient` in ``fetch_hourly_stats``: serves report pages read earlier."""

    def __init__(self, pages: dict[tuple[str, date], list[list[dict[str, Any]]]]) -> None:
        self.pages = pages

    def report_pages(self, advertiser_id: str, *, start: date, end: date, **_: Any) -> Iterator[list[dict[str, Any]]]:
        day = start
        while day <= end:
            yield from self.pages.get((advertiser_id, day), [])
            day += timedelta(days=1)


def read_pages(ads: int, days: list[date]) -> tuple[PagesInMemory, list[AdvertiserProfile], dict[str, pd.DataFrame]]:
    from tiktok_assets.simulator import DEFAULT_ACCESS_TOKEN, SimClock, Simulator, World

    sim = Simulator(world=World.sized(n_ads=ads, n_advertisers=2, seed=7), clock=SimClock(fixed=SIM_NOW), qps=None)
    pages: dict[tuple[str, date], list[list[dict[str, Any]]]] = {}
    with TikTokClient(DEFAULT_ACCESS_TOKEN, "http://simulator.local", qps=None, transport=sim.transport()) as client:
        profiles = [AdvertiserProfile.from_info(info) for info in client.advertiser_info(sim.world.advertiser_ids)]
        parents = {profile.advertiser_id: ad_parents_frame(client.ads(profile.advertiser_id)) for profile in profiles}
        for profile in profiles:
            for day in days:
                pages[(profile.advertiser_id, day)] = list(client.report_pages(
                    profile.advertiser_id, start=day, end=day, metrics=HOURLY_METRICS, granularity="hour"))
    return PagesInMemory(pages), profiles, parents


def _revised(frame: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    revised = frame.copy()
    picked = rng.random(len(frame)) < share
    revised.loc[picked, "conversions"] += 1
    revised.loc[picked, "spend"] = np.round(revised.loc[picked, "spend"] * 1.01, 2)
    return revised


def _slices(keys: Sequence[tuple[str, date]]) -> list[list[tuple[str, date]]]:
    return [list(keys[start : start + SLICE_DAYS]) for start in range(0, len(keys), SLICE_DAYS)]


def run(warehouse: str, memory: PagesInMemory, profiles: list[AdvertiserProfile], parents: dict[str, pd.DataFrame],
        days: list[date]) -> dict[str, Any]:
    from tiktok_assets.warehouse import create_schema, make_engine, write_stats_partitions

    figures: dict[str, Any] = {"warehouse": warehouse}
    with temporary_warehouse(warehouse) as url:
        engine = make_engine(url)
        create_schema(engine)
        with Stopwatch() as parse:
            frames = {
                (profile.advertiser_id, day): frame
                for profile in profiles
                for day, frame in fetch_hourly_stats(memory, profile, days, parents[profile.advertiser_id]).items()
            }
        rows = sum(len(frame) for frame in frames.values())
        pulled = datetime(2026, 1, 5)
        with Stopwatch() as write:
            # Slices of 30 partitions per call, as the stats asset writes them.
            for keys in _slices(list(frames)):
                write_stats_partitions(engine, "ad_stats_hourly", {key: frames[key] for key in keys}, pulled)
        last_week = {key: frame for key, frame in frames.items() if key[1] > days[-1] - timedelta(days=7)}
        week_rows = sum(len(frame) for frame in last_week.values())
        with Stopwatch() as unchanged:
            writes = write_stats_partitions(engine, "ad_stats_hourly", last_week, pulled + timedelta(days=1))
        unchanged_changed = sum(write.changed for write in writes.values())
        revised = {key: _revised(frame, 0.1, seed=index) for index, (key, frame) in enumerate(last_week.items())}
        with Stopwatch() as revise:
            writes = write_stats_partitions(engine, "ad_stats_hourly", revised, pulled + timedelta(days=2))
        revised_updated = sum(write.updated for write in writes.values())
        engine.dispose()
    figures.update({
        "rows": rows,
        "parse_s": round(parse.wall, 2), "parse_cpu_s": round(parse.cpu, 2),
        "parse_rows_per_s": round(rate(rows, parse.wall)),
        "write_s": round(write.wall, 2), "write_cpu_s": round(write.cpu, 2),
        "write_rows_per_s": round(rate(rows, write.wall)),
        "parse_and_write_rows_per_s": round(rate(rows, parse.wall + write.wall)),
        "target_rows_per_s": TARGETS_ROWS_PER_S[warehouse],
        "repull_week_rows": week_rows,
        "repull_unchanged_s": round(unchanged.wall, 2),
        "repull_unchanged_rows_per_s": round(rate(week_rows, unchanged.wall)),
        "repull_unchanged_partitions_changed": unchanged_changed,
        "repull_10pct_revised_s": round(revise.wall, 2),
        "repull_10pct_revised_rows_per_s": round(rate(week_rows, revise.wall)),
        "repull_10pct_rows_updated": revised_updated,
    })
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--ads", type=int, default=1000)
    add_warehouse_argument(parser, default="both")
    args = parser.parse_args()
    start, end = days_ending(LAST_FULL_DAY, args.days)
    days = [start + timedelta(days=offset) for offset in range(args.days)]
    with Stopwatch() as reading:
        memory, profiles, parents = read_pages(args.ads, days)
    pages = sum(len(day_pages) for day_pages in memory.pages.values())
    print(f"read {pages:,} report pages from the in-process simulator in {reading.wall:.1f} s (not counted)")
    runs = []
    for warehouse in warehouses_of(args.warehouse):
        figures = run(warehouse, memory, profiles, parents, days)
        runs.append(figures)
        print(f"processing {warehouse:8s}: {figures['rows']:,} hourly rows: parse {figures['parse_rows_per_s']:,} rows/s, "
              f"write {figures['write_rows_per_s']:,} rows/s, parse+write {figures['parse_and_write_rows_per_s']:,} rows/s "
              f"(target {figures['target_rows_per_s']:,}); re-pull of a week: unchanged "
              f"{figures['repull_unchanged_rows_per_s']:,} rows/s ({figures['repull_unchanged_partitions_changed']} "
              f"partitions changed), 10% revised {figures['repull_10pct_revised_rows_per_s']:,} rows/s "
              f"({figures['repull_10pct_rows_updated']:,} rows updated)", flush=True)
    write_results("processing", {"days": args.days, "ads": args.ads, "pages": pages, "runs": runs})


if __name__ == "__main__":
    main()
