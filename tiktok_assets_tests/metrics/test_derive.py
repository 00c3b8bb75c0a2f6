"""Sums and ratio metrics: hand-computed expectations, zero denominators, currencies."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tiktok_assets.metrics.derive import (
    METRIC_COLUMNS,
    FrameGrouper,
    aggregate,
    safe_ratio,
    totals,
    with_metrics,
)
from tiktok_assets.metrics.errors import MissingColumnsError, MissingCurrencyError, MixedCurrencyError


def _row(**values: object) -> dict[str, object]:
    base = {"advertiser_id": "A", "campaign_id": "C", "ad_id": "a", "currency": "USD", "spend": 0.0,
            "impressions": 0, "clicks": 0, "conversions": 0, "installs": 0, "purchases": 0, "purchase_value": 0.0,
            "app_purchases": 0, "app_purchase_value": 0.0}
    return {**base, **values}


# Two ads of one campaign. Ad a1: 100 impressions, 1 click (CTR 1 %); ad a2:
# 10,000 impressions, 300 clicks (CTR 3 %). Averaging their CTRs says 2 %;
# the campaign's CTR is 301 / 10,100 = 2.98 %.
TWO_ADS = pd.DataFrame([
    _row(ad_id="a1", spend=2.0, impressions=100, clicks=1, conversions=1, installs=0, purchases=1, purchase_value=10.0),
    _row(ad_id="a2", spend=98.0, impressions=10_000, clicks=300, conversions=9, installs=30, purchases=4,
         purchase_value=190.0),
])


def test_metrics_are_ratios_of_sums_not_averages_of_ratios() -> None:
    campaign = with_metrics(aggregate(TWO_ADS, by=["campaign_id"])).iloc[0]

    # Sums: spend 2 + 98 = 100; impressions 100 + 10,000 = 10,100; clicks 1 + 300 = 301;
    # conversions 1 + 9 = 10; installs 0 + 30 = 30; purchase value 10 + 190 = 200.
    assert campaign["spend"] == 100.0
    assert campaign["impressions"] == 10_100
    assert campaign["clicks"] == 301
    assert campaign["ctr"] == pytest.approx(301 / 10_100)  # 0.029802
    assert campaign["cpc"] == pytest.approx(100 / 301)  # 0.3322
    assert campaign["cpm"] == pytest.approx(100 / 10_100 * 1000)  # 9.901
    assert campaign["cpa"] == pytest.approx(100 / 10)  # 10.0
    assert campaign["roas"] == pytest.approx(200 / 100)  # 2.0
    assert campaign["ipm"] == pytest.approx(30 / 10_100 * 1000)  # 2.970
    assert campaign["cpi"] == pytest.approx(100 / 30)  # 3.333
    assert campaign["click_to_install_rate"] == pytest.approx(30 / 301)  # 0.09967
    assert campaign["conversion_rate"] == pytest.approx(10 / 301)  # 0.03322

    # The average of the per-ad ratios would be wrong: (1 % + 3 %) / 2 = 2 %,
    # CPA (2/1 + 98/9) / 2 = 6.44 instead of 10.
    per_ad = with_metrics(aggregate(TWO_ADS, by=["ad_id"]))
    assert per_ad["ctr"].mean() == pytest.approx(0.02)
    assert campaign["ctr"] != pytest.approx(per_ad["ctr"].mean())
    assert per_ad["cpa"].mean() == pytest.approx((2 / 1 + 98 / 9) / 2)
    assert campaign["cpa"] != pytest.approx(per_ad["cpa"].mean())


def test_zero_denominators_give_null_not_zero_or_infinity() -> None:
    # Spend with no delivery at all: every ratio over impressions/clicks/conversions/
    # installs is undefined; ROAS = 0 revenue / 5 spend = 0 exactly (a real zero).
    no_delivery = with_metrics(aggregate(pd.DataFrame([_row(spend=5.0)]), by=["ad_id"])).iloc[0]
    for metric in ("ctr", "cpc", "cpm", "cpa", "ipm", "cpi", "click_to_install_rate", "conversion_rate"):
        assert math.isnan(no_delivery[metric]), metric
    assert no_delivery["roas"] == 0.0

    # Revenue without spend (a late conversion on a paused ad): ROAS is undefined.
    no_spend = with_metrics(aggregate(pd.DataFrame([_row(purchase_value=40.0, impressions=10)]), by=["ad_id"])).iloc[0]
    assert math.isnan(no_spend["roas"])
    assert no_spend["ctr"] == 0.0  # 0 clicks / 10 impressions
    assert not np.isinf(with_metrics(aggregate(pd.DataFrame([_row(spend=5.0)]), by=[]))[list(METRIC_COLUMNS)]
                        .to_numpy(dtype=float)).any()


def test_safe_ratio_scales_and_nulls_zero_and_missing_denominators() -> None:
    result = safe_ratio(np.array([1.0, 2.0, 3.0, 4.0]), np.array([4.0, 0.0, np.nan, 8.0]), scale=1000)
    # 1/4*1000 = 250; 2/0 → null; 3/NaN → null; 4/8*1000 = 500
    assert result[0] == 250.0 and result[3] == 500.0
    assert np.isnan(result[1]) and np.isnan(result[2])


def test_aggregate_always_groups_by_currency() -> None:
    # One advertiser spending in two currencies (e.g. after a currency change):
    # grouping by advertiser alone must still give one row per currency.
    frame = pd.DataFrame([
        _row(currency="USD", spend=10.0, impressions=100, clicks=5),
        _row(currency="EUR", spend=7.0, impressions=50, clicks=1),
        _row(currency="USD", spend=5.0, impressions=100, clicks=1),
    ])
    summed = aggregate(frame, by=["advertiser_id"]).set_index("currency")
    assert list(summed.index) == ["USD", "EUR"]
    assert summed.loc["USD", "spend"] == 15.0  # 10 + 5, EUR's 7 kept apart
    assert summed.loc["EUR", "spend"] == 7.0
    assert summed.loc["USD", "clicks"] == 6


def test_totals_refuse_to_add_currencies() -> None:
    frame = pd.DataFrame([_row(currency="USD", spend=10.0), _row(currency="JPY", spend=1500.0)])
    with pytest.raises(MixedCurrencyError, match="JPY, USD"):
        totals(frame)
    one = totals(frame[frame["currency"] == "USD"])
    assert one["spend"] == 10.0 and one["currency"] == "USD"


def test_missing_or_null_currency_is_an_error() -> None:
    with pytest.raises(MissingColumnsError, match="currency"):
        aggregate(TWO_ADS.drop(columns="currency"), by=["ad_id"])
    with pytest.raises(MissingCurrencyError, match="1 row"):
        aggregate(TWO_ADS.assign(currency=["USD", None]), by=["ad_id"])


def test_reach_is_not_summed_and_spread_is_any() -> None:
    frame = pd.DataFrame([
        _row(ad_id="a1", reach=900.0, spread=False),
        _row(ad_id="a2", reach=80.0, spread=True),
        _row(ad_id="a3", reach=np.nan, spread=False),
    ])
    summed = aggregate(frame, by=["campaign_id"]).iloc[0]
    # Reach of the campaign is at least the largest ad's 900 (people overlap: not 980).
    assert summed["reach_lower_bound"] == 900.0
    assert "reach" not in summed.index
    assert bool(summed["spread"]) is True


def test_null_keys_keep_their_rows_and_nullable_counts_sum() -> None:
    frame = pd.DataFrame([
        _row(campaign_id=None, ad_id="a1", spend=1.5, clicks=2),
        _row(campaign_id=None, ad_id="a2", spend=2.5, clicks=3),
        _row(campaign_id="C", ad_id="a3", spend=4.0, clicks=1),
    ])
    frame["clicks"] = pd.array([2, pd.NA, 1], dtype="Int64")
    summed = aggregate(frame, by=["campaign_id"])
    unknown = summed[summed["campaign_id"].isna()].iloc[0]
    assert unknown["spend"] == 4.0  # 1.5 + 2.5: an unknown parent does not drop spend
    assert unknown["clicks"] == 2  # 2 + <NA> counted as nothing
    assert summed["clicks"].dtype == np.int64
    assert summed["spend"].sum() == 8.0


def test_frame_grouper_shares_codes_between_groupings() -> None:
    grouper = FrameGrouper(TWO_ADS)
    by_ad = grouper.aggregate(["ad_id"])
    by_campaign = grouper.aggregate(["campaign_id"])
    assert len(by_ad) == 2 and len(by_campaign) == 1
    assert by_campaign["spend"].iloc[0] == by_ad["spend"].sum()


def test_empty_frame_aggregates_to_empty_with_columns() -> None:
    summed = with_metrics(aggregate(TWO_ADS.iloc[:0], by=["ad_id"]))
    assert summed.empty
    assert {"ad_id", "currency", "spend", "ctr", "roas"} <= set(summed.columns)


def test_two_source_revenue_columns_and_discrepancy_sign() -> None:
    summed = pd.DataFrame({
        "currency": ["USD", "USD", "USD"],
        "spend": [50.0, 50.0, 50.0], "impressions": [1, 1, 1], "clicks": [1, 1, 1], "conversions": [1, 1, 1],
        "installs": [0, 0, 0], "purchases": [1, 1, 1],
        "purchase_value": [120.0, 50.0, 30.0],
        "app_purchases": [0, 0, 0], "app_purchase_value": [0.0, 0.0, 0.0],
        # TikTok-attributed (web campaigns: the web value), as aggregate() derives it.
        "tiktok_purchases": [1, 1, 1], "tiktok_revenue": [120.0, 50.0, 30.0],
        "first_party_orders": [2, 1, 0],
        "first_party_revenue": [100.0, 100.0, 0.0],  # the shop's own orders
    })
    result = with_metrics(summed)
    assert list(result["tiktok_revenue"]) == [120.0, 50.0, 30.0]
    # TikTok ROAS 120/50 = 2.4, first-party ROAS 100/50 = 2.0.
    assert result["tiktok_roas"].iloc[0] == pytest.approx(2.4)
    assert result["first_party_roas"].iloc[0] == pytest.approx(2.0)
    # (120 − 100) / 100 = +0.2: TikTok claims more than the shop saw.
    assert result["revenue_discrepancy"].iloc[0] == pytest.approx(0.2)
    # (50 − 100) / 100 = −0.5: the shop saw more than TikTok claims.
    assert result["revenue_discrepancy"].iloc[1] == pytest.approx(-0.5)
    # No first-party revenue: undefined, not infinite.
    assert math.isnan(result["revenue_discrepancy"].iloc[2])
    assert "tiktok_roas" not in with_metrics(summed.drop(columns=["first_party_revenue", "first_party_orders"]))


def test_with_metrics_names_missing_bases() -> None:
    with pytest.raises(MissingColumnsError, match="installs"):
        with_metrics(TWO_ADS.drop(columns="installs"))


def test_editing_the_result_never_edits_the_input() -> None:
    # Ad-level rows are their own groups (the fast path copies instead of summing).
    frame = TWO_ADS.copy()
    summed = aggregate(frame, by=["ad_id"])
    summed.loc[0, "spend"] = -1.0
    summed.loc[0, "ad_id"] = "changed"
    assert frame.loc[0, "spend"] == 2.0 and frame.loc[0, "ad_id"] == "a1"
