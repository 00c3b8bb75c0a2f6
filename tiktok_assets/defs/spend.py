"""Spend import assets: advertisers, entity history, ad-level daily and hourly stats.

Stats assets run as single-run backfills over many (date × advertiser)
partitions, yet report one materialization per partition, each with a data
version computed from that partition's content: downstream automation then
recomputes exactly the partitions whose numbers changed.
"""


import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pandas as pd

from tiktok_assets.defs.automation import upstream_data_changed
from tiktok_assets.defs.resources import TikTokApiResource, WarehouseResource
from tiktok_assets import partitions
from tiktok_assets.partitions import (
    ADVERTISER_PARTITIONS_NAME,
    advertiser_date_key,
    advertiser_date_partitions,
    advertiser_partitions,
)
from tiktok_assets.spend.errors import AdvertiserProfileError
from tiktok_assets.spend.pull import (
    AdvertiserProfile,
    ad_parents_frame,
    fetch_daily_stats,
    fetch_hourly_stats,
    profiles_from_infos,
)
from tiktok_assets.spend.quality import (
    hourly_daily_mismatches,
    recent_window_start,
    untracked_spend,
)
from tiktok_assets.spend.pipeline import Slice, fetched_ahead, slice_schema_failures, slices_of
from tiktok_assets.spend.narrow import (
    NarrowingPlan,
    narrowed_hourly_partition,
    plan_narrowing,
    save_ad_row_digests,
)
from tiktok_assets.spend.probe import Decision, RepullPlan, plan_repull, save_probes
from tiktok_assets.spend.reservation import (
    advertiser_daily_spend,
    imported_daily_spend,
    reservation_campaigns,
    spend_gaps,
)
from tiktok_assets.spend.revisions import (
    PartitionRef,
    large_spend_revisions,
    latest_pulls,
    replace_drift,
    revisions_since,
    settled_partitions,
)
from tiktok_assets.spend.settle import (
    SKIP_SETTLED_TAG,
    begun_dates,
    is_intraday,
    local_today,
    planned_dates,
    settled_dates,
)
from tiktok_assets.tiktok.client import TikTokClient
from tiktok_assets.warehouse import (
    PartitionWrite,
    mark_unauthorised,
    partition_drift,
    upsert_advertisers,
    write_entity_snapshot,
    write_stats_partitions,
)

# Every asset that calls TikTok runs in this pool; its limit (dagster.yaml)
# keeps parallel runs and backfills under TikTok's rate limit.
TIKTOK_API_POOL = "tiktok_api"
SPEND_GROUP = "tiktok_spend"
# Dagster reads a materialization's data version from this tag.
DATA_VERSION_TAG = "dagster/data_version"


def _utc_now() -> datetime:
    """Now, aware UTC: the one clock of the spend import (local today, pulled_at), so tests can run it on the
    simulator's clock."""
    return datetime.now(UTC)


def _now() -> datetime:
    return _utc_now().astimezone(UTC).replace(tzinfo=None)


def discover_advertisers(client: TikTokClient, api: TikTokApiResource) -> list[dict]:
    """Authorised advertisers with their info, narrowed to TIKTOK_ADVERTISER_IDS when set."""
    authorised = [str(row["advertiser_id"]) for row in client.authorised_advertisers(*api.app_credentials())]
    selected = api.selected_advertiser_ids()
    if selected is not None:
        missing = sorted(set(selected) - set(authorised))
        if missing:
            raise dg.Failure(
                f"Advertiser(s) {', '.join(missing)} in TIKTOK_ADVERTISER_IDS are not authorised for this "
                "access token: re-authorise them in TikTok for Business or remove them from the list."
            )
        authorised = [advertiser_id for advertiser_id in authorised if advertiser_id in set(selected)]
    return client.advertiser_info(authorised) if authorised else []


