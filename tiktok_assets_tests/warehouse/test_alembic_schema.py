"""One schema, migrated by Alembic (issue 16, defect 7).

Autogenerate compares the live ``metadata`` with a database migrated through
the revisions and must find nothing, on SQLite and PostgreSQL; a warehouse of
hand-rolled version 4 (and 2) with a row in every table upgrades keeping
every row; the set of tables does not depend on what was imported first.
"""

from __future__ import annotations

import json
import subprocess
import threading
import sys
from datetime import date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection, Engine

from tiktok_assets.warehouse import create_schema, make_engine
from tiktok_assets.warehouse.migrations.compare import VERSION_TABLE, configure_options
from tiktok_assets.warehouse.schema import alembic_config, head_revision
from tiktok_assets.warehouse.tables import metadata
from tiktok_assets_tests.warehouse.legacy_schema import as_legacy_version, at_head

ROOT = Path(__file__).resolve().parents[2]
# Every table of the warehouse, whatever domain uses it: the list a new table must join.
ALL_TABLES = {
    "advertisers", "campaign_history", "adgroup_history", "ad_history", "ad_stats_daily", "ad_stats_hourly",
    "stats_revisions", "partition_pulls", "stats_probes", "stats_probe_ads",
    "audience_stats_daily", "audience_revisions", "audience_pulls",
    "first_party_events", "first_party_loads", "postback_outbox", "postback_queue", "postback_payloads",
    "postback_dead_letters", "postback_orders", "postback_order_duplicates", "postback_batches",
    *(f"{level}_metrics_{grain}" for level in ("ad", "adgroup", "campaign", "advertiser") for grain in ("daily", "hourly")),
    "overview_report", "channels_report", "app_report",
    "run_failures", "revision_drift",
    "level_stats_daily", "level_stats_revisions", "level_stats_pulls", "lifetime_snapshots",
    "ad_metrics_extra_daily", "ad_metrics_extra_revisions", "ad_metrics_extra_pulls",
    "gmv_max_stats_daily", "gmv_max_revisions", "advertiser_commerce_daily",
}


@pytest.fixture
def engine(warehouse_url: str):
    engine = make_engine(warehouse_url)
    yield engine
    engine.dispose()


def schema_diff(connection: Connection) -> list:
    """What ``alembic revision --autogenerate`` would write for this database: nothing when it matches."""
    context = MigrationContext.configure(connection, opts=configure_options(connection))
    return compare_metadata(context, metadata)


