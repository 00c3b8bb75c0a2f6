"""Airbyte's report streams against our warehouse: the same frozen simulator, the same days, the same totals.

Issue 17's "done when": Airbyte's source-tiktok-marketing 4.7 reads every BASIC, AUDIENCE and lifetime
report stream with 0 errors, and its totals equal our warehouse's for the same range. This starts one
frozen simulator, imports the range with our own assets (advertisers, entities, ad stats daily and
hourly, TikTok's campaign / ad group / advertiser totals, every audience breakdown, lifetime totals) into
a fresh SQLite warehouse on an ephemeral Dagster instance, then reads each report stream with the peer
(``include_deleted``: our import keeps deleted entities' rows, TikTok hides them without the status
filter) and compares spend, impressions and clicks per stream with the warehouse rows that hold the
same numbers:

* a BASIC stream at a level with our table at that level (``ad_stats_daily``/``_hourly``,
  ``level_stats_daily``);
* an AUDIENCE stream at ad, ad group or campaign level with ``audience_stats_daily`` of that breakdown
  and level; at advertiser level (we keep no advertiser-level breakdowns) with the advertiser's own
  totals, which every breakdown must sum to;
* a BASIC stream "by country" with the country breakdown at its level;
* a lifetime stream with the newest ``lifetime_snapshots`` row of each entity.

Usage (repository root, the project's venv; the peer installs into its own venv, see bench/peer.py)::

    python -m bench.peer_totals                       # 100 ads, 2026-01-01..2026-01-03, every report stream
    python -m bench.peer_totals --streams ads_reports_daily campaigns_reports_lifetime

Exit 0 when every stream read without error and every total is equal (spend to the cent, counts exactly).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench._common import write_results
from bench.peer import PeerUnavailable, catalog_for, config_for, ensure_peer, patched_manifest_dir

COMPARED = ("spend", "impressions", "clicks")
# Airbyte's breakdown names → ours (audience.breakdowns); "" is the AUDIENCE age × gender stream.
_AUDIENCE_SUFFIX = {"": "age_gender", "_by_country": "country", "_by_platform": "platform",
                    "_by_province": "province"}
_LEVELS = {"ads": "ad", "ad_groups": "adgroup", "ad_group": "adgroup", "campaigns": "campaign",
           "advertisers": "advertiser"}
# The by-country hourly streams are a day's hours × countries per ad: minutes of the peer's time for a
# figure the hourly and country streams already pin. Ask for them with --streams.
SLOW_STREAMS = ("ads_reports_by_country_hourly", "ad_groups_reports_by_country_hourly")


@dataclass(frozen=True)
class Counterpart:
    """Where the warehouse holds a stream's numbers, as one SQL sum over the range."""

    description: str
    sql: str