@dg.asset(
    group_name=SPEND_GROUP,
    kinds={"tiktok", "sql"},
    pool=TIKTOK_API_POOL,
)
def tiktok_advertisers(
    context: dg.AssetExecutionContext, tiktok_api: TikTokApiResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Advertiser accounts the access token may read: name, currency and time zone (table ``advertisers``).

    The one place advertisers are discovered: it keeps the dynamic advertiser
    partitions in step with the authorised accounts, adding new ones and
    removing revoked ones, whose rows stay in the warehouse flagged
    ``authorised = false``. advertiser_discovery_sensor only requests this asset.
    """
    with tiktok_api.get_client() as client:
        # An authentication failure raises here, before anything changed: a bad token
        # must not look like "every advertiser was revoked".
        infos = discover_advertisers(client, tiktok_api)
    seen_at = _now()
    engine = warehouse.get_engine()
    upsert_advertisers(engine, infos, seen_at)
    ids = [str(info["advertiser_id"]) for info in infos]
    existing = context.instance.get_dynamic_partitions(ADVERTISER_PARTITIONS_NAME)
    added = sorted(set(ids) - set(existing))
    removed = sorted(set(existing) - set(ids))
    if removed:
        mark_unauthorised(engine, removed)
        for advertiser_id in removed:
            context.instance.delete_dynamic_partition(ADVERTISER_PARTITIONS_NAME, advertiser_id)
    if added:
        context.instance.add_dynamic_partitions(ADVERTISER_PARTITIONS_NAME, added)
    context.log.info(f"advertisers: {len(ids)} authorised, added {added or 'none'}, removed {removed or 'none'}")
    profiles, errors = profiles_from_infos(infos)
    table = pd.DataFrame(
        [
            {
                "advertiser_id": advertiser_id,
                "name": profiles[advertiser_id].name if advertiser_id in profiles else None,
                "currency": profiles[advertiser_id].currency if advertiser_id in profiles else None,
                "report time zone": (f"{profiles[advertiser_id].timezone} ({profiles[advertiser_id].timezone_field})"
                                     if advertiser_id in profiles else None),
                "problem": str(errors[advertiser_id]) if advertiser_id in errors else "",
            }
            for advertiser_id in ids
        ]
    )
    for error in errors.values():
        # Discovery still succeeds (the partitions exist); the stats assets fail these advertisers.
        context.log.warning(str(error))
    return dg.MaterializeResult(
        # The content's digest: an hourly discovery that found the same accounts is no change downstream
        # (revision_drift follows data versions).
        data_version=dg.DataVersion(_advertisers_digest(infos)),
        metadata={
            "advertisers": len(ids),
            "advertisers_without_currency_or_zone": dg.MetadataValue.json(sorted(errors)),
            "partitions_added": len(added),
            "partitions_removed": dg.MetadataValue.json(removed),
            "advertiser_list": dg.MetadataValue.md(table.to_markdown(index=False) if not table.empty else "_none_"),
        }
    )


def _advertisers_digest(infos: list[dict]) -> str:
    fields = ("advertiser_id", "name", "currency", "timezone", "display_timezone", "status")
    rows = sorted(json.dumps([str(info.get(name)) for name in fields]) for info in infos)
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:24]


ENTITY_KINDS = ("campaign", "adgroup", "ad")


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            f"{kind}_history",
            group_name=SPEND_GROUP,
            kinds={"tiktok", "sql"},
            partitions_def=advertiser_partitions,
            description=f"Every version of each TikTok {kind} (name, status{', landing URL and tracking parameters' if kind == 'ad' else ''}), valid_from/valid_to, so old stats join to the name in force then.",
            deps=[tiktok_advertisers],
        )
        for kind in ENTITY_KINDS
    ],
    pool=TIKTOK_API_POOL,
)
def tiktok_entities(
    context: dg.AssetExecutionContext, tiktok_api: TikTokApiResource, warehouse: WarehouseResource
) -> Iterator[dg.MaterializeResult]:
    """Snapshot campaigns, ad groups and ads of one advertiser into their history tables."""
    advertiser_id = context.partition_key
    engine = warehouse.get_engine()
    snapshot_at = _now()
    with tiktok_api.get_client() as client:
        # TopView entities are only listed when asked for alone (client.every_buying_type).
        rows_by_kind = {kind: client.every_buying_type(kind, advertiser_id) for kind in ENTITY_KINDS}
        requests = client.stats.as_dict()
    for kind in ENTITY_KINDS:
        written = write_entity_snapshot(engine, kind, advertiser_id, rows_by_kind[kind], snapshot_at)
        metadata: dict[str, object] = {
            "entities": len(rows_by_kind[kind]),
            "versions_opened": written.opened,
            "versions_closed": written.closed,
            "unchanged": written.unchanged,
            "api_requests": requests["requests"],
        }
        if kind == "ad":
            untracked = [row for row in rows_by_kind["ad"] if not _has_tracking(row.get("landing_page_url"))]
            metadata["ads_without_tracking_parameters"] = len(untracked)
        yield dg.MaterializeResult(asset_key=f"{kind}_history", metadata=metadata)


def _has_tracking(url: str | None) -> bool:
    from tiktok_assets.warehouse.landing_url import parse_landing_page_url

    return bool(parse_landing_page_url(url)["has_tracking"])


SPEND_REVISION_CHECK = "spend_revision_within_threshold"
SCHEMA_CHECK = "stats_schema_valid"
SETTLED_ROWS_CHECK = "settled_partitions_lost_no_rows"


def _stats_check_specs(asset_name: str) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            SCHEMA_CHECK,
            asset=asset_name,
            blocking=True,
            description="pandera schema of the rows this run wrote: ids present, 3-letter currency, "
            "metrics non-negative and below 1e12 (finite), clicks within impressions, one row per key.",
        ),
        dg.AssetCheckSpec(
            SETTLED_ROWS_CHECK,
            asset=asset_name,
            description="Warns when a re-pull of a settled day no longer served rows the warehouse holds: they are "
            "kept, never counted as deletions, so a settled figure never drops; names the partitions.",
        ),
        dg.AssetCheckSpec(
            SPEND_REVISION_CHECK,
            asset=asset_name,
            description="Warns when a re-pull of a day that has ended moved an ad's spend by more than "
            "TIKTOK_REVISION_ALERT_SHARE (default 5%) of its previous value; names the ads. Today filling up is "
            "intraday progress, not a revision.",
        ),
    ]


def _materialize_stats(
    context: dg.AssetExecutionContext,
    tiktok_api: TikTokApiResource,
    warehouse: WarehouseResource,
    table: str,
) -> Iterator[dg.AssetMaterialization | dg.AssetCheckResult]:
    engine = warehouse.get_engine()
    run_started_at = _now()
    dates_by_advertiser = partitions.dates_by_advertiser(context.partition_keys)
    total_partitions = sum(len(dates) for dates in dates_by_advertiser.values())
    written_refs: list[PartitionRef] = []
    schema_problems: list[pd.DataFrame] = []
    vanished: list[PartitionWrite] = []
    done = 0
    with tiktok_api.get_client() as client:
        # An advertiser whose currency or zone is unknown is not imported; the
        # others are written first, then the run fails naming it.
        profiles, profile_errors = profiles_from_infos(client.advertiser_info(sorted(dates_by_advertiser)))
        unknown = sorted(set(dates_by_advertiser) - set(profiles) - set(profile_errors))
        if unknown:
            raise dg.Failure(
                f"Advertiser(s) {', '.join(unknown)} were not returned by /advertiser/info/: "
                "the token lost access or the id is wrong; materialize tiktok_advertisers (it removes revoked ones)."
            )
        skip_settled = context.run.tags.get(SKIP_SETTLED_TAG) == "true"
        settle_days = warehouse.settle_window_days()
        # Settle re-pulls probe cheap daily totals first (spend.probe); read once, so a bad value fails here.
        probe_settings = warehouse.probe_settings() if skip_settled else None
        fetch = fetch_daily_stats if table == "ad_stats_daily" else fetch_hourly_stats
        slices: list[Slice[AdvertiserProfile]] = []
        plans: dict[str, RepullPlan] = {}
        # Hourly settle re-pulls of moved days ask only the ads whose ad-level daily row moved (spend.narrow).
        narrowings: dict[str, NarrowingPlan] = {}
        forget_digests_before: dict[str, date] = {}
        # Partitions the re-pull planner calls settled: the warehouse keeps their
        # stored rows that this pull no longer serves (one rule: settle.is_settled).
        settled_keys: set[tuple[str, date]] = set()
        # Days not over yet in the advertiser's report zone: a re-pull of them is progress, not a revision
        # (settle.is_intraday), so the warehouse logs no revision rows for them.
        intraday_keys: set[tuple[str, date]] = set()
        for advertiser_id, requested in sorted(dates_by_advertiser.items()):
            if advertiser_id in profile_errors:
                context.log.error(f"{table}: {len(requested)} partition(s) not imported: "
                                  f"{profile_errors[advertiser_id]}")
                continue
            profile = profiles[advertiser_id]
            today = local_today(profile.timezone, _utc_now())
            dates = begun_dates(requested, today)
            _log_left_out(context, f"advertiser {advertiser_id}: {len(requested) - len(dates)} date(s) after its "
                          f"local today {today} ({profile.timezone}): nothing to import yet", len(dates) < len(requested))
            if not dates:
                continue
            history = latest_pulls(engine, table, advertiser_id, profile.timezone, since=min(dates))
            if skip_settled:
                planned = planned_dates(dates, today, settle_days, history)
                _log_left_out(context, f"{table}: advertiser {advertiser_id}: {len(dates) - len(planned)} partition(s) "
                              "outside its re-pull plan (settled, or never pulled: backfill those)",
                              len(planned) < len(dates))
                if not planned:
                    continue
                plan = plan_repull(client, engine, table, advertiser_id, planned, today, settle_days, history,
                                   probe_settings)
                plans[advertiser_id] = plan
                if plan.probe_error:
                    context.log.warning(f"{table}: advertiser {advertiser_id}: probe failed, re-pulling all "
                                        f"{len(planned)} day(s) at ad level: {plan.probe_error}")
                if (table == "ad_stats_hourly" and probe_settings.enabled and plan.pull_dates
                        and plan.probe_error is None):
                    narrowing = plan_narrowing(client, engine, table, advertiser_id, plan.decisions, today)
                    narrowings[advertiser_id] = narrowing
                    forget_digests_before[advertiser_id] = today - timedelta(days=settle_days + 1)
                    if narrowing.error:
                        context.log.warning(f"{table}: advertiser {advertiser_id}: ad-level read failed, re-pulling "
                                            f"moved days whole: {narrowing.error}")
                for decision in plan.skipped:
                    done += 1
                    yield _unchanged_materialization(context.asset_key, profile, decision,
                                                     plan.data_versions[decision.stat_date])
                dates = plan.pull_dates
                if not dates:
                    continue
            parents = ad_parents_frame(client.ads(advertiser_id, include_deleted=True))
            settled_keys |= {(advertiser_id, day)
                             for day in settled_dates(history, today, settle_days) & set(dates)}
            intraday_keys |= {(advertiser_id, day) for day in dates if is_intraday(day, today)}
            slices.extend(slices_of(profile, parents, dates))

        def fetch_slice(work: Slice[AdvertiserProfile]) -> tuple[dict[date, pd.DataFrame], dict[date, str]]:
            """The slice's partitions, and for each narrowed day what was re-pulled ("12 of 830 ads")."""
            narrowed = narrowings.get(work.profile.advertiser_id, NarrowingPlan()).days
            frames: dict[date, pd.DataFrame] = {}
            scope: dict[date, str] = {}
            for day in (day for day in work.dates if day in narrowed):
                frame = narrowed_hourly_partition(client, engine, work.profile, day, narrowed[day], work.parents)
                if frame is not None:
                    frames[day] = frame
                    scope[day] = f"{len(narrowed[day].ads)} of {narrowed[day].of_ads} ads (their daily rows moved)"
            whole = [day for day in work.dates if day not in frames]
            if whole:
                frames.update(fetch(client, work.profile, whole, work.parents))
            return {day: frames[day] for day in work.dates}, scope

        # spend.pipeline fetches the next slices on worker threads while this one is validated and written;
        # writes stay on this thread, in order.
        for work, (frames, scope) in fetched_ahead(fetch_slice, slices):
            profile = work.profile
            advertiser_id = profile.advertiser_id
            failures = slice_schema_failures(table, advertiser_id, frames)
            if not failures.empty:
                schema_problems.append(failures)
            # The slice's partitions are written together; each partition
            # lies wholly inside one transaction, so a crash never leaves
            # half a partition behind.
            writes = write_stats_partitions(
                engine, table, {(advertiser_id, day): frame for day, frame in frames.items()}, _now(),
                settled=settled_keys, intraday=intraday_keys,
            )
            plan = plans.get(advertiser_id)
            if plan is not None:
                # Only now, with the pull written: a probe saved before a failed write would hide the change.
                save_probes(engine, table, advertiser_id,
                            {day: plan.probes[day] for day in work.dates if day in plan.probes}, _now())
            if table == "ad_stats_hourly":
                # Any other pull of these days (an hourly sync, a backfill) forgets their digests: a later
                # narrowed re-pull must never compare against a baseline older than the stored rows.
                digests = narrowings[advertiser_id].digests if advertiser_id in narrowings else {}
                save_ad_row_digests(engine, table, advertiser_id, work.dates, digests, _now(),
                                    forget_before=forget_digests_before.get(advertiser_id))
            why = {decision.stat_date: decision.why for decision in plan.decisions} if plan is not None else {}
            # The API work so far in this run (requests, pages, retries, throttling),
            # so a partition's metadata says what its import cost.
            api_so_far = {f"run_api_{name}": count for name, count in client.stats.as_dict().items()}
            for written in writes.values():
                written_refs.append(PartitionRef(advertiser_id, written.stat_date))
                if written.vanished_kept:
                    vanished.append(written)
                done += 1
                extra = {"repull_reason": str(why[written.stat_date])} if written.stat_date in why else {}
                if table == "ad_stats_hourly" and written.stat_date in why:
                    extra["repull_scope"] = scope.get(written.stat_date, "every ad")
                yield dg.AssetMaterialization(
                    asset_key=context.asset_key,
                    partition=advertiser_date_key(advertiser_id, written.stat_date),
                    tags={DATA_VERSION_TAG: written.data_version},
                    metadata={**_partition_metadata(profile, written.stat_date, written),
                              "intraday": (advertiser_id, written.stat_date) in intraday_keys, **extra, **api_so_far},
                )
            context.log.info(
                f"{table}: {done}/{total_partitions} partitions done "
                f"(advertiser {advertiser_id}, through {work.dates[-1]}); API so far: {client.stats.as_dict()}"
            )
        skipped = sum(len(plan.skipped) for plan in plans.values())
        context.log.info(f"{table}: finished {total_partitions} partitions ({skipped} not re-pulled: probe "
                         f"unchanged); API requests: {client.stats.as_dict()}")
    yield _schema_check_result(context.asset_key, schema_problems)
    yield _revision_check_result(context.asset_key, engine, table, written_refs, run_started_at,
                                 warehouse.alert_share())
    yield _vanished_check_result(context.asset_key, vanished)
    if profile_errors:
        raise _profile_failure(table, profile_errors, dates_by_advertiser)


def _log_left_out(context: dg.AssetExecutionContext, message: str, left_out: bool) -> None:
    if left_out:
        context.log.info(f"Skipped {message}")


def _unchanged_materialization(asset_key: dg.AssetKey, profile: AdvertiserProfile, decision: Decision,
                               data_version: str) -> dg.AssetMaterialization:
    """A day the probe found unchanged: reported again with its stored data version, so nothing downstream runs."""
    return dg.AssetMaterialization(
        asset_key=asset_key,
        partition=advertiser_date_key(profile.advertiser_id, decision.stat_date),
        tags={DATA_VERSION_TAG: data_version},
        metadata={
            "advertiser": f"{profile.name} ({profile.advertiser_id})",
            "stat_date": decision.stat_date.isoformat(),
            "currency": profile.currency,
            "probe_unchanged": True,
            "repull_reason": str(decision.why),
            "changed": False,
            "first_pull": False,
        },
    )


def _profile_failure(table: str, errors: dict[str, AdvertiserProfileError], dates_by_advertiser: dict[str, list[date]]
                     ) -> dg.Failure:
    failed = sorted(errors)
    return dg.Failure(
        description=f"{table}: advertiser(s) {', '.join(failed)} not imported (the other advertisers' partitions "
        "were written): " + " | ".join(str(errors[advertiser_id]) for advertiser_id in failed),
        metadata={
            "advertisers_not_imported": dg.MetadataValue.json(failed),
            "partitions_not_imported": sum(len(dates_by_advertiser.get(advertiser_id, [])) for advertiser_id in failed),
            "fields": dg.MetadataValue.json({advertiser_id: errors[advertiser_id].field for advertiser_id in failed}),
        },
    )


def _vanished_check_result(asset_key: dg.AssetKey, vanished: list[PartitionWrite]) -> dg.AssetCheckResult:
    rows = sum(written.vanished_kept for written in vanished)
    preview = pd.DataFrame(
        [{"advertiser_id": written.advertiser_id, "stat_date": written.stat_date.isoformat(),
          "rows_vanished_kept": written.vanished_kept, "rows_served": written.rows_served} for written in vanished]
    )
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=SETTLED_ROWS_CHECK,
        passed=not vanished,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{rows} row(s) of {len(vanished)} settled partition(s) were not served again and were KEPT (a settled "
            "day's figures never drop because rows go missing): "
            + ", ".join(f"{written.advertiser_id} on {written.stat_date} ({written.vanished_kept})"
                        for written in vanished[:10])
            + ". Deleted ads are asked for (status filter STATUS_ALL), so TikTok should still serve them: check the "
            "token's access to these ads; if TikTok really removed them, delete those rows by hand."
            if vanished else "No settled partition lost rows in this run."
        ),
        metadata={
            "settled_partitions_with_vanished_rows": len(vanished),
            "rows_vanished_kept": rows,
            "partitions": dg.MetadataValue.md(preview.head(25).to_markdown(index=False) if len(preview) else "_none_"),
        },
    )


