"""Postback settings visible in Dagster (issue 16, defect 6): fields of the ``postbacks`` resource, bound to their
TIKTOK_* variables, shown on the resource page; runs read the resource, never the environment; secrets never show.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster._core.remote_representation.external_data import RepositorySnap, ResourceConfigEnvVarSnap
from dagster_shared.serdes import serialize_value

from tiktok_assets.definitions import build_definitions
from tiktok_assets.defs.postbacks import REJECTION_RATE_CHECK, tiktok_event_deliveries
from tiktok_assets.defs.resources import (
    POSTBACK_VARIABLES,
    PostbacksResource,
    TikTokApiResource,
    WarehouseResource,
    postbacks_from_env,
    tiktok_api_from_env,
    warehouse_from_env,
)
from tiktok_assets.postbacks.events import EventSource, FirstPartyEvent
from tiktok_assets.postbacks.store import store_events
from tiktok_assets_tests.postbacks.helpers import APP_ID, PIXEL, accepted_keys

TOKEN = "tok-canary-5d1e0c9a7f"
APP_SECRET = "secret-canary-88b2e4"
VALUES = {
    "TIKTOK_EVENTS_DROP_DIR": "/srv/events/drop",
    "TIKTOK_EVENT_MAPPING": "/srv/events/mapping.yaml",
    "TIKTOK_PIXEL_ID": "CPIXELFROMENV01",
    "TIKTOK_EVENTS_APP_ID": "7333333333333333333",
    "TIKTOK_EVENTS_STORE_APP_ID": "id9999999999",
    "TIKTOK_EVENTS_TEST_EVENT_CODE": "TEST55555",
    "TIKTOK_POSTBACK_MAX_REJECTION_RATE": "0.1",
    "TIKTOK_POSTBACK_MAX_UNDELIVERED_HOURS": "12",
    "TIKTOK_POSTBACK_MAP_WORKERS": "3",
}


@pytest.fixture
def deployment_env(monkeypatch) -> None:
    """A deployment's environment: every postback variable set, and the spend import's secrets."""
    for name, value in VALUES.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TIKTOK_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("TIKTOK_APP_ID", "7000000000000000001")
    monkeypatch.setenv("TIKTOK_APP_SECRET", APP_SECRET)


def _snapshot() -> RepositorySnap:
    """The code location as the webserver receives it: what the resource page renders."""
    defs = build_definitions(tiktok_api_from_env(), warehouse_from_env())
    return RepositorySnap.from_def(defs.get_repository_def())


def test_every_postback_setting_is_on_the_resource_page_bound_to_its_variable(deployment_env) -> None:
    (postbacks,) = [resource for resource in _snapshot().resources or [] if resource.name == "postbacks"]

    assert postbacks.configured_values == {
        field: ResourceConfigEnvVarSnap(name=variable) for field, variable in POSTBACK_VARIABLES.items()}
    # Each field carries its description (the variable and its meaning), as the page lists them.
    described = {field.name: field.description or "" for field in postbacks.config_field_snaps}
    assert set(POSTBACK_VARIABLES) <= set(described)
    assert all(variable in described[field] for field, variable in POSTBACK_VARIABLES.items())


def test_no_secret_value_reaches_the_resource_page_or_a_resources_repr(deployment_env) -> None:
    page = serialize_value(_snapshot())
    assert "TIKTOK_ACCESS_TOKEN" in page and "TIKTOK_APP_SECRET" in page  # the page names them...
    assert TOKEN not in page and APP_SECRET not in page  # ...never their values
    # Given as literal values (a script, a test), the secrets stay out of repr, which Dagster and pydantic print.
    literal = TikTokApiResource(access_token=TOKEN, app_secret=APP_SECRET)
    for shown in (repr(literal), str(literal), repr(postbacks_from_env()), repr(tiktok_api_from_env())):
        assert TOKEN not in shown and APP_SECRET not in shown


def test_unset_variables_leave_the_defaults(monkeypatch) -> None:
    for name in POSTBACK_VARIABLES.values():
        monkeypatch.delenv(name, raising=False)
    settings = postbacks_from_env().settings()
    assert (settings.drop_dir, settings.pixel_id, settings.test_event_code) == (None, None, None)
    assert (settings.max_rejection_rate, settings.max_undelivered_hours) == (0.02, 6.0)
    assert 1 <= settings.map_workers <= 4


def test_outside_a_run_the_resource_reads_the_variables_values(deployment_env) -> None:
    settings = postbacks_from_env().settings()
    assert (settings.drop_dir, settings.mapping_path, settings.pixel_id, settings.app_id, settings.store_app_id,
            settings.test_event_code) == tuple(VALUES[name] for name in list(VALUES)[:6])
    assert (settings.max_rejection_rate, settings.max_undelivered_hours, settings.map_workers) == (0.1, 12.0, 3)


def test_a_setting_changed_on_the_resource_changes_the_run_whatever_the_environment_says(
        loopback_simulator, tmp_path, monkeypatch) -> None:
    simulator, base_url = loopback_simulator
    now = datetime.now(UTC)
    simulator.clock.set(now)
    # What a run would have read from the environment before: other ids, no test code, a zero tolerance.
    monkeypatch.setenv("TIKTOK_PIXEL_ID", "CNOTTHISPIXEL01")
    monkeypatch.setenv("TIKTOK_EVENTS_APP_ID", "7999999999999999999")
    monkeypatch.delenv("TIKTOK_EVENTS_TEST_EVENT_CODE", raising=False)
    monkeypatch.setenv("TIKTOK_POSTBACK_MAX_REJECTION_RATE", "0")
    warehouse = WarehouseResource(url=f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    store_events(warehouse.get_engine(), [FirstPartyEvent("p-1", EventSource.WEB, "$page_load", hour + timedelta(minutes=5),
                                                          page_url="https://shop.example.com/")], received_at=now)
    # TikTok's clock an hour behind: the event is "in the future" and rejected, a rejection rate of 100%.
    simulator.clock.set(hour - timedelta(hours=1))
    postbacks = PostbacksResource(pixel_id=PIXEL, app_id=APP_ID, test_event_code="TEST42", max_rejection_rate="1")

    with dg.instance_for_test() as instance:
        result = dg.materialize([tiktok_event_deliveries], instance=instance, resources={
            "tiktok_api": TikTokApiResource(base_url=base_url), "warehouse": warehouse, "postbacks": postbacks})

    metadata = result.asset_materializations_for_node("tiktok_event_deliveries")[0].metadata
    assert metadata["test_event_codes"].value == {f"web {PIXEL}": "TEST42", f"app {APP_ID}": "TEST42"}
    assert metadata["rejected"].value == 1
    (check,) = [evaluation for evaluation in result.get_asset_check_evaluations()
                if evaluation.check_name == REJECTION_RATE_CHECK]
    # The resource's threshold (100%), not the environment's (0%).
    assert check.passed and check.metadata["threshold"].value == 1.0
    simulator.clock.set(now)
    assert accepted_keys(simulator) == []


def test_a_run_resolves_the_variables_bound_by_the_code_location(loopback_simulator, tmp_path, monkeypatch) -> None:
    """The code location's binding (``postbacks_from_env``): the run resolves each EnvVar from its environment."""
    simulator, base_url = loopback_simulator
    now = datetime.now(UTC)
    simulator.clock.set(now)
    monkeypatch.setenv("TIKTOK_PIXEL_ID", PIXEL)
    monkeypatch.setenv("TIKTOK_EVENTS_APP_ID", APP_ID)
    monkeypatch.delenv("TIKTOK_EVENT_MAPPING", raising=False)
    monkeypatch.delenv("TIKTOK_EVENTS_TEST_EVENT_CODE", raising=False)
    warehouse = WarehouseResource(url=f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    defs = build_definitions(TikTokApiResource(base_url=base_url), warehouse)
    assert isinstance(defs.resources["postbacks"].pixel_id, dg.EnvVar)
    hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    store_events(warehouse.get_engine(), [FirstPartyEvent("p-2", EventSource.WEB, "$page_load", hour + timedelta(minutes=5),
                                                          page_url="https://shop.example.com/")], received_at=now)

    with dg.instance_for_test() as instance:
        assert dg.materialize([tiktok_event_deliveries], instance=instance, resources=defs.resources).success

    assert accepted_keys(simulator) == [(PIXEL, "PageView", "p-2")]