def counterpart(stream: str) -> Counterpart | None:
    """The warehouse rows a report stream's totals must equal, or None for a stream that is not a report."""
    sums = ", ".join(f"coalesce(sum({name}), 0)" for name in COMPARED)
    in_range = "stat_date between :start and :end"
    for prefix, level in sorted(_LEVELS.items(), key=lambda item: -len(item[0])):
        if not stream.startswith(prefix + "_"):
            continue
        rest = stream[len(prefix) + 1:]
        if rest == "reports_lifetime":
            if level == "advertiser":
                # TikTok's advertiser lifetime is the sum of its campaigns' (the simulator builds it so).
                level = "campaign"
            return Counterpart(f"newest lifetime_snapshots per {level}", f"""
                select {sums} from lifetime_snapshots as s where level = '{level}' and snapshot_at = (
                  select max(snapshot_at) from lifetime_snapshots as t
                  where t.advertiser_id = s.advertiser_id and t.level = s.level and t.entity_id = s.entity_id)""")
        if rest in ("reports_daily", "reports_hourly"):
            if level == "ad":
                table = "ad_stats_daily" if rest == "reports_daily" else "ad_stats_hourly"
                return Counterpart(table, f"select {sums} from {table} where {in_range}")
            if rest == "reports_hourly":
                # We pull TikTok's own level totals daily; an hourly level stream sums to them.
                return Counterpart(f"level_stats_daily ({level}; the hours sum to the days)",
                                   f"select {sums} from level_stats_daily where level = '{level}' and {in_range}")
            return Counterpart(f"level_stats_daily ({level})",
                               f"select {sums} from level_stats_daily where level = '{level}' and {in_range}")
        if rest.startswith("reports_by_country_"):
            if level == "advertiser":
                return Counterpart("level_stats_daily (advertiser)",
                                   f"select {sums} from level_stats_daily where level = 'advertiser' and {in_range}")
            return Counterpart(f"audience_stats_daily (country, {level})",
                               f"select {sums} from audience_stats_daily where breakdown = 'country' "
                               f"and level = '{level}' and {in_range}")
        if rest.startswith("audience_reports"):
            tail = rest[len("audience_reports"):]
            if tail == "_lifetime":
                return Counterpart(f"newest lifetime_snapshots per {level} (a lifetime breakdown sums to it)",
                                   counterpart(f"{prefix}_reports_lifetime").sql)  # type: ignore[union-attr]
            breakdown = _AUDIENCE_SUFFIX.get(tail.removesuffix("_daily"))
            if breakdown is None:
                return None
            if level == "advertiser":
                return Counterpart(f"level_stats_daily (advertiser; its {breakdown} breakdown sums to it)",
                                   f"select {sums} from level_stats_daily where level = 'advertiser' and {in_range}")
            return Counterpart(f"audience_stats_daily ({breakdown}, {level})",
                               f"select {sums} from audience_stats_daily where breakdown = '{breakdown}' "
                               f"and level = '{level}' and {in_range}")
    return None


def import_range(base_url: str, warehouse_url: str, start: date, end: date) -> None:
    """Our own assets, as a user's backfill runs them, for [start, end] on an ephemeral instance."""
    import dagster as dg

    from tiktok_assets.audience.breakdowns import BREAKDOWNS
    from tiktok_assets.definitions import build_definitions
    from tiktok_assets.defs.levels import LEVEL_ASSETS
    from tiktok_assets.defs.resources import TikTokApiResource, WarehouseResource
    from tiktok_assets.demo import materialize_recent
    from tiktok_assets.partitions import ADVERTISER_PARTITIONS_NAME, all_advertisers_range_tags

    defs = build_definitions(TikTokApiResource(base_url=base_url, qps=1000.0, backoff_seconds=0.05),
                             WarehouseResource(url=warehouse_url))
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.ephemeral() as instance:
        materialize_recent(instance, start, end, defs=defs, with_reports=False, event_hours=0)
        advertisers = instance.get_dynamic_partitions(ADVERTISER_PARTITIONS_NAME)
        daily = [dg.AssetKey(name) for name in LEVEL_ASSETS.values()]
        daily += [dg.AssetKey(breakdown.asset_name) for breakdown in BREAKDOWNS.values()]
        job.execute_in_process(instance=instance, asset_selection=daily, raise_on_error=True,
                               tags=all_advertisers_range_tags(advertisers, start, end))
        for advertiser_id in advertisers:
            job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("lifetime_totals")],
                                   partition_key=advertiser_id, raise_on_error=True)


