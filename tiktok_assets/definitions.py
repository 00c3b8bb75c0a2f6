"""The one place the code location is wired together."""

import os

import dagster as dg

from tiktok_assets.defs import (
    audience,
    automation,
    commerce,
    extra_metrics,
    gmv_max,
    levels,
    metrics,
    ops,
    postbacks,
    spend,
)
from tiktok_assets.defs.resources import (
    ExtraMetricsResource,
    PostbacksResource,
    TikTokApiResource,
    WarehouseResource,
    extra_metrics_from_env,
    postbacks_from_env,
    tiktok_api_from_env,
    warehouse_from_env,
)


def executor_from_env() -> dg.ExecutorDefinition | None:
    """TIKTOK_EXECUTOR picks how a run's steps execute; unset, Dagster's default (multiprocess).

    ``in_process``: every step in the run's own process. A small daily or hourly sync then starts no
    process per step (each of those imports the code location again, ~150-250 MB and a second or so).
    ``multiprocess``: Dagster's default, said explicitly. ``k8s``: every step in a Kubernetes pod of its
    own (dagster-k8s).
    """
    choice = os.environ.get("TIKTOK_EXECUTOR", "").strip().lower()
    if choice == "k8s":
        from dagster_k8s import k8s_job_executor  # installed in the Kubernetes image only (extra "k8s")

        return k8s_job_executor
    if choice == "in_process":
        return dg.in_process_executor
    if choice == "multiprocess":
        return dg.multiprocess_executor
    if choice:
        raise ValueError(f"TIKTOK_EXECUTOR={choice!r} is not an executor we know: leave it unset, or set it to "
                         "'in_process', 'multiprocess' or 'k8s'.")
    return None


def build_definitions(tiktok_api: TikTokApiResource, warehouse: WarehouseResource,
                      postbacks_settings: PostbacksResource | None = None,
                      extra_metrics_settings: ExtraMetricsResource | None = None) -> dg.Definitions:
    """Everything in the code location, bound to the given resources (tests bind their own);
    ``postbacks_settings`` defaults to the TIKTOK_EVENTS_* / TIKTOK_POSTBACK_* variables,
    ``extra_metrics_settings`` to TIKTOK_EXTRA_METRICS / TIKTOK_EXTRA_METRICS_FILE."""
    return dg.Definitions(
        assets=[
            spend.tiktok_advertisers,
            spend.tiktok_entities,
            spend.ad_stats_daily,
            spend.ad_stats_hourly,
            spend.revision_drift,
            extra_metrics.ad_metrics_extra_daily,
            *audience.AUDIENCE_ASSETS,
            *levels.LEVEL_TOTALS_ASSETS,
            *gmv_max.GMV_MAX_ASSETS,
            *metrics.METRICS_ASSETS,
            *metrics.REPORT_ASSETS,
            *commerce.COMMERCE_ASSETS,
            postbacks.first_party_events,
            postbacks.tiktok_event_deliveries,
        ],
        asset_checks=spend.QUALITY_CHECKS,
        schedules=[
            automation.hourly_sync_schedule,
            automation.daily_entities_schedule,
            automation.daily_settle_schedule,
            audience.daily_audience_schedule,
            extra_metrics.extra_metrics_settle_schedule,
            postbacks.first_party_events_schedule,
        ],
        sensors=[
            automation.advertiser_discovery_sensor,
            automation.automation_sensor,
            ops.run_failures_sensor,
            postbacks.new_first_party_events_sensor,
        ],
        resources={"tiktok_api": tiktok_api, "warehouse": warehouse,
                   "postbacks": postbacks_settings if postbacks_settings is not None else postbacks_from_env(),
                   "extra_metrics": (extra_metrics_settings if extra_metrics_settings is not None
                                     else extra_metrics_from_env())},
        executor=executor_from_env(),
    )


defs = build_definitions(tiktok_api_from_env(), warehouse_from_env(), postbacks_from_env())
