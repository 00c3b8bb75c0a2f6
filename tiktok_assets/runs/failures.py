"""Failed runs as warehouse rows, secrets scrubbed (no Dagster import: the sensor hands plain values in).

Error text comes from user code and HTTP libraries, so it is scrubbed before
it is stored: the configured access token and app secret wherever they
appear, and any value given to an ``Access-Token`` header or an
``access_token``/``app_secret`` parameter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tiktok_assets.tiktok.scrub import REDACTED, scrub
from tiktok_assets.warehouse import naive_utc, write_transaction
from tiktok_assets.warehouse.tables import run_failures

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


class ErrorInfo(Protocol):
    """A chain of errors as Dagster serialises one (``SerializableErrorInfo``): class, message, cause."""

    message: str
    cls_name: str | None

    @property
    def cause(self) -> ErrorInfo | None: ...


@dataclass(frozen=True)
class ErrorSummary:
    error_class: str | None
    message: str


def innermost_error(error: ErrorInfo | None, fallback_message: str) -> ErrorSummary:
    """The root cause of an error chain (the user's exception, not Dagster's wrapper)."""
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


@dataclass(frozen=True)
class FailedRun:
    """What the failure sensor knows of a failed run, as plain values."""

    run_id: str
    job_name: str
    tags: Mapping[str, str]
    partition_key: str | None
    """Single-partition runs: the partition; single-run backfills: None, and the range below."""
    partition_range_start: str | None
    partition_range_end: str | None
    asset_keys: list[str] | None
    """The run's asset selection as user strings ('a/b' for multi-part keys); None for an op job."""
    failed_steps: list[str]
    failure_reason: str | None
    error: ErrorInfo | None
    fallback_message: str


def run_failure_record(run: FailedRun, *, failed_at: datetime, secrets: Iterable[str | None],
                       recorded_at: datetime | None = None) -> RunFailureRecord:
    """The row for a failed run: where it failed (partitions, assets, steps) and why, scrubbed."""
    secrets = list(secrets)
    summary = innermost_error(run.error, run.fallback_message)
    return RunFailureRecord(
        run_id=run.run_id,
        job_name=run.job_name,
        failed_at=naive_utc(failed_at),
        failure_reason=run.failure_reason,
        partition_key=run.partition_key,
        partition_range_start=run.partition_range_start,
        partition_range_end=run.partition_range_end,
        asset_selection=json.dumps(sorted(run.asset_keys)) if run.asset_keys is not None else None,
        failed_steps=json.dumps(sorted(set(run.failed_steps))),
        error_class=summary.error_class,
        error_message=scrub_secrets(summary.message, secrets)[:MAX_ERROR_MESSAGE_CHARS],
        tags=scrub_secrets(json.dumps(dict(sorted(run.tags.items()))), secrets),
        recorded_at=naive_utc(recorded_at or datetime.now(UTC)),
    )


def record_run_failure(engine: Engine, record: RunFailureRecord) -> None:
    """Store one failure in ``run_failures``; recording the same run again replaces its row (sensor
    re-evaluations)."""
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
