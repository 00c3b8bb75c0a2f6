"""Metrics and report assets: ad / ad group / campaign / advertiser metrics, hourly and daily, and three reports.

Metrics follow the stats partition by partition: one multi-asset per grain
computes all four levels in one pass (one warehouse read per advertiser and
slice of days), replaces the partitions' rows, and reports one
materialization per level and partition with a data version fingerprinting
what was written. Automation recomputes a metrics partition only when its
stats partition got a new data version, and the reports only when a metrics
partition did.

Lineage is what the code reads (tiktok_assets_tests/automation/test_lineage.py
checks it): the metrics read the stats, the entity histories (names, parents,
campaign types), the advertisers (zones, currencies) and the first-party
orders; the reports read only the daily metrics tables, so the metrics'
blocking schema checks gate them.
"""


from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg
import pandas as pd
from sqlalchemy.engine import Engine

from tiktok_assets.defs.automation import change_only_eager, upstream_data_changed
from tiktok_assets.defs.resources import WarehouseResource
from tiktok_assets.defs.spend import DATA_VERSION_TAG, ad_stats_daily, ad_stats_hourly
from tiktok_assets.metrics import render, reports
from tiktok_assets.metrics.compute import advertiser_metrics, date_slices, first_party_for
from tiktok_assets.metrics.reports import (
    REPORT_WINDOW_DAYS,
    BuiltReport,
    ReportInputs,
    read_report_inputs,
    totals_per_currency,
)
from tiktok_assets.metrics.rollup import GRAINS, LEVELS
from tiktok_assets.metrics.schemas import validate_metrics, validate_metrics_plausibility
from tiktok_assets.metrics.store import (
    REPORT_LEVELS,
    PartitionSummary,
    read_entity_history,
    replace_metrics_partitions,
    replace_report,
)
from tiktok_assets import partitions
from tiktok_assets.partitions import advertiser_date_key, advertiser_date_partitions

METRICS_GROUP = "tiktok_metrics"
METRICS_KINDS = {"pandas", "sql"}
# TikTok's longest attribution window (28-day click) plus the partitions' two
# days of end offset: older days cannot be revised, so automation need not look further.
SETTLE_LOOKBACK = timedelta(days=30)
# Bump when a formula or a table's shape changes, so the UI marks the metrics and reports stale (code version).
# "2": issue 14, ROAS on the TikTok-attributed revenue by campaign type (tiktok_assets.metrics.revenue).
METRICS_CODE_VERSION = "2"
STATS_ASSET = {"daily": ad_stats_daily, "hourly": ad_stats_hourly}
FIRST_PARTY_EVENTS = dg.AssetKey("first_party_events")
# What the metrics read besides their stats: names, parents and campaign types in force at the stat's time
# (the histories), zones and currencies (tiktok_advertisers), first-party orders.
METRICS_INPUTS = [*(dg.AssetKey(name) for name in ("campaign_history", "adgroup_history", "ad_history",
                                                   "tiktok_advertisers")), FIRST_PARTY_EVENTS]

METRICS_SCHEMA_CHECK = "metrics_schema_valid"
METRICS_PLAUSIBILITY_CHECK = "metrics_plausible"
REPORT_SCHEMA_CHECK = "report_schema_valid"
REPORT_PLAUSIBILITY_CHECK = "report_plausible"

_LEVEL_WORDS = {"ad": "ad", "adgroup": "ad group", "campaign": "campaign", "advertiser": "advertiser"}
_FAILURE_PREVIEW_ROWS = 20


def metrics_asset_key(level: str, grain: str) -> dg.AssetKey:
    return dg.AssetKey(f"{level}_metrics_{grain}")


METRICS_ASSET_KEYS = [metrics_asset_key(level, grain) for grain in GRAINS for level in LEVELS]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# ---------------------------------------------------------------- metrics


def _metrics_description(level: str, grain: str) -> str:
    per = "local day" if grain == "daily" else "hour (UTC start, with the local hour)"
    return (
        f"Per {_LEVEL_WORDS[level]}, currency and {per}: spend, impressions, clicks, conversions, installs, "
        "web purchases and value (Complete Payment), in-app purchases and value, TikTok-attributed purchases and "
        "revenue (in-app for app campaigns, web for the others: tiktok_assets.metrics.revenue), first-party orders "
        "and revenue, and the ratio metrics (ROAS on the TikTok-attributed revenue) "
        "(CTR, CPC, CPM, CPA, ROAS, IPM, CPI, click-to-install, conversion rate) as ratios of sums, NULL on a zero "
        "denominator. Names are those in force at the stat's time. Table "
        f"``{level}_metrics_{grain}``; recomputed only when the partition's stats changed."
    )