def _schema_check_result(asset_key: dg.AssetKey, problems: list[pd.DataFrame], check_name: str = SCHEMA_CHECK
                         ) -> dg.AssetCheckResult:
    failures = pd.concat(problems, ignore_index=True) if problems else pd.DataFrame()
    metadata: dict[str, object] = {"failure_cases": len(failures)}
    if not failures.empty:
        preview = failures[["partition", "column", "check", "failure_case"]].head(20)
        metadata["failures"] = dg.MetadataValue.md(preview.astype(str).to_markdown(index=False))
    return dg.AssetCheckResult(asset_key=asset_key, check_name=check_name, passed=failures.empty,
                               metadata=metadata)


def _revision_check_result(asset_key: dg.AssetKey, engine, table: str, refs: list[PartitionRef],  # noqa: ANN001
                           since: datetime, share: float) -> dg.AssetCheckResult:
    flagged = large_spend_revisions(revisions_since(engine, table, refs, since), share)
    metadata: dict[str, object] = {"threshold_share": share, "ads_over_threshold": len(flagged)}
    if not flagged.empty:
        metadata["ads"] = dg.MetadataValue.md(flagged.head(25).to_markdown(index=False, floatfmt=".4f"))
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=SPEND_REVISION_CHECK,
        passed=flagged.empty,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{len(flagged)} ad-partition(s) had spend revised by more than {share:.0%}: "
            + ", ".join(f"ad {row.ad_id} on {row.stat_date}" for row in flagged.head(10).itertuples())
            if not flagged.empty
            else f"No spend revision above {share:.0%} in this run."
        ),
        metadata=metadata,
    )


