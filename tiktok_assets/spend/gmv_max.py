"""GMV Max (TikTok Shop) campaigns' daily cost, revenue and ROI (no Dagster import).

GMV Max campaigns sell a TikTok Shop's products (PRODUCT) or LIVE rooms (LIVE) and are reported by their own
endpoint, ``/gmv_max/report/get/`` (TikTok docs "Run a GMV Max Campaign report", Doc ID 1824721673497601;
tiktok_assets_tests/contract/FACTS.md section 14), not by ``/report/integrated/get/``:

* one shop a request (``store_ids`` takes one), listed by ``/gmv_max/store/list/``, only the shops with
  ``is_gmv_max_available`` true;
* ``filtering`` is a JSON object; one request per promotion type, as Airbyte's connector does
  (``gmv_max_product_campaign_reports_daily`` / ``..._live_...``), with ``campaign_statuses`` STATUS_ALL so
  deleted campaigns keep their days (TikTok: "By default, the response only includes undeleted campaigns");
* daily rows by ``["campaign_id", "stat_time_day"]``, 30 days a request, dated in the account's zone;
* metrics ``cost`` (the campaign's spend), ``net_cost``, ``gross_revenue``, ``orders``, ``roi``; every value a
  string, ``"-"`` empty (Airbyte's recorded row has ``"orders": "-"``): an empty order count stays NULL.

There are no impressions or clicks here: a GMV Max campaign's spend has no CPC, CTR or CPM of its own, and the
blended metrics (``metrics.commerce``) keep it out of those ratios.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd
import pandera.pandas as pa

from tiktok_assets.spend.pull import AdvertiserProfile, contiguous_ranges
from tiktok_assets.tiktok.client import TikTokClient
from tiktok_assets.tiktok.reports import ABSURD_METRIC_VALUE, ReportParseError, parse_report_rows

PROMOTION_TYPES = ("PRODUCT", "LIVE")
GMV_MAX_REPORT_METRICS = ("cost", "net_cost", "orders", "gross_revenue", "roi")
GMV_MAX_COLUMNS = ["advertiser_id", "stat_date", "campaign_id", "store_id", "promotion_type", "currency", "cost",
                   "net_cost", "gross_revenue", "orders", "roi"]


def available_stores(client: TikTokClient, advertiser_id: str) -> list[str]:
    """The advertiser's shops TikTok lets GMV Max report on (``is_gmv_max_available`` true), in listed order."""
    return [str(row["store_id"]) for row in client.gmv_max_stores(advertiser_id)
            if row.get("is_gmv_max_available") is True and row.get("store_id") is not None]


def parse_gmv_max_rows(rows: Sequence[dict], advertiser: AdvertiserProfile, store_id: str, promotion_type: str
                       ) -> pd.DataFrame:
    """``/gmv_max/report/get/`` rows (``campaign_id``, ``stat_time_day``) -> :data:`GMV_MAX_COLUMNS`."""
    parsed = parse_report_rows(rows, id_dimension="campaign_id", time_dimension="stat_time_day",
                               metrics=GMV_MAX_REPORT_METRICS, advertiser_id=advertiser.advertiser_id)
    for name in GMV_MAX_REPORT_METRICS:
        values = parsed[name].to_numpy(dtype="float64")
        if (values < 0).any():
            raise ReportParseError(f"Advertiser {advertiser.advertiser_id}: GMV Max report metric {name!r} is "
                                   f"negative ({values[values < 0][0]}) for store {store_id}: TikTok never serves it")
    if parsed["cost"].isna().any():
        raise ReportParseError(f"Advertiser {advertiser.advertiser_id}: a GMV Max row of store {store_id} has an "
                               "empty cost; re-pull the day")
    orders = parsed["orders"].to_numpy(dtype="float64")
    whole = orders[~np.isnan(orders)]
    if (whole != np.floor(whole)).any():
        raise ReportParseError(f"Advertiser {advertiser.advertiser_id}: GMV Max orders must be whole numbers")
    return pd.DataFrame({
        "advertiser_id": advertiser.advertiser_id,
        "stat_date": parsed["stat_time"].dt.date,
        "campaign_id": parsed["campaign_id"],
        "store_id": store_id,
        "promotion_type": promotion_type,
        "currency": advertiser.currency,
        # Money "-" is no money: 0 (cost is checked non-empty above).
        "cost": parsed["cost"].astype(float),
        "net_cost": parsed["net_cost"].fillna(0.0).astype(float),
        "gross_revenue": parsed["gross_revenue"].fillna(0.0).astype(float),
        # An empty order count is unknown, not zero: NULL (nullable integer).
        "orders": pd.array(np.where(np.isnan(orders), np.nan, orders), dtype="Float64").astype("Int64"),
        "roi": parsed["roi"].astype(float),
    }, columns=GMV_MAX_COLUMNS)


def fetch_gmv_max_daily(client: TikTokClient, advertiser: AdvertiserProfile, dates: Sequence[date]
                        ) -> dict[date, pd.DataFrame]:
    """Every available shop's GMV Max rows for each requested date (:data:`GMV_MAX_COLUMNS`; empty where none).

    An advertiser without a GMV Max shop has empty days: its partitions are written, with no rows.
    """
    frames = [parse_gmv_max_rows(client.gmv_max_report(advertiser.advertiser_id, store_id, start=start, end=end,
                                                       metrics=GMV_MAX_REPORT_METRICS,
                                                       promotion_types=[promotion_type]),
                                 advertiser, store_id, promotion_type)
              for store_id in available_stores(client, advertiser.advertiser_id)
              for promotion_type in PROMOTION_TYPES
              for start, end in contiguous_ranges(dates)]
    frames = [frame for frame in frames if not frame.empty]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=GMV_MAX_COLUMNS)
    grouped = {day: part.reset_index(drop=True) for day, part in frame.groupby("stat_date", sort=False)}
    empty = frame.iloc[0:0]
    return {day: grouped.get(day, empty) for day in sorted(set(dates))}


_PLAUSIBLE = [pa.Check.ge(0), pa.Check.lt(ABSURD_METRIC_VALUE)]

gmv_max_stats_daily_schema = pa.DataFrameSchema(
    {
        "advertiser_id": pa.Column(str, nullable=False),
        "campaign_id": pa.Column(str, nullable=False),
        "store_id": pa.Column(str, nullable=False),
        "promotion_type": pa.Column(str, pa.Check.isin(PROMOTION_TYPES)),
        "currency": pa.Column(str, pa.Check.str_matches(r"^[A-Z]{3}$")),
        "stat_date": pa.Column(object),
        "cost": pa.Column(float, _PLAUSIBLE),
        "net_cost": pa.Column(float, _PLAUSIBLE),
        "gross_revenue": pa.Column(float, _PLAUSIBLE),
        "orders": pa.Column("Int64", _PLAUSIBLE, nullable=True),
        "roi": pa.Column(float, [pa.Check.ge(0)], nullable=True),
    },
    checks=[pa.Check(lambda frame: frame["net_cost"] <= frame["cost"] + 1e-6, name="net_cost_within_cost",
                     error="net_cost exceeds cost")],
    unique=["advertiser_id", "campaign_id", "stat_date"],
    strict=False,
    coerce=True,
    name="gmv_max_stats_daily",
)


def gmv_max_schema_failures(frame: pd.DataFrame) -> pd.DataFrame:
    """pandera's failure cases for a GMV Max frame (empty when it conforms)."""
    if frame.empty:
        return pd.DataFrame()
    try:
        gmv_max_stats_daily_schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        return errors.failure_cases
    return pd.DataFrame()