def _metrics_specs(grain: str) -> list[dg.AssetSpec]:
    return [
        dg.AssetSpec(
            metrics_asset_key(level, grain),
            deps=[STATS_ASSET[grain], *METRICS_INPUTS],
            description=_metrics_description(level, grain),
            group_name=METRICS_GROUP,
            kinds=METRICS_KINDS,
            # Materializations are yielded per partition instead of outputs.
            skippable=True,
            # A deployment without first-party data never materializes first_party_events: that must not hold
            # the metrics back (the columns stay NULL).
            automation_condition=change_only_eager(SETTLE_LOOKBACK, may_be_missing=[FIRST_PARTY_EVENTS]),
            code_version=METRICS_CODE_VERSION,
        )
        for level in LEVELS
    ]


def _metrics_check_specs(grain: str) -> list[dg.AssetCheckSpec]:
    specs = []
    for level in LEVELS:
        key = metrics_asset_key(level, grain)
        specs.append(dg.AssetCheckSpec(
            METRICS_SCHEMA_CHECK, asset=key, blocking=True,
            description="pandera schema of the rows this run wrote: ids and currency present, one row per key, "
            "non-negative bases and costs, clicks within impressions, CTR in [0, 1].",
        ))
        specs.append(dg.AssetCheckSpec(
            METRICS_PLAUSIBILITY_CHECK, asset=key,
            description="Warns on more installs than clicks (click-to-install above 1): possible with view-through "
            "installs on small ads, suspicious on large ones.",
        ))
    return specs


@dataclass
class _CheckFindings:
    """Failure cases of one check over a whole run, collected slice by slice."""

    frames: list[pd.DataFrame]

    def add(self, failures: pd.DataFrame, where: str) -> None:
        if not failures.empty:
            self.frames.append(failures.assign(partitions=where))

    def result(self, asset_key: dg.AssetKey, check_name: str, severity: dg.AssetCheckSeverity,
               passed_text: str, failed_text: str) -> dg.AssetCheckResult:
        failures = pd.concat(self.frames, ignore_index=True) if self.frames else pd.DataFrame()
        metadata: dict[str, object] = {"failure_cases": len(failures)}
        if not failures.empty:
            shown = [column for column in ("partitions", "column", "check", "failure_case") if column in failures]
            metadata["failures"] = dg.MetadataValue.md(
                failures[shown].head(_FAILURE_PREVIEW_ROWS).astype(str).to_markdown(index=False))
        return dg.AssetCheckResult(
            asset_key=asset_key, check_name=check_name, passed=failures.empty, severity=severity,
            description=passed_text if failures.empty else f"{len(failures)} failure case(s): {failed_text}",
            metadata=metadata,
        )


def _partition_metadata(level: str, advertiser_id: str, summary: PartitionSummary) -> dict[str, object]:
    metadata: dict[str, object] = {
        "advertiser_id": advertiser_id,
        "stat_date": summary.stat_date.isoformat(),
        "level": level,
        "rows": summary.rows,
    }
    for row in summary.totals.itertuples(index=False):
        # Money is never added across currencies: one set of totals per currency.
        suffix = "" if len(summary.totals) == 1 else f"_{row.currency}"
        metadata[f"currency{suffix}"] = row.currency
        for column in ("spend", "tiktok_revenue", "purchase_value", "app_purchase_value", "first_party_revenue"):
            value = getattr(row, column, None)
            if value is not None and pd.notna(value):
                metadata[f"{column}{suffix}"] = dg.MetadataValue.float(round(float(value), 6))
        for column in ("impressions", "clicks", "conversions", "installs"):
            metadata[f"{column}{suffix}"] = int(getattr(row, column))
    return metadata


