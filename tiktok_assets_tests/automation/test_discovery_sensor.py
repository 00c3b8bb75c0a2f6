"""advertiser_discovery_sensor: dynamic advertiser partitions follow what the token may read."""

from __future__ import annotations

import dagster as dg
import pytest

from tiktok_assets.partitions import ADVERTISER_PARTITIONS_NAME
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


def _partition_changes(tick: dg.SensorExecutionData) -> tuple[list[str], list[str]]:
    added: list[str] = []
    removed: list[str] = []
    for request in tick.dynamic_partitions_requests or []:
        assert request.partitions_def_name == ADVERTISER_PARTITIONS_NAME
        target = added if isinstance(request, dg.AddDynamicPartitionsRequest) else removed
        target.extend(request.partition_keys)
    return added, removed


def _authorised(location: Location) -> dict[str, bool]:
    rows = location.query("select advertiser_id, authorised from advertisers")
    return {row.advertiser_id: bool(row.authorised) for row in rows.itertuples()}


def test_new_advertisers_become_partitions_with_an_entity_snapshot_each(location, loopback_simulator) -> None:
    simulator, _ = loopback_simulator
    simulator.grant(LIMITED_TOKEN, [TOKYO, LOS_ANGELES])

    tick = location.sensor_tick(SENSOR)

    assert _partition_changes(tick) == ([LOS_ANGELES, TOKYO], [])
    assert {request.partition_key for request in tick.run_requests} == {LOS_ANGELES, TOKYO}
    for request in tick.run_requests:
        assert set(request.asset_selection) == set(ENTITIES)
        assert request.run_key == f"new-advertiser:{request.partition_key}"
    assert _authorised(location) == {LOS_ANGELES: True, TOKYO: True}
    zones = location.query("select advertiser_id, display_timezone, currency from advertisers order by advertiser_id")
    assert zones.values.tolist() == [[LOS_ANGELES, "America/Los_Angeles", "USD"], [TOKYO, "Asia/Tokyo", "JPY"]]


def test_revoked_advertisers_are_removed_and_flagged_new_ones_added(location, loopback_simulator) -> None:
    simulator, _ = loopback_simulator
    simulator.grant(LIMITED_TOKEN, [LOS_ANGELES, BERLIN])
    location.apply_partition_requests(location.sensor_tick(SENSOR))
    assert location.advertisers == [LOS_ANGELES, BERLIN]

    simulator.grant(LIMITED_TOKEN, [BERLIN, LONDON])
    tick = location.sensor_tick(SENSOR)

    assert _partition_changes(tick) == ([LONDON], [LOS_ANGELES])
    assert [request.partition_key for request in tick.run_requests] == [LONDON]
    location.apply_partition_requests(tick)
    assert sorted(location.advertisers) == [BERLIN, LONDON]
    # The revoked advertiser's history stays in the warehouse, flagged.
    assert _authorised(location) == {LOS_ANGELES: False, BERLIN: True, LONDON: True}


def test_nothing_changed_requests_nothing(location, loopback_simulator) -> None:
    simulator, _ = loopback_simulator
    simulator.grant(LIMITED_TOKEN, [BERLIN])
    location.apply_partition_requests(location.sensor_tick(SENSOR))

    tick = location.sensor_tick(SENSOR)

    assert tick.run_requests == []
    assert _partition_changes(tick) == ([], [])
    assert tick.skip_message and "no change" in tick.skip_message.lower()


def test_revoked_token_fails_loudly_without_the_token_and_keeps_partitions(location, loopback_simulator) -> None:
    simulator, _ = loopback_simulator
    simulator.grant(LIMITED_TOKEN, [TOKYO])
    location.apply_partition_requests(location.sensor_tick(SENSOR))
    simulator.revoke(LIMITED_TOKEN)

    with pytest.raises(Exception, match="Authentication failed") as raised:
        location.sensor_tick(SENSOR)

    assert LIMITED_TOKEN not in str(raised.value)
    # A bad token must not look like "every advertiser was revoked".
    assert location.advertisers == [TOKYO]
    assert _authorised(location) == {TOKYO: True}