def _change(before: float, after: float) -> dict[str, float | None]:
    change = after - before
    return {"abs": round(change, 6), "pct": round(change / before * 100, 4) if before else None}


def _partition_metadata(profile: AdvertiserProfile, stat_date: date, written: PartitionWrite) -> dict[str, object]:
    metadata: dict[str, object] = {
        "advertiser": f"{profile.name} ({profile.advertiser_id})",
        "stat_date": stat_date.isoformat(),
        "currency": profile.currency,
        "rows_served": written.rows_served,
        "rows_inserted": written.inserted,
        "rows_updated": written.updated,
        "rows_deleted": written.deleted,
        "rows_vanished_kept": written.vanished_kept,
        "rows_unchanged": written.unchanged,
        "spend": dg.MetadataValue.float(round(written.spend_after, 6)),
        "conversions": written.conversions_after,
        "purchase_value": dg.MetadataValue.float(round(written.purchase_value_after, 6)),
        "first_pull": written.first_pull,
        "changed": written.changed,
    }
    if not written.first_pull:
        # How much this re-pull moved the partition (TikTok's revision).
        for name, before, after in (
            ("spend", written.spend_before, written.spend_after),
            ("conversions", written.conversions_before, written.conversions_after),
            ("purchase_value", written.purchase_value_before, written.purchase_value_after),
        ):
            moved = _change(float(before), float(after))
            metadata[f"{name}_change"] = dg.MetadataValue.float(moved["abs"])
            if moved["pct"] is not None:
                metadata[f"{name}_change_pct"] = dg.MetadataValue.float(moved["pct"])
    return metadata