def materialize_metrics(context: dg.AssetExecutionContext, warehouse: WarehouseResource, grain: str
                        ) -> Iterator[dg.AssetMaterialization | dg.AssetCheckResult]:
    """Compute the selected levels of ``grain`` for the run's partitions, write them, report each partition."""
    engine = warehouse.get_engine()
    levels = [level for level in LEVELS if metrics_asset_key(level, grain) in context.selected_asset_keys]
    history = read_entity_history(engine)
    dates_by_advertiser = {advertiser_id: sorted(set(days)) for advertiser_id, days
                           in partitions.dates_by_advertiser(context.partition_keys).items()}
    schema_findings = {level: _CheckFindings([]) for level in levels}
    plausibility_findings = {level: _CheckFindings([]) for level in levels}
    total = sum(len(dates) for dates in dates_by_advertiser.values())
    done = 0
    for days in date_slices(dates_by_advertiser):
        first_party = first_party_for(engine, history, grain, days)
        for advertiser_id, advertiser_dates in sorted(dates_by_advertiser.items()):
            selected = set(advertiser_dates)
            dates = [day for day in days if day in selected]
            if not dates:
                continue
            frames = advertiser_metrics(engine, grain, levels, history, advertiser_id, dates, first_party)
            where = f"{advertiser_id} {dates[0]}..{dates[-1]}"
            for level, frame in frames.items():
                schema_findings[level].add(validate_metrics(frame, level, grain)[1], where)
                plausibility_findings[level].add(validate_metrics_plausibility(frame)[1], where)
            written = replace_metrics_partitions(engine, grain, advertiser_id, dates, frames, _now())
            for level, summaries in written.items():
                for summary in summaries.values():
                    yield dg.AssetMaterialization(
                        asset_key=metrics_asset_key(level, grain),
                        partition=advertiser_date_key(advertiser_id, summary.stat_date),
                        tags={DATA_VERSION_TAG: summary.data_version},
                        metadata=_partition_metadata(level, advertiser_id, summary),
                    )
            done += len(dates)
            context.log.info(f"{grain} metrics: {done}/{total} partitions written (advertiser {advertiser_id}, "
                             f"{dates[0]}..{dates[-1]}, levels {', '.join(levels)})")
    selected_checks = context.selected_asset_check_keys
    for level in levels:
        key = metrics_asset_key(level, grain)
        if dg.AssetCheckKey(key, METRICS_SCHEMA_CHECK) in selected_checks:
            yield schema_findings[level].result(
                key, METRICS_SCHEMA_CHECK, dg.AssetCheckSeverity.ERROR, "Every row this run wrote fits the schema.",
                "negative or missing values, duplicate keys or CTR outside [0, 1]; look at the stats partitions named "
                "in 'failures' (ad_stats tables) before trusting these metrics.")
        if dg.AssetCheckKey(key, METRICS_PLAUSIBILITY_CHECK) in selected_checks:
            yield plausibility_findings[level].result(
                key, METRICS_PLAUSIBILITY_CHECK, dg.AssetCheckSeverity.WARN, "No row has more installs than clicks.",
                "rows with more installs than clicks; check the app's attribution settings in TikTok Ads Manager "
                "if it happens on ads with many clicks.")


def _metrics_multi_asset(grain: str) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name=f"metrics_{grain}",
        specs=_metrics_specs(grain),
        check_specs=_metrics_check_specs(grain),
        partitions_def=advertiser_date_partitions,
        # A year of partitions recomputes in one run, one materialization per partition.
        backfill_policy=dg.BackfillPolicy.single_run(),
        can_subset=True,
    )
    def _metrics(context: dg.AssetExecutionContext, warehouse: WarehouseResource
                 ) -> Iterator[dg.AssetMaterialization | dg.AssetCheckResult]:
        yield from materialize_metrics(context, warehouse, grain)

    return _metrics


metrics_daily = _metrics_multi_asset("daily")
metrics_hourly = _metrics_multi_asset("hourly")


# ---------------------------------------------------------------- reports


def report_automation_condition() -> dg.AutomationCondition:
    """Rebuild an unpartitioned report when any partition of a metrics asset it reads got a new data version."""
    return upstream_data_changed()


def report_deps(levels: Sequence[str]) -> list[dg.AssetKey]:
    """The metrics tables a report reads: its levels' daily metrics and the advertisers' (window, chart, totals)."""
    return [metrics_asset_key(level, "daily") for level in dict.fromkeys(("advertiser", *levels))]


