"""Conversion postbacks: first-party events in, TikTok Events API deliveries out, and the sensor between them.

Thin on purpose: the logic is in ``tiktok_assets/postbacks`` (store, outbox,
delivery, intake); these assets read settings, call it, and report.

Settings are the fields of the ``postbacks`` resource (``PostbacksResource``, bound to the TIKTOK_EVENTS_* /
TIKTOK_POSTBACK_* variables by ``postbacks_from_env``, shown on the UI's resource page); runs read the resource,
never the environment. With no access token (the simulator) and no ids set, the simulator's ids are used.

Neither asset is partitioned (issue 15, defect 2): a load of first-party events holds whatever hours its files
hold, and a delivery run maps the loads committed since the last one and drains the whole outbox, so an hour
partition would claim what is not true. The sensor starts a delivery run when loads wait; each run's metadata
says what it did (loads, event hours, what was sent and how TikTok answered).
"""

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import dagster as dg
import pandas as pd
from sqlalchemy.engine import Engine

from tiktok_assets.defs.resources import PostbacksResource, TikTokApiResource, WarehouseResource
from tiktok_assets.postbacks.checks import rejection_finding, undelivered_finding
from tiktok_assets.postbacks.delivery import TIKTOK_MAX_EVENT_AGE, DeliveryReport, deliver
from tiktok_assets.postbacks.errors import DeliveryError, EventFileError, MappingConfigError
from tiktok_assets.postbacks.intake import current_ads, files_summary, ingest_drop_directory
from tiktok_assets.postbacks.mapping import MappingConfig
from tiktok_assets.postbacks.outbox import (
    SUMMARY_COLUMNS,
    MappedLoads,
    dead_letters,
    delivery_diagnostics,
    delivery_summary,
    map_new_loads,
    match_key_coverage,
    rejection_rate,
)
from tiktok_assets.postbacks.settings import PostbackSettings
from tiktok_assets.postbacks.store import ensure_postback_tables, store_events, unmapped_loads
from tiktok_assets.postbacks.synthetic import generate_events

POSTBACKS_GROUP = "postbacks"
# The Events API's own pool, apart from the Reporting API's (TIKTOK_API_POOL): TikTok limits the two APIs
# apart, so a year-long spend backfill holding every "tiktok_api" slot never holds postbacks back, nor the
# reverse. Sized by dagster.yaml's pools.default_limit, or `dagster instance concurrency set tiktok_events_api N`.
TIKTOK_EVENTS_API_POOL = "tiktok_events_api"
REJECTION_RATE_CHECK = "rejection_rate_within_threshold"
UNDELIVERED_CHECK = "no_events_left_undelivered"


def _mapping(settings: PostbackSettings, uses_simulator: bool) -> MappingConfig:
    try:
        return settings.mapping(uses_simulator)
    except MappingConfigError as error:
        raise dg.Failure(
            f"Postback mapping is wrong: {error}. Fix {settings.mapping_path or 'the mapping'} "
            "or set the postbacks resource's pixel_id / app_id (TIKTOK_PIXEL_ID / TIKTOK_EVENTS_APP_ID)."
        ) from None


def _engine(warehouse: WarehouseResource) -> Engine:
    engine = warehouse.get_engine()
    ensure_postback_tables(engine)
    return engine


def _now() -> datetime:
    return datetime.now(UTC)


def _markdown(frame: pd.DataFrame) -> dg.MetadataValue:
    return dg.MetadataValue.md(frame.to_markdown(index=False) if not frame.empty else "_none_")


# ---------------------------------------------------------------- first-party events


class FirstPartyEventsConfig(dg.Config):
    demo_hours: int = 2
    """On the simulator without a drop directory: load the demo stream of this many UTC hours up to now (the hour in
    progress included, up to now). Loading an hour again stores nothing twice."""


