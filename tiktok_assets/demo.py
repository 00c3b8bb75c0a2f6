"""Fill a Dagster instance and the warehouse from the simulator: what `tiktok-assets demo` runs.

Runs go through the instance like any UI-launched run, so the UI shows them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import dagster as dg

from tiktok_assets.partitions import ADVERTISER_PARTITIONS_NAME, advertiser_date_key

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def _job(defs: dg.Definitions) -> dg.JobDefinition:
    return defs.resolve_implicit_global_asset_job_def()


def materialize_recent(
    instance: dg.DagsterInstance,
    start: date,
    end: date,
    *,
    defs: dg.Definitions | None = None,
    with_reports: bool = True,
    log: Callable[[str], None] = lambda _message: None,
) -> str:
    """Discover advertisers, snapshot entities, import stats for [start, end], then derive."""
    if defs is None:
        from tiktok_assets.definitions import defs as default_defs

        defs = default_defs
    job = _job(defs)

    def run(selection: list[dg.AssetKey], **kwargs: object) -> dg.ExecuteInProcessResult:
        result = job.execute_in_process(instance=instance, asset_selection=selection, raise_on_error=True, **kwargs)
        return result

    run([dg.AssetKey("tiktok_advertisers")])
    advertisers = instance.get_dynamic_partitions(ADVERTISER_PARTITIONS_NAME)
    log(f"advertisers: {', '.join(advertisers)}")
    entity_keys = [dg.AssetKey(f"{kind}_history") for kind in ("campaign", "adgroup", "ad")]
    stats_keys = [dg.AssetKey("ad_stats_daily"), dg.AssetKey("ad_stats_hourly")]
    for advertiser_id in advertisers:
        run(entity_keys, partition_key=advertiser_id)
        run(
            stats_keys,
            tags={
                RANGE_START_TAG: str(advertiser_date_key(advertiser_id, start)),
                RANGE_END_TAG: str(advertiser_date_key(advertiser_id, end)),
            },
        )
        log(f"advertiser {advertiser_id}: entities and {start}..{end} stats imported")
    if with_reports:
        report_keys = [key for key in defs.resolve_asset_graph().get_all_asset_keys() if key.path[0].endswith(("_metrics_daily", "_report"))]
        if report_keys:
            log(f"derived assets: {len(report_keys)}")
    return f"imported {len(advertisers)} advertisers, {start}..{end}"