STATS_COMMON = dict(
    partitions_def=advertiser_date_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name=SPEND_GROUP,
    kinds={"tiktok", "sql"},
    pool=TIKTOK_API_POOL,
    # One AssetMaterialization per partition is yielded instead of an output,
    # so each partition gets its own data version even in a single-run backfill.
    output_required=False,
    deps=[tiktok_advertisers],
    # The hourly sync writes both every hour: Dagster's freshness daemon warns after 70 minutes without a
    # materialization (one sync late or failed) and fails after two hours (the UI's freshness status).
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=2), warn_window=timedelta(minutes=70)),
)


@dg.asset(**STATS_COMMON, check_specs=_stats_check_specs("ad_stats_daily"))
def ad_stats_daily(
    context: dg.AssetExecutionContext, tiktok_api: TikTokApiResource, warehouse: WarehouseResource
) -> Iterator[dg.AssetMaterialization | dg.AssetCheckResult]:
    """Ad-level daily spend, impressions, clicks, conversions, installs, purchases and purchase value
    (TikTok-attributed), in the advertiser's currency and local date. Re-pulls of a day that has ended log every
    change as a revision; today's re-pulls are intraday progress (partition_pulls.intraday), not revisions.
    Deleted ads' rows are asked for and kept; a settled day never loses rows. Reservation buying (Reach &
    Frequency, TopView) is not in TikTok's ad rows: check advertiser_spend_covered_by_ad_import names it."""
    yield from _materialize_stats(context, tiktok_api, warehouse, "ad_stats_daily")


