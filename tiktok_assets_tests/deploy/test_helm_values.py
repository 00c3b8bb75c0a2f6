"""deploy/helm/values.yaml: only keys Dagster's Helm chart documents, secrets only by reference.

``helm_values_keys.schema.json`` (beside this file) holds the chart's keys and
value types for every section these values set, re-typed from the chart's
``values.schema.json``; its ``$comment`` names the source and commit.
"""

from __future__ import annotations

import copy
import json
import re

import pytest

from tiktok_assets_tests.deploy.support import (
    ADVERTISER_TAG,
    DOCKERFILE,
    HELM_KEYS_SCHEMA,
    HELM_VALUES,
    INSTANCE_FILE,
    load_yaml,
    schema_errors,
)

SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|WAREHOUSE_URL", re.IGNORECASE)
SECRET_NAME_FOR_TIKTOK = "tiktok-assets-secrets"


@pytest.fixture(scope="module")
def values() -> dict:
    return load_yaml(HELM_VALUES)


@pytest.fixture(scope="module")
def chart_keys() -> dict:
    return json.loads(HELM_KEYS_SCHEMA.read_text())


def _deployment(values: dict) -> dict:
    [deployment] = values["dagster-user-deployments"]["deployments"]
    return deployment


def test_every_key_is_one_the_chart_documents(chart_keys: dict, values: dict) -> None:
    assert schema_errors(chart_keys, values) == []


@pytest.mark.parametrize(("section", "typo"), [
    (("dagster-user-deployments", "deployments", 0), "envSecret"),
    (("runLauncher", "config", "k8sRunLauncher"), "runK8SConfig"),
    (("concurrency", "runs"), "tagConcurrencyLimit"),
    ((), "userDeployments"),
])
def test_a_key_the_chart_does_not_have_is_refused(chart_keys: dict, values: dict, section: tuple, typo: str) -> None:
    broken = copy.deepcopy(values)
    target = broken
    for part in section:
        target = target[part]
    target[typo] = {}
    errors = schema_errors(chart_keys, broken)
    assert any(repr(typo) in error for error in errors), errors


def test_the_code_location_is_a_user_deployment_serving_dagster_api_grpc(values: dict) -> None:
    deployment = _deployment(values)
    assert values["dagster-user-deployments"]["enabled"] is True
    # The chart runs `dagster api grpc -h 0.0.0.0 -p <port> <dagsterApiGrpcArgs>`: the image's own command.
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "tiktok_assets.definitions"]
    assert f"EXPOSE {deployment['port']}" in DOCKERFILE.read_text()
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}


def test_runs_go_to_kubernetes_jobs_through_the_queue(values: dict) -> None:
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["enabled"] is True and coordinator["type"] == "QueuedRunCoordinator"
    # The executor switch the comments document: TIKTOK_EXECUTOR=k8s puts each step in its own pod.
    env = {item["name"]: item["value"] for item in _deployment(values)["env"]}
    assert env["TIKTOK_EXECUTOR"] in {"multiprocess", "k8s"}


def test_secrets_come_from_kubernetes_secrets_never_from_values(values: dict) -> None:
    deployment = _deployment(values)
    assert {"name": SECRET_NAME_FOR_TIKTOK} in deployment["envSecrets"]
    assert {"name": SECRET_NAME_FOR_TIKTOK} in values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]
    for item in deployment["env"]:
        assert not SECRET_NAME.search(item["name"]), f"{item['name']} must come from {SECRET_NAME_FOR_TIKTOK}"
    assert "postgresqlPassword" not in values["postgresql"]
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"]


def test_the_limits_are_the_deploy_instance_s(values: dict) -> None:
    instance = load_yaml(INSTANCE_FILE)["concurrency"]
    chart = values["concurrency"]
    assert chart["enabled"] is True
    assert chart["pools"]["defaultLimit"] == instance["pools"]["default_limit"]
    assert chart["runs"]["maxConcurrentRuns"] == instance["runs"]["max_concurrent_runs"]
    assert chart["runs"]["tagConcurrencyLimits"] == instance["runs"]["tag_concurrency_limits"]
    assert [limit["key"] for limit in chart["runs"]["tagConcurrencyLimits"]] == [ADVERTISER_TAG]
