"""run_failures_sensor: each failed run becomes one queryable warehouse row, secrets scrubbed."""

import json
from datetime import UTC, datetime

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster_shared.error import SerializableErrorInfo

from tiktok_assets.defs import ops
from tiktok_assets.runs import failures
from tiktok_assets.defs.resources import WarehouseResource, tiktok_api_from_env
from tiktok_assets.warehouse import create_schema, make_engine
from tiktok_assets_tests.automation.location import LOS_ANGELES, STATS, TOKYO, Location

SECRET = "f00dfeedc0ffee0123456789abcdef0123456789"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"headers {{'Access-Token': '{SECRET}', 'Accept': 'json'}}",
         "headers {'Access-Token': '[REDACTED]', 'Accept': 'json'}"),
        ("Access-Token: a-token-we-never-configured\nHost: x", "Access-Token: [REDACTED]\nHost: x"),
        ('{"access_token": "other-token", "code": 40105}', '{"access_token": "[REDACTED]", "code": 40105}'),
        ("GET /open_api/v1.3/x/?access_token=abc123&page=2", "GET /open_api/v1.3/x/?access_token=[REDACTED]&page=2"),
        ("Headers([('access-token', 'abc'), ('host', 'x')])",
         "Headers([('access-token', '[REDACTED]'), ('host', 'x')])"),
        ("app_secret=s3cr3t, app_id=123", "app_secret=[REDACTED], app_id=123"),
        # A configured token inside a secret-named parameter is redacted once, not twice.
        (f"access_token={SECRET}]", "access_token=[REDACTED]]"),
        (f"token {SECRET} leaked twice: {SECRET}.", "token [REDACTED] leaked twice: [REDACTED]."),
        # Prose about tokens stays readable.
        ("The access token is wrong, expired or revoked: set TIKTOK_ACCESS_TOKEN.",
         "The access token is wrong, expired or revoked: set TIKTOK_ACCESS_TOKEN."),
    ],
)
def test_scrub_secrets(text: str, expected: str) -> None:
    assert failures.scrub_secrets(text, [SECRET, None, ""]) == expected


def test_scrub_secrets_removes_a_url_encoded_configured_token() -> None:
    assert failures.scrub_secrets("q=tok%2Fen%3D%3D done", ["tok/en=="]) == "q=[REDACTED] done"


def test_the_innermost_error_is_the_users_exception_without_its_module_prefix() -> None:
    cause = SerializableErrorInfo(
        "tiktok_assets.tiktok.errors.TikTokAuthenticationError: Authentication failed: TikTok code 40105.\n",
        [], "TikTokAuthenticationError")
    wrapper = SerializableErrorInfo(
        'dagster._core.errors.DagsterExecutionStepExecutionError: Error occurred while executing op "x":\n',
        [], "DagsterExecutionStepExecutionError", cause)

    summary = failures.innermost_error(wrapper, "fallback")

    assert summary == failures.ErrorSummary("TikTokAuthenticationError", "Authentication failed: TikTok code 40105.")
    assert failures.innermost_error(None, "Run failed: worker died") == failures.ErrorSummary(None, "Run failed: worker died")


def test_a_failed_runs_row_is_built_from_plain_values_scrubbed_and_sorted() -> None:
    error = SerializableErrorInfo(f"RuntimeError: headers {{'Access-Token': '{SECRET}'}}\n", [], "RuntimeError")
    run = failures.FailedRun(
        run_id="r9", job_name="__ASSET_JOB", tags={"z": "1", "note": f"token {SECRET}"}, partition_key=None,
        partition_range_start="2026-11-18|7001", partition_range_end="2026-11-19|7002",
        asset_keys=["ad_stats_hourly", "ad_stats_daily"], failed_steps=["b", "a", "b"], failure_reason="STEP_FAILURE",
        error=error, fallback_message="unused")

    record = failures.run_failure_record(run, failed_at=datetime(2026, 11, 20, 7, tzinfo=UTC), secrets=[SECRET],
                                         recorded_at=datetime(2026, 11, 20, 7, 1, tzinfo=UTC))

    assert (record.asset_selection, record.failed_steps) == ('["ad_stats_daily", "ad_stats_hourly"]', '["a", "b"]')
    assert record.error_message == "headers {'Access-Token': '[REDACTED]'}"
    assert record.tags == '{"note": "token [REDACTED]", "z": "1"}'
    assert (record.failed_at, record.recorded_at) == (datetime(2026, 11, 20, 7), datetime(2026, 11, 20, 7, 1))
    assert (record.partition_range_start, record.partition_range_end) == ("2026-11-18|7001", "2026-11-19|7002")


def _evaluate_failure_sensor(defs: dg.Definitions, instance: dg.DagsterInstance,
                             result: dg.ExecuteInProcessResult) -> None:
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failures_sensor",
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources=defs.resources,
    ).for_run_failure()
    defs.resolve_sensor_def("run_failures_sensor")(context)