@dg.asset(**STATS_COMMON, check_specs=_stats_check_specs("ad_stats_hourly"))
def ad_stats_hourly(
    context: dg.AssetExecutionContext, tiktok_api: TikTokApiResource, warehouse: WarehouseResource
) -> Iterator[dg.AssetMaterialization | dg.AssetCheckResult]:
    """Ad-level hourly stats with the local hour and its UTC instant. Where TikTok has no hourly
    breakdown the daily figures are spread uniformly over the day's hours (flag ``spread``)."""
    yield from _materialize_stats(context, tiktok_api, warehouse, "ad_stats_hourly")


# Bump when what revision_drift computes changes (partition_drift, the settled rule, the intraday baseline):
# Dagster then shows the stored table as stale until it is recomputed.
REVISION_DRIFT_CODE_VERSION = "2"


@dg.asset(
    group_name=SPEND_GROUP,
    kinds={"sql"},
    # The advertisers' report zones decide which days are settled.
    deps=[ad_stats_daily, tiktok_advertisers],
    automation_condition=upstream_data_changed(),
    code_version=REVISION_DRIFT_CODE_VERSION,
)
def revision_drift(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Per advertiser and day: spend, conversions and purchase value at the first pull after the day closed vs
    now, the change (absolute and %), how many pulls changed it, and whether it is settled. A day not over yet
    has no row: its intraday pulls only show it filling up. Table ``revision_drift``; every single pull is in
    ``partition_pulls`` and every row-level change in ``stats_revisions``."""
    engine = warehouse.get_engine()
    drift = partition_drift(engine, "ad_stats_daily")
    if not drift.empty:
        # The re-pull planner's rule (settle.is_settled), so "settled" here is what the daily re-pull skips.
        days = [pd.Timestamp(day).date() for day in drift["stat_date"]]
        settled = settled_partitions(engine, "ad_stats_daily", set(drift["advertiser_id"]), min(days),
                                     warehouse.settle_window_days(), _utc_now())
        drift["settled"] = [(advertiser_id, day) in settled
                            for advertiser_id, day in zip(drift["advertiser_id"], days, strict=True)]
    written = replace_drift(engine, "ad_stats_daily", drift)
    moved = drift[drift["changed_pulls"] > 0] if not drift.empty else drift
    preview = moved.sort_values("spend_change_pct", key=lambda s: s.abs(), ascending=False).head(20) if len(moved) else moved
    columns = ["advertiser_id", "stat_date", "pulls", "first_spend", "current_spend", "spend_change", "spend_change_pct",
               "conversions_change", "purchase_value_change"]
    return dg.MaterializeResult(
        metadata={
            "partitions": written,
            "partitions_revised": len(moved),
            "largest_revisions": dg.MetadataValue.md(
                preview[columns].to_markdown(index=False, floatfmt=".2f") if len(preview) else "_no revisions yet_"
            ),
        }
    )


QUALITY_LOOKBACK_DAYS = 7


@dg.asset_check(asset=ad_stats_hourly, additional_deps=[ad_stats_daily], description=(
    "Hourly rows add up to the daily rows (spend to the cent, clicks exactly) per advertiser and day, "
    "over the last 7 days of data held."))
def hourly_matches_daily(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    engine = warehouse.get_engine()
    since = recent_window_start(engine, "ad_stats_daily", QUALITY_LOOKBACK_DAYS)
    mismatches = hourly_daily_mismatches(engine, since) if since else pd.DataFrame()
    return dg.AssetCheckResult(
        passed=mismatches.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "since": str(since) if since else "no daily stats yet",
            "advertiser_days_off": len(mismatches),
            "mismatches": dg.MetadataValue.md(mismatches.head(20).astype(str).to_markdown(index=False)
                                              if len(mismatches) else "_none_"),
        },
    )


@dg.asset_check(asset="ad_history", additional_deps=[ad_stats_daily], description=(
    "Spend on ads whose landing URL lacks tracking parameters (cvg_adid / ttclid / UTM), over the last 7 days "
    "of data held: first-party attribution cannot see their clicks. Tag every ad."))
def tracking_parameter_coverage(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    engine = warehouse.get_engine()
    since = recent_window_start(engine, "ad_stats_daily", QUALITY_LOOKBACK_DAYS)
    untracked = untracked_spend(engine, since) if since else pd.DataFrame(columns=["ad_id", "currency"])
    by_currency = untracked.groupby("currency")["share_of_currency_spend"].sum() if len(untracked) else pd.Series()
    return dg.AssetCheckResult(
        passed=untracked.empty,
        severity=dg.AssetCheckSeverity.WARN,
        description=(f"{len(untracked)} ad(s) spend without tracking parameters: "
                     + ", ".join(f"{row.ad_name} ({row.ad_id})" for row in untracked.head(10).itertuples())
                     if len(untracked) else "Every ad with spend carries tracking parameters."),
        metadata={
            "since": str(since) if since else "no daily stats yet",
            "untracked_ads": len(untracked),
            "untracked_ad_ids": dg.MetadataValue.json(sorted(untracked["ad_id"].astype(str).tolist())),
            "untracked_share_by_currency": dg.MetadataValue.json(
                {currency: round(float(share), 4) for currency, share in by_currency.items()}),
            "ads": dg.MetadataValue.md(untracked.head(20).to_markdown(index=False, floatfmt=".2f")
                                       if len(untracked) else "_none_"),
        },
    )


@dg.asset_check(asset=ad_stats_daily, pool=TIKTOK_API_POOL, description=(
    "Spend TikTok counts for the advertiser (AUCTION_ADVERTISER, which includes reservation buying: Reach & "
    "Frequency, TopView) that the ad-level import does not hold, per advertiser and day over the last 7 days of "
    "data held; warns naming the reservation campaigns and the gap per day."))
def advertiser_spend_covered_by_ad_import(tiktok_api: TikTokApiResource, warehouse: WarehouseResource
                                          ) -> dg.AssetCheckResult:
    engine = warehouse.get_engine()
    since = recent_window_start(engine, "ad_stats_daily", QUALITY_LOOKBACK_DAYS)
    imported = (imported_daily_spend(engine, since, since + timedelta(days=QUALITY_LOOKBACK_DAYS - 1)) if since
                else pd.DataFrame(columns=["advertiser_id", "stat_date", "imported_spend"]))
    advertiser_ids = sorted(set(imported["advertiser_id"]))
    campaigns: dict[str, list[dict[str, str]]] = {}
    with tiktok_api.get_client() as client:
        profiles, errors = profiles_from_infos(client.advertiser_info(advertiser_ids)) if advertiser_ids else ({}, {})
        totals = [advertiser_daily_spend(client, advertiser_id, min(days), max(days))
                  for advertiser_id, days in imported.groupby("advertiser_id")["stat_date"]
                  if advertiser_id in profiles]
        gaps = spend_gaps(pd.concat(totals, ignore_index=True) if totals else pd.DataFrame(
            columns=["advertiser_id", "stat_date", "advertiser_spend"]),
            imported[imported["advertiser_id"].isin(list(profiles))],
            {advertiser_id: profile.currency for advertiser_id, profile in profiles.items()})
        for advertiser_id in sorted(set(gaps["advertiser_id"])):
            campaigns[advertiser_id] = reservation_campaigns(client, advertiser_id)
    by_advertiser = [
        f"advertiser {advertiser_id}: "
        + ", ".join(f"{row.gap:,.2f} {row.currency} on {row.stat_date}" for row in part.itertuples())
        + "; reservation campaigns: "
        + (", ".join(f"{c['campaign_id']} ({c['buying_type']})" for c in campaigns[advertiser_id]) or "none listed")
        for advertiser_id, part in gaps.groupby("advertiser_id")
    ]
    return dg.AssetCheckResult(
        passed=gaps.empty,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            "Spend not imported (reservation buying is not in ad-level reports): " + " | ".join(by_advertiser)
            if not gaps.empty else "The ad-level import holds all of every advertiser's spend."
        ),
        metadata={
            "since": str(since) if since else "no daily stats yet",
            "advertiser_days_with_gap": len(gaps),
            "not_imported_by_currency": dg.MetadataValue.json(
                {str(currency): round(float(total), 2) for currency, total in gaps.groupby("currency")["gap"].sum().items()}
                if len(gaps) else {}),
            "reservation_campaigns": dg.MetadataValue.json(
                {advertiser_id: [c["campaign_id"] for c in found] for advertiser_id, found in campaigns.items()}),
            "gap_per_day": dg.MetadataValue.json(
                {advertiser_id: {str(row.stat_date): float(row.gap) for row in part.itertuples()}
                 for advertiser_id, part in gaps.groupby("advertiser_id")}),
            "advertisers_not_checked": dg.MetadataValue.json(sorted(errors)),
            "gaps": dg.MetadataValue.md(gaps.astype(str).to_markdown(index=False) if len(gaps) else "_none_"),
        },
    )


QUALITY_CHECKS = [hourly_matches_daily, tracking_parameter_coverage,
                  advertiser_spend_covered_by_ad_import]
