"""The deployment's topology as separate processes, without Docker: what docker-compose.yml runs, on this machine.

A `dagster api grpc` code server, `dagster-webserver` and `dagster-daemon run`,
each started through the image's entrypoint (deploy/docker-entrypoint.sh) with
the image's instance and workspace files (deploy/dagster.yaml,
deploy/workspace.yaml) unchanged: the instance in a fresh PostgreSQL database
on 127.0.0.1:5432, the warehouse in the same database (the entrypoint's
default), TikTok simulated (no TIKTOK_ACCESS_TOKEN). Everything goes through the
webserver's GraphQL API and the queued run coordinator, as a user in the UI:

- a partition backfill of ad_stats_daily + ad_stats_hourly (the backfill daemon
  makes its run, the queue starts it, its two steps run in separate processes);
- a postback run (first_party_events + tiktok_event_deliveries for one hour);
- then three entity-snapshot runs, two of them for the same advertiser, tagged
  ``tiktok/advertiser`` as the schedules are to tag them.

Then, from the instance's event log: every run was queued and succeeded; no
moment had more steps of a pool running than the pool's limit, and the limit
did hold steps back; the second run of an advertiser was dequeued only after
the first finished, while another advertiser's run was not held back.

For the first two runs the "tiktok_api" pool is set to 1 slot through the
webserver, as an operator of a Basic-tier app at TIKTOK_API_QPS=10 would: the
backfill's steps alone must then wait for each other, so the test cannot pass
with pools off. For the entity runs it has a slot for each of them: the queue
also holds back runs whose pool is full, and only the tag may hold one here
(without the tag limit in deploy/dagster.yaml this test fails).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tiktok_assets_tests.deploy.support import (
    ADVERTISER_TAG,
    ENTRYPOINT,
    INSTANCE_FILE,
    REPO_ROOT,
    WORKSPACE_FILE,
    load_yaml,
)

# Servers (<= 90 s) plus runs (<= 240 s) under pytest-xdist on 2 busy cores: above the suite's 300 s default.
pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(600)]

LOCATION = "tiktok_assets"
STATS_ASSETS = ("ad_stats_daily", "ad_stats_hourly")
ENTITY_ASSETS = ("campaign_history", "adgroup_history", "ad_history")
POSTBACK_ASSETS = ("first_party_events", "tiktok_event_deliveries")
API_POOL = "tiktok_api"
EVENTS_POOL = "tiktok_events_api"
API_POOL_SLOTS = 1
SERVER_START_SECONDS = 90
RUNS_SECONDS = 240
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}
ARTIFACTS = REPO_ROOT / "test-artifacts" / "deploy-topology"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _scratch_root() -> str | None:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def _descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (run workers, step processes), read from /proc."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children[int(fields[1])].append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


@dataclass
class Processes:
    """The processes this test started; stop() ends them and everything they started, whatever happened."""

    started: list[subprocess.Popen] = field(default_factory=list)

    def start(self, name: str, command: list[str], env: dict[str, str], logs: Path, cwd: Path) -> subprocess.Popen:
        log = (logs / f"{name}.log").open("w")
        # Through the image's entrypoint, in a session of its own (its group is killed at the end).
        process = subprocess.Popen(["sh", str(ENTRYPOINT), *command], env=env, cwd=cwd, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.started.append(process)
        return process

    def stop(self) -> None:
        doomed = {pid for process in self.started for pid in [process.pid, *_descendants(process.pid)]}
        for process in reversed(self.started):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.started:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        for pid in doomed:  # run workers in sessions of their own, if any outlived their server
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


@dataclass(frozen=True)
class Topology:
    graphql_url: str
    warehouse_url: str
    home: Path
    logs: Path
    env: dict[str, str]  # of every process of the deployment

    def query(self, text: str, **variables: object) -> dict:
        response = httpx.post(self.graphql_url, json={"query": text, "variables": variables}, timeout=60)
        response.raise_for_status()
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]


def _wait(what: str, ready, process: subprocess.Popen, log: Path, seconds: float = SERVER_START_SECONDS) -> None:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with code {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if ready():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.3)
    pytest.fail(f"{what} not ready within {seconds} s:\n{log.read_text()[-3000:]}")


def _admin_url(postgres_url: str) -> sa.URL:
    return sa.engine.make_url(postgres_url)


@pytest.fixture
def database(postgres_url: str) -> Iterator[str]:
    """A fresh database for the instance and the warehouse (the deployment's one database), dropped afterwards."""
    name = f"tiktok_topology_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(_admin_url(postgres_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'create database "{name}"'))
    try:
        yield name
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


@pytest.fixture
def topology(database: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Topology]:
    server = _admin_url(postgres_url)
    assert server.host in {"127.0.0.1", "localhost", "::1"}, "the topology test runs on loopback only"
    scratch = Path(tempfile.mkdtemp(prefix="tiktok_topology_", dir=_scratch_root()))
    home, logs = scratch / "dagster_home", scratch / "logs"
    home.mkdir()
    logs.mkdir()
    shutil.copy(INSTANCE_FILE, home / "dagster.yaml")
    shutil.copy(WORKSPACE_FILE, home / "workspace.yaml")
    grpc_port, web_port = _free_port(), _free_port()
    instance_env = {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": server.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(server.port or 5432),
        "DAGSTER_PG_USER": server.username or "postgres",
        "DAGSTER_PG_PASSWORD": server.password or "",
        "DAGSTER_PG_DB": database,
        "DAGSTER_CODE_SERVER_HOST": "127.0.0.1",
        "DAGSTER_CODE_SERVER_PORT": str(grpc_port),
    }
    # Never a real TikTok account from the developer's shell: the code location must use its simulator.
    env = {name: value for name, value in os.environ.items() if not name.startswith(("TIKTOK_", "DAGSTER_"))}
    env |= instance_env | {"PYTHONUNBUFFERED": "1",
                           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for name in [name for name in os.environ if name.startswith("TIKTOK_")]:
        monkeypatch.delenv(name)
    for name, value in instance_env.items():
        monkeypatch.setenv(name, value)
    processes = Processes()
    try:
        from dagster._grpc.client import DagsterGrpcClient

        code_server = processes.start(
            "code-server", ["dagster", "api", "grpc", "-m", "tiktok_assets.definitions", "-h", "127.0.0.1", "-p",
                            str(grpc_port)], env, logs, scratch)
        grpc = DagsterGrpcClient(port=grpc_port, host="127.0.0.1")
        _wait("dagster api grpc", lambda: _listening(grpc_port) and grpc.health_check_query() == "SERVING", code_server,
              logs / "code-server.log")
        webserver = processes.start(
            "webserver", ["dagster-webserver", "-h", "127.0.0.1", "-p", str(web_port), "-w", str(home / "workspace.yaml")],
            env, logs, scratch)
        base_url = f"http://127.0.0.1:{web_port}"
        _wait("dagster-webserver", lambda: httpx.get(f"{base_url}/server_info", timeout=2).status_code == 200,
              webserver, logs / "webserver.log")
        topology = Topology(f"{base_url}/graphql", _warehouse_url(env), home, logs, env)
        yield topology
    finally:
        processes.stop()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for log in logs.glob("*.log"):
            shutil.copy(log, ARTIFACTS / log.name)
        shutil.rmtree(scratch, ignore_errors=True)


def _warehouse_url(env: dict[str, str]) -> str:
    """The warehouse URL the entrypoint gives the containers (the instance's own database)."""
    shown = subprocess.run(["sh", str(ENTRYPOINT), "python", "-c", "import os; print(os.environ['TIKTOK_WAREHOUSE_URL'])"],
                           env=env, capture_output=True, text=True, timeout=30, check=True)
    return shown.stdout.strip()


# ---------------------------------------------------------------- GraphQL, as the UI sends it

INSTIGATORS = """
query { repositoriesOrError { ... on RepositoryConnection { nodes {
  schedules { name scheduleState { id status } }
  sensors { name sensorState { id status } }
} } } }
"""
STOP_SENSOR = "mutation($id: String!) { stopSensor(id: $id) { __typename } }"
STOP_SCHEDULE = "mutation($id: String!) { stopRunningSchedule(id: $id) { __typename } }"
SET_POOL = "mutation($key: String!, $limit: Int!) { setConcurrencyLimit(concurrencyKey: $key, limit: $limit) }"
LAUNCH_RUN = """
mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename
  ... on LaunchRunSuccess { run { runId status } }
  ... on PythonError { message }
  ... on InvalidSubsetError { message }
  ... on RunConfigValidationInvalid { errors { message } }
} }
"""
LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename
  ... on LaunchBackfillSuccess { backfillId }
  ... on PythonError { message }
  ... on PartitionSetNotFoundError { message }
} }
"""


def _stop_every_schedule_and_sensor(topology: Topology) -> int:
    """The code declares them running; here only the runs this test launches may run."""
    stopped = 0
    for repository in topology.query(INSTIGATORS)["repositoriesOrError"]["nodes"]:
        for schedule in repository["schedules"]:
            topology.query(STOP_SCHEDULE, id=schedule["scheduleState"]["id"])
            stopped += 1
        for sensor in repository["sensors"]:
            topology.query(STOP_SENSOR, id=sensor["sensorState"]["id"])
            stopped += 1
    return stopped


def _launch_run(topology: Topology, assets: tuple[str, ...], tags: dict[str, str], run_config: dict) -> str:
    params = {
        "selector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__", "jobName": "__ASSET_JOB",
                     "assetSelection": [{"path": [asset]} for asset in assets]},
        "runConfigData": run_config,
        "executionMetadata": {"tags": [{"key": key, "value": value} for key, value in tags.items()]},
    }
    launched = topology.query(LAUNCH_RUN, params=params)["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    # Through the queue: the webserver only enqueues, the daemon starts it.
    assert launched["run"]["status"] == "QUEUED", launched
    return launched["run"]["runId"]


def _launch_stats_backfill(topology: Topology, partition_keys: list[str]) -> str:
    params = {"assetSelection": [{"path": [asset]} for asset in STATS_ASSETS], "partitionNames": partition_keys,
              "fromFailure": False}
    launched = topology.query(LAUNCH_BACKFILL, params=params)["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    return launched["backfillId"]


# ---------------------------------------------------------------- the instance's record


def _prepare(instance, warehouse_url: str) -> list[str]:  # noqa: ANN001 - dagster.DagsterInstance
    """Discovery and an entity snapshot, as a first deployment's sensors would have done: the advertiser
    partitions the backfill names must exist before it is launched (the backfill daemon reads them once)."""
    import dagster as dg

    from tiktok_assets.definitions import build_definitions
    from tiktok_assets.defs.resources import TikTokApiResource, WarehouseResource
    from tiktok_assets.partitions import ADVERTISER_PARTITIONS_NAME

    defs = build_definitions(TikTokApiResource(), WarehouseResource(url=warehouse_url))
    job = defs.resolve_implicit_global_asset_job_def()
    job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("tiktok_advertisers")], raise_on_error=True)
    advertisers = instance.get_dynamic_partitions(ADVERTISER_PARTITIONS_NAME)
    for advertiser_id in advertisers:
        job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey(name) for name in ENTITY_ASSETS],
                               partition_key=advertiser_id, raise_on_error=True)
    return advertisers


def _pool_of_step() -> dict[str, str]:
    from tiktok_assets.definitions import build_definitions
    from tiktok_assets.defs.resources import TikTokApiResource, WarehouseResource

    defs = build_definitions(TikTokApiResource(), WarehouseResource(url="sqlite://"))
    job = defs.resolve_implicit_global_asset_job_def()
    return {node.name: node.definition.pool for node in job.graph.nodes if node.definition.pool}


def _wait_for_runs(instance, run_ids: list[str], backfill_id: str, seconds: float, *,  # noqa: ANN001
                   backfill_done: bool) -> list:
    """The runs, and the backfill's runs, once all finished (and the backfill completed, if ``backfill_done``)."""
    from dagster import DagsterRunStatus, RunsFilter
    from dagster._core.execution.backfill import BulkActionStatus

    failed_backfill = {BulkActionStatus.FAILED, BulkActionStatus.COMPLETED_FAILED, BulkActionStatus.CANCELED}
    deadline = time.monotonic() + seconds
    while True:
        backfill = instance.get_backfill(backfill_id)
        backfill_runs = list(instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id})))
        runs = [instance.get_run_by_id(run_id) for run_id in run_ids] + backfill_runs
        if backfill.status in failed_backfill or any(
                run.status in {DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED} for run in runs):
            return runs
        if backfill_runs and all(run.is_finished for run in runs) and (
                not backfill_done or backfill.status == BulkActionStatus.COMPLETED_SUCCESS):
            return runs
        if time.monotonic() > deadline:
            states = {run.run_id: run.status.value for run in runs}
            pytest.fail(f"runs not finished within {seconds} s: backfill {backfill.status.value}, runs {states}; "
                        f"logs in {ARTIFACTS}")
        time.sleep(0.5)


