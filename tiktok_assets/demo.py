"""Fill a Dagster instance and the warehouse from the simulator: what `tiktok-assets demo` runs.

Runs go through the instance like any UI-launched run, so the UI shows them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import dagster as dg

from tiktok_assets.partitions import ADVERTISER_PARTITIONS_NAME, all_advertisers_range_tags


def _job(defs: dg.Definitions) -> dg.JobDefinition:
    return defs.resolve_implicit_global_asset_job_def()


def materialize_recent(
    instance: dg.DagsterInstance,
    start: date,
    end: date,
    *,
    defs: dg.Definitions | None = None,
    with_reports: bool = True,
    event_hours: int = 6,
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
    log(f"entities snapshotted for {len(advertisers)} advertisers")
    # One single-run backfill: every advertiser, every day of the range.
    run(stats_keys, tags=all_advertisers_range_tags(advertisers, start, end))
    log(f"stats imported for {start}..{end}")
    # The code location's own resources decide, as they do in its runs (not the environment read here).
    on_real_api = not defs.resources["tiktok_api"].uses_simulator
    if event_hours and on_real_api and not defs.resources["postbacks"].settings().drop_dir:
        # Demo events are the simulator's; a real account's come from a drop directory.
        log("first-party events skipped: a TikTok token is set and no drop directory (TIKTOK_EVENTS_DROP_DIR) is")
    elif event_hours:
        # First-party events of the last hours, mapped and sent to the Events API: one load, one delivery run.
        run([dg.AssetKey("first_party_events"), dg.AssetKey("tiktok_event_deliveries")],
            run_config={"ops": {"first_party_events": {"config": {"demo_hours": event_hours}}}})
        log(f"first-party events of the last {event_hours} hour(s) loaded and delivered")
    if with_reports:
        from tiktok_assets.defs.metrics import METRICS_ASSET_KEYS

        run(list(METRICS_ASSET_KEYS), tags=all_advertisers_range_tags(advertisers, start, end))
        run([dg.AssetKey(name) for name in ("overview_report", "channels_report", "app_report")])
        log(f"metrics at every level and the overview, channels and app reports derived for {start}..{end}")
    return f"imported {len(advertisers)} advertisers, {start}..{end}"
