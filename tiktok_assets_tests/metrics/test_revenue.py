"""TikTok-attributed revenue per campaign type (issue 14, defect 4): app campaigns' ROAS is their in-app value / spend.

Every expected figure is worked out here from the rows below, by hand.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from tiktok_assets.metrics.derive import aggregate, with_metrics
from tiktok_assets.metrics.render import app_report, channels_report
from tiktok_assets.metrics.revenue import APP, UNKNOWN, WEB, campaign_kind
from tiktok_assets.metrics.rollup import metrics_at_level, metrics_for_levels
from tiktok_assets.metrics.schemas import validate_metrics

DAY = date(2026, 11, 20)


def _stat(ad_id: str, campaign_id: str, **values: object) -> dict[str, object]:
    base = {"advertiser_id": "A", "campaign_id": campaign_id, "adgroup_id": f"{campaign_id}-g", "ad_id": ad_id,
            "currency": "USD", "stat_date": DAY, "stat_hour_utc": pd.Timestamp("2026-11-20 17:00"),
            "stat_hour_local": pd.Timestamp("2026-11-20 09:00"), "spend": 0.0, "impressions": 1000, "clicks": 20,
            "conversions": 0, "installs": 0, "purchases": 0, "purchase_value": 0.0, "app_purchases": 0,
            "app_purchase_value": 0.0, "spread": False}
    return {**base, **values}


# An app campaign (API v1.3's APP_PROMOTION) whose ads earn in-app purchases and no web ones...
APP_ADS = [_stat("a1", "APP", spend=40.0, installs=12, app_purchases=3, app_purchase_value=100.0),
           _stat("a2", "APP", spend=10.0, installs=2, app_purchases=1, app_purchase_value=20.0)]
# ... a web campaign, whose stray in-app value is not its revenue ...
WEB_ADS = [_stat("w1", "WEB", spend=50.0, purchases=5, purchase_value=75.0, app_purchases=1, app_purchase_value=10.0)]
# ... a campaign created under the older app-install objective, and one nobody has snapshotted.
LEGACY_ADS = [_stat("l1", "LEGACY", spend=8.0, app_purchases=2, app_purchase_value=16.0)]
UNKNOWN_ADS = [_stat("u1", "NEW", spend=20.0, purchases=1, purchase_value=5.0, app_purchases=1, app_purchase_value=15.0)]
STATS = pd.DataFrame([*APP_ADS, *WEB_ADS, *LEGACY_ADS, *UNKNOWN_ADS])
CAMPAIGNS = pd.DataFrame({
    "campaign_id": ["APP", "WEB", "LEGACY"], "advertiser_id": ["A"] * 3,
    "campaign_name": ["Game installs", "Shop sales", "Old installs"],
    "objective_type": ["APP_PROMOTION", "WEB_CONVERSIONS", "APP_INSTALL"],
    "valid_from": pd.to_datetime(["2026-11-01"] * 3), "valid_to": [None] * 3,
})
HISTORY = {"campaign_history": CAMPAIGNS}


@pytest.mark.parametrize("grain", ["daily", "hourly"])
def test_an_app_campaigns_roas_is_its_in_app_value_over_spend(grain: str) -> None:
    campaigns = metrics_at_level(STATS, "campaign", grain, HISTORY).set_index("campaign_id")
    app = campaigns.loc["APP"]
    # In-app: 100 + 20 = 120 over spend 40 + 10 = 50.
    assert app["tiktok_revenue"] == pytest.approx(120.0) and app["tiktok_purchases"] == 4
    assert app["roas"] == pytest.approx(120.0 / 50.0)
    # Web: Complete Payment value 75 over 50; its 10 of in-app value stays in app_purchase_value only.
    web = campaigns.loc["WEB"]
    assert (web["tiktok_revenue"], web["tiktok_purchases"]) == (pytest.approx(75.0), 5)
    assert web["roas"] == pytest.approx(75.0 / 50.0) and web["app_purchase_value"] == pytest.approx(10.0)
    # APP_INSTALL (pre-APP_PROMOTION objective) is an app campaign too: 16 / 8.
    assert campaigns.loc["LEGACY", "roas"] == pytest.approx(16.0 / 8.0)
    # No history for NEW: web 5 plus in-app 15 (different events, so nothing counted twice) over 20.
    assert campaigns.loc["NEW", "tiktok_revenue"] == pytest.approx(20.0)
    assert campaigns.loc["NEW", "roas"] == pytest.approx(20.0 / 20.0)
    # The web and in-app columns themselves are plain sums, kept apart.
    assert (app["purchase_value"], app["app_purchase_value"]) == (0.0, pytest.approx(120.0))
    assert validate_metrics(campaigns.reset_index(), "campaign", grain)[0]


def test_levels_above_mix_campaign_types_row_by_row() -> None:
    results = metrics_for_levels(STATS, ["ad", "advertiser"], ["daily"], HISTORY)
    ads = results[("ad", "daily")].set_index("ad_id")
    assert ads.loc["a1", "roas"] == pytest.approx(100.0 / 40.0) and ads.loc["w1", "roas"] == pytest.approx(75.0 / 50.0)
    advertiser = results[("advertiser", "daily")].iloc[0]
    # 120 (app) + 75 (web) + 16 (legacy app) + 20 (unknown: both) = 231 over 40 + 10 + 50 + 8 + 20 = 128.
    assert advertiser["tiktok_revenue"] == pytest.approx(231.0)
    assert advertiser["roas"] == pytest.approx(231.0 / 128.0)
    # Not the web-only figure the import used to give (75 + 5 = 80), nor both kinds everywhere (80 + 161 = 241).
    assert advertiser["purchase_value"] == pytest.approx(80.0) and advertiser["app_purchase_value"] == pytest.approx(161.0)


def test_first_party_revenue_stays_apart_from_tiktoks() -> None:
    first_party = pd.DataFrame({"advertiser_id": ["A"], "campaign_id": ["APP"], "adgroup_id": ["APP-g"],
                                "ad_id": ["a1"], "currency": ["USD"], "stat_date": [DAY],
                                "attribution_level": ["ad"], "first_party_orders": [2], "first_party_revenue": [90.0]})
    ad = metrics_at_level(STATS, "ad", "daily", HISTORY, first_party).set_index("ad_id").loc["a1"]
    assert (ad["tiktok_revenue"], ad["first_party_revenue"]) == (pytest.approx(100.0), pytest.approx(90.0))
    assert ad["tiktok_roas"] == pytest.approx(100.0 / 40.0) and ad["first_party_roas"] == pytest.approx(90.0 / 40.0)
    assert ad["revenue_discrepancy"] == pytest.approx((100.0 - 90.0) / 90.0)


def test_reports_show_the_attributed_revenue_beside_both_kinds() -> None:
    channels = channels_report(STATS, "campaign", HISTORY).set_index("campaign_id")
    assert channels.loc["APP", "roas"] == pytest.approx(120.0 / 50.0)
    assert list(channels.loc["WEB", ["tiktok_revenue", "purchase_value", "app_purchase_value"]]) == [75.0, 75.0, 10.0]
    apps = app_report(STATS, "campaign", HISTORY).set_index("campaign_id")
    assert (apps.loc["APP", "installs"], apps.loc["APP", "app_purchase_value"]) == (14, pytest.approx(120.0))
    assert apps.loc["APP", "roas"] == pytest.approx(120.0 / 50.0)


def test_without_campaign_types_aggregate_takes_both_kinds() -> None:
    # Plain stats, no history: every campaign's type is unknown.
    total = with_metrics(aggregate(STATS, by=[])).iloc[0]
    assert total["tiktok_revenue"] == pytest.approx(80.0 + 161.0)
    assert total["roas"] == pytest.approx(241.0 / 128.0)
    with pytest.raises(Exception, match="app_purchase_value"):
        aggregate(STATS.drop(columns="app_purchase_value"), by=["campaign_id"])


@pytest.mark.parametrize(("objective", "kind"), [
    ("APP_PROMOTION", APP), ("APP_INSTALL", APP), ("app_promotion", APP),
    ("WEB_CONVERSIONS", WEB), ("PRODUCT_SALES", WEB), ("REACH", WEB), ("RF_REACH", WEB),
    # The deprecated CONVERSIONS objective was "website or app": both kinds, as for an unknown campaign.
    ("CONVERSIONS", UNKNOWN), (None, UNKNOWN), ("", UNKNOWN), (np.nan, UNKNOWN),
])
def test_campaign_kind_by_objective(objective: object, kind: int) -> None:
    assert campaign_kind(objective) == kind


def test_the_schema_refuses_attributed_revenue_above_both_kinds() -> None:
    campaigns = metrics_at_level(STATS, "campaign", "daily", HISTORY)
    assert validate_metrics(campaigns, "campaign", "daily")[0]
    inflated = campaigns.assign(tiktok_revenue=campaigns["purchase_value"] + campaigns["app_purchase_value"] + 1.0)
    ok, failures = validate_metrics(inflated, "campaign", "daily")
    assert not ok and any("exceed the web plus in-app" in check for check in failures["check"].astype(str))