def _rows(engine: sa.Engine) -> list[dict]:
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(sa.select(ops.run_failures)).mappings()]


def test_a_failed_import_is_recorded_with_its_partitions_assets_and_cause(loopback_simulator, warehouse_url) -> None:
    _simulator, base_url = loopback_simulator
    instance = dg.DagsterInstance.ephemeral()  # no sensor tick here needs an instance ref
    # A token the simulator never granted: TikTok answers 40105.
    location = Location(base_url, warehouse_url, instance, access_token=SECRET)
    instance.add_dynamic_partitions("tiktok_advertisers", [LOS_ANGELES, TOKYO])
    tags = {"dagster/asset_partition_range_start": f"2026-11-18|{LOS_ANGELES}",
            "dagster/asset_partition_range_end": f"2026-11-19|{TOKYO}"}
    result = location.execute(STATS, tags=tags, raise_on_error=False)
    assert not result.success

    _evaluate_failure_sensor(location.defs, instance, result)
    _evaluate_failure_sensor(location.defs, instance, result)  # a re-evaluation must not duplicate the row

    rows = _rows(location.engine)
    assert len(rows) == 1
    row = rows[0]
    assert row["run_id"] == result.run_id
    assert row["job_name"] == "__ASSET_JOB"
    assert row["failure_reason"] == "STEP_FAILURE"
    assert (row["partition_range_start"], row["partition_range_end"]) == (
        f"2026-11-18|{LOS_ANGELES}", f"2026-11-19|{TOKYO}")
    assert row["partition_key"] is None
    assert json.loads(row["asset_selection"]) == ["ad_stats_daily", "ad_stats_hourly"]
    assert json.loads(row["failed_steps"]) == ["ad_stats_daily", "ad_stats_hourly"]
    assert row["error_class"] == "TikTokAuthenticationError"
    assert row["error_message"].startswith("Authentication failed: TikTok code 40105")
    assert SECRET not in json.dumps(row, default=str)
    run_record = instance.get_run_record_by_id(result.run_id)
    assert abs(row["failed_at"].replace(tzinfo=UTC).timestamp() - run_record.end_time) < 1
    assert failures.read_run_failures(location.engine)[0]["run_id"] == result.run_id


@dg.asset
def leaky_asset() -> None:
    """Fails the way a careless HTTP library might: echoing the request headers."""
    raise RuntimeError(
        f"request failed: headers={{'Access-Token': '{SECRET}'}}; retry with access_token={SECRET}; "
        f"token in use: {SECRET}"
    )


def test_a_token_in_the_error_or_the_tags_never_reaches_the_table(tmp_path, monkeypatch) -> None:
    # Configured as in production: TIKTOK_ACCESS_TOKEN, read through an EnvVar.
    monkeypatch.setenv("TIKTOK_ACCESS_TOKEN", SECRET)
    instance = dg.DagsterInstance.ephemeral()
    warehouse = WarehouseResource(url=f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    defs = dg.Definitions(
        assets=[leaky_asset],
        sensors=[ops.run_failures_sensor],
        resources={"tiktok_api": tiktok_api_from_env(), "warehouse": warehouse},
    )
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, raise_on_error=False, tags={"note": f"token {SECRET}"})

    _evaluate_failure_sensor(defs, instance, result)

    [row] = _rows(warehouse.get_engine())
    assert row["error_class"] == "RuntimeError"
    assert row["error_message"] == (
        "request failed: headers={'Access-Token': '[REDACTED]'}; retry with access_token=[REDACTED]; "
        "token in use: [REDACTED]")
    assert json.loads(row["tags"])["note"] == "token [REDACTED]"
    assert SECRET not in json.dumps(row, default=str)


def test_a_warehouse_created_before_the_table_existed_gets_it_on_the_first_failure(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    create_schema(engine)
    ops.run_failures.drop(engine)  # as in a warehouse stamped before run_failures was added

    record = failures.RunFailureRecord(
        run_id="r1", job_name="j", failed_at=datetime(2026, 11, 20, 7, 0), failure_reason="RUN_EXCEPTION",
        partition_key="7001", partition_range_start=None, partition_range_end=None, asset_selection=None,
        failed_steps="[]", error_class=None, error_message="Run failed: worker died", tags="{}",
        recorded_at=datetime(2026, 11, 20, 7, 1),
    )
    failures.record_run_failure(engine, record)

    assert [(row["run_id"], row["partition_key"]) for row in _rows(engine)] == [("r1", "7001")]


def test_reading_before_any_failure_returns_nothing(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    create_schema(engine)
    ops.run_failures.drop(engine)

    assert failures.read_run_failures(engine) == []
