"""Settings visible in Dagster (issue 16, defect 6): the settle window and the revision alert share are fields of
the warehouse resource, bound to their TIKTOK_* variables, shown on the resource page; runs read the resource."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dagster._core.remote_representation.external_data import RepositorySnap, ResourceConfigEnvVarSnap

from tiktok_assets.definitions import build_definitions
from tiktok_assets.defs.resources import WarehouseResource, tiktok_api_from_env, warehouse_from_env
from tiktok_assets_tests.automation.location import LIMITED_TOKEN, LOS_ANGELES, Location

RANGE_START = "dagster/asset_partition_range_start"


def _warehouse_page(monkeypatch) -> dict[str, object]:
    """The warehouse resource's configured values as the UI's resource page shows them."""
    monkeypatch.setenv("TIKTOK_SETTLE_DAYS", "3")
    monkeypatch.setenv("TIKTOK_REVISION_ALERT_SHARE", "0.2")
    defs = build_definitions(tiktok_api_from_env(), warehouse_from_env())
    snap = RepositorySnap.from_def(defs.get_repository_def())
    (warehouse,) = [resource for resource in snap.resources or [] if resource.name == "warehouse"]
    return warehouse.configured_values


def test_settle_days_and_alert_share_are_on_the_resource_page_bound_to_their_variables(monkeypatch) -> None:
    values = _warehouse_page(monkeypatch)
    assert values["settle_days"] == ResourceConfigEnvVarSnap(name="TIKTOK_SETTLE_DAYS")
    assert values["revision_alert_share"] == ResourceConfigEnvVarSnap(name="TIKTOK_REVISION_ALERT_SHARE")


def test_outside_a_run_the_resource_reads_the_variables_values(monkeypatch) -> None:
    monkeypatch.setenv("TIKTOK_SETTLE_DAYS", "3")
    monkeypatch.setenv("TIKTOK_REVISION_ALERT_SHARE", "0.2")
    resource = warehouse_from_env()
    assert (resource.settle_window_days(), resource.alert_share()) == (3, 0.2)


def test_unset_variables_show_the_defaults(monkeypatch) -> None:
    monkeypatch.delenv("TIKTOK_SETTLE_DAYS", raising=False)
    monkeypatch.delenv("TIKTOK_REVISION_ALERT_SHARE", raising=False)
    resource = warehouse_from_env()
    assert resource.settle_window_days() == 7
    assert resource.alert_share() == 0.05


@pytest.mark.parametrize(("field", "value", "named"), [
    ("settle_days", 0, "TIKTOK_SETTLE_DAYS"), ("settle_days", 29, "TIKTOK_SETTLE_DAYS"),
    ("revision_alert_share", "five percent", "TIKTOK_REVISION_ALERT_SHARE"),
    ("revision_alert_share", "-0.1", "TIKTOK_REVISION_ALERT_SHARE"),
])
def test_a_wrong_setting_is_refused_naming_its_variable(field: str, value: object, named: str) -> None:
    resource = WarehouseResource(**{field: value})
    with pytest.raises(ValueError, match=named):
        resource.settle_window_days() if field == "settle_days" else resource.alert_share()


def test_the_settle_schedule_reads_the_window_from_the_resource_not_the_environment(
    loopback_simulator, tmp_path, instance, monkeypatch
) -> None:
    monkeypatch.setenv("TIKTOK_SETTLE_DAYS", "28")  # what a run would have read from the environment
    simulator, base_url = loopback_simulator
    simulator.grant(LIMITED_TOKEN, [LOS_ANGELES])
    location = Location(base_url, f"sqlite:///{tmp_path / 'w.sqlite'}", instance,
                        warehouse_settings={"settle_days": 2})
    location.discover()
    now = datetime.now(UTC)

    (request,) = location.schedule_tick("daily_settle_schedule", now).run_requests

    # The window runs from yesterday back to the day reaching settle_days today: 3 days for 2.
    la_today = now.astimezone(ZoneInfo("Etc/GMT+8")).date()
    assert request.tags[RANGE_START] == f"{la_today - timedelta(days=3)}|{LOS_ANGELES}"
    assert request.tags["tiktok/reason"] == "settle window re-pull (2 days)"
