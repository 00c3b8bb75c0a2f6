"""Operations: every failed run lands in the warehouse table ``run_failures``, secrets scrubbed.

Dagster keeps failures in its own event log, per run; ``run_failures`` keeps
one row per failed run beside the data it failed to produce, so "what broke
this week, for which advertiser and dates, and why" is one SQL query:

    SELECT failed_at, job_name, partition_range_start, partition_range_end, error_class, error_message
    FROM run_failures ORDER BY failed_at DESC;

Error text comes from user code and HTTP libraries, so it is scrubbed before
it is stored: the configured access token and app secret wherever they
appear, and any value given to an ``Access-Token`` header or an
``access_token``/``app_secret`` parameter.
"""

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import dagster as dg
import sqlalchemy as sa
from dagster_shared.error import SerializableErrorInfo
from sqlalchemy.engine import Engine

from tiktok_assets.defs.resources import TikTokApiResource, WarehouseResource
from tiktok_assets.partitions import RANGE_END_TAG, RANGE_START_TAG
from tiktok_assets.tiktok.scrub import REDACTED, scrub
from tiktok_assets.warehouse import naive_utc, write_transaction
# Defined with every other warehouse table (one metadata, one schema); re-exported here.
from tiktok_assets.warehouse.tables import run_failures

PARTITION_TAG = "dagster/partition"
# Long enough for any TikTok message and a request id; a stack trace stays in Dagster's event log.
MAX_ERROR_MESSAGE_CHARS = 4000

# A header or parameter that carries a secret, then its value: `Access-Token: v`, `'access-token': 'v'`,
# `"access_token": "v"`, `access_token=v&...`, `app_secret=v`, and httpx's `('access-token', 'v')` pairs.
_SECRET_NAME = r"(?:access[-_]?token|app[-_]?secret|secret)"
_SECRET_ASSIGNMENT = re.compile(
    r"(?P<name>[\"']?" + _SECRET_NAME + r"[\"']?\s*(?:[:=]|(?<=[\"']),)\s*)"
    r"(?:(?P<quote>[\"'])(?P<quoted>.*?)(?P=quote)|(?P<bare>\[REDACTED\]|[^\s\"'&,;)}\]]+))",
    re.IGNORECASE,
)
_MODULE_PREFIX = r"^(?:[A-Za-z_][\w]*\.)*"


def scrub_secrets(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every secret value replaced by ``[REDACTED]``.

    Known secrets (the configured token) are removed wherever they occur, raw
    or URL-encoded; values of secret-named headers and parameters are removed
    whatever they are, which also covers a token other than the configured one.
    """
    # The one scrubber first (every secret a client registered, raw and encoded), then secret-named values.
    text = scrub(text, extra=[s.strip() for s in secrets if s and s.strip()])

    def redact(match: re.Match[str]) -> str:
        quote_char = match.group("quote") or ""
        return f"{match.group('name')}{quote_char}{REDACTED}{quote_char}"

    return _SECRET_ASSIGNMENT.sub(redact, text)


@dataclass(frozen=True)
class ErrorSummary:
    error_class: str | None
    message: str


def innermost_error(error: SerializableErrorInfo | None, fallback_message: str) -> ErrorSummary:
    """The root cause of a Dagster error chain (the user's exception, not Dagster's wrapper)."""
    if error is None:
        return ErrorSummary(None, fallback_message)
    while error.cause is not None:
        error = error.cause
    # Dagster renders "package.module.ClassName: message"; the class is a column of its own.
    message = re.sub(_MODULE_PREFIX + re.escape(error.cls_name or "") + r":\s*", "", error.message.strip(), count=1)
    return ErrorSummary(error.cls_name, message or fallback_message)


@dataclass(frozen=True)
class RunFailureRecord:
    """One row of ``run_failures``."""

    run_id: str
    job_name: str
    failed_at: datetime
    failure_reason: str | None
    partition_key: str | None
    partition_range_start: str | None
    partition_range_end: str | None
    asset_selection: str | None
    failed_steps: str
    error_class: str | None
    error_message: str
    tags: str
    recorded_at: datetime

    def as_row(self) -> dict[str, object]:
        return asdict(self)


def run_failure_record(
    run: dg.DagsterRun,
    failure_event: dg.DagsterEvent,
    step_failure_events: Sequence[dg.DagsterEvent],
    *,
    failed_at: datetime,
    secrets: Iterable[str | None],
) -> RunFailureRecord:
    """The row for a failed run: where it failed (partitions, assets, steps) and why, scrubbed."""
    secrets = list(secrets)
    failure_data = failure_event.event_specific_data
    error = getattr(failure_data, "error", None)
    if error is None and step_failure_events:
        # Multi-process runs report the cause on the step, not on the run.
        error = step_failure_events[0].event_specific_data.error
    summary = innermost_error(error, failure_event.message or "run failed without an error message")
    reason = getattr(failure_data, "failure_reason", None)
    tags: Mapping[str, str] = run.tags
    assets = sorted(key.to_user_string() for key in run.asset_selection) if run.asset_selection else None
    return RunFailureRecord(
        run_id=run.run_id,
        job_name=run.job_name,
        failed_at=naive_utc(failed_at),
        failure_reason=reason.value if reason is not None else None,
        partition_key=tags.get(PARTITION_TAG),
        partition_range_start=tags.get(RANGE_START_TAG),
        partition_range_end=tags.get(RANGE_END_TAG),
        asset_selection=json.dumps(assets) if assets is not None else None,
        failed_steps=json.dumps(sorted({event.step_key for event in step_failure_events if event.step_key})),
        error_class=summary.error_class,
        error_message=scrub_secrets(summary.message, secrets)[:MAX_ERROR_MESSAGE_CHARS],
        tags=scrub_secrets(json.dumps(dict(sorted(tags.items()))), secrets),
        recorded_at=naive_utc(datetime.now(UTC)),
    )


def record_run_failure(engine: Engine, record: RunFailureRecord) -> None:
    """Store one failure; recording the same run again replaces its row (sensor re-evaluations)."""
    # create_schema makes the table with every other; an engine it never ran on gets it here.
    run_failures.create(engine, checkfirst=True)
    with write_transaction(engine) as connection:
        connection.execute(sa.delete(run_failures).where(run_failures.c.run_id == record.run_id))
        connection.execute(sa.insert(run_failures).values(**record.as_row()))


def read_run_failures(engine: Engine, limit: int = 100) -> list[dict[str, object]]:
    """The latest recorded failures, newest first (none before the first failure created the table)."""
    if not sa.inspect(engine).has_table(run_failures.name):
        return []
    query = sa.select(run_failures).order_by(run_failures.c.failed_at.desc()).limit(limit)
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


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
        run,
        context.failure_event,
        context.get_step_failure_events(),
        failed_at=_failed_at(context.instance, run.run_id),
        secrets=[tiktok_api.access_token, tiktok_api.app_secret],
    )
    record_run_failure(warehouse.get_engine(), record)
    # The message stays out of the log: the table holds the scrubbed copy.
    context.log.info(f"run {run.run_id} of {run.job_name} failed ({record.error_class}); recorded in run_failures")
