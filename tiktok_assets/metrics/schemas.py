"""pandera schemas of every derived metrics table, for Dagster asset checks (no Dagster import).

Each schema is a plain ``pandera.pandas.DataFrameSchema``: run it with
:func:`validate` (→ ``(ok, failure_cases)``) from an asset's ``check_specs``, or
hand it to ``dagster_pandera.pandera_schema_to_dagster_type``.

Two strengths, matching the two check severities:

* ``METRICS_SCHEMAS`` etc. are **broken data** (ERROR): negative bases or
  costs, more clicks than impressions, CTR outside [0, 1], a currency that is
  not a 3-letter code, null or duplicate keys.
* ``METRICS_PLAUSIBILITY_SCHEMA`` is **suspicious data** (WARN): more installs
  than clicks. TikTok credits view-through installs (no click) to an ad, so a
  click-to-install rate above 1 is possible on small ads; a hard check would
  fail on real accounts.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import pandera.pandas as pa

from tiktok_assets.metrics.attribution import ATTRIBUTED_LEVELS, DAILY_KEYS, HOURLY_KEYS, ID_COLUMNS
from tiktok_assets.metrics.derive import (
    ADDITIVE_COUNT_COLUMNS,
    ADDITIVE_MONEY_COLUMNS,
    CURRENCY,
    FIRST_PARTY_COLUMNS,
    FIRST_PARTY_METRIC_COLUMNS,
    METRIC_COLUMNS,
    REACH_LOWER_BOUND,
    REVENUE_DISCREPANCY,
    SPREAD,
)
from tiktok_assets.metrics.render import APP_MEASURES, CHANNELS_MEASURES, OVERVIEW_COLUMNS
from tiktok_assets.metrics.rollup import GRAIN_CARRIED, GRAIN_KEY, GRAINS, LEVEL_KEYS, LEVEL_NAMES, LEVELS

_NON_NEGATIVE = pa.Check.ge(0)
_FRACTION = pa.Check.in_range(0, 1)
CURRENCY_PATTERN = r"^[A-Z]{3}$"

# Shares of their denominator that can never exceed 1 (clicks ≤ impressions). The other
# rates only cannot be negative: conversions and installs include view-through credit.
_FRACTIONS = {"ctr"}

NO_FAILURES = pd.DataFrame(columns=["schema_context", "column", "check", "check_number", "failure_case", "index"])


def _column(name: str, *, required: bool = True) -> pa.Column:
    """The one definition of a derived column, shared by every schema that has it."""
    if name in ID_COLUMNS:
        return pa.Column(str, nullable=False, required=required)
    if name == CURRENCY:
        return pa.Column(str, pa.Check.str_matches(CURRENCY_PATTERN), nullable=False, required=required)
    if name in ADDITIVE_COUNT_COLUMNS:
        return pa.Column("int64", _NON_NEGATIVE, nullable=False, required=required)
    if name in ADDITIVE_MONEY_COLUMNS or name == "tiktok_revenue":
        return pa.Column("float64", _NON_NEGATIVE, nullable=False, required=required)
    if name in _FRACTIONS:
        return pa.Column("float64", _FRACTION, nullable=True, required=required)
    if name == REVENUE_DISCREPANCY:
        # (tiktok − first party) / first party with both ≥ 0 cannot fall below −1.
        return pa.Column("float64", pa.Check.ge(-1), nullable=True, required=required)
    if name in METRIC_COLUMNS or name in FIRST_PARTY_METRIC_COLUMNS or name == REACH_LOWER_BOUND:
        return pa.Column("float64", _NON_NEGATIVE, nullable=True, required=required)
    if name.endswith("_name"):
        return pa.Column(object, nullable=True, required=required)
    if name == SPREAD:
        return pa.Column(bool, nullable=False, required=required)
    # stat_date, stat_hour_utc/local, period_start/end: dates and times however the
    # warehouse hands them over (date objects, naive or aware datetime64).
    return pa.Column(nullable=False, required=required)


_clicks_within_impressions = pa.Check(
    lambda frame: frame["clicks"] <= frame["impressions"],
    name="clicks_within_impressions",
    error="clicks exceed impressions",
)


def _schema(name: str, columns: Iterable[str], unique: list[str], *, optional: Iterable[str] = (),
            checks: list[pa.Check] | None = None) -> pa.DataFrameSchema:
    optional = list(optional)
    return pa.DataFrameSchema(
        {
            **{column: _column(column) for column in columns},
            **{column: _column(column, required=False) for column in optional},
        },
        checks=checks or [],
        unique=unique,
        strict=False,
        name=name,
    )


_BASES = ("spend", "impressions", "clicks", "conversions", "installs", "purchases", "purchase_value", "app_purchases",
          "app_purchase_value", "tiktok_purchases", "tiktok_revenue")

# TikTok-attributed purchases and revenue are the web ones, the in-app ones or (campaign type unknown) both:
# never more than the two together (metrics.revenue).
_revenue_within_sources = pa.Check(
    lambda frame: (frame["tiktok_revenue"] <= (frame["purchase_value"] + frame["app_purchase_value"]) * (1 + 1e-9) + 1e-6)
    & (frame["tiktok_purchases"] <= frame["purchases"] + frame["app_purchases"]),
    name="tiktok_revenue_within_sources",
    error="tiktok_revenue or tiktok_purchases exceed the web plus in-app ones",
)


def metrics_schema(level: str, grain: str) -> pa.DataFrameSchema:
    """Schema of :func:`metrics_at_level` output; the first-party columns are checked when present."""
    keys = [*LEVEL_KEYS[level], CURRENCY, GRAIN_KEY[grain]]
    return _schema(
        f"{level}_metrics_{grain}",
        [*LEVEL_KEYS[level], *LEVEL_NAMES[level], CURRENCY, GRAIN_KEY[grain], *_BASES, *METRIC_COLUMNS],
        unique=keys,
        optional=[*GRAIN_CARRIED[grain], *FIRST_PARTY_COLUMNS, *FIRST_PARTY_METRIC_COLUMNS, REACH_LOWER_BOUND, SPREAD],
        checks=[_clicks_within_impressions, _revenue_within_sources],
    )


METRICS_SCHEMAS: dict[tuple[str, str], pa.DataFrameSchema] = {
    (level, grain): metrics_schema(level, grain) for level in LEVELS for grain in GRAINS
}

METRICS_PLAUSIBILITY_SCHEMA = pa.DataFrameSchema(
    {"click_to_install_rate": pa.Column("float64", pa.Check.le(1, error="more installs than clicks"), nullable=True)},
    strict=False,
    name="metrics_plausibility",
)


def _first_party_schema(grain: str) -> pa.DataFrameSchema:
    keys = list(DAILY_KEYS if grain == "daily" else HOURLY_KEYS)
    # Ids above the attribution level are null by design: only the advertiser is always known.
    columns = {column: _column(column) for column in keys if column not in ID_COLUMNS}
    columns["advertiser_id"] = _column("advertiser_id")
    for column in ("campaign_id", "adgroup_id", "ad_id"):
        columns[column] = pa.Column(str, nullable=True)
    columns["attribution_level"] = pa.Column(str, pa.Check.isin([level.value for level in ATTRIBUTED_LEVELS]))
    columns.update({column: _column(column) for column in FIRST_PARTY_COLUMNS})
    level_ids = pa.Check(
        lambda frame: (frame["ad_id"].notna() == (frame["attribution_level"] == "ad"))
        & (frame["campaign_id"].notna() == frame["attribution_level"].isin(["ad", "campaign"])),
        name="ids_match_attribution_level",
        error="ad_id must be set exactly for ad-level rows, campaign_id exactly for ad- and campaign-level rows",
    )
    return pa.DataFrameSchema(columns, checks=[level_ids], unique=keys, strict=False, name=f"first_party_{grain}")


FIRST_PARTY_SCHEMAS: dict[str, pa.DataFrameSchema] = {grain: _first_party_schema(grain) for grain in GRAINS}

def report_schema(report: str, level: str = "campaign", *, by_day: bool = False) -> pa.DataFrameSchema:
    """Schema of ``overview_report``, ``channels_report`` or ``app_report`` output.

    ``level`` and ``by_day`` are the arguments the last two were built with.
    """
    if report == "overview":
        return _schema("overview_report", OVERVIEW_COLUMNS, unique=["advertiser_id", "stat_date", CURRENCY],
                       optional=[*FIRST_PARTY_COLUMNS, *FIRST_PARTY_METRIC_COLUMNS])
    if report not in ("channels", "app"):
        raise ValueError(f"report must be 'overview', 'channels' or 'app', got {report!r}")
    time = ["stat_date"] if by_day else ["period_start", "period_end"]
    keys = [*LEVEL_KEYS[level], CURRENCY, *(time if by_day else [])]
    measures = CHANNELS_MEASURES if report == "channels" else APP_MEASURES
    return _schema(f"{report}_report_{level}", [*keys, *LEVEL_NAMES[level], *time, *measures], unique=keys,
                   optional=[*FIRST_PARTY_COLUMNS, *FIRST_PARTY_METRIC_COLUMNS])


def validate(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> tuple[bool, pd.DataFrame]:
    """(True, empty frame) when ``frame`` conforms, else (False, pandera's failure cases: one row per problem)."""
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        return False, errors.failure_cases
    return True, NO_FAILURES.copy()


def validate_metrics(frame: pd.DataFrame, level: str, grain: str) -> tuple[bool, pd.DataFrame]:
    """Hard checks of a :func:`metrics_at_level` table (ERROR severity)."""
    return validate(METRICS_SCHEMAS[(level, grain)], frame)


def validate_metrics_plausibility(frame: pd.DataFrame) -> tuple[bool, pd.DataFrame]:
    """Soft checks of a metrics table (WARN severity): more installs than clicks."""
    return validate(METRICS_PLAUSIBILITY_SCHEMA, frame)


def validate_first_party(frame: pd.DataFrame, grain: str = "daily") -> tuple[bool, pd.DataFrame]:
    """Checks of :func:`attribute_first_party` output."""
    return validate(FIRST_PARTY_SCHEMAS[grain], frame)


def validate_report(frame: pd.DataFrame, report: str, level: str = "campaign", *, by_day: bool = False
                    ) -> tuple[bool, pd.DataFrame]:
    """Checks of a report builder's output."""
    return validate(report_schema(report, level, by_day=by_day), frame)
