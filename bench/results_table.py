"""Render the newest figures (bench/results/*-latest.json) as the markdown table in bench/RESULTS.md.

    python -m bench.results_table            # prints it and writes bench/RESULTS.md
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench._common import RESULTS_DIR

RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"


def _latest(name: str) -> dict[str, Any] | None:
    path = RESULTS_DIR / f"{name}-latest.json"
    return json.loads(path.read_text()) if path.exists() else None


def _ratio(value: float, target: float, *, lower_is_better: bool = False) -> str:
    ratio = target / value if lower_is_better else value / target
    return f"{ratio:.2f}× {'✅' if ratio >= 1 else '❌'}"


def rows() -> list[tuple[str, str, str, str]]:
    table: list[tuple[str, str, str, str]] = []
    if backfill := _latest("backfill"):
        for run in backfill["runs"]:
            label = f"1 backfill {run['days']} d × {run['ads']:,} ads → {run['warehouse']}"
            figure = (f"{run['wall_s']:.0f} s wall ({run['cpu_s']:.0f} s CPU + {run['simulator_cpu_s']:.0f} s simulator), "
                      f"{run['stats_rows']:,} rows, {run['rows_per_s']:,} rows/s, {run['us_per_day_ad']:.0f} µs/day×ad, "
                      f"peak RSS {run['peak_rss_mib']:.0f} MiB")
            if run["days"] >= 365:
                table.append((label, figure, "< 600 s; < 1024 MiB",
                              f"time {_ratio(run['wall_s'], 600, lower_is_better=True)}; "
                              f"RSS {_ratio(run['peak_rss_mib'], 1024, lower_is_better=True)}"))
            else:
                table.append((label, figure, "linear", "see µs/day×ad"))
    if processing := _latest("processing"):
        for run in processing["runs"]:
            table.append((
                f"2 processing ceiling {processing['days']} d × {processing['ads']:,} ads hourly → {run['warehouse']}",
                f"parse {run['parse_rows_per_s']:,}/s, write {run['write_rows_per_s']:,}/s, "
                f"parse+write **{run['parse_and_write_rows_per_s']:,} rows/s**; week re-pull unchanged "
                f"{run['repull_unchanged_rows_per_s']:,}/s, 10 % revised {run['repull_10pct_revised_rows_per_s']:,}/s",
                f"≥ {run['target_rows_per_s']:,} rows/s",
                _ratio(run["parse_and_write_rows_per_s"], run["target_rows_per_s"]),
            ))
    if repull := _latest("repull"):
        for run in repull["runs"]:
            written = {grain: run[grain]["rows_inserted"] + run[grain]["rows_updated"] + run[grain]["rows_deleted"]
                       for grain in ("daily", "hourly")}
            requested = run["downstream_partitions_requested"]
            table.append((
                f"3 re-pull {run['days']} d × {run['ads']:,} ads, one changed day → {run['warehouse']}",
                f"{run['repull_s']:.1f} s; rows written daily {written['daily']:,}, hourly {written['hourly']:,} "
                f"(= the changed day's changed rows); partitions changed {run['daily']['partitions_changed']} + "
                f"{run['hourly']['partitions_changed']}; downstream requested {sum(requested.values())} "
                f"(one per stats asset); unchanged re-pull requested {run['unchanged_repull_downstream_requested']}",
                "only changed rows; one partition",
                "✅" if all(value == 1 for value in requested.values()) else "❌",
            ))
    if metrics := _latest("metrics"):
        table.append((f"4 metrics, {metrics['rows']:,} hourly rows ({metrics['ads']:,} ads, a year)",
                      f"{metrics['one_call_s']:.1f} s (all levels × grains, one call; {metrics['one_call_cpu_s']:.1f} s CPU)",
                      "< 30 s", _ratio(metrics["one_call_s"], 30, lower_is_better=True)))
    if postbacks := _latest("postbacks"):
        for run in postbacks["runs"]:
            exact = run["track_requests"] == run["expected_requests"]
            table.append((
                f"5 postbacks {run['first_party_events']:,} first-party events → {run['warehouse']}",
                f"map+hash+enqueue {run['map_hash_enqueue_s']:.0f} s + deliver {run['deliver_s']:.0f} s = "
                f"**{run['first_party_events_per_s']:,} events/s** ({run['tiktok_events_per_s']:,} TikTok events/s); "
                f"{run['track_requests']:,} requests for {run['expected_requests']:,} expected; "
                f"{run.get('map_workers', 1)} map workers; peak RSS {run['peak_rss_mib']:,.0f} MiB",
                "≥ 20,000 events/s; ceil(n/1000) requests",
                f"{_ratio(run['first_party_events_per_s'], 20_000)}; requests {'✅' if exact else '❌'}",
            ))
    if overhead := _latest("dagster_overhead"):
        single, each = overhead["single_run"], overhead["run_per_partition"]
        table.append((
            f"6 Dagster overhead, {single['partitions']} partitions ({overhead['instance']} instance)",
            f"single run {single['ms_per_partition']:.0f} ms/partition, one run per partition "
            f"{each['ms_per_partition']:.0f} ms/partition: +{overhead['extra_ms_per_partition']:.0f} ms each",
            "(figure)", f"{each['wall_s'] / single['wall_s']:.1f}× slower per run"))
    if cost := _latest("api_cost"):
        repull = cost["settle_repull"]
        blind, probed = repull["blind"], repull["probed"]
        backfill_part = ""
        if filled := cost.get("backfill"):
            backfill_part = (f"; backfill {filled['days']} d: {filled['requests']:,} requests = "
                             f"{filled['per_1000_ad_days']} per 1,000 ad-days")
        table.append((
            f"8 API cost, settle re-pull {repull['window_days']} d × {repull['ads']:,} ads",
            f"blind {blind['requests']:,} requests = {blind['per_1000_ad_days']} per 1,000 ad-days; probed "
            f"{probed['requests']:,} = {probed['per_1000_ad_days']}; probed/blind "
            f"**{repull['probed_over_blind']:.3f}**{backfill_part}",
            "probed/blind ≤ 0.20", _ratio(repull["probed_over_blind"], 0.2, lower_is_better=True)))
    return table


def render() -> str:
    machine = next((doc["machine"] for name in ("backfill", "processing", "metrics")
                    if (doc := _latest(name))), {})
    lines = [
        "# Benchmark figures (issue 8)",
        "",
        f"Machine: {machine.get('cpus', '?')} × {machine.get('processor', '?')}, Python {machine.get('python', '?')}, "
        f"{machine.get('platform', '?')}. Shared with other engineers' test runs while measured (load average "
        f"{machine.get('load_average_1_5_15', '?')} at the start of one run): wall times are pessimistic, CPU "
        "seconds are the steadier figure. Commands: `bench/README.md`.",
        "",
        "| bench | figure | target | ratio to target |",
        "|---|---|---|---|",
        *(f"| {name} | {figure} | {target} | {ratio} |" for name, figure, target, ratio in rows()),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    text = render()
    RESULTS_MD.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