@dg.asset(
    group_name=POSTBACKS_GROUP,
    kinds={"sql"},
)
def first_party_events(
    context: dg.AssetExecutionContext, config: FirstPartyEventsConfig, tiktok_api: TikTokApiResource,
    warehouse: WarehouseResource, postbacks: PostbacksResource,
) -> dg.MaterializeResult:
    """Web and app events of the store (orders, carts, page views...), with raw identity: the only table holding it.

    Not partitioned: a load holds whatever its files hold, whatever the hours. Each run loads every file dropped in
    the postbacks resource's ``drop_dir`` (``TIKTOK_EVENTS_DROP_DIR``; then moved to ``processed/``; bad lines and dropped identity values are counted by
    reason) as one load (``first_party_loads``), which ``tiktok_event_deliveries`` maps once it is committed.
    Without a drop directory, on the simulator, it loads the demo stream of the last ``demo_hours`` hours instead.
    Loading twice stores an event once.
    """
    engine = _engine(warehouse)
    settings = postbacks.settings()
    now = _now()
    if settings.drop_dir:
        try:
            ingest = ingest_drop_directory(engine, settings.drop_dir, received_at=now)
        except EventFileError as error:
            raise dg.Failure(str(error)) from None
        reasons = pd.DataFrame(ingest.reject_reasons().most_common(20), columns=["reason", "lines"])
        context.log.info(f"Loaded {ingest.inserted} events from {len(ingest.files)} file(s); {ingest.bad_lines} bad lines")
        return dg.MaterializeResult(
            metadata={
                "mode": "file drop",
                "files": len(ingest.files),
                "events_inserted": ingest.inserted,
                "events_already_stored": ingest.already_stored,
                "bad_lines": ingest.bad_lines,
                "bad_line_reasons": _markdown(reasons),
                # Kept events stored without a value that was no email, phone or IP: counted, never shown.
                "identity_values_dropped": dg.MetadataValue.json(dict(sorted(ingest.field_drops().items()))),
                "file_list": _markdown(pd.DataFrame(files_summary(ingest.files))),
            }
        )
    if not tiktok_api.uses_simulator:
        raise dg.Failure(
            "No drop directory is set (the postbacks resource's drop_dir), and demo events are only generated on "
            "the simulator: set TIKTOK_EVENTS_DROP_DIR to the directory your store exports event files to, or load events with "
            "tiktok_assets.postbacks.store.store_events (README.md, section Conversion postbacks)."
        )
    if config.demo_hours < 1:
        raise dg.Failure(f"demo_hours must be at least 1, got {config.demo_hours}")
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(hours=config.demo_hours)
    ads = current_ads(engine)
    # The hour in progress is included: leave out its events that have not happened yet.
    events = [event for event in generate_events(ads, start, end, seed=tiktok_api.simulator_seed)
              if event.event_time <= now]
    stored = store_events(engine, events, received_at=now)
    return dg.MaterializeResult(
        metadata={
            "mode": "simulator demo stream",
            "hours": f"{start:%Y-%m-%d %H:%M} to {min(end, now):%Y-%m-%d %H:%M} UTC",
            "events_generated": len(events),
            "events_inserted": stored.inserted,
            "events_already_stored": stored.already_stored,
            "ads_landing_sessions": len(ads),
        }
    )


# ---------------------------------------------------------------- deliveries


def _run_is_alive(instance: dg.DagsterInstance) -> Callable[[str], bool]:
    """Batch owners are run ids: a finished run's claims can be reclaimed at once. Other owners count as alive."""

    def alive(owner: str) -> bool:
        run = instance.get_run_by_id(owner)
        return run is None or not run.is_finished

    return alive


