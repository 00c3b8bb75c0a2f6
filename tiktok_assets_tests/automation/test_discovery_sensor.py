"""Advertiser discovery happens once, in tiktok_advertisers: it adds and removes the dynamic advertiser partitions
and writes the advertisers table. advertiser_discovery_sensor only requests it, and an entity snapshot for each
partition new since its last tick; it calls no API and writes no warehouse table (issue 16, defect 6)."""

from __future__ import annotations

import dagster as dg
import pytest
import sqlalchemy as sa

from tiktok_assets_tests.automation.location import (
    BERLIN,
    ENTITIES,
    LIMITED_TOKEN,
    LONDON,
    LOS_ANGELES,
    TOKYO,
    Location,
)

SENSOR = "advertiser_discovery_sensor"
DISCOVERY = dg.AssetKey("tiktok_advertisers")


def _authorised(location: Location) -> dict[str, bool]:
    rows = location.query("select advertiser_id, authorised from advertisers")
    return {row.advertiser_id: bool(row.authorised) for row in rows.itertuples()}


def _tick(location: Location, cursor: str | None) -> dg.SensorExecutionData:
    sensor = location.defs.resolve_sensor_def(SENSOR)
    with dg.build_sensor_context(instance=location.instance, instance_ref=location.instance.get_ref(),
                                 definitions=location.defs, resources=location.defs.resources, sensor_name=SENSOR,
                                 cursor=cursor) as context:
        return sensor.evaluate_tick(context)


def _entity_requests(tick: dg.SensorExecutionData) -> list[dg.RunRequest]:
    return [request for request in tick.run_requests if set(request.asset_selection) == set(ENTITIES)]


def test_the_sensor_requests_discovery_and_writes_nothing_itself(location, loopback_simulator) -> None:
    simulator, _ = loopback_simulator
    simulator.grant(LIMITED_TOKEN, [TOKYO, LOS_ANGELES])
    calls_before = simulator.request_counts

    tick = _tick(location, None)

    assert [list(request.asset_selection) for request in tick.run_requests] == [[DISCOVERY]]
    assert tick.run_requests[0].run_key.startswith("discovery:")
    assert tick.run_requests[0].tags["tiktok/advertiser"] == "all"
    assert not tick.dynamic_partitions_requests, "partitions are the asset's to change"
    assert location.advertisers == []
    assert not sa.inspect(location.engine).has_table("advertisers") or _authorised(location) == {}, \
        "a sensor writes no warehouse table"
    assert simulator.request_counts == calls_before, "a sensor tick calls no TikTok API"


def test_discovery_adds_partitions_and_the_next_tick_snapshots_each_new_advertiser(location, loopback_simulator) -> None:
    simulator, _ = loopback_simulator
    simulator.grant(LIMITED_TOKEN, [TOKYO, LOS_ANGELES])
    first = _tick(location, None)

    location.discover()

    assert sorted(location.advertisers) == sorted([LOS_ANGELES, TOKYO])
    assert _authorised(location) == {LOS_ANGELES: True, TOKYO: True}
    zones = location.query("select advertiser_id, display_timezone, currency from advertisers order by advertiser_id")
    assert zones.values.tolist() == [[LOS_ANGELES, "America/Los_Angeles", "USD"], [TOKYO, "Asia/Tokyo", "JPY"]]
    second = _tick(location, first.cursor)
    snapshots = _entity_requests(second)
    assert {request.partition_key for request in snapshots} == {LOS_ANGELES, TOKYO}
    for request in snapshots:
        assert request.run_key == f"new-advertiser:{request.partition_key}"
        assert request.tags["tiktok/advertiser"] == request.partition_key
    third = _tick(location, second.cursor)
    assert _entity_requests(third) == [], "each advertiser is snapshotted once on arrival"


def test_revoked_advertisers_are_removed_and_flagged_new_ones_added(location, loopback_simulator) -> None:
    simulator, _ = loopback_simulator
    simulator.grant(LIMITED_TOKEN, [LOS_ANGELES, BERLIN])
    location.discover()
    assert location.advertisers == [LOS_ANGELES, BERLIN]
    cursor = _tick(location, None).cursor

    simulator.grant(LIMITED_TOKEN, [BERLIN, LONDON])
    result = location.discover()

    assert sorted(location.advertisers) == [BERLIN, LONDON]
    # The revoked advertiser's history stays in the warehouse, flagged.
    assert _authorised(location) == {LOS_ANGELES: False, BERLIN: True, LONDON: True}
    (materialization,) = [event.event_specific_data.materialization for event in result.get_asset_materialization_events()]
    assert materialization.metadata["partitions_added"].value == 1
    assert materialization.metadata["partitions_removed"].value == [LOS_ANGELES]
    assert [request.partition_key for request in _entity_requests(_tick(location, cursor))] == [LONDON]


def test_revoked_token_fails_loudly_without_the_token_and_keeps_partitions(location, loopback_simulator) -> None:
    simulator, _ = loopback_simulator
    simulator.grant(LIMITED_TOKEN, [TOKYO])
    location.discover()
    simulator.revoke(LIMITED_TOKEN)

    result = location.discover(raise_on_error=False)

    assert not result.success
    failure = str(result.get_step_failure_events()[0].event_specific_data.error)
    assert "Authentication failed" in failure
    assert LIMITED_TOKEN not in failure
    # A bad token must not look like "every advertiser was revoked".
    assert location.advertisers == [TOKYO]
    assert _authorised(location) == {TOKYO: True}


@pytest.mark.parametrize("cursor", [None, "[]"])
def test_a_tick_without_advertisers_only_requests_discovery(location, cursor: str | None) -> None:
    tick = _tick(location, cursor)
    assert [list(request.asset_selection) for request in tick.run_requests] == [[DISCOVERY]]


def test_a_discovery_that_found_the_same_accounts_keeps_its_data_version(location, loopback_simulator) -> None:
    simulator, _ = loopback_simulator
    simulator.grant(LIMITED_TOKEN, [TOKYO, BERLIN])

    def version(result: dg.ExecuteInProcessResult) -> str:
        (event,) = result.get_asset_materialization_events()
        return event.event_specific_data.materialization.tags["dagster/data_version"]

    first, again = version(location.discover()), version(location.discover())
    simulator.grant(LIMITED_TOKEN, [TOKYO])
    assert first == again, "nothing changed: revision_drift (which reads advertisers) need not recompute"
    assert version(location.discover()) != first
