"""GMV Max spend in an advertiser's day: counted in spend and ROAS, kept out of CPC / CTR / CPM.

Expected values are worked out by hand below from the inputs, never from the code under test.
"""

from __future__ import annotations

from datetime import date

import math

import pandas as pd
import pytest

from tiktok_assets.metrics.commerce import COMMERCE_COLUMNS, commerce_daily

DAY = date(2026, 11, 17)


def _campaigns(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame([{"advertiser_id": "7", "campaign_id": campaign, "stat_date": DAY, "currency": "USD",
                          "spend": spend, "impressions": impressions, "clicks": clicks, "tiktok_revenue": revenue,
                          "first_party_revenue": first_party}
                         for campaign, spend, impressions, clicks, revenue, first_party in rows])


def _gmv(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame([{"advertiser_id": "7", "stat_date": DAY, "campaign_id": campaign, "store_id": "s",
                          "promotion_type": "PRODUCT", "currency": "USD", "cost": cost, "net_cost": cost,
                          "gross_revenue": revenue, "orders": orders, "roi": revenue / cost}
                         for campaign, cost, revenue, orders in rows])


def test_gmv_max_spend_counts_in_spend_and_roas_but_not_in_cpc_ctr_cpm() -> None:
    # An ad campaign: 100.00 spent for 20,000 impressions and 400 clicks, 250.00 attributed; 90.00 first-party.
    # A GMV Max campaign: 50.00 cost, 300.00 gross revenue, 12 orders (no impressions, no clicks).
    (row,) = commerce_daily(_campaigns(("c1", 100.0, 20_000, 400, 250.0, 90.0)),
                            _gmv(("g1", 50.0, 300.0, 12))).to_dict("records")
    assert row["spend"] == pytest.approx(150.0)
    assert row["delivery_spend"] == pytest.approx(100.0) and row["undelivered_spend"] == pytest.approx(50.0)
    assert row["cpc"] == pytest.approx(100.0 / 400)  # 0.25, not 150 / 400 = 0.375
    assert row["cpm"] == pytest.approx(100.0 / 20_000 * 1000)  # 5.00, not 7.50
    assert row["ctr"] == pytest.approx(400 / 20_000)
    assert row["tiktok_revenue"] == pytest.approx(550.0)
    assert row["tiktok_roas"] == pytest.approx(550.0 / 150.0)
    # First-party orders come from the merchant's store, which GMV Max (TikTok Shop) spend cannot bring.
    assert row["first_party_roas"] == pytest.approx(90.0 / 100.0)
    assert (row["gmv_max_cost"], row["gmv_max_gross_revenue"], row["gmv_max_orders"]) == (50.0, 300.0, 12)
    assert row["gmv_max_roi"] == pytest.approx(6.0)


def test_an_ad_campaign_day_with_spend_but_no_delivery_leaves_cpc_and_cpm_too() -> None:
    frame = commerce_daily(_campaigns(("c1", 80.0, 10_000, 200, 0.0, 0.0), ("c2", 20.0, 0, 0, 0.0, 0.0)),
                           pd.DataFrame())
    (row,) = frame.to_dict("records")
    assert row["spend"] == pytest.approx(100.0) and row["undelivered_spend"] == pytest.approx(20.0)
    assert row["cpc"] == pytest.approx(80.0 / 200) and row["cpm"] == pytest.approx(8.0)
    assert row["gmv_max_roi"] is None or math.isnan(row["gmv_max_roi"])


def test_a_day_with_only_gmv_max_has_spend_and_roi_and_null_delivery_ratios() -> None:
    (row,) = commerce_daily(pd.DataFrame(), _gmv(("g1", 40.0, 100.0, 3), ("g2", 10.0, 0.0, 0))).to_dict("records")
    assert row["spend"] == pytest.approx(50.0) and row["delivery_spend"] == pytest.approx(0.0)
    for name in ("ctr", "cpc", "cpm", "first_party_roas"):
        assert math.isnan(row[name]), name  # zero denominators: null, never 0 or infinity
    assert row["gmv_max_roi"] == pytest.approx(100.0 / 50.0)  # ratio of sums, not the mean of 2.5 and 0
    assert row["tiktok_roas"] == pytest.approx(2.0)


def test_currencies_and_days_are_never_mixed() -> None:
    campaigns = pd.concat([_campaigns(("c1", 10.0, 1000, 10, 0.0, 0.0)),
                           _campaigns(("c2", 1000.0, 1000, 10, 0.0, 0.0)).assign(currency="JPY")])
    frame = commerce_daily(campaigns, _gmv(("g1", 5.0, 10.0, 1)))
    assert list(frame.columns) == COMMERCE_COLUMNS
    assert sorted(zip(frame["currency"], frame["spend"], strict=True)) == [("JPY", 1000.0), ("USD", 15.0)]
    assert commerce_daily(pd.DataFrame(), pd.DataFrame()).empty
