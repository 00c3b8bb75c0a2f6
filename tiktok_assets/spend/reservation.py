"""Spend the ad-level import does not cover: reservation buying (no Dagster import).

Reach & Frequency and TopView campaigns are bought by reservation. TikTok's
``service_type=RESERVATION`` reports and ``RESERVATION_*`` data levels that
once served them are deprecated, and their ads are not in the AUCTION_AD
rows we import (our assumption, UNCONFIRMED); but the advertiser-level report
(``AUCTION_ADVERTISER``) counts "data of both auction and reservation ads of
the account" (TikTok's report/integrated/get doc text, tiktok_assets_tests/contract/FACTS.md
section 6).
So per advertiser and day: advertiser-level spend minus the spend we stored
from ad rows is the spend we do not import. A gap of at least one minor unit
of the advertiser's currency is reported with the reservation campaigns
listed by ``/campaign/get/`` with ``buying_types`` (TopView only on its own,
as TikTok requires).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import numpy as np
import pandas as pd

from tiktok_assets.spend.pull import currency_decimals
from tiktok_assets.tiktok.client import TikTokClient
from tiktok_assets.tiktok.reports import parse_report_rows
from tiktok_assets.warehouse import query_frame

# Asked one at a time: TikTok refuses RESERVATION_TOP_VIEW combined with another buying type.
RESERVATION_BUYING_TYPES = ("RESERVATION_RF", "RESERVATION_TOP_VIEW")
GAP_COLUMNS = ["advertiser_id", "stat_date", "currency", "advertiser_spend", "imported_spend", "gap"]


def advertiser_daily_spend(client: TikTokClient, advertiser_id: str, start: date, end: date) -> pd.DataFrame:
    """``advertiser_id, stat_date, advertiser_spend``: TikTok's advertiser-level daily spend (auction and reservation)."""
    rows = client.report(advertiser_id, start=start, end=end, metrics=["spend"], data_level="AUCTION_ADVERTISER",
                         granularity="day")
    frame = parse_report_rows(rows, id_dimension="advertiser_id", time_dimension="stat_time_day", metrics=["spend"],
                              advertiser_id=advertiser_id)
    return pd.DataFrame({"advertiser_id": advertiser_id, "stat_date": frame["stat_time"].dt.date,
                         "advertiser_spend": frame["spend"]})


def imported_daily_spend(engine, since: date, until: date) -> pd.DataFrame:  # noqa: ANN001
    """``advertiser_id, stat_date, imported_spend`` of every ad_stats_daily partition pulled in [since, until]
    (0 where a pulled day holds no rows)."""
    pulled = query_frame(engine, "select distinct advertiser_id, stat_date from partition_pulls "
                                 "where table_name = 'ad_stats_daily' and stat_date between :since and :until",
                         since=since, until=until)
    sums = query_frame(engine, "select advertiser_id, stat_date, sum(spend) as imported_spend from ad_stats_daily "
                               "where stat_date between :since and :until group by advertiser_id, stat_date",
                       since=since, until=until)
    for frame in (pulled, sums):
        if not frame.empty:
            frame["stat_date"] = pd.to_datetime(frame["stat_date"]).dt.date
    if pulled.empty:
        return pd.DataFrame(columns=["advertiser_id", "stat_date", "imported_spend"])
    joined = pulled.merge(sums, on=["advertiser_id", "stat_date"], how="left") if not sums.empty else pulled
    joined["imported_spend"] = pd.to_numeric(joined.get("imported_spend"), errors="coerce").fillna(0.0).astype(float)
    return joined[["advertiser_id", "stat_date", "imported_spend"]]


def spend_gaps(advertiser_spend: pd.DataFrame, imported: pd.DataFrame, currencies: Mapping[str, str]) -> pd.DataFrame:
    """Advertiser-days whose advertiser-level spend exceeds the imported spend by at least one minor unit.

    Only days we imported count; a day TikTok serves no advertiser row for has
    advertiser spend 0.
    """
    if imported.empty:
        return pd.DataFrame(columns=GAP_COLUMNS)
    totals = advertiser_spend.groupby(["advertiser_id", "stat_date"], as_index=False)["advertiser_spend"].sum()
    joined = imported.merge(totals, on=["advertiser_id", "stat_date"], how="left")
    joined["advertiser_spend"] = joined["advertiser_spend"].fillna(0.0).astype(float)
    joined["currency"] = joined["advertiser_id"].map(currencies)
    decimals = np.array([currency_decimals(currency) if isinstance(currency, str) else 2
                         for currency in joined["currency"]])
    joined["gap"] = joined["advertiser_spend"] - joined["imported_spend"]
    # Rounded to the currency's minor unit first: float sums of many rows are off by fractions of a cent.
    rounded = np.round(joined["gap"].to_numpy() * 10.0**decimals) / 10.0**decimals
    joined["gap"] = rounded
    off = rounded >= 10.0 ** -decimals
    return joined.loc[off, GAP_COLUMNS].sort_values(["advertiser_id", "stat_date"]).reset_index(drop=True)


def reservation_campaigns(client: TikTokClient, advertiser_id: str) -> list[dict[str, str]]:
    """The advertiser's reservation campaigns (``campaign_id``, ``campaign_name``, ``buying_type``), deleted ones too."""
    found: dict[str, dict[str, str]] = {}
    for buying_type in RESERVATION_BUYING_TYPES:
        for row in client.campaigns(advertiser_id, buying_types=[buying_type]):
            campaign_id = str(row["campaign_id"])
            found.setdefault(campaign_id, {"campaign_id": campaign_id, "campaign_name": str(row.get("campaign_name") or ""),
                                           "buying_type": buying_type})
    return sorted(found.values(), key=lambda campaign: campaign["campaign_id"])