def peer_totals(peer: Any, base_url: str, stream: str, start: date, end: date, workdir: Path
                ) -> tuple[dict[str, float], int, list[str]]:
    """The peer's sums of the compared metrics over one stream's records, its record count and its errors."""
    patched_manifest_dir(peer, base_url, workdir)
    (workdir / "config.json").write_text(json.dumps(config_for(start, end, include_deleted=True)))
    (workdir / "catalog.json").write_text(json.dumps(catalog_for([stream])))
    out = subprocess.run([str(peer.executable), "read", "--config", "config.json", "--catalog", "catalog.json"],
                         cwd=workdir, capture_output=True, text=True, timeout=1800)
    totals: dict[str, float] = defaultdict(float)
    records = 0
    errors: list[str] = []
    for line in out.stdout.splitlines():
        if not line.startswith("{"):
            continue
        message = json.loads(line)
        kind = message.get("type")
        if kind == "RECORD":
            records += 1
            metrics = message["record"]["data"].get("metrics") or {}
            for name in COMPARED:
                value = metrics.get(name)
                if value not in (None, "", "-"):
                    totals[name] += float(value)
        elif kind == "TRACE" and message["trace"].get("type") == "ERROR":
            errors.append(message["trace"]["error"].get("message", "")[:300])
        elif kind == "LOG" and message["log"].get("level") in ("ERROR", "FATAL"):
            errors.append(message["log"].get("message", "")[:300])
    if out.returncode != 0:
        errors.append(f"exit {out.returncode}: {out.stderr.strip()[-300:]}")
    return dict(totals), records, errors


def report_streams(peer: Any, base_url: str, start: date, end: date, workdir: Path) -> list[str]:
    from bench.peer import all_stream_names

    names = all_stream_names(peer, base_url, start, end, workdir)
    return [name for name in names if "report" in name and name not in SLOW_STREAMS]


def equal(ours: float, theirs: float, name: str) -> bool:
    return abs(ours - theirs) < (0.005 if name == "spend" else 0.5)


def main() -> int:
    from bench._common import simulator_process

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ads", type=int, default=100, help="ads in the simulator's world")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 1, 1))
    parser.add_argument("--end", type=date.fromisoformat, default=date(2026, 1, 3))
    parser.add_argument("--streams", nargs="+", help="these streams only (default: every report stream)")
    options = parser.parse_args()
    try:
        peer = ensure_peer()
    except PeerUnavailable as error:
        print(f"peer unavailable: {error}")
        return 2
    print(peer.version())
    failures = 0
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="peer_totals_") as work, simulator_process(options.ads) as simulator:
        work_dir = Path(work)
        warehouse_url = f"sqlite:///{work_dir / 'warehouse.sqlite'}"
        import_range(simulator.base_url, warehouse_url, options.start, options.end)
        engine = sa.create_engine(warehouse_url)
        streams = options.streams or report_streams(peer, simulator.base_url, options.start, options.end, work_dir)
        print(f"{'stream':47s} {'records':>8s}  {'spend (peer / ours)':>27s}  {'impressions':>21s}  "
              f"{'clicks':>17s}  warehouse rows")
        for stream in streams:
            where = counterpart(stream)
            theirs, records, errors = peer_totals(peer, simulator.base_url, stream, options.start, options.end,
                                                  work_dir)
            if where is None:
                print(f"{stream:47s} {records:>8,}  (no warehouse counterpart)")
                continue
            with engine.connect() as connection:
                row = connection.execute(sa.text(where.sql), {"start": options.start, "end": options.end}).one()
            ours = {name: float(value) for name, value in zip(COMPARED, row, strict=True)}
            same = {name: equal(ours[name], theirs.get(name, 0.0), name) for name in COMPARED}
            ok = not errors and all(same.values()) and records > 0
            failures += not ok
            cells = "  ".join(f"{theirs.get(name, 0.0):>12,.2f}/{ours[name]:<12,.2f}{'' if same[name] else '≠'}"
                              if name == "spend" else
                              f"{theirs.get(name, 0.0):>10,.0f}/{ours[name]:<10,.0f}{'' if same[name] else '≠'}"
                              for name in COMPARED)
            print(f"{stream:47s} {records:>8,}  {cells}  {where.description}{'' if ok else '  FAILED'}", flush=True)
            for error in errors[:3]:
                print(f"    error: {error}")
            results[stream] = {"records": records, "peer": theirs, "ours": ours, "errors": errors,
                               "counterpart": where.description, "equal": ok}
    write_results("peer-totals", {"start": options.start, "end": options.end, "ads": options.ads,
                                  "peer": peer.version(), "streams": results})
    print(f"{len(results) - failures} of {len(results)} report streams equal to the warehouse; {failures} not")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
