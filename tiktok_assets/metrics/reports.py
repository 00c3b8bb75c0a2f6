"""The three reports built from the stored daily metrics (no Dagster import): their inputs, frames, schema
failures, previews and totals. The reports read only the daily metrics tables, never the stats, so the metrics'
blocking checks gate them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd
from sqlalchemy.engine import Engine

from tiktok_assets.metrics import render
from tiktok_assets.metrics.compute import first_party_gaps_filled
from tiktok_assets.metrics.derive import CURRENCY, aggregate, with_metrics
from tiktok_assets.metrics.schemas import validate_metrics_plausibility, validate_report
from tiktok_assets.metrics.store import REPORT_LEVELS, latest_metrics_date, read_metrics

REPORT_WINDOW_DAYS = 30
_TOTAL_COLUMNS = (CURRENCY, "spend", "impressions", "clicks", "conversions", "installs", "tiktok_purchases",
                  "tiktok_revenue", "roas", "purchase_value", "app_purchase_value", "first_party_revenue",
                  "first_party_roas", "revenue_discrepancy", "ctr", "cpa", "cpi")


@dataclass(frozen=True)
class ReportInputs:
    """The last REPORT_WINDOW_DAYS of stored daily metrics rows, by level (``advertiser`` always)."""

    start: date
    end: date
    daily: dict[str, pd.DataFrame]

    @property
    def window(self) -> str:
        return f"{self.start.isoformat()} .. {self.end.isoformat()}"

    def advertiser_daily(self) -> pd.DataFrame:
        # All-NULL first-party columns (no first_party_events table) stay unknown in totals and chart, not 0.
        return render.without_unknown_first_party(self.daily["advertiser"])


def read_report_inputs(engine: Engine, levels: Sequence[str] = ()) -> ReportInputs | None:
    """The reports' inputs, read from the daily metrics tables, never the stats: the window ends at the latest
    local date with advertiser metrics (None before any metrics were computed)."""
    end = latest_metrics_date(engine)
    if end is None:
        return None
    start = end - timedelta(days=REPORT_WINDOW_DAYS - 1)
    daily = {level: read_metrics(engine, level, "daily", None, start, end)
             for level in dict.fromkeys(("advertiser", *levels))}
    return ReportInputs(start, end, daily)


def totals_per_currency(advertiser_daily: pd.DataFrame) -> pd.DataFrame:
    """The window's totals and ratios per currency (never summed across currencies)."""
    totals = with_metrics(aggregate(advertiser_daily, by=[]))
    shown = [column for column in _TOTAL_COLUMNS if column in totals.columns]
    return totals[shown].sort_values(CURRENCY).reset_index(drop=True)


@dataclass(frozen=True)
class BuiltReport:
    """A report's rows, what breaks its schema, and the preview a person reads first."""

    frame: pd.DataFrame
    failures: pd.DataFrame
    preview: pd.DataFrame
    preview_columns: list[str]
    plausibility: pd.DataFrame | None = field(default=None)


def _shown(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    return [column for column in columns if column in frame.columns]


def _by_level(builder: Callable[[ReportInputs, str], pd.DataFrame], inputs: ReportInputs, report: str
              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The report at campaign, ad group and ad level in one frame (column ``level``), and its schema failures."""
    frames, failures = [], []
    for level in REPORT_LEVELS:
        frame = first_party_gaps_filled(builder(inputs, level))
        failures.append(validate_report(frame, report, level)[1].assign(level=level))
        frames.append(frame.assign(level=level))
    return pd.concat(frames, ignore_index=True), pd.concat(failures, ignore_index=True)


def overview_report(inputs: ReportInputs | None) -> BuiltReport:
    """Per advertiser and day: spend, ROAS, CTR, CPA... and first-party orders and revenue; newest day first."""
    if inputs is None:
        frame, failures = pd.DataFrame(columns=list(render.OVERVIEW_COLUMNS)), pd.DataFrame()
    else:
        frame = first_party_gaps_filled(render.overview_from_metrics(inputs.advertiser_daily()))
        failures = validate_report(frame, "overview")[1]
    newest_first = frame.sort_values(["stat_date", "spend"], ascending=[False, False], kind="stable")
    columns = _shown(frame, ("advertiser_name", "stat_date", "spend", "roas", "first_party_roas",
                             "revenue_discrepancy", "ctr", "cpa", "cpc", "cpm", "conversions", "clicks", "impressions"))
    return BuiltReport(frame, failures, newest_first, columns)


def channels_report(inputs: ReportInputs | None) -> BuiltReport:
    """Per campaign, ad group and ad (column ``level``): spend, purchases, revenue, ROAS and CPA."""
    if inputs is None:
        frame, failures = pd.DataFrame(columns=["level", *render.CHANNELS_MEASURES]), pd.DataFrame()
    else:
        frame, failures = _by_level(
            lambda given, level: render.channels_from_metrics(given.daily[level], level), inputs, "channels")
    columns = _shown(frame, ("advertiser_name", "campaign_name", "spend", "tiktok_purchases", "tiktok_revenue",
                             "roas", "cpa", "first_party_revenue", "first_party_roas", "revenue_discrepancy"))
    return BuiltReport(frame, failures, frame[frame["level"] == "campaign"], columns)


def app_report(inputs: ReportInputs | None) -> BuiltReport:
    """Per campaign, ad group and ad (column ``level``): installs, CPI, IPM, in-app purchases and ROAS; with the
    rows having more installs than clicks (``plausibility``)."""
    if inputs is None:
        frame, failures = pd.DataFrame(columns=["level", *render.APP_MEASURES]), pd.DataFrame()
    else:
        frame, failures = _by_level(lambda given, level: render.app_from_metrics(given.daily[level], level),
                                    inputs, "app")
    plausibility = validate_metrics_plausibility(frame)[1] if not frame.empty else pd.DataFrame()
    columns = _shown(frame, ("advertiser_name", "campaign_name", "installs", "cpi", "ipm", "click_to_install_rate",
                             "app_purchases", "app_purchase_value", "roas", "spend", "clicks", "impressions"))
    return BuiltReport(frame, failures, frame[frame["level"] == "campaign"], columns, plausibility)