@dg.asset(
    group_name=POSTBACKS_GROUP,
    kinds={"tiktok", "sql"},
    pool=TIKTOK_EVENTS_API_POOL,
    deps=[first_party_events],
    # TikTok down for a while: retry the step later; its events wait safely in the outbox.
    retry_policy=dg.RetryPolicy(max_retries=3, delay=60, backoff=dg.Backoff.EXPONENTIAL),
    check_specs=[
        dg.AssetCheckSpec(
            REJECTION_RATE_CHECK,
            asset="tiktok_event_deliveries",
            description="Fails when TikTok rejected more than the postbacks resource's max_rejection_rate "
            "(TIKTOK_POSTBACK_MAX_REJECTION_RATE, default 2%) of "
            "the events it answered for in this run; the dead letters carry TikTok's message.",
        ),
        dg.AssetCheckSpec(
            UNDELIVERED_CHECK,
            asset="tiktok_event_deliveries",
            description="Warns when any event has waited in the outbox longer than the postbacks resource's "
            "max_undelivered_hours (TIKTOK_POSTBACK_MAX_UNDELIVERED_HOURS, default 6), or this run gave events up unsent "
            "(too old for TikTok, past its dedup window, or outside the sanity bounds).",
        ),
    ],
)
def tiktok_event_deliveries(
    context: dg.AssetExecutionContext, tiktok_api: TikTokApiResource, warehouse: WarehouseResource,
    postbacks: PostbacksResource,
) -> dg.MaterializeResult:
    """First-party events mapped to TikTok events and delivered to the Events API, at least once and never counted
    twice: queued in an outbox under TikTok's dedup key, sent in batches of up to 1,000, rejections dead-lettered
    with TikTok's message.

    Not partitioned, on purpose: each run maps every committed load not mapped yet (whatever its event hours, so a
    late load is sent too) and drains the whole outbox. new_first_party_events_sensor starts it when loads are
    waiting. Its metadata is this run's: the loads and event hours it mapped, what it sent and TikTok's answers,
    and per pixel or app and event the delivery state of the events TikTok still accepts (7 days). Running it
    again sends nothing already accepted."""
    settings = postbacks.settings()
    engine = _engine(warehouse)
    mapping = _mapping(settings, tiktok_api.uses_simulator)
    loads = map_new_loads(engine, mapping, workers=settings.map_workers)
    mapped = loads.mapped
    with tiktok_api.get_client() as client:
        try:
            report = deliver(engine, client, owner=context.run.run_id, is_owner_alive=_run_is_alive(context.instance))
        except DeliveryError as error:
            # A refused token or request will not fix itself on a retry.
            raise dg.Failure(str(error), metadata=_run_metadata(loads, None), allow_retries=False) from None
    now = _now()
    start, end = now - TIKTOK_MAX_EVENT_AGE, now + timedelta(hours=1)
    summary = delivery_summary(engine, start, end)
    metadata = {**_summary_metadata(summary, mapping), **_run_metadata(loads, report)}
    metadata["dead_letters"] = _markdown(dead_letters(engine, start, end, limit=20).drop(columns=["dead_at"]))
    # Per pixel or app and TikTok event, over the events TikTok still accepts: accepted, rejected (TikTok's
    # messages), deduplicated orders, dead-lettered, undelivered.
    metadata["diagnostics"] = _markdown(delivery_diagnostics(engine, start, end))
    # This run's events: the share carrying each key TikTok matches people on (its event match quality's proxy).
    metadata["match_key_coverage"] = _markdown(match_key_coverage(mapped).round(3))
    context.log.info(f"Mapped {len(loads.loads)} load(s); delivery: {report.as_dict()}")
    if report.problems:
        # Recorded and safe; failing makes the outage visible and lets the retry policy try again.
        raise dg.Failure(
            "TikTok's Events API stayed unavailable for: " + "; ".join(report.problems)
            + ". The events stay pending and go out on the next run.",
            metadata=metadata,
        )
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[
            _rejection_rate_check(report, settings.max_rejection_rate),
            _undelivered_check(engine, report, loads, settings.max_undelivered_hours),
        ],
    )


