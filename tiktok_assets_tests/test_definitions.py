"""The code location loads, as `dagster dev` would load it, and wires what the design names."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_dagster_definitions_validate_passes(tmp_path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "TIKTOK_WAREHOUSE_URL": f"sqlite:///{tmp_path / 'w.sqlite'}"}
    env.pop("TIKTOK_ACCESS_TOKEN", None)
    dagster = Path(sys.executable).with_name("dagster")
    completed = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Validation successful for code location tiktok_assets" in completed.stdout + completed.stderr


def test_definitions_wire_the_spend_import_schedules_and_sensors() -> None:
    from tiktok_assets.definitions import defs

    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"tiktok_advertisers", "campaign_history", "adgroup_history", "ad_history", "ad_stats_daily",
            "ad_stats_hourly", "revision_drift", "first_party_events", "tiktok_event_deliveries",
            "overview_report", "channels_report", "app_report"} <= keys
    for level in ("ad", "adgroup", "campaign", "advertiser"):
        assert {f"{level}_metrics_daily", f"{level}_metrics_hourly"} <= keys
    schedules = {schedule.name for schedule in defs.schedules or []}
    assert {"hourly_sync_schedule", "daily_entities_schedule", "daily_settle_schedule"} <= schedules
    sensors = {sensor.name for sensor in defs.sensors or []}
    assert {"advertiser_discovery_sensor", "tiktok_automation", "run_failures_sensor",
            "new_first_party_events_sensor"} <= sensors
    daily = defs.resolve_assets_def("ad_stats_daily")
    assert daily.backfill_policy == dg.BackfillPolicy.single_run()
    assert daily.op.pool == "tiktok_api"


def test_token_is_an_env_var_reference_not_a_literal(monkeypatch) -> None:
    from tiktok_assets.defs.resources import tiktok_api_from_env

    monkeypatch.setenv("TIKTOK_ACCESS_TOKEN", "secret-token-value-0123456789")
    resource = tiktok_api_from_env()
    # The UI shows resource config: it must show the variable's name, never the value.
    config = resource._convert_to_config_dictionary()
    assert config["access_token"] == {"env": "TIKTOK_ACCESS_TOKEN"}
    assert "secret-token-value" not in str(config)
    assert "secret-token-value" not in repr(resource.get_client())


def test_no_token_means_the_in_process_simulator() -> None:
    from tiktok_assets.defs.resources import TikTokApiResource

    resource = TikTokApiResource()
    assert resource.uses_simulator
    with resource.get_client() as client:
        advertisers = client.authorised_advertisers()
    assert len(advertisers) >= 4


def test_executor_is_dagsters_default_unless_k8s_is_asked_and_a_typo_is_refused(monkeypatch) -> None:
    from tiktok_assets.definitions import executor_from_env

    monkeypatch.delenv("TIKTOK_EXECUTOR", raising=False)
    assert executor_from_env() is None
    monkeypatch.setenv("TIKTOK_EXECUTOR", "k8z")
    with pytest.raises(ValueError, match="'k8z'"):
        executor_from_env()


def test_tiktok_executor_in_process_runs_every_step_of_the_asset_job_in_the_runs_process(monkeypatch) -> None:
    # Issue 18: a small daily/hourly sync must not start a process per step.
    from tiktok_assets.definitions import build_definitions, executor_from_env
    from tiktok_assets.defs.resources import TikTokApiResource, WarehouseResource

    monkeypatch.setenv("TIKTOK_EXECUTOR", "in_process")
    assert executor_from_env() is dg.in_process_executor
    defs = build_definitions(TikTokApiResource(), WarehouseResource(url="sqlite://"))
    assert defs.resolve_implicit_global_asset_job_def().executor_def.name == "in_process"
    monkeypatch.setenv("TIKTOK_EXECUTOR", "multiprocess")
    defs = build_definitions(TikTokApiResource(), WarehouseResource(url="sqlite://"))
    assert defs.resolve_implicit_global_asset_job_def().executor_def.name == "multiprocess"


def test_a_resource_used_outside_a_run_sends_the_variables_value_not_its_name(monkeypatch) -> None:
    # Dagster resolves EnvVar fields for runs; a script calling get_client() holds the EnvVar itself,
    # a str of the variable's name: that name must never travel as the token (nor be scrubbed as one).
    from tiktok_assets.defs.resources import tiktok_api_from_env

    monkeypatch.setenv("TIKTOK_ACCESS_TOKEN", "token-value-0123456789abcdef")
    monkeypatch.setenv("TIKTOK_APP_SECRET", "app-secret-value-0123456789")
    monkeypatch.setenv("TIKTOK_API_BASE_URL", "http://127.0.0.1:8765")
    monkeypatch.setenv("TIKTOK_ADVERTISER_IDS", "7001, 7002")
    resource = tiktok_api_from_env()
    with resource.get_client() as client:
        assert client._http.headers["Access-Token"] == "token-value-0123456789abcdef"
        assert client.base_url == "http://127.0.0.1:8765"
    assert resource.app_credentials()[1] == "app-secret-value-0123456789"
    assert resource.selected_advertiser_ids() == ["7001", "7002"]
