"""The code location as the daemon sees it: schedules and sensors evaluated from ``build_definitions``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import dagster as dg
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tiktok_assets.definitions import build_definitions
from tiktok_assets.defs.resources import TikTokApiResource, WarehouseResource
from tiktok_assets.partitions import ADVERTISER_PARTITIONS_NAME

# A token the tests grant to chosen advertisers only (the simulator's default token may read all).
LIMITED_TOKEN = "ops-test-token-6f1d2c3b4a5e6f708192a3b4c5d6e7f8"
STATS = [dg.AssetKey("ad_stats_daily"), dg.AssetKey("ad_stats_hourly")]
ENTITIES = [dg.AssetKey(f"{kind}_history") for kind in ("campaign", "adgroup", "ad")]

# The four advertisers of World(seed=7), with their display time zones.
LOS_ANGELES = "7000492199575221389"
BERLIN = "7001764371650143684"
TOKYO = "7002614098186028321"
LONDON = "7003774704744826542"


@dataclass
class Location:
    """``build_definitions`` bound to a loopback simulator and a warehouse, with a persistent test instance.

    The instance has an instance ref (``instance_for_test``): sensors resolve
    dynamic partition keys through it, as they do under the daemon.
    """

    base_url: str
    warehouse_url: str
    instance: dg.DagsterInstance
    access_token: str | None = LIMITED_TOKEN
    warehouse_settings: dict[str, object] = field(default_factory=dict)
    """Further WarehouseResource fields (settle_days, revision_alert_share)."""
    defs: dg.Definitions = field(init=False)

    def __post_init__(self) -> None:
        self.defs = build_definitions(
            TikTokApiResource(access_token=self.access_token, base_url=self.base_url, qps=1000.0,
                              backoff_seconds=0.001, max_attempts=2),
            WarehouseResource(url=self.warehouse_url, **self.warehouse_settings),
        )

    @property
    def engine(self) -> Engine:
        return self.defs.resources["warehouse"].get_engine()

    @property
    def advertisers(self) -> list[str]:
        return self.instance.get_dynamic_partitions(ADVERTISER_PARTITIONS_NAME)

    def sensor_tick(self, name: str) -> dg.SensorExecutionData:
        sensor = self.defs.resolve_sensor_def(name)
        # As a context manager, like the daemon: the context enters the resources (and an instance for them),
        # and only leaving it exits them again.
        with dg.build_sensor_context(instance=self.instance, instance_ref=self.instance.get_ref(),
                                     definitions=self.defs, resources=self.defs.resources, sensor_name=name) as context:
            return sensor.evaluate_tick(context)

    def schedule_tick(self, name: str, at: datetime) -> dg.ScheduleExecutionData:
        schedule = self.defs.resolve_schedule_def(name)
        with dg.build_schedule_context(instance=self.instance, scheduled_execution_time=at,
                                       resources=self.defs.resources,
                                       repository_def=self.defs.get_repository_def()) as context:
            return schedule.evaluate_tick(context)

    def discover(self, *, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
        """Materialize tiktok_advertisers (what advertiser_discovery_sensor requests) in this instance."""
        return self.execute([dg.AssetKey("tiktok_advertisers")], raise_on_error=raise_on_error)

    def apply_partition_requests(self, tick: dg.SensorExecutionData) -> None:
        """What the daemon does with a tick's dynamic partition requests."""
        for request in tick.dynamic_partitions_requests or []:
            if isinstance(request, dg.AddDynamicPartitionsRequest):
                self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
            else:
                for key in request.partition_keys:
                    self.instance.delete_dynamic_partition(request.partitions_def_name, key)

    def execute(self, selection: list[dg.AssetKey], instance: dg.DagsterInstance | None = None,
                **kwargs: object) -> dg.ExecuteInProcessResult:
        job = self.defs.resolve_implicit_global_asset_job_def()
        return job.execute_in_process(instance=instance or self.instance, asset_selection=selection, **kwargs)

    def execute_request(self, request: dg.RunRequest, selection: list[dg.AssetKey]) -> dg.ExecuteInProcessResult:
        """Run what a schedule asked for, with its tags (partition range and any skip flags).

        In an in-memory copy of the instance's advertisers: a SQLite event log
        costs a synced write per event, and a stats run stores a hundred.
        """
        runs = dg.DagsterInstance.ephemeral()
        runs.add_dynamic_partitions(ADVERTISER_PARTITIONS_NAME, self.advertisers)
        return self.execute(selection, instance=runs, tags=dict(request.tags), raise_on_error=True)

    def query(self, sql: str, **params: object) -> pd.DataFrame:
        with self.engine.connect() as connection:
            result = connection.execute(sa.text(sql), params)
            return pd.DataFrame(result.all(), columns=list(result.keys()))


def materialized_partitions(result: dg.ExecuteInProcessResult, asset: str) -> set[str]:
    return {
        event.event_specific_data.materialization.partition
        for event in result.get_asset_materialization_events()
        if event.event_specific_data.materialization.asset_key == dg.AssetKey(asset)
    }