def _summary_metadata(summary: pd.DataFrame, mapping: MappingConfig) -> dict[str, object]:
    totals = {name: int(summary[name].sum()) for name in SUMMARY_COLUMNS[1:]}
    return {
        "by_tiktok_event": _markdown(summary),
        **totals,
        "rejection_rate": dg.MetadataValue.float(round(rejection_rate(summary), 6)),
        "destinations": ", ".join(
            f"{source.value}: {destination.event_source_id}"
            + (f" (test_event_code {destination.test_event_code}: Events Manager's test tool only, not counted)"
               if destination.test_event_code else "")
            for source, destination in mapping.destinations.items()),
        "test_event_codes": dg.MetadataValue.json({
            f"{destination.event_source} {destination.event_source_id}": destination.test_event_code
            for destination in mapping.destinations.values() if destination.test_event_code}),
    }


def _run_metadata(loads: MappedLoads, report: DeliveryReport | None) -> dict[str, object]:
    mapped = loads.mapped
    metadata: dict[str, object] = {
        "loads_mapped": len(loads.loads),
        "events_by_hour": _markdown(pd.DataFrame(list(loads.events_by_hour.items()), columns=["event hour (UTC)", "events"])),
        "first_party_events_too_old": loads.too_old,
        "first_party_events": mapped.first_party_events,
        "first_party_events_not_mapped": mapped.unmapped_events,
        "newly_queued": mapped.enqueued.queued,
        "already_queued": mapped.enqueued.already_queued,
        # The same order (destination, TikTok event, order_id) met again under another event_id: not sent twice.
        "duplicate_orders_dropped": mapped.enqueued.duplicate_orders,
        # Outside the sanity bounds (a value of 1e20...): dead-lettered as out_of_bounds, never sent.
        "out_of_bounds_dead_lettered": mapped.enqueued.out_of_bounds,
        "identity_values_dropped": dg.MetadataValue.json(mapped.pii_dropped),
    }
    if report is not None:
        metadata["this_run"] = dg.MetadataValue.json(report.as_dict())
    return metadata


def _rejection_rate_check(report: DeliveryReport, threshold: float) -> dg.AssetCheckResult:
    finding = rejection_finding(report, threshold)
    return dg.AssetCheckResult(
        check_name=REJECTION_RATE_CHECK,
        passed=finding.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=finding.description,
        metadata={"rejection_rate": dg.MetadataValue.float(round(finding.rate, 6)), "threshold": threshold,
                  "rejected": finding.rejected, "accepted": finding.accepted,
                  "test_accepted": finding.test_accepted},
    )


def _undelivered_check(engine: Engine, report: DeliveryReport, loads: MappedLoads, max_hours: float
                       ) -> dg.AssetCheckResult:
    finding = undelivered_finding(engine, report, loads, max_hours, _now())
    return dg.AssetCheckResult(
        check_name=UNDELIVERED_CHECK,
        passed=finding.passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=finding.description,
        metadata={"overdue_events": finding.overdue.events,
                  "overdue_by_state": dg.MetadataValue.json(finding.overdue.by_state),
                  "dead_lettered_unsent": finding.given_up, "threshold_hours": max_hours},
    )


# ---------------------------------------------------------------- sensor


@dg.sensor(
    target=[tiktok_event_deliveries],
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests a delivery run when committed loads of first-party events wait to be mapped "
    "(first_party_loads), whenever they were received: a load that commits late is sent too.",
)
def new_first_party_events_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
    engine = _engine(warehouse)
    waiting = unmapped_loads(engine)
    if not waiting:
        return dg.SensorResult(skip_reason="No loads of first-party events wait to be mapped.")
    # The run key is the set of loads waiting: while a run for them is queued or running, later ticks ask for the
    # same run, which Dagster starts once; a load committed meanwhile, whatever its id, makes a new key.
    key = hashlib.sha256(",".join(map(str, waiting)).encode()).hexdigest()[:16]
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"loads-{key}", tags={"first_party_loads": str(len(waiting))})])


first_party_events_job = dg.define_asset_job("first_party_events_job", selection=[first_party_events])

# Ten past each hour, load what arrived (file drop, or the simulator's stream); new_first_party_events_sensor then
# sends it.
first_party_events_schedule = dg.ScheduleDefinition(
    name="first_party_events_schedule", job=first_party_events_job, cron_schedule="10 * * * *",
    execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.RUNNING,
)
