"""An advertiser's day with every buying kind: ad-attributed campaigns plus GMV Max (no Dagster import).

GMV Max (TikTok Shop) campaigns have spend (``cost``) and revenue (``gross_revenue``) but no impressions or
clicks in the integrated report's sense (``spend.gmv_max``). Adding their spend to an advertiser's spend and
then dividing by its clicks would make CPC and CPM look worse by exactly the GMV Max budget, and nothing about
the clicks would have changed. So, per advertiser, local day and currency:

* **spend counts everything**: the ad rows' spend (``campaign_metrics_daily``) plus GMV Max cost;
* **a campaign-day with spend but neither impressions nor clicks is kept out of CPC, CTR and CPM**: its spend
  is ``undelivered_spend`` and leaves the numerators of CPC and CPM (its zero impressions and clicks were never
  in the denominators), so ``cpc = delivery_spend / clicks``, ``cpm = delivery_spend / impressions × 1000``,
  ``ctr = clicks / impressions``, with ``delivery_spend = spend − undelivered_spend``. Every GMV Max row is such
  a campaign-day; an ad campaign can be one too (spend billed on a day TikTok served no impression row for);
* **ROAS uses each campaign's own revenue**: ``tiktok_revenue`` is TikTok-attributed revenue, the ad campaigns'
  (web or in-app purchase value by campaign type, ``metrics.revenue``) plus GMV Max gross revenue, over all
  spend: ``tiktok_roas = tiktok_revenue / spend``;
* **first-party revenue stays apart**: orders of the merchant's own store matched to ads
  (``metrics.attribution``). GMV Max sells on TikTok Shop, so its spend can never bring such an order:
  ``first_party_roas = first_party_revenue / (spend − gmv_max_cost)``;
* GMV Max's own figures are kept too: ``gmv_max_cost``, ``gmv_max_gross_revenue``, ``gmv_max_orders`` and
  ``gmv_max_roi = gmv_max_gross_revenue / gmv_max_cost`` (TikTok's roi, as a ratio of sums).

Every ratio is a ratio of sums with a null on a zero denominator (``derive.safe_ratio``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tiktok_assets.metrics.derive import safe_ratio

KEYS = ["advertiser_id", "stat_date", "currency"]
BASE_COLUMNS = ["spend", "delivery_spend", "undelivered_spend", "gmv_max_cost", "impressions", "clicks",
                "tiktok_revenue", "gmv_max_gross_revenue", "gmv_max_orders", "first_party_revenue"]
RATIO_COLUMNS = ["ctr", "cpc", "cpm", "tiktok_roas", "first_party_roas", "gmv_max_roi"]
COMMERCE_COLUMNS = [*KEYS, *BASE_COLUMNS, *RATIO_COLUMNS]


def _campaign_days(campaign_metrics: pd.DataFrame) -> pd.DataFrame:
    """The ad campaigns' days in the commerce bases (GMV Max columns 0)."""
    frame = campaign_metrics
    spend = pd.to_numeric(frame["spend"], errors="coerce").fillna(0.0).to_numpy(dtype=float)
    impressions = pd.to_numeric(frame["impressions"], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
    clicks = pd.to_numeric(frame["clicks"], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
    undelivered = np.where((spend > 0) & (impressions == 0) & (clicks == 0), spend, 0.0)
    first_party = (pd.to_numeric(frame["first_party_revenue"], errors="coerce").fillna(0.0).to_numpy(dtype=float)
                   if "first_party_revenue" in frame else np.zeros(len(frame)))
    return pd.DataFrame({
        "advertiser_id": frame["advertiser_id"].astype(str).to_numpy(), "stat_date": frame["stat_date"].to_numpy(),
        "currency": frame["currency"].astype(str).to_numpy(), "spend": spend, "undelivered_spend": undelivered,
        "gmv_max_cost": 0.0, "impressions": impressions, "clicks": clicks,
        "tiktok_revenue": pd.to_numeric(frame["tiktok_revenue"], errors="coerce").fillna(0.0).to_numpy(dtype=float),
        "gmv_max_gross_revenue": 0.0, "gmv_max_orders": 0, "first_party_revenue": first_party,
    })


def _gmv_max_days(gmv_max: pd.DataFrame) -> pd.DataFrame:
    """GMV Max campaign-days in the commerce bases: all their spend is undelivered (no impressions, no clicks)."""
    cost = pd.to_numeric(gmv_max["cost"], errors="coerce").fillna(0.0).to_numpy(dtype=float)
    revenue = pd.to_numeric(gmv_max["gross_revenue"], errors="coerce").fillna(0.0).to_numpy(dtype=float)
    return pd.DataFrame({
        "advertiser_id": gmv_max["advertiser_id"].astype(str).to_numpy(), "stat_date": gmv_max["stat_date"].to_numpy(),
        "currency": gmv_max["currency"].astype(str).to_numpy(), "spend": cost, "undelivered_spend": cost,
        "gmv_max_cost": cost, "impressions": 0, "clicks": 0, "tiktok_revenue": revenue,
        "gmv_max_gross_revenue": revenue,
        # TikTok's "-" orders (NULL) count as none in a sum: the revenue is what ROI uses.
        "gmv_max_orders": pd.to_numeric(gmv_max["orders"], errors="coerce").fillna(0).to_numpy(dtype=np.int64),
        "first_party_revenue": 0.0,
    })


def commerce_daily(campaign_metrics: pd.DataFrame, gmv_max: pd.DataFrame) -> pd.DataFrame:
    """:data:`COMMERCE_COLUMNS` per advertiser, local day and currency, from ``campaign_metrics_daily`` rows and
    ``gmv_max_stats_daily`` rows (either may be empty). Rows sorted by advertiser, day, currency."""
    parts = [part for part in (_campaign_days(campaign_metrics) if not campaign_metrics.empty else None,
                               _gmv_max_days(gmv_max) if not gmv_max.empty else None) if part is not None]
    if not parts:
        return pd.DataFrame(columns=COMMERCE_COLUMNS)
    days = pd.concat(parts, ignore_index=True)
    days["stat_date"] = pd.to_datetime(days["stat_date"]).dt.date
    summed = days.groupby(KEYS, as_index=False, sort=True).sum(numeric_only=True)
    # Money at the warehouse's 6 decimals: a difference of float sums is off by fractions of a micro-unit.
    for name in ("spend", "undelivered_spend", "gmv_max_cost", "tiktok_revenue", "gmv_max_gross_revenue",
                 "first_party_revenue"):
        summed[name] = summed[name].round(6)
    summed["delivery_spend"] = (summed["spend"] - summed["undelivered_spend"]).round(6)
    summed["ctr"] = safe_ratio(summed["clicks"], summed["impressions"])
    summed["cpc"] = safe_ratio(summed["delivery_spend"], summed["clicks"])
    summed["cpm"] = safe_ratio(summed["delivery_spend"], summed["impressions"], 1000.0)
    summed["tiktok_roas"] = safe_ratio(summed["tiktok_revenue"], summed["spend"])
    summed["first_party_roas"] = safe_ratio(summed["first_party_revenue"], summed["spend"] - summed["gmv_max_cost"])
    summed["gmv_max_roi"] = safe_ratio(summed["gmv_max_gross_revenue"], summed["gmv_max_cost"])
    for name in ("impressions", "clicks", "gmv_max_orders"):
        summed[name] = summed[name].astype(np.int64)
    return summed[COMMERCE_COLUMNS].reset_index(drop=True)
