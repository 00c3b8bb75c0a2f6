"""Operations: every failed run lands in the warehouse table ``run_failures``, secrets scrubbed.

Dagster keeps failures in its own event log, per run; ``run_failures`` keeps
one row per failed run beside the data it failed to produce, so "what broke
this week, for which advertiser and dates, and why" is one SQL query:

    SELECT failed_at, job_name, partition_range_start, partition_range_end, error_class, error_message
    FROM run_failures ORDER BY failed_at DESC;

Wiring only: the scrubbing, the row and its SQL are ``tiktok_assets/runs/failures.py``'s, the table is the
warehouse's (``warehouse/tables.py``); this module turns what Dagster knows of a failed run into plain values.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import dagster as dg

from tiktok_assets.defs.resources import TikTokApiResource, WarehouseResource
from tiktok_assets.partitions import RANGE_END_TAG, RANGE_START_TAG
from tiktok_assets.runs.failures import FailedRun, record_run_failure, run_failure_record
# Defined with every other warehouse table (one metadata, one schema); re-exported here.
from tiktok_assets.warehouse.tables import run_failures

PARTITION_TAG = "dagster/partition"


def failed_run(run: dg.DagsterRun, failure_event: dg.DagsterEvent,
               step_failure_events: Sequence[dg.DagsterEvent]) -> FailedRun:
    """What Dagster knows of a failed run, as the plain values ``run_failure_record`` takes."""
    failure_data = failure_event.event_specific_data
    error = getattr(failure_data, "error", None)
    if error is None and step_failure_events:
        # Multi-process runs report the cause on the step, not on the run.
        error = step_failure_events[0].event_specific_data.error
    reason = getattr(failure_data, "failure_reason", None)
    tags = run.tags
    return FailedRun(
        run_id=run.run_id,
        job_name=run.job_name,
        tags=tags,
        partition_key=tags.get(PARTITION_TAG),
        partition_range_start=tags.get(RANGE_START_TAG),
        partition_range_end=tags.get(RANGE_END_TAG),
        asset_keys=[key.to_user_string() for key in run.asset_selection] if run.asset_selection else None,
        failed_steps=[event.step_key for event in step_failure_events if event.step_key],
        failure_reason=reason.value if reason is not None else None,
        error=error,
        fallback_message=failure_event.message or "run failed without an error message",
    )


def _failed_at(instance: dg.DagsterInstance, run_id: str) -> datetime:
    record = instance.get_run_record_by_id(run_id)
    if record is not None and record.end_time is not None:
        return datetime.fromtimestamp(record.end_time, UTC)
    return datetime.now(UTC)


@dg.run_failure_sensor(
    name="run_failures_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records every failed run of this code location in the warehouse table run_failures "
    "(partitions, assets, failed steps, error class and message with secrets scrubbed).",
)
def run_failures_sensor(
    context: dg.RunFailureSensorContext, tiktok_api: TikTokApiResource, warehouse: WarehouseResource
) -> None:
    run = context.dagster_run
    record = run_failure_record(
        failed_run(run, context.failure_event, context.get_step_failure_events()),
        failed_at=_failed_at(context.instance, run.run_id),
        secrets=[tiktok_api.access_token, tiktok_api.app_secret],
    )
    record_run_failure(warehouse.get_engine(), record)
    # The message stays out of the log: the table holds the scrubbed copy.
    context.log.info(f"run {run.run_id} of {run.job_name} failed ({record.error_class}); recorded in run_failures")
