"""The BASIC metric catalogue: every name TikTok documents and connectors request is accepted; unknown ones get
TikTok's 40002 message (tiktok_assets_tests/contract/FACTS.md section 8, airbytehq/airbyte issue 11375)."""

from __future__ import annotations

from datetime import date

import pytest

from tiktok_assets.tiktok.catalogue import CATALOGUE
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.simulator.conftest import api_get, report_params

REPORT = "/report/integrated/get/"
# Re-typed from airbytehq/airbyte airbyte-integrations/connectors/source-tiktok-marketing/source_tiktok_marketing/
# manifest.yaml: the base metrics every report stream asks for, then ads_reports_daily's report_metrics.
AIRBYTE_BASE = ("spend cpc cpm impressions clicks ctr reach cost_per_1000_reached frequency video_play_actions "
                "video_watched_2s video_watched_6s average_video_play average_video_play_per_user video_views_p25 "
                "video_views_p50 video_views_p75 video_views_p100 profile_visits likes comments shares follows "
                "clicks_on_music_disc real_time_app_install real_time_app_install_cost app_install").split()
AIRBYTE_ADS = ("campaign_name campaign_id adgroup_name placement_type tt_app_id tt_app_name mobile_app_id "
               "promotion_type dpa_target_audience_type conversion cost_per_conversion conversion_rate "
               "real_time_conversion real_time_cost_per_conversion real_time_conversion_rate result cost_per_result "
               "result_rate real_time_result real_time_cost_per_result real_time_result_rate secondary_goal_result "
               "cost_per_secondary_goal_result secondary_goal_result_rate adgroup_id ad_name ad_text "
               "total_purchase_value total_onsite_shopping_value onsite_shopping vta_purchase vta_conversion "
               "cta_purchase cta_conversion total_pageview complete_payment value_per_complete_payment "
               "total_complete_payment_rate").split()


def _body(client, **params) -> dict:
    return api_get(client, REPORT, **params).json()


def test_catalogue_kinds_and_additivity() -> None:
    assert (CATALOGUE["spend"].kind, CATALOGUE["spend"].additive) == ("money", True)
    assert (CATALOGUE["impressions"].kind, CATALOGUE["impressions"].additive) == ("count", True)
    assert (CATALOGUE["reach"].kind, CATALOGUE["reach"].additive) == ("count", False)
    assert (CATALOGUE["ctr"].kind, CATALOGUE["cpc"].kind) == ("ratio", "money")
    assert not CATALOGUE["cpc"].additive and not CATALOGUE["ctr"].additive
    assert CATALOGUE["total_complete_payment_rate"].kind == "money"  # a value despite its name
    assert CATALOGUE["campaign_name"].kind == "text"


def test_every_metric_airbyte_requests_is_accepted_and_served(client, us_advertiser) -> None:
    metrics = list(dict.fromkeys(AIRBYTE_BASE + AIRBYTE_ADS))
    body = _body(client, **report_params(us_advertiser, "2026-11-18", "2026-11-18", metrics=metrics), page_size=5)
    assert body["code"] == 0, body["message"]
    for row in body["data"]["list"]:
        assert set(row["metrics"]) == set(metrics)
        assert row["metrics"]["likes"].isdigit()  # modelled (simulator/engagement.py), a string like the others
        assert row["metrics"]["vta_purchase"] == "-"  # catalogued, not modelled: TikTok's empty
        assert row["metrics"]["impressions"].isdigit()


def test_unknown_metrics_get_tiktoks_message(client, us_advertiser) -> None:
    body = _body(client, **report_params(us_advertiser, "2026-11-18", "2026-11-18",
                                         metrics=["spend", "roas_magic", "clicks", "spend_tomorrow"]))
    assert body["code"] == 40002
    assert body["message"] == ("Please correct the information in invalid metric fields and try again. "
                               "Invalid metric fields: ['roas_magic', 'spend_tomorrow']. ")


def test_cash_and_voucher_spend_only_at_advertiser_level(client, us_advertiser) -> None:
    body = _body(client, **report_params(us_advertiser, "2026-11-18", "2026-11-18",
                                         metrics=["spend", "cash_spend", "voucher_spend"]))
    assert body["code"] == 40002 and "['cash_spend', 'voucher_spend']" in body["message"]
    body = _body(client, **report_params(us_advertiser, "2026-11-18", "2026-11-18", level="AUCTION_ADVERTISER",
                                         metrics=["spend", "cash_spend", "voucher_spend"]))
    row = body["data"]["list"][0]["metrics"]
    assert row["cash_spend"] == row["spend"] and float(row["voucher_spend"]) == 0


def test_derived_metrics_come_from_the_rows_own_sums(client, simulator, us_advertiser) -> None:
    metrics = ["spend", "conversion", "clicks", "cost_per_conversion", "conversion_rate", "reach", "frequency",
               "impressions"]
    rows = _body(client, **report_params(us_advertiser, "2026-11-18", "2026-11-18", metrics=metrics),
                 page_size=100)["data"]["list"]
    checked = 0
    for row in rows:
        m = row["metrics"]
        if int(m["conversion"]) > 0:
            checked += 1
            assert float(m["cost_per_conversion"]) == pytest.approx(float(m["spend"]) / int(m["conversion"]), abs=0.006)
            assert float(m["conversion_rate"]) == pytest.approx(int(m["conversion"]) / int(m["clicks"]) * 100,
                                                                abs=0.006)
        else:
            assert m["cost_per_conversion"] == "-"
        assert float(m["frequency"]) == pytest.approx(int(m["impressions"]) / float(m["reach"]), abs=0.006)
    assert checked > 3


def test_attribute_metrics_name_the_rows_entities(client, simulator, us_advertiser) -> None:
    rows = _body(client, **report_params(us_advertiser, "2026-11-18", "2026-11-18",
                                         metrics=["campaign_name", "adgroup_id", "ad_name", "currency"]),
                 page_size=100)["data"]["list"]
    ads = {ad["ad_id"]: ad for ad in simulator.world.ads(us_advertiser, SIM_NOW)}
    assert rows
    for row in rows:
        ad = ads[row["dimensions"]["ad_id"]]
        assert row["metrics"] == {"campaign_name": ad["campaign_name"], "adgroup_id": ad["adgroup_id"],
                                  "ad_name": ad["ad_name"], "currency": "USD"}
    campaign_rows = _body(client, **report_params(us_advertiser, "2026-11-18", "2026-11-18", level="AUCTION_CAMPAIGN",
                                                  metrics=["campaign_name", "ad_name"]))["data"]["list"]
    names = {c["campaign_id"]: c["campaign_name"] for c in simulator.world.campaigns(us_advertiser, SIM_NOW)}
    assert all(row["metrics"] == {"campaign_name": names[row["dimensions"]["campaign_id"]], "ad_name": "-"}
               for row in campaign_rows)
    assert date(2026, 11, 18) <= SIM_NOW.date()
