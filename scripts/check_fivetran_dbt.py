"""Local check: Fivetran's dbt package for TikTok Ads runs unchanged on our warehouse (issue 17, deliverable 8).

Fills a fresh PostgreSQL schema through our import from the simulator (over HTTP, as a user's run does), writes a
throw-away dbt project that installs ``fivetran/tiktok_ads`` and points its documented variables at the
``fivetran_*`` views, runs ``dbt build`` (models and the package's own tests), then checks the end models against
our tables: a missing source would not fail dbt (``fivetran_utils.union_data`` turns it into an empty model with a
warning), so every end model must have rows and the ad report's spend must equal ``ad_stats_hourly``'s.

dbt is not a dependency of the project: install it in a venv of its own, e.g.
``python3.11 -m venv /work/peer/dbt-venv && /work/peer/dbt-venv/bin/pip install "dbt-core<1.11" "dbt-postgres<1.10"``
(dbt-core 1.12 downloads a binary parser at install time). ``dbt deps`` installs the package from dbt's hub;
where the hub cannot be reached, pass ``--packages-dir`` with checkouts named ``tiktok_ads`` (fivetran/dbt_tiktok_ads
v1.2.0), ``fivetran_utils`` (v0.4.x), ``dbt_utils`` (1.x) and ``spark_utils`` (0.3.x).

    python scripts/check_fivetran_dbt.py --dbt /work/peer/dbt-venv/bin/dbt --packages-dir /work/peer/fivetran_dbt/dbt_packages

Exits 0 when every model and test passed and the totals match; prints what failed otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

END_MODELS = ("tiktok_ads__advertiser_report", "tiktok_ads__campaign_report", "tiktok_ads__ad_group_report",
              "tiktok_ads__ad_report", "tiktok_ads__url_report", "tiktok_ads__campaign_country_report")
# Empty until the audience breakdowns feed fivetran.campaign_country_source (see its docstring).
MAY_BE_EMPTY = {"tiktok_ads__campaign_country_report"}


def _dbt_project(directory: Path, schema: str, packages_dir: Path | None) -> None:
    from tiktok_assets.warehouse.fivetran import FIVETRAN_TABLES, view_name

    variables = {"tiktok_ads_schema": schema,
                 **{f"tiktok_ads_{table}_identifier": view_name(table) for table in FIVETRAN_TABLES}}
    lines = ["name: fivetran_check", "version: '1.0.0'", "config-version: 2", "profile: fivetran_check", "vars:"]
    lines += [f"  {name}: {value}" for name, value in variables.items()]
    (directory / "dbt_project.yml").write_text("\n".join(lines) + "\n")
    if packages_dir is None:
        (directory / "packages.yml").write_text(
            "packages:\n  - package: fivetran/tiktok_ads\n    version: [\">=1.2.0\", \"<1.3.0\"]\n")
    else:
        shutil.copytree(packages_dir, directory / "dbt_packages")


def _profile(directory: Path, url: sa.engine.URL, schema: str) -> None:
    (directory / "profiles.yml").write_text(
        "fivetran_check:\n  target: check\n  outputs:\n    check:\n      type: postgres\n"
        f"      host: {url.host or '127.0.0.1'}\n      port: {url.port or 5432}\n      user: {url.username or 'postgres'}\n"
        f"      password: \"{os.environ.get('PGPASSWORD', url.password or '')}\"\n"  # never printed
        f"      dbname: {url.database}\n      schema: {schema}\n      threads: 2\n")


def _import(base_url: str, warehouse_url: str, start: date, end: date) -> None:
    import dagster as dg

    from tiktok_assets.definitions import build_definitions
    from tiktok_assets.defs.resources import TikTokApiResource, WarehouseResource
    from tiktok_assets.demo import materialize_recent

    defs = build_definitions(TikTokApiResource(base_url=base_url, qps=1000.0, backoff_seconds=0.01),
                             WarehouseResource(url=warehouse_url))
    with dg.DagsterInstance.ephemeral() as instance:
        materialize_recent(instance, start, end, defs=defs, with_reports=False, event_hours=0, log=print)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--dbt", default="dbt", help="the dbt executable of dbt's own venv")
    parser.add_argument("--packages-dir", type=Path, help="installed packages, when dbt's hub is out of reach")
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the schema and the dbt project")
    options = parser.parse_args()

    from tiktok_assets.simulator import SimClock, Simulator, World, serve
    from tiktok_assets.warehouse import make_engine, query_frame

    now = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
    end = now.date() - timedelta(days=2)
    start = end - timedelta(days=options.days - 1)
    schema = f"fivetran_check_{uuid.uuid4().hex[:8]}"
    url = sa.engine.make_url(options.postgres_url)
    admin = sa.create_engine(url.set(drivername="postgresql+psycopg"))
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    warehouse_url = url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    project = Path(tempfile.mkdtemp(prefix="fivetran_dbt_"))
    failures: list[str] = []
    try:
        simulator = Simulator(world=World(seed=7), clock=SimClock(fixed=now), qps=None)
        with serve(simulator) as base_url:
            _import(base_url, warehouse_url, start, end)
        engine = make_engine(warehouse_url)
        ours = query_frame(engine, "select count(*) as n, sum(spend) as spend from ad_stats_hourly").iloc[0]
        print(f"imported {start}..{end} into schema {schema}: {int(ours['n'])} hourly ad rows, spend {ours['spend']:.2f}")

        _dbt_project(project, schema, options.packages_dir)
        _profile(project, url, schema)
        env = {**os.environ, "DBT_PROFILES_DIR": str(project), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        commands = ([] if options.packages_dir else [["deps"]]) + [["build"]]
        for command in commands:
            done = subprocess.run([options.dbt, *command], cwd=project, env=env, capture_output=True, text=True)
            print(done.stdout[-6000:])
            if done.returncode:
                failures.append(f"dbt {' '.join(command)} exited {done.returncode}: {done.stderr[-2000:]}")
        results_file = project / "target" / "run_results.json"
        if results_file.exists():
            results = json.loads(results_file.read_text())["results"]
            statuses: dict[str, int] = {}
            for result in results:
                statuses[result["status"]] = statuses.get(result["status"], 0) + 1
                if result["status"] not in ("success", "pass"):
                    failures.append(f"{result['unique_id']}: {result['status']}: {result.get('message')}")
            print(f"dbt build: {len(results)} nodes, {statuses}")

        # The package writes its end models to <schema>_tiktok_ads (its +schema config).
        with admin.connect() as connection:
            for model in END_MODELS:
                rows = connection.exec_driver_sql(f'SELECT count(*) FROM "{schema}_tiktok_ads"."{model}"').scalar()
                print(f"{model}: {rows} rows")
                if not rows and model not in MAY_BE_EMPTY:
                    failures.append(f"{model} is empty: a source view was not found?")
            spend = connection.exec_driver_sql(
                f'SELECT sum(spend) FROM "{schema}_tiktok_ads"."tiktok_ads__ad_report"').scalar()
        print(f"tiktok_ads__ad_report spend {float(spend or 0):.2f} vs ad_stats_hourly {ours['spend']:.2f}")
        if abs(float(spend or 0) - float(ours["spend"])) > 0.005:
            failures.append(f"ad report spend {spend} != ad_stats_hourly {ours['spend']}")
    finally:
        if not options.keep:
            with admin.begin() as connection:
                for name in (schema, f"{schema}_tiktok_ads", f"{schema}_stg_tiktok_ads"):
                    connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            shutil.rmtree(project, ignore_errors=True)
        else:
            print(f"kept schema {schema} and project {project}")
        admin.dispose()
    for failure in failures:
        print("FAILED:", failure)
    print("OK: Fivetran's dbt_tiktok_ads ran on our warehouse" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
