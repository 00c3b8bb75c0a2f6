"""Benchmark: every metric derivation over a year of hourly rows for 1,000 ads (8.76 M rows).

Not a test (pytest does not collect it). Run:

    python -m tiktok_assets_tests.metrics.bench_derivations [--ads 1000]
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from tiktok_assets.metrics.rollup import GRAINS, LEVELS, metrics_at_level, metrics_for_levels
from tiktok_assets_tests.metrics.synthetic import year_of_hourly_stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ads", type=int, default=1000)
    args = parser.parse_args()

    started = time.perf_counter()
    stats = year_of_hourly_stats(args.ads)
    print(f"synthetic frame: {len(stats):,} rows in {time.perf_counter() - started:.1f} s")
    ads = pd.DataFrame({"ad_id": stats["ad_id"].unique()})
    history = {"ad_history": ads.assign(ad_name="ad " + ads["ad_id"], valid_from=pd.Timestamp("2024-01-01"),
                                        valid_to=None)}

    started = time.perf_counter()
    results = metrics_for_levels(stats, LEVELS, GRAINS, history)
    together = time.perf_counter() - started
    print(f"all 4 levels x 2 grains, one call: {together:.1f} s "
          f"({', '.join(f'{level}/{grain} {len(frame):,}' for (level, grain), frame in results.items())})")

    total = 0.0
    for grain in GRAINS:
        for level in LEVELS:
            started = time.perf_counter()
            metrics_at_level(stats, level, grain, history)
            elapsed = time.perf_counter() - started
            total += elapsed
            print(f"  metrics_at_level({level!r}, {grain!r}): {elapsed:.1f} s")
    print(f"all 8 as separate calls: {total:.1f} s")


if __name__ == "__main__":
    main()