def _timeline(instance, runs: list, since: float) -> str:  # noqa: ANN001
    """When each run was queued, started and finished, in seconds after ``since`` (for the test's output)."""
    from dagster import DagsterEventType

    marks = {DagsterEventType.RUN_ENQUEUED: "queued", DagsterEventType.RUN_STARTING: "launched",
             DagsterEventType.RUN_START: "started", DagsterEventType.RUN_SUCCESS: "succeeded",
             DagsterEventType.RUN_FAILURE: "failed"}
    lines = []
    for run in runs:
        assets = ",".join(sorted(key.to_user_string() for key in run.asset_selection or ()))
        shown = [f"{label} {records[0].timestamp - since:6.1f}" for event_type, label in marks.items()
                 if (records := instance.all_logs(run.run_id, of_type=event_type))]
        lines.append(f"  {run.run_id[:8]} {assets[:60]:60} " + "  ".join(shown))
    return "\n".join(lines)


def _events(instance, run_id: str, event_type) -> list:  # noqa: ANN001
    return list(instance.all_logs(run_id, of_type=event_type))


def _most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one instant (an end at t closes before a start at t opens)."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = current = 0
    for _, change in edges:
        current += change
        most = max(most, current)
    return most


def _step_intervals(instance, run_ids: list[str], pools: dict[str, str]) -> dict[str, list[tuple[float, float]]]:  # noqa
    """Per pool, [STEP_START, STEP_SUCCESS/FAILURE] of each of its steps in these runs."""
    from dagster import DagsterEventType

    by_pool: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for run_id in run_ids:
        starts: dict[str, float] = {}
        for record in instance.all_logs(run_id, of_type={DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS,
                                                         DagsterEventType.STEP_FAILURE}):
            step = record.step_key
            if step not in pools:
                continue
            if record.dagster_event.event_type == DagsterEventType.STEP_START:
                starts[step] = record.timestamp
            else:
                by_pool[pools[step]].append((starts.pop(step), record.timestamp))
        assert not starts, f"run {run_id}: steps started and never finished: {sorted(starts)}"
    return by_pool


