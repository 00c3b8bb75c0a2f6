"""What a person sees in the Dagster UI without SQL: markdown tables, charts, report tables (no Dagster import).

Report builders return plain frames shaped like the reports marketers already
read (Converge's overview and channels, Appstack's app view); render them with
:func:`markdown_table` and attach :func:`trend_chart_png` via
:func:`png_markdown` as asset metadata.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime

import numpy as np
import pandas as pd

from tiktok_assets.metrics.derive import (
    CURRENCY,
    FIRST_PARTY_COLUMNS,
    FIRST_PARTY_METRIC_COLUMNS,
    FIRST_PARTY_REVENUE,
    FrameGrouper,
    aggregate,
    require_currency,
    with_metrics,
)
from tiktok_assets.metrics.revenue import TIKTOK_PURCHASES, TIKTOK_REVENUE
from tiktok_assets.metrics.rollup import (
    LEVEL_KEYS,
    LEVEL_NAMES,
    EntityTables,
    Level,
    metrics_at_level,
    metrics_over_period,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MISSING = "—"

MONEY_COLUMNS = frozenset({"spend", "purchase_value", "app_purchase_value", "tiktok_revenue", "first_party_revenue",
                           "cpc", "cpm", "cpa", "cpi"})
PERCENT_COLUMNS = frozenset({"ctr", "click_to_install_rate", "conversion_rate", "revenue_discrepancy"})
MULTIPLE_COLUMNS = frozenset({"roas", "tiktok_roas", "first_party_roas"})
COUNT_COLUMNS = frozenset({"impressions", "clicks", "conversions", "installs", "purchases", "app_purchases",
                           "tiktok_purchases", "first_party_orders", "reach_lower_bound"})
DECIMAL_COLUMNS = frozenset({"ipm"})

LABELS: dict[str, str] = {
    "advertiser_id": "Advertiser ID", "advertiser_name": "Advertiser", "campaign_id": "Campaign ID",
    "campaign_name": "Campaign", "adgroup_id": "Ad group ID", "adgroup_name": "Ad group", "ad_id": "Ad ID",
    "ad_name": "Ad", "stat_date": "Date", "stat_hour_utc": "Hour (UTC)", "stat_hour_local": "Hour (local)",
    "period_start": "From", "period_end": "To", "currency": "Currency", "spend": "Ad spend",
    "impressions": "Impressions", "clicks": "Clicks", "conversions": "Conversions", "installs": "Installs",
    "purchases": "Purchases (web)", "purchase_value": "Revenue (TikTok, web)",
    "app_purchases": "Purchases (in-app)", "app_purchase_value": "Revenue (TikTok, in-app)",
    "tiktok_purchases": "Purchases (TikTok)", "tiktok_revenue": "Revenue (TikTok)",
    "first_party_revenue": "Revenue (first-party)", "first_party_orders": "Orders (first-party)",
    "ctr": "CTR", "cpc": "CPC", "cpm": "CPM", "cpa": "CPA", "roas": "ROAS (TikTok)", "tiktok_roas": "ROAS (TikTok)",
    "first_party_roas": "ROAS (first-party)", "revenue_discrepancy": "TikTok vs first-party revenue",
    "ipm": "IPM", "cpi": "CPI", "click_to_install_rate": "Click-to-install", "conversion_rate": "Conversion rate",
    "reach_lower_bound": "Reach (at least)",
}

_FIRST_PARTY_REPORT_COLUMNS = ("first_party_orders", "first_party_revenue", "first_party_roas", "revenue_discrepancy")
OVERVIEW_COLUMNS = ("advertiser_id", "advertiser_name", "stat_date", CURRENCY, "spend", "roas", "ctr", "cpa", "cpc",
                    "cpm", "conversions", "clicks", "impressions")
# TikTok-attributed purchases and revenue (web or in-app by campaign type, metrics.revenue) beside both sources.
CHANNELS_MEASURES = ("spend", "tiktok_purchases", "tiktok_revenue", "roas", "cpa", "purchases", "purchase_value",
                     "app_purchases", "app_purchase_value")
APP_MEASURES = ("spend", "impressions", "clicks", "installs", "cpi", "ipm", "click_to_install_rate", "app_purchases",
                "app_purchase_value", "roas")
# Report columns added in schema version 3 (tiktok_assets.warehouse.schema).
SCHEMA_3_MEASURES = {"channels": ("tiktok_purchases", "tiktok_revenue", "app_purchases", "app_purchase_value"),
                     "app": ("app_purchases", "app_purchase_value", "roas")}


def markdown_table(
    frame: pd.DataFrame,
    columns: Sequence[str] | None = None,
    max_rows: int = 20,
    labels: Mapping[str, str] | None = None,
) -> str:
    """A GitHub-flavoured markdown table of the first ``max_rows`` rows, formatted for people.

    Money gets 2 decimals and the row's currency (``1,234.50 USD``), rates are
    percentages, ROAS a multiple (``2.50×``), counts get thousands separators,
    nulls a dash. Only the shown rows are formatted, so a preview of millions of
    rows costs no more than one of twenty.
    """
    columns = list(columns) if columns is not None else [column for column in frame.columns]
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise KeyError(f"markdown_table: no column(s) {', '.join(missing)} in the frame ({', '.join(frame.columns)})")
    if frame.empty:
        return "_No rows._"
    names = {**LABELS, **(labels or {})}
    shown = frame.head(max_rows)
    currencies = shown[CURRENCY] if CURRENCY in shown.columns else pd.Series("", index=shown.index)
    cells = {column: _formatted(column, shown[column], currencies) for column in columns}
    header = "| " + " | ".join(_escape(names.get(column, column)) for column in columns) + " |"
    align = "| " + " | ".join("---:" if _is_numeric(column, frame[column]) else "---" for column in columns) + " |"
    body = ["| " + " | ".join(cells[column][row] for column in columns) + " |" for row in range(len(shown))]
    lines = [header, align, *body]
    if len(frame) > max_rows:
        lines.append(f"\n_… {len(frame) - max_rows:,} more rows (showing {max_rows:,} of {len(frame):,})._")
    return "\n".join(lines)


def format_value(column: str, value: object, currency: str = "") -> str:
    """One value as :func:`markdown_table` shows it."""
    return _formatted(column, pd.Series([value]), pd.Series([currency]))[0]


def trend_chart_png(
    daily_frame: pd.DataFrame,
    date_column: str = "stat_date",
    title: str = "Ad spend and ROAS",
    width_inches: float = 9.0,
) -> bytes:
    """A PNG: per currency, daily ad spend as bars and ROAS (ratio of sums per day) as a line.

    ``daily_frame`` is any frame with ``date_column``, ``currency``, ``spend``
    and ``tiktok_revenue`` (a metrics table at any level), or the four web and
    in-app purchase columns (stats: revenue by the unknown-campaign rule of
    :mod:`.revenue`). First-party
    ROAS is drawn dashed when the frame has first-party revenue. Built on a
    bare ``Figure`` with the Agg canvas: no pyplot state, safe in threads.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    require_currency(daily_frame, "trend_chart_png()")
    daily = with_metrics(aggregate(daily_frame, by=[date_column]))
    currencies = sorted(daily[CURRENCY].unique()) or [None]
    figure = Figure(figsize=(width_inches, 2.8 * len(currencies)), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes_list = figure.subplots(len(currencies), 1, squeeze=False)[:, 0]
    for axes, currency in zip(axes_list, currencies, strict=True):
        if currency is None:
            axes.text(0.5, 0.5, "No spend in this range", ha="center", va="center", transform=axes.transAxes)
            axes.set_axis_off()
            continue
        rows = daily[daily[CURRENCY] == currency].sort_values(date_column)
        when = pd.to_datetime(rows[date_column])
        axes.bar(when, rows["spend"], width=_bar_width(when), color="#25a4ba", label=f"Ad spend ({currency})")
        axes.set_ylabel(f"Ad spend ({currency})")
        ratio_axes = axes.twinx()
        ratio_axes.plot(when, rows["roas"], color="#fe2c55", marker="o", markersize=3, label="ROAS (TikTok)")
        if FIRST_PARTY_REVENUE in rows.columns:
            ratio_axes.plot(when, rows["first_party_roas"], color="#111111", linestyle="--", marker="o",
                            markersize=3, label="ROAS (first-party)")
        ratio_axes.set_ylabel("ROAS")
        ratio_axes.set_ylim(bottom=0)
        handles = [*axes.get_legend_handles_labels()[0], *ratio_axes.get_legend_handles_labels()[0]]
        axes.legend(handles=handles, loc="upper left", fontsize="small", ncols=3, framealpha=0.9)
        axes.set_title(f"{title} — {currency}")
        locator = AutoDateLocator(maxticks=10)
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def png_markdown(png_bytes: bytes, alt: str = "chart") -> str:
    """An inline markdown image: ``![alt](data:image/png;base64,…)``."""
    if not png_bytes.startswith(PNG_SIGNATURE):
        raise ValueError("png_markdown() expects PNG bytes (they start with the PNG signature), e.g. trend_chart_png()")
    encoded = base64.b64encode(png_bytes).decode("ascii")
    return f"![{_escape(alt).replace(']', '')}](data:image/png;base64,{encoded})"


def overview_report(
    stats: pd.DataFrame,
    entity_history: EntityTables = None,
    first_party: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per advertiser and day: ad spend, ROAS, CTR, CPA, CPC, CPM, conversions, clicks, impressions.

    Converge's overview. With ``first_party`` also first-party orders, revenue,
    ROAS and the TikTok-vs-first-party discrepancy.
    """
    metrics = metrics_at_level(stats, "advertiser", "daily", entity_history, first_party)
    columns = [*OVERVIEW_COLUMNS, *_first_party_columns(metrics)]
    return metrics[columns].sort_values(["advertiser_id", "stat_date", CURRENCY], kind="stable").reset_index(drop=True)


def channels_report(
    stats: pd.DataFrame,
    level: Level = "campaign",
    entity_history: EntityTables = None,
    first_party: pd.DataFrame | None = None,
    *,
    by_day: bool = False,
) -> pd.DataFrame:
    """Per campaign, ad group or ad: ad spend, purchases, revenue (both sources), ROAS, CPA; biggest spend first.

    Converge's channels view; totals over the whole of ``stats`` unless ``by_day``.
    TikTok's purchases and revenue are the web or in-app ones by campaign type
    (``tiktok_purchases``, ``tiktok_revenue``; :mod:`.revenue`), with both
    kinds beside them.
    """
    metrics = _level_metrics(stats, level, entity_history, first_party, by_day)
    columns = [*_leading(metrics, level), *CHANNELS_MEASURES, *_first_party_columns(metrics)]
    return metrics[columns].sort_values("spend", ascending=False, kind="stable").reset_index(drop=True)


def app_report(
    stats: pd.DataFrame,
    level: Level = "campaign",
    entity_history: EntityTables = None,
    *,
    by_day: bool = False,
) -> pd.DataFrame:
    """Per campaign, ad group or ad: installs, CPI, IPM, click-to-install, in-app purchases, their value and ROAS;
    most installs first (Appstack's app view)."""
    metrics = _level_metrics(stats, level, entity_history, None, by_day)
    columns = [*_leading(metrics, level), *APP_MEASURES]
    return metrics[columns].sort_values("installs", ascending=False, kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------- reports from the stored daily metrics
#
# The report assets build from the metrics tables (what their declared deps
# say, so the metrics' blocking checks gate them): the tables hold the summed
# bases, so a period's ratios are recomputed as ratios of the summed sums, the
# same numbers as summing the stats. Names come from the metrics rows: each
# id's latest row in the window (the stats-based builders take names at the
# period's end, which differs only for an entity renamed after its last row).

_STAT_BASES = ("spend", "impressions", "clicks", "conversions", "installs", "purchases", "purchase_value",
               "app_purchases", "app_purchase_value", TIKTOK_PURCHASES, TIKTOK_REVENUE)


def overview_from_metrics(advertiser_daily: pd.DataFrame) -> pd.DataFrame:
    """:func:`overview_report` from stored ``advertiser_metrics_daily`` rows (one row each, as stored)."""
    metrics = without_unknown_first_party(advertiser_daily)
    columns = [*OVERVIEW_COLUMNS, *_first_party_columns(metrics)]
    return metrics[columns].sort_values(["advertiser_id", "stat_date", CURRENCY], kind="stable").reset_index(drop=True)


def channels_from_metrics(level_daily: pd.DataFrame, level: Level) -> pd.DataFrame:
    """:func:`channels_report` over the whole period of stored ``{level}_metrics_daily`` rows."""
    metrics = period_from_metrics(level_daily, level)
    columns = [*_leading(metrics, level), *CHANNELS_MEASURES, *_first_party_columns(metrics)]
    return metrics[columns].sort_values("spend", ascending=False, kind="stable").reset_index(drop=True)


def app_from_metrics(level_daily: pd.DataFrame, level: Level) -> pd.DataFrame:
    """:func:`app_report` over the whole period of stored ``{level}_metrics_daily`` rows.

    TikTok's figures only: rows that hold nothing but first-party orders (an
    order matched to an entity on a day it had no stats) are not an app's rows.
    """
    rows = _without_first_party(level_daily)
    metrics = period_from_metrics(rows, level)
    columns = [*_leading(metrics, level), *APP_MEASURES]
    return metrics[columns].sort_values("installs", ascending=False, kind="stable").reset_index(drop=True)


def period_from_metrics(level_daily: pd.DataFrame, level: Level) -> pd.DataFrame:
    """One row per entity and currency over all of ``level_daily`` (stored daily metrics rows): summed bases,
    ratios of the sums, ``period_start``/``period_end`` (first and last date present) and the names each id
    had on its latest row."""
    if level not in ("campaign", "adgroup", "ad"):
        raise ValueError(f"level must be 'campaign', 'adgroup' or 'ad' (advertisers: overview_from_metrics), "
                         f"got {level!r}")
    rows = without_unknown_first_party(level_daily)
    summed = FrameGrouper(rows).aggregate(LEVEL_KEYS[level])
    latest_first = rows.sort_values("stat_date", ascending=False, kind="stable")
    for name in LEVEL_NAMES[level]:
        # Each entity's and parent's name on the latest day it has a row at this level (a campaign renamed
        # after one of its ads stopped shows its new name on that ad's row too).
        id_column = name.removesuffix("_name") + "_id"
        latest = latest_first.drop_duplicates(id_column).set_index(id_column)[name]
        summed.insert(summed.columns.get_loc(id_column) + 1, name, summed[id_column].map(latest))
    start, end = (rows["stat_date"].min(), rows["stat_date"].max()) if len(rows) else (None, None)
    summed["period_start"] = np.full(len(summed), start, dtype=object)
    summed["period_end"] = np.full(len(summed), end, dtype=object)
    return with_metrics(summed)


def without_unknown_first_party(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame without first-party columns when they are all NULL (no first_party_events table: unknown)."""
    if FIRST_PARTY_REVENUE in frame.columns and frame[FIRST_PARTY_REVENUE].notna().any():
        return frame
    return _first_party_dropped(frame)


def _first_party_dropped(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[column for column in (*FIRST_PARTY_COLUMNS, *FIRST_PARTY_METRIC_COLUMNS)
                               if column in frame.columns])


def _without_first_party(frame: pd.DataFrame) -> pd.DataFrame:
    """TikTok's rows only: first-party columns dropped, and rows with no TikTok figure but first-party orders."""
    if FIRST_PARTY_COLUMNS[0] not in frame.columns:
        return frame
    bases = [column for column in _STAT_BASES if column in frame.columns]
    no_stats = (frame[bases].fillna(0) == 0).all(axis=1)
    orders = pd.to_numeric(frame[FIRST_PARTY_COLUMNS[0]], errors="coerce").fillna(0) > 0
    revenue = pd.to_numeric(frame[FIRST_PARTY_REVENUE], errors="coerce").fillna(0) != 0
    return _first_party_dropped(frame[~(no_stats & (orders | revenue))])


def _level_metrics(stats: pd.DataFrame, level: Level, entity_history: EntityTables,
                   first_party: pd.DataFrame | None, by_day: bool) -> pd.DataFrame:
    if level not in ("campaign", "adgroup", "ad"):
        raise ValueError(f"level must be 'campaign', 'adgroup' or 'ad' (advertisers: overview_report), got {level!r}")
    if by_day:
        return metrics_at_level(stats, level, "daily", entity_history, first_party)
    return metrics_over_period(stats, level, entity_history, first_party)


def _leading(metrics: pd.DataFrame, level: str) -> list[str]:
    time = ["stat_date"] if "stat_date" in metrics.columns else ["period_start", "period_end"]
    return [*LEVEL_KEYS[level], *LEVEL_NAMES[level], CURRENCY, *time]


def _first_party_columns(metrics: pd.DataFrame) -> list[str]:
    return [column for column in _FIRST_PARTY_REPORT_COLUMNS if column in metrics.columns]


def _formatted(column: str, values: pd.Series, currencies: pd.Series) -> list[str]:
    """Display strings of one column (already cut to the shown rows)."""
    result = []
    for value, currency in zip(values.tolist(), currencies.tolist(), strict=True):
        if _is_missing(value):
            result.append(MISSING)
        elif column in MONEY_COLUMNS:
            result.append(f"{float(value):,.2f} {currency}".rstrip())
        elif column in PERCENT_COLUMNS:
            sign = "+" if column == "revenue_discrepancy" and value > 0 else ""
            result.append(f"{sign}{float(value) * 100:,.2f}%")
        elif column in MULTIPLE_COLUMNS:
            result.append(f"{float(value):,.2f}×")
        elif column in COUNT_COLUMNS:
            result.append(f"{round(float(value)):,}")
        elif column in DECIMAL_COLUMNS:
            result.append(f"{float(value):,.2f}")
        elif isinstance(value, pd.Timestamp | datetime):
            result.append(value.strftime("%Y-%m-%d") if _is_midnight(value) else value.strftime("%Y-%m-%d %H:%M"))
        elif isinstance(value, date):
            result.append(value.isoformat())
        elif isinstance(value, float):
            result.append(f"{value:,.2f}")
        else:
            result.append(_escape(str(value)))
    return result


def _is_numeric(column: str, values: pd.Series) -> bool:
    known = MONEY_COLUMNS | PERCENT_COLUMNS | MULTIPLE_COLUMNS | COUNT_COLUMNS | DECIMAL_COLUMNS
    return column in known or (pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values))


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value) or isinstance(value, np.floating) and np.isnan(value)


def _is_midnight(value: datetime) -> bool:
    return value.hour == 0 and value.minute == 0 and value.second == 0


def _escape(text: str) -> str:
    # A pipe would end the cell and a newline the row.
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _bar_width(when: pd.Series) -> float:
    """Bar width in days: 80 % of the smallest gap between points (a day, or an hour for hourly frames)."""
    if len(when) < 2:
        return 0.8
    gaps = np.diff(np.sort(when.to_numpy().astype("datetime64[s]").astype(np.int64)))
    gaps = gaps[gaps > 0]
    return 0.8 * (gaps.min() / 86400 if gaps.size else 1.0)
