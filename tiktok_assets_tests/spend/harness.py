"""Run the spend import against a simulator and a warehouse, as Dagster would."""

from __future__ import annotations

import os
from datetime import date

import dagster as dg
import pandas as pd

from tiktok_assets.definitions import build_definitions
from tiktok_assets.defs.resources import TikTokApiResource, WarehouseResource
from tiktok_assets.partitions import ADVERTISER_PARTITIONS_NAME, all_advertisers_range_tags
from tiktok_assets.warehouse import make_engine, query_frame

STATS = [dg.AssetKey("ad_stats_daily"), dg.AssetKey("ad_stats_hourly")]
ENTITIES = [dg.AssetKey(f"{kind}_history") for kind in ("campaign", "adgroup", "ad")]


class SpendHarness:
    def __init__(self, base_url: str, warehouse_url: str, *, access_token: str | None = None,
                 settle_days: int | None = None) -> None:
        fields: dict[str, object] = {} if settle_days is None else {"settle_days": settle_days}
        # The probe settings bound as a deployment binds them (warehouse_from_env): a test that sets the variable,
        # even after this, changes the next run, as a changed environment changes a code location's next run.
        if os.environ.get("TIKTOK_REPULL_PROBE"):
            fields["repull_probe"] = dg.EnvVar("TIKTOK_REPULL_PROBE")
        if os.environ.get("TIKTOK_PROBE_VERIFY_EVERY_DAYS"):
            fields["probe_verify_every_days"] = dg.EnvVar.int("TIKTOK_PROBE_VERIFY_EVERY_DAYS")
        warehouse = WarehouseResource(url=warehouse_url, **fields)
        self.defs = build_definitions(
            TikTokApiResource(base_url=base_url, access_token=access_token, qps=1000.0, backoff_seconds=0.001),
            warehouse,
        )
        self.instance = dg.DagsterInstance.ephemeral()
        self.engine = make_engine(warehouse_url)
        self.job = self.defs.resolve_implicit_global_asset_job_def()

    def run(self, selection: list[dg.AssetKey], **kwargs) -> dg.ExecuteInProcessResult:  # noqa: ANN003
        return self.job.execute_in_process(instance=self.instance, asset_selection=selection, **kwargs)

    def discover(self) -> list[str]:
        self.run([dg.AssetKey("tiktok_advertisers")])
        return self.instance.get_dynamic_partitions(ADVERTISER_PARTITIONS_NAME)

    def import_range(self, start: date, end: date, *, entities: bool = True,
                     extra_tags: dict[str, str] | None = None) -> dg.ExecuteInProcessResult:
        advertisers = self.instance.get_dynamic_partitions(ADVERTISER_PARTITIONS_NAME) or self.discover()
        if entities:
            for advertiser_id in advertisers:
                self.run(ENTITIES, partition_key=advertiser_id)
        tags = {**all_advertisers_range_tags(advertisers, start, end), **(extra_tags or {})}
        return self.run(STATS, tags=tags)

    def query(self, sql: str, **params) -> pd.DataFrame:  # noqa: ANN003
        return query_frame(self.engine, sql, **params)

    def count(self, table: str) -> int:
        return int(self.query(f"select count(*) as n from {table}")["n"].iloc[0])


def materializations(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, dg.AssetMaterialization]:
    """The asset's materializations of the run by partition key."""
    return {
        event.event_specific_data.materialization.partition: event.event_specific_data.materialization
        for event in result.get_asset_materialization_events()
        if event.event_specific_data.materialization.asset_key == dg.AssetKey(asset)
    }


def materialized_partitions(result: dg.ExecuteInProcessResult, asset: str) -> list[str]:
    return [
        event.event_specific_data.materialization.partition
        for event in result.get_asset_materialization_events()
        if event.event_specific_data.materialization.asset_key == dg.AssetKey(asset)
    ]
