"""A SpendHarness with a short HTTP timeout, so socket-level timeout faults cost a fraction of a second."""

from __future__ import annotations

from datetime import date

import dagster as dg

from tiktok_assets.definitions import build_definitions
from tiktok_assets.defs.resources import TikTokApiResource, WarehouseResource
from tiktok_assets.partitions import ADVERTISER_PARTITIONS_NAME, all_advertisers_range_tags
from tiktok_assets_tests.spend.harness import STATS, SpendHarness


class FastHarness(SpendHarness):
    def __init__(self, base_url: str, warehouse_url: str, *, access_token: str | None = None,
                 timeout_seconds: float = 0.5, max_attempts: int = 6) -> None:
        super().__init__(base_url, warehouse_url, access_token=access_token)
        self.defs = build_definitions(
            TikTokApiResource(base_url=base_url, access_token=access_token, qps=1000.0, backoff_seconds=0.001,
                              timeout_seconds=timeout_seconds, max_attempts=max_attempts),
            WarehouseResource(url=warehouse_url),
        )
        self.job = self.defs.resolve_implicit_global_asset_job_def()

    def import_stats(self, start: date, end: date, *, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
        """One single-run backfill of both stats assets for every discovered advertiser."""
        advertisers = self.instance.get_dynamic_partitions(ADVERTISER_PARTITIONS_NAME) or self.discover()
        return self.run(STATS, tags=all_advertisers_range_tags(advertisers, start, end), raise_on_error=raise_on_error)