def test_the_metadata_holds_every_table_whatever_was_imported_first() -> None:
    script = ("import importlib, json, sys; importlib.import_module(sys.argv[1]); "
              "from tiktok_assets.warehouse.tables import metadata; print(json.dumps(sorted(metadata.tables)))")
    for module in ("tiktok_assets.warehouse", "tiktok_assets.warehouse.schema", "tiktok_assets.postbacks.store",
                   "tiktok_assets.metrics.store", "tiktok_assets.spend.revisions", "tiktok_assets.defs.ops"):
        found = subprocess.run([sys.executable, "-c", script, module], capture_output=True, text=True, check=True,
                               cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
        assert set(json.loads(found.stdout)) == ALL_TABLES, module


def test_create_schema_makes_every_table_in_one_call(engine: Engine) -> None:
    create_schema(engine)
    with engine.connect() as connection:
        assert set(sa.inspect(connection).get_table_names()) == ALL_TABLES | {VERSION_TABLE}
        assert at_head(connection)
        assert schema_diff(connection) == []


def test_a_database_shared_with_dagsters_storage_keeps_each_revision_apart(engine: Engine) -> None:
    # Dagster's instance storage keeps its own Alembic revision in ``alembic_version`` (and its own tables);
    # docker-compose puts the instance and the warehouse in one database. Before the warehouse had its own
    # version table it read Dagster's revision as its own and refused to start.
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        connection.exec_driver_sql("INSERT INTO alembic_version VALUES ('29b539ebc72a')")
        connection.exec_driver_sql("CREATE TABLE runs (id INTEGER PRIMARY KEY, run_body TEXT)")
    create_schema(engine)
    create_schema(engine)  # and again, at head
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "29b539ebc72a"
        assert at_head(connection)
        # Autogenerate leaves Dagster's tables alone: no "remove table runs" in a new revision.
        assert schema_diff(connection) == []


def test_the_revisions_build_exactly_the_metadata(engine: Engine) -> None:
    # From an empty database through every revision, not create_all: what an upgraded warehouse ends as.
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")
    with engine.connect() as connection:
        assert set(sa.inspect(connection).get_table_names()) == ALL_TABLES | {VERSION_TABLE}
        assert schema_diff(connection) == []


def test_a_column_missing_from_the_revisions_is_seen(engine: Engine) -> None:
    create_schema(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE partition_pulls DROP COLUMN intraday")
    with engine.connect() as connection:
        assert [change[0] for change in schema_diff(connection)] == ["add_column"]


def _value(column: sa.Column, index: int) -> object:
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return True
    if isinstance(kind, sa.DateTime):
        return datetime(2026, 11, 20, 10, index % 60)
    if isinstance(kind, sa.Date):
        return date(2026, 11, 20)
    if isinstance(kind, (sa.Integer, sa.BigInteger)):
        return 7 + index
    if isinstance(kind, (sa.Numeric, sa.Float)):
        return 12.5
    return None  # text: chosen below


# Values the CHECK constraints accept.
_CHOSEN = {"table_name": "ad_stats_daily", "source": "web", "state": "pending", "dead_reason": None,
           "reason": "rejected", "outcome": "sending", "change_kind": "update", "level": "campaign"}


def _row(table: sa.Table) -> dict[str, object]:
    row = {}
    for index, column in enumerate(table.columns):
        value = _CHOSEN.get(column.name, _value(column, index))
        if value is None and column.name not in _CHOSEN:
            value = f"{table.name}-{column.name}"[:8] if isinstance(column.type, sa.String) and column.type.length \
                else f"{table.name}:{column.name}"
        row[column.name] = value
    return row


def _fill_every_table(engine: Engine) -> dict[str, dict[str, object]]:
    rows = {name: _row(table) for name, table in metadata.tables.items()}
    rows["postback_payloads"]["outbox_id"] = rows["postback_outbox"]["outbox_id"]  # its foreign key
    rows["postback_outbox"]["state"] = "accepted"  # not pending: the upgrade from 2 would queue it
    with engine.begin() as connection:
        for table in metadata.sorted_tables:
            connection.execute(sa.insert(table).values(rows[table.name]))
    return rows


def _contents(engine: Engine) -> dict[str, list[tuple]]:
    with engine.connect() as connection:
        return {name: [tuple(row) for row in connection.execute(sa.select(table))]
                for name, table in metadata.tables.items()}


@pytest.mark.parametrize("version", [4, 2])
def test_a_hand_rolled_warehouse_upgrades_keeping_every_row(engine: Engine, version: int) -> None:
    create_schema(engine)
    _fill_every_table(engine)
    before = _contents(engine)
    assert all(len(rows) == 1 for rows in before.values())
    with engine.begin() as connection:
        # revision_drift kept: made by replace_drift on a warehouse of before; its rows must stay too.
        as_legacy_version(connection, version, drop_drift=False)

    create_schema(engine)
    create_schema(engine)  # and again: nothing left to do

    assert _contents(engine) == before
    with engine.connect() as connection:
        assert at_head(connection)
        assert schema_diff(connection) == []


def test_the_tables_written_out_in_the_warehouse_match_the_domains_that_fill_them() -> None:
    # The schema lists the columns itself (a migration changes them, not a formula edit); these keep it honest.
    from tiktok_assets.metrics import derive, render, rollup
    from tiktok_assets.metrics.store import SCHEMA_3_BASES
    from tiktok_assets.postbacks.events import RECORD_FIELDS
    from tiktok_assets.warehouse import tables

    assert tables.FIRST_PARTY_EVENT_FIELDS == RECORD_FIELDS
    assert (tables.METRICS_LEVELS, tables.METRICS_GRAINS) == (rollup.LEVELS, rollup.GRAINS)
    assert (tables.METRICS_LEVEL_KEYS, tables.METRICS_LEVEL_NAMES) == (rollup.LEVEL_KEYS, rollup.LEVEL_NAMES)
    first_party = set(derive.FIRST_PARTY_COLUMNS)
    assert tables.METRICS_COUNT_BASES == tuple(c for c in derive.ADDITIVE_COUNT_COLUMNS if c not in first_party)
    assert tables.METRICS_MONEY_BASES == tuple(c for c in derive.ADDITIVE_MONEY_COLUMNS if c not in first_party)
    assert tables.FIRST_PARTY_BASES == derive.FIRST_PARTY_COLUMNS
    assert (tables.METRICS_RATIOS, tables.FIRST_PARTY_RATIOS) == (derive.METRIC_COLUMNS,
                                                                  derive.FIRST_PARTY_METRIC_COLUMNS)
    assert tables.OVERVIEW_REPORT_COLUMNS == render.OVERVIEW_COLUMNS
    assert tables.CHANNELS_REPORT_MEASURES == render.CHANNELS_MEASURES
    assert tables.APP_REPORT_MEASURES == render.APP_MEASURES
    assert SCHEMA_3_BASES == tables.SCHEMA_3_BASES


@pytest.mark.parametrize("legacy_version", [None, 2])
def test_processes_starting_at_once_migrate_once(warehouse_url: str, legacy_version: int | None) -> None:
    # A new warehouse, or one of version 2 with a row in every table: four starts at the same moment.
    if legacy_version is not None:
        setup = make_engine(warehouse_url)
        create_schema(setup)
        _fill_every_table(setup)
        before = _contents(setup)
        with setup.begin() as connection:
            as_legacy_version(connection, legacy_version, drop_drift=False)
        setup.dispose()
    engines = [make_engine(warehouse_url) for _ in range(4)]
    barrier = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def start(engine: Engine) -> None:
        try:
            barrier.wait()
            create_schema(engine)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        with engines[0].connect() as connection:
            assert at_head(connection)
            assert connection.execute(sa.text("SELECT count(*) FROM tiktok_assets_alembic_version")).scalar() == 1
            assert schema_diff(connection) == []
        if legacy_version is not None:
            assert _contents(engines[0]) == before
    finally:
        for engine in engines:
            engine.dispose()


def test_the_schema_command_migrates_a_hand_rolled_warehouse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tiktok_assets.cli import main

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = make_engine(url)
    create_schema(engine)
    with engine.begin() as connection:
        as_legacy_version(connection, 3)
    engine.dispose()

    assert main(["schema", "upgrade", "--url", url]) == 0

    assert capsys.readouterr().out.strip() == f"Warehouse at revision {head_revision()}."
    engine = make_engine(url)
    with engine.connect() as connection:
        assert at_head(connection) and sa.inspect(connection).has_table("revision_drift")
    engine.dispose()