def _first(instance, run_id: str, event_type) -> float:  # noqa: ANN001
    [record, *_] = instance.all_logs(run_id, of_type=event_type)
    return record.timestamp


def test_the_deployment_topology_runs_a_backfill_and_postbacks_through_the_queue_within_the_pools(
    topology: Topology,
) -> None:
    import dagster as dg
    from dagster import DagsterEventType, DagsterRunStatus

    started = time.monotonic()
    timings: dict[str, float] = {}
    # The pytest process reads and prepares the same instance (same dagster.yaml, same database).
    with dg.DagsterInstance.from_config(str(topology.home)) as instance:
        advertisers = _prepare(instance, topology.warehouse_url)
        assert len(advertisers) >= 2, advertisers
        timings["prepared"] = time.monotonic() - started
        # The deployment's dagster.yaml sized the pool when its first step claimed a slot.
        shipped_pool_limit = load_yaml(INSTANCE_FILE)["concurrency"]["pools"]["default_limit"]
        [api_pool] = [pool for pool in instance.event_log_storage.get_pool_limits() if pool.name == API_POOL]
        assert (api_pool.limit, api_pool.from_default) == (shipped_pool_limit, True)

        assert _stop_every_schedule_and_sensor(topology) >= 1
        topology.query(SET_POOL, key=API_POOL, limit=API_POOL_SLOTS)

        today = datetime.now(UTC).date()
        # One day of every advertiser: one single-run backfill run (a second day makes a second run).
        day = today - timedelta(days=2)
        partition_keys = [f"{day.isoformat()}|{advertiser}" for advertiser in advertisers]
        backfill_id = _launch_stats_backfill(topology, partition_keys)
        last_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        hour = last_hour.strftime("%Y-%m-%d-%H:%M")
        postback_run = _launch_run(topology, POSTBACK_ASSETS, {"dagster/partition": hour}, IN_PROCESS)

        # Only now the daemon: its first pass sees the backfill and the queued run at once.
        daemon_processes = Processes()
        try:
            daemon_started = time.time()
            daemon_processes.start("daemon", ["dagster-daemon", "run", "-w", str(topology.home / "workspace.yaml")],
                                   topology.env, topology.logs, topology.home)
            first_phase = _wait_for_runs(instance, [postback_run], backfill_id, RUNS_SECONDS, backfill_done=False)
            timings["backfill and postback runs"] = time.monotonic() - started

            # Phase 2, the per-advertiser limit: two runs of one advertiser, one of another, with a slot
            # for each in the pool, so that only the tag can hold one back.
            topology.query(SET_POOL, key=API_POOL, limit=3)
            first, other = advertisers[0], advertisers[1]
            entity_runs = {
                name: _launch_run(topology, ENTITY_ASSETS, {"dagster/partition": advertiser, ADVERTISER_TAG: advertiser},
                                  IN_PROCESS)
                for name, advertiser in (("first", first), ("first_again", first), ("other", other))
            }
            launched = [postback_run, *entity_runs.values()]
            runs = _wait_for_runs(instance, launched, backfill_id, RUNS_SECONDS, backfill_done=True)
        finally:
            daemon_processes.stop()
        timings["runs"] = time.monotonic() - started
        timeline = "runs, seconds after the daemon started:\n" + _timeline(instance, runs, daemon_started)
        print("\n" + timeline)
        (topology.logs / "timeline.log").write_text(timeline + "\n")

        # 1. Every run succeeded, and went through the queue.
        statuses = {run.run_id: (run.status, dict(run.tags)) for run in runs}
        assert all(status == DagsterRunStatus.SUCCESS for status, _ in statuses.values()), (
            f"{statuses}; logs in {ARTIFACTS}")
        backfill_runs = [run.run_id for run in runs if run.run_id not in launched]
        assert backfill_runs, "the backfill daemon made no run"
        for run in runs:
            assert _events(instance, run.run_id, DagsterEventType.RUN_ENQUEUED), f"run {run.run_id} skipped the queue"

        # 2. The backfill materialized every partition asked for, into the PostgreSQL warehouse.
        for asset in STATS_ASSETS:
            materialized = instance.get_materialized_partitions(dg.AssetKey(asset))
            assert set(partition_keys) <= set(materialized), (asset, sorted(set(partition_keys) - set(materialized)))
        engine = sa.create_engine(topology.warehouse_url)
        try:
            with engine.connect() as connection:
                assert engine.dialect.name == "postgresql"
                pulled = connection.execute(sa.text(
                    "select count(distinct (advertiser_id, stat_date)) from partition_pulls "
                    "where table_name = 'ad_stats_daily'")).scalar_one()
                accepted = connection.execute(sa.text(
                    "select count(*) from postback_outbox where accepted_at is not null")).scalar_one()
        finally:
            engine.dispose()
        assert pulled == len(partition_keys)
        # 3. The postback run delivered the hour's events (to the simulated Events API).
        assert accepted > 0

        # 4. Never more steps of a pool at once than its limit, across runs; and the limit held steps back.
        #    Phase 1 ran with 1 tiktok_api slot; the Events API's pool kept the deployment's size.
        [events_pool] = [pool for pool in instance.event_log_storage.get_pool_limits() if pool.name == EVENTS_POOL]
        assert (events_pool.limit, events_pool.from_default) == (shipped_pool_limit, True)
        pools = _pool_of_step()
        assert set(pools.values()) == {API_POOL, EVENTS_POOL}, pools
        first_spans = _step_intervals(instance, [run.run_id for run in first_phase], pools)
        assert len(first_spans[API_POOL]) >= 2, first_spans
        assert _most_at_once(first_spans[API_POOL]) <= API_POOL_SLOTS, sorted(first_spans[API_POOL])
        intervals = _step_intervals(instance, [run.run_id for run in runs], pools)
        assert _most_at_once(intervals[EVENTS_POOL]) <= shipped_pool_limit, sorted(intervals[EVENTS_POOL])
        blocked = [record for run_id in backfill_runs for record in _events(instance, run_id, DagsterEventType.ENGINE_EVENT)
                   if (record.dagster_event.message or "").startswith(f"Step blocked by limit for pool {API_POOL}")]
        assert blocked, "no step waited for the tiktok_api pool: the check above proved nothing"

        # 5. Per advertiser: the second run of the same advertiser was dequeued only after the first had finished;
        #    another advertiser's run was not held back by it.
        first_end = _first(instance, entity_runs["first"], DagsterEventType.RUN_SUCCESS)
        first_again_start = _first(instance, entity_runs["first_again"], DagsterEventType.RUN_STARTING)
        other_start = _first(instance, entity_runs["other"], DagsterEventType.RUN_STARTING)
        first_start = _first(instance, entity_runs["first"], DagsterEventType.RUN_STARTING)
        if first_again_start < first_start:  # the queue may take either of the two first
            first_end = _first(instance, entity_runs["first_again"], DagsterEventType.RUN_SUCCESS)
            first_again_start = first_start
        assert first_again_start >= first_end, "two runs of one advertiser ran at once"
        assert other_start < first_end, "another advertiser's run waited for this advertiser's"

    elapsed = time.monotonic() - started
    print(f"topology: {', '.join(f'{name} at {seconds:.1f} s' for name, seconds in timings.items())}, total "
          f"{elapsed:.1f} s; {len(intervals[API_POOL])} tiktok_api steps, {len(blocked)} blocked messages")
