"""pandera schema of the audience breakdown rows a pull hands to the warehouse (no Dagster import)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pandera.pandas as pa

from tiktok_assets.audience.breakdowns import LEVELS
from tiktok_assets.tiktok.reports import ABSURD_METRIC_VALUE

_PLAUSIBLE = [pa.Check.ge(0), pa.Check.lt(ABSURD_METRIC_VALUE)]

audience_rows_schema = pa.DataFrameSchema(
    {
        "level": pa.Column(str, pa.Check.isin(LEVELS)),
        "entity_id": pa.Column(str, pa.Check.str_length(min_value=1)),
        "breakdown_value": pa.Column(str, pa.Check.str_length(min_value=1, max_value=64)),
        "breakdown_value_2": pa.Column(str, pa.Check.str_length(max_value=64)),
        "currency": pa.Column(str, pa.Check.str_matches(r"^[A-Z]{3}$")),
        "spend": pa.Column(float, _PLAUSIBLE),
        "impressions": pa.Column(int, _PLAUSIBLE),
        "clicks": pa.Column(int, _PLAUSIBLE),
        "conversions": pa.Column(int, _PLAUSIBLE),
    },
    checks=[pa.Check(lambda frame: frame["clicks"] <= frame["impressions"], name="clicks_within_impressions",
                     error="clicks exceed impressions")],
    unique=["level", "entity_id", "breakdown_value", "breakdown_value_2"],
    strict=False,
    coerce=True,
    name="audience_breakdown_rows",
)


def audience_schema_failures(advertiser_id: str, frames: dict[date, pd.DataFrame]) -> pd.DataFrame:
    """pandera's failure cases of each partition's rows, labelled with the partition ``date|advertiser``."""
    found = []
    for day, frame in sorted(frames.items()):
        if frame.empty:
            continue
        try:
            audience_rows_schema.validate(frame, lazy=True)
        except pa.errors.SchemaErrors as errors:
            found.append(errors.failure_cases.assign(partition=f"{day}|{advertiser_id}"))
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame()
