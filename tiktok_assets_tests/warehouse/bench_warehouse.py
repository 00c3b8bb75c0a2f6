"""Warehouse write throughput. Not a test (pytest does not collect it). Run:

    python -m tiktok_assets_tests.warehouse.bench_warehouse [--url URL] [--days 365] [--ads 1000] [--reset]

Prints figures, asserts nothing: a backfill of hourly stats (days × ads × 24
rows), then a re-pull of the last week with nothing changed, then one with
a tenth of the rows revised. Without --url it uses a temporary SQLite file;
a database that already holds stats is refused unless --reset (which drops
every warehouse table) is given.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa

from tiktok_assets.warehouse.engine import make_engine
from tiktok_assets.warehouse.schema import create_schema
from tiktok_assets.warehouse.stats import write_stats_partitions
from tiktok_assets.warehouse.tables import metadata


def synthetic_hourly_frames(advertiser_id: str, days: list[date], ads: int, seed: int = 1
                            ) -> dict[tuple[str, date], pd.DataFrame]:
    """One UTC-zoned partition per day: ``ads`` × 24 hourly rows of plausible stats."""
    rng = np.random.default_rng(seed)
    ad_ids = np.array([f"17{index:017d}" for index in range(ads)], dtype=object)
    hours = np.arange(24).astype("timedelta64[h]")
    frames = {}
    for day in days:
        local = (np.datetime64(day, "h") + hours).astype("datetime64[ns]")
        size = ads * 24
        impressions = rng.integers(0, 5_000, size)
        clicks = rng.binomial(impressions, 0.01)
        conversions = rng.binomial(clicks, 0.05)
        frames[(advertiser_id, day)] = pd.DataFrame({
            "advertiser_id": advertiser_id,
            "ad_id": np.repeat(ad_ids, 24),
            "stat_hour_utc": np.tile(local, ads),
            "stat_hour_local": np.tile(local, ads),
            "stat_date": day,
            "campaign_id": "1800000000000000001",
            "adgroup_id": "1810000000000000001",
            "currency": "USD",
            "spend": np.round(impressions * rng.uniform(0.002, 0.02, size), 2),
            "impressions": impressions,
            "clicks": clicks,
            "conversions": conversions,
            "installs": rng.binomial(clicks, 0.02),
            "purchases": conversions,
            "purchase_value": np.round(conversions * rng.uniform(5, 80, size), 2),
            "spread": False,
        })
    return frames


def _revise(frame: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    revised = frame.copy()
    picked = rng.random(len(frame)) < share
    revised.loc[picked, "conversions"] += 1
    revised.loc[picked, "spend"] = np.round(revised.loc[picked, "spend"] * 1.01, 2)
    return revised


def _timed(label: str, rows: int, action) -> None:  # noqa: ANN001 - any callable
    started = time.perf_counter()
    writes = action()
    seconds = time.perf_counter() - started
    changed = sum(write.changed for write in writes.values())
    print(f"{label}: {rows:,} rows in {seconds:.1f} s = {rows / seconds:,.0f} rows/s "
          f"({len(writes)} partitions, {changed} changed)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", help="SQLAlchemy URL of a scratch warehouse (default: a temporary SQLite file)")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--ads", type=int, default=1000)
    parser.add_argument("--reset", action="store_true", help="drop every warehouse table first")
    args = parser.parse_args()
    scratch = tempfile.TemporaryDirectory()
    engine = make_engine(args.url or f"sqlite:///{scratch.name}/bench.sqlite")
    if args.reset:
        metadata.drop_all(engine)
    create_schema(engine)
    with engine.connect() as connection:
        if connection.execute(sa.text("SELECT count(*) FROM ad_stats_hourly")).scalar():
            raise SystemExit("ad_stats_hourly already holds rows: point --url at a scratch database or pass --reset.")
    days = [date(2025, 1, 1) + timedelta(days=offset) for offset in range(args.days)]
    frames = synthetic_hourly_frames("7000000000000000001", days, args.ads)
    total = sum(len(frame) for frame in frames.values())
    pulled = datetime(2026, 1, 1)
    _timed("backfill", total, lambda: write_stats_partitions(engine, "ad_stats_hourly", frames, pulled))
    week = dict(list(frames.items())[-7:])
    week_rows = sum(len(frame) for frame in week.values())
    _timed("re-pull, unchanged", week_rows,
           lambda: write_stats_partitions(engine, "ad_stats_hourly", week, pulled + timedelta(days=1)))
    revised = {key: _revise(frame, 0.1, seed=index) for index, (key, frame) in enumerate(week.items())}
    _timed("re-pull, 10% revised", week_rows,
           lambda: write_stats_partitions(engine, "ad_stats_hourly", revised, pulled + timedelta(days=2)))
    with engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT count(*), sum(spend) FROM ad_stats_hourly")).one()
        revisions = connection.execute(sa.text("SELECT count(*) FROM stats_revisions")).scalar()
    print(f"stored rows {stored[0]:,}, spend {stored[1]:,.2f}, revisions {revisions:,}")
    engine.dispose()
    scratch.cleanup()


if __name__ == "__main__":
    main()
