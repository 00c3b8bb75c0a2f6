"""pandera schemas of the ad-level stats frames written to the warehouse."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from tiktok_assets.tiktok.reports import ABSURD_METRIC_VALUE

# Non-negative and below the parser's bound: an inf or 1e308 that slipped past parsing (a spread, a
# hand-built frame) fails here too, instead of summing to nonsense with the check green.
_PLAUSIBLE = [pa.Check.ge(0), pa.Check.lt(ABSURD_METRIC_VALUE)]


def _stats_columns() -> dict[str, pa.Column]:
    return {
        "advertiser_id": pa.Column(str, nullable=False),
        "ad_id": pa.Column(str, nullable=False),
        "campaign_id": pa.Column(str, nullable=True),
        "adgroup_id": pa.Column(str, nullable=True),
        "currency": pa.Column(str, pa.Check.str_matches(r"^[A-Z]{3}$"), nullable=False),
        "spend": pa.Column(float, _PLAUSIBLE),
        "impressions": pa.Column(int, _PLAUSIBLE),
        "clicks": pa.Column(int, _PLAUSIBLE),
        "conversions": pa.Column(int, _PLAUSIBLE),
        "installs": pa.Column(int, _PLAUSIBLE),
        "purchases": pa.Column(int, _PLAUSIBLE),
        "purchase_value": pa.Column(float, _PLAUSIBLE),
        "app_purchases": pa.Column(int, _PLAUSIBLE),
        "app_purchase_value": pa.Column(float, _PLAUSIBLE),
    }


_clicks_within_impressions = pa.Check(
    lambda frame: frame["clicks"] <= frame["impressions"], name="clicks_within_impressions",
    error="clicks exceed impressions",
)

ad_stats_daily_schema = pa.DataFrameSchema(
    {**_stats_columns(), "stat_date": pa.Column(object), "reach": pa.Column(float, _PLAUSIBLE, nullable=True)},
    checks=[_clicks_within_impressions],
    unique=["advertiser_id", "ad_id", "stat_date"],
    strict=False,
    coerce=True,
    name="ad_stats_daily",
)

ad_stats_hourly_schema = pa.DataFrameSchema(
    {
        **_stats_columns(),
        "stat_date": pa.Column(object),
        "stat_hour_utc": pa.Column("datetime64[ns]"),
        "stat_hour_local": pa.Column("datetime64[ns]"),
        "spread": pa.Column(bool),
    },
    checks=[_clicks_within_impressions],
    unique=["advertiser_id", "ad_id", "stat_hour_utc"],
    strict=False,
    coerce=True,
    name="ad_stats_hourly",
)

SCHEMAS = {"ad_stats_daily": ad_stats_daily_schema, "ad_stats_hourly": ad_stats_hourly_schema}


def schema_failures(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """pandera's failure cases for ``frame`` (empty when it conforms)."""
    if frame.empty:
        return pd.DataFrame()
    try:
        SCHEMAS[table].validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        return errors.failure_cases
    return pd.DataFrame()
