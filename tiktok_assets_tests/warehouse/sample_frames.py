"""Small hand-made stats frames for the warehouse tests."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd

ADVERTISER = "7000000000000000001"
OTHER_ADVERTISER = "7000000000000000002"
DAY = date(2026, 11, 20)
PULLED = datetime(2026, 11, 21, 6, 0)


def daily_frame(rows: list[dict], advertiser_id: str = ADVERTISER, stat_date: date = DAY) -> pd.DataFrame:
    """Daily rows; each dict needs ad_id and may override any metric (default 0, reach NaN)."""
    base = {
        "advertiser_id": advertiser_id,
        "stat_date": stat_date,
        "campaign_id": "1800000000000000001",
        "adgroup_id": "1810000000000000001",
        "currency": "USD",
        "spend": 0.0,
        "impressions": 0,
        "clicks": 0,
        "conversions": 0,
        "installs": 0,
        "purchases": 0,
        "purchase_value": 0.0,
        "app_purchases": 0,
        "app_purchase_value": 0.0,
        "reach": np.nan,
    }
    return pd.DataFrame([{**base, **row} for row in rows],
                        columns=["advertiser_id", "ad_id", *[name for name in base if name != "advertiser_id"]])


def hourly_frame(rows: list[dict], advertiser_id: str = ADVERTISER, stat_date: date = DAY,
                 utc_offset_hours: int = -8) -> pd.DataFrame:
    """Hourly rows; each dict needs ad_id and hour (local 0-23); stat_hour_utc = local - offset."""
    records = []
    for row in rows:
        local = datetime(stat_date.year, stat_date.month, stat_date.day, row["hour"])
        record = {
            "advertiser_id": advertiser_id,
            "ad_id": row["ad_id"],
            "stat_hour_utc": pd.Timestamp(local) - pd.Timedelta(hours=utc_offset_hours),
            "stat_hour_local": pd.Timestamp(local),
            "stat_date": stat_date,
            "campaign_id": "1800000000000000001",
            "adgroup_id": "1810000000000000001",
            "currency": "USD",
            "spend": 0.0,
            "impressions": 0,
            "clicks": 0,
            "conversions": 0,
            "installs": 0,
            "purchases": 0,
            "purchase_value": 0.0,
            "app_purchases": 0,
            "app_purchase_value": 0.0,
            "spread": False,
        }
        record.update({key: value for key, value in row.items() if key != "hour"})
        records.append(record)
    return pd.DataFrame(records)


THREE_ADS = [
    {"ad_id": "1", "spend": 10.25, "impressions": 1000, "clicks": 20, "conversions": 2, "purchases": 1,
     "purchase_value": 49.99, "reach": 800},
    {"ad_id": "2", "spend": 3.10, "impressions": 400, "clicks": 5, "conversions": 0, "reach": 390},
    {"ad_id": "3", "spend": 0.65, "impressions": 90, "clicks": 1, "conversions": 1, "installs": 1, "purchases": 1,
     "purchase_value": 5.00},
]