def _report_result(report: str, inputs: ReportInputs | None, built: BuiltReport, engine: Engine
                   ) -> dg.MaterializeResult:
    checks = _report_checks(f"{report}_report", built.failures, built.plausibility)
    rows = replace_report(engine, report, built.frame, _now())
    if inputs is None:
        return dg.MaterializeResult(
            metadata={"rows": 0, "note": "No daily metrics in the warehouse yet: import spend, then compute the "
                                         "metrics (metrics_daily)."},
            check_results=checks,
        )
    advertiser_daily = inputs.advertiser_daily()
    totals = totals_per_currency(advertiser_daily)
    metadata: dict[str, object] = {
        "rows": rows,
        "window": inputs.window,
        "report": dg.MetadataValue.md(render.markdown_table(built.preview, built.preview_columns)),
        "chart": dg.MetadataValue.md(render.png_markdown(
            render.trend_chart_png(advertiser_daily, title=f"Ad spend and ROAS, last {REPORT_WINDOW_DAYS} days"),
            alt=f"{report} report: ad spend and ROAS per day")),
        "totals_per_currency": dg.MetadataValue.md(render.markdown_table(totals)),
    }
    for row in totals.itertuples(index=False):
        metadata[f"spend_{row.currency}"] = dg.MetadataValue.float(round(float(row.spend), 2))
    return dg.MaterializeResult(metadata=metadata, check_results=checks)


def _report_checks(asset: str, failures: pd.DataFrame, plausibility: pd.DataFrame | None = None
                   ) -> list[dg.AssetCheckResult]:
    checks = [_CheckFindings([failures]).result(
        dg.AssetKey(asset), REPORT_SCHEMA_CHECK, dg.AssetCheckSeverity.ERROR, "The report fits its schema.",
        "the report breaks its schema (negative money, duplicate rows, missing ids); the metrics checks say where.")]
    if plausibility is not None:
        checks.append(_CheckFindings([plausibility]).result(
            dg.AssetKey(asset), REPORT_PLAUSIBILITY_CHECK, dg.AssetCheckSeverity.WARN,
            "No row has more installs than clicks.", "rows with more installs than clicks."))
    return checks


def _report_check_spec(asset: str, name: str = REPORT_SCHEMA_CHECK) -> dg.AssetCheckSpec:
    descriptions = {
        REPORT_SCHEMA_CHECK: "pandera schema of the report: keys unique and present, money and counts non-negative.",
        REPORT_PLAUSIBILITY_CHECK: "Warns on more installs than clicks (click-to-install above 1).",
    }
    return dg.AssetCheckSpec(name, asset=asset, description=descriptions[name])


REPORT_COMMON = {
    "group_name": METRICS_GROUP,
    "kinds": METRICS_KINDS,
    "automation_condition": report_automation_condition(),
    "code_version": METRICS_CODE_VERSION,
}


@dg.asset(**REPORT_COMMON, deps=report_deps([]),
          check_specs=[_report_check_spec("overview_report")])
def overview_report(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Per advertiser and day over the last 30 days: ad spend, ROAS, CTR, CPA, CPC, CPM, conversions, clicks,
    impressions, and first-party orders, revenue, ROAS and the TikTok-vs-first-party discrepancy (Converge's
    overview). Per currency; table ``overview_report``."""
    engine = warehouse.get_engine()
    inputs = read_report_inputs(engine)
    return _report_result("overview", inputs, reports.overview_report(inputs), engine)


@dg.asset(**REPORT_COMMON, deps=report_deps(REPORT_LEVELS),
          check_specs=[_report_check_spec("channels_report")])
def channels_report(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Per campaign, ad group and ad over the last 30 days: ad spend, purchases, revenue (TikTok-attributed and
    first-party), ROAS and CPA, biggest spend first (Converge's channels report). Per currency; table
    ``channels_report`` with a ``level`` column."""
    engine = warehouse.get_engine()
    inputs = read_report_inputs(engine, REPORT_LEVELS)
    return _report_result("channels", inputs, reports.channels_report(inputs), engine)


@dg.asset(**REPORT_COMMON, deps=report_deps(REPORT_LEVELS),
          check_specs=[_report_check_spec("app_report"), _report_check_spec("app_report", REPORT_PLAUSIBILITY_CHECK)])
def app_report(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Per campaign, ad group and ad over the last 30 days: installs, CPI, IPM and click-to-install rate, in-app
    purchases, their value and ROAS (in-app value for app campaigns), with spend, impressions and clicks, most
    installs first (Appstack's app view). Per currency; table ``app_report``
    with a ``level`` column."""
    engine = warehouse.get_engine()
    inputs = read_report_inputs(engine, REPORT_LEVELS)
    return _report_result("app", inputs, reports.app_report(inputs), engine)


METRICS_ASSETS = [metrics_daily, metrics_hourly]
REPORT_ASSETS = [overview_report, channels_report, app_report]
