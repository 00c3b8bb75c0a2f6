"""Bench 4, metrics: every metric derivation over a year of hourly rows for 1,000 ads (8.76 M rows).

    python -m bench.metrics                 # 1,000 ads, a year
    python -m bench.metrics --ads 100

Moved here from tiktok_assets_tests/metrics/bench_derivations.py. The stats are
synthetic (tiktok_assets_tests.metrics.synthetic), the derivations the real
pure layer: all four levels × both grains in one call, then each separately.
Target (issue 8): under 30 s.
"""

from __future__ import annotations

import argparse

import pandas as pd

from bench._common import Stopwatch, peak_rss_mib, write_results
from tiktok_assets.metrics.rollup import GRAINS, LEVELS, metrics_at_level, metrics_for_levels
from tiktok_assets_tests.metrics.synthetic import year_of_hourly_stats

TARGET_SECONDS = 30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ads", type=int, default=1000)
    args = parser.parse_args()

    with Stopwatch() as making:
        stats = year_of_hourly_stats(args.ads)
    print(f"synthetic frame: {len(stats):,} rows in {making.wall:.1f} s (not counted)")
    ads = pd.DataFrame({"ad_id": stats["ad_id"].unique()})
    history = {"ad_history": ads.assign(ad_name="ad " + ads["ad_id"], valid_from=pd.Timestamp("2024-01-01"),
                                        valid_to=None)}

    with Stopwatch() as together:
        results = metrics_for_levels(stats, LEVELS, GRAINS, history)
    print(f"all {len(LEVELS)} levels × {len(GRAINS)} grains, one call: {together.wall:.1f} s wall, {together.cpu:.1f} s CPU "
          f"(target {TARGET_SECONDS} s) — "
          + ", ".join(f"{level}/{grain} {len(frame):,}" for (level, grain), frame in results.items()))
    separate = {}
    for grain in GRAINS:
        for level in LEVELS:
            with Stopwatch() as one:
                metrics_at_level(stats, level, grain, history)
            separate[f"{level}/{grain}"] = round(one.wall, 2)
            print(f"  metrics_at_level({level!r}, {grain!r}): {one.wall:.1f} s")
    print(f"all {len(separate)} as separate calls: {sum(separate.values()):.1f} s; peak RSS {peak_rss_mib():,.0f} MiB")
    write_results("metrics", {
        "ads": args.ads, "rows": len(stats), "one_call_s": round(together.wall, 2), "one_call_cpu_s": round(together.cpu, 2),
        "separate_calls_s": separate, "separate_total_s": round(sum(separate.values()), 2),
        "target_s": TARGET_SECONDS, "peak_rss_mib": round(peak_rss_mib(), 1),
        "rows_out": {f"{level}/{grain}": len(frame) for (level, grain), frame in results.items()},
    })


if __name__ == "__main__":
    main()
