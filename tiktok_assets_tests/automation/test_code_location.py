"""The deployed code location: every schedule and sensor starts running."""

from __future__ import annotations

import dagster as dg

from tiktok_assets.definitions import defs


def test_every_schedule_and_sensor_runs_by_default() -> None:
    repository = defs.get_repository_def()
    schedules = {schedule.name: schedule.default_status for schedule in repository.schedule_defs}
    sensors = {sensor.name: sensor.default_status for sensor in repository.sensor_defs}

    assert {"hourly_sync_schedule", "daily_entities_schedule", "daily_settle_schedule"} <= set(schedules)
    assert {"advertiser_discovery_sensor", "tiktok_automation", "run_failures_sensor"} <= set(sensors)
    # A default-stopped schedule or sensor is a silent outage: nothing errors, nothing runs.
    assert set(schedules.values()) == {dg.DefaultScheduleStatus.RUNNING}
    assert set(sensors.values()) == {dg.DefaultSensorStatus.RUNNING}
