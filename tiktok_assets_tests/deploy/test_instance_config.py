"""The deployment's Dagster instance files, as Dagster itself validates them."""

from __future__ import annotations

import pytest

from tiktok_assets_tests.deploy.support import ADVERTISER_TAG, DEPLOY, load_yaml

PER_ADVERTISER = {"key": ADVERTISER_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}


@pytest.mark.parametrize("filename", ["dagster.yaml", "dagster-postgres.yaml"])
def test_the_instance_file_is_valid_dagster_config(filename: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster._core.instance.config import dagster_instance_config

    for name, value in {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": "5432", "DAGSTER_PG_USER": "dagster",
                        "DAGSTER_PG_PASSWORD": "x", "DAGSTER_PG_DB": "dagster"}.items():
        monkeypatch.setenv(name, value)
    config, _ = dagster_instance_config(str(DEPLOY), filename)
    assert "postgres" in config["storage"]
    assert config["concurrency"]["runs"]["tag_concurrency_limits"] == [PER_ADVERTISER]
    assert config["concurrency"]["pools"]["default_limit"] == 2


def test_the_deploy_instance_queues_every_run_and_launches_it_in_the_code_server() -> None:
    config = load_yaml(DEPLOY / "dagster.yaml")
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["run_launcher"]["class"] == "DefaultRunLauncher"
