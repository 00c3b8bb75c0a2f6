"""``tiktok-assets``: the demo, the simulator server and the warehouse schema from one command."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from datetime import date, timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _ensure_dagster_home() -> Path:
    # The demo writes into the same instance `dagster dev` reads, so its runs
    # and materializations show up in the UI afterwards.
    home = Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() and (PROJECT_ROOT / "dagster.yaml").exists():
        shutil.copy(PROJECT_ROOT / "dagster.yaml", config)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def run_demo(days: int, *, with_reports: bool = True, event_hours: int = 6) -> None:
    home = _ensure_dagster_home()
    import dagster as dg

    from tiktok_assets.demo import materialize_recent

    instance = dg.DagsterInstance.get()
    end = date.today()
    start = end - timedelta(days=days - 1)
    print(f"DAGSTER_HOME={home}")
    summary = materialize_recent(instance, start, end, with_reports=with_reports, event_hours=event_hours, log=print)
    print(summary)
    print(
        "\nNext: `DAGSTER_HOME=%s dagster dev -w workspace.yaml` and open http://127.0.0.1:3000 — "
        "Assets > tiktok_spend > ad_stats_daily shows the partitions and each one's metadata." % home
    )


def run_schema(options: argparse.Namespace) -> int:
    from tiktok_assets.warehouse import make_engine
    from tiktok_assets.warehouse.schema import autogenerate_revision, create_schema, current_revision

    if options.schema_command == "revision":
        path = autogenerate_revision(options.message, options.url)
        print(f"Wrote {path}: review it, then run the schema tests (see tiktok_assets/warehouse/MIGRATIONS.md).")
        return 0
    url = options.url or os.environ.get("TIKTOK_WAREHOUSE_URL")
    if not url:
        print("No warehouse: pass --url or set TIKTOK_WAREHOUSE_URL.", file=sys.stderr)
        return 2
    engine = make_engine(url)
    try:
        create_schema(engine)
        with engine.connect() as connection:
            print(f"Warehouse at revision {current_revision(connection)}.")
    finally:
        engine.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tiktok-assets", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="fill the warehouse from the simulator (no TikTok account needed)")
    demo.add_argument("--days", type=int, default=30, help="how many recent days to import (default 30)")
    demo.add_argument("--no-reports", action="store_true", help="import only; skip metrics and reports")
    demo.add_argument("--event-hours", type=int, default=6,
                      help="recent hours of first-party events to load and send to the Events API (0: none)")
    schema = commands.add_parser("schema", help="the warehouse schema: upgrade it, or write a new Alembic revision")
    schema_commands = schema.add_subparsers(dest="schema_command", required=True)
    upgrade = schema_commands.add_parser("upgrade", help="create or migrate the warehouse to the head revision")
    upgrade.add_argument("--url", help="warehouse URL (default: TIKTOK_WAREHOUSE_URL)")
    revision = schema_commands.add_parser(
        "revision", help="autogenerate a revision from what tables.py has and the head revision lacks")
    revision.add_argument("-m", "--message", required=True, help="what the revision changes, e.g. 'add video_views'")
    revision.add_argument("--url", help="compare with this warehouse at head instead of a scratch SQLite file")
    simulator = commands.add_parser("simulator", help="serve the TikTok Business API simulator on loopback")
    simulator.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    if options.command == "demo":
        if not 1 <= options.days <= 366:
            parser.error("--days must be between 1 and 366")
        run_demo(options.days, with_reports=not options.no_reports, event_hours=max(0, options.event_hours))
        return 0
    if options.command == "schema":
        return run_schema(options)
    from tiktok_assets.simulator.__main__ import main as simulator_main

    return int(simulator_main(options.args) or 0)


if __name__ == "__main__":
    sys.exit(main())
