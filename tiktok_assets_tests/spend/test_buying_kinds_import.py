"""TopView and Upgraded Smart+ campaigns through the entity snapshot and the ad-level import, over HTTP.

Expected values come from the simulator's world (its ground truth), never from the code under test.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from tiktok_assets.defs import spend as spend_defs
from tiktok_assets_tests.spend.harness import SpendHarness

DAY = date(2026, 11, 17)


@pytest.fixture
def imported(loopback_simulator, warehouse_url, monkeypatch):
    simulator, base_url = loopback_simulator
    monkeypatch.setattr(spend_defs, "_utc_now", simulator.clock.now)
    harness = SpendHarness(base_url, warehouse_url)
    assert harness.import_range(DAY, DAY).success
    return simulator, harness


def test_campaign_history_keeps_buying_and_automation_types_topview_included(imported) -> None:
    simulator, harness = imported
    world = simulator.world
    history = harness.query("select campaign_id, buying_type, rf_campaign_type, campaign_automation_type "
                            "from campaign_history where valid_to is null").set_index("campaign_id")
    truth = {campaign: kind for advertiser in world.advertiser_ids
             for campaign, kind in world.buying_types(advertiser).items()}
    # Every campaign, TopView too (listed only when asked alone), with the buying type it was listed under.
    assert history["buying_type"].to_dict() == truth
    assert "RESERVATION_TOP_VIEW" in set(truth.values())
    rf_types = {"RESERVATION_RF": "STANDARD", "RESERVATION_TOP_VIEW": "TOPVIEW"}
    for campaign, kind in truth.items():
        assert history.loc[campaign, "rf_campaign_type"] == rf_types.get(kind), campaign
    smart = {campaign for advertiser in world.advertiser_ids for campaign in world.smart_plus_campaign_ids(advertiser)}
    assert smart
    assert {c for c, kind in history["campaign_automation_type"].items() if kind == "UPGRADED_SMART_PLUS"} == smart
    assert set(history["campaign_automation_type"]) == {"MANUAL", "UPGRADED_SMART_PLUS"}
    # TopView ad groups and ads are in their histories too.
    topview = {c for c, kind in truth.items() if kind == "RESERVATION_TOP_VIEW"}
    ads = harness.query("select ad_id, campaign_id from ad_history where valid_to is null")
    assert topview <= set(ads["campaign_id"])


def test_an_upgraded_smart_plus_campaigns_creatives_are_imported_as_its_ad_rows(imported) -> None:
    simulator, harness = imported
    world = simulator.world
    advertiser = next(a for a in world.advertiser_ids if world.smart_plus_campaign_ids(a))
    (campaign,) = world.smart_plus_campaign_ids(advertiser)
    truth = world.report_frame(advertiser, "AUCTION_AD", "day", DAY, DAY, simulator.clock.now())
    creatives = {str(a["ad_id"]) for a in world.ads(advertiser, simulator.clock.now()) if a["campaign_id"] == campaign}
    truth = truth[truth["ad_id"].astype(str).isin(creatives)]
    assert len(truth) > 1, "the test wants several creatives delivering"
    stored = harness.query("select ad_id, spend, clicks from ad_stats_daily where campaign_id = :c", c=campaign)
    assert set(stored["ad_id"]) == set(truth["ad_id"].astype(str))
    assert float(stored["spend"].sum()) == pytest.approx(float(truth["spend"].sum()))
    # They have names: /ad/get/ lists the creatives (UNCONFIRMED, FACTS.md section 14), with their Smart+ ad.
    named = harness.query("select ad_id, ad_name from ad_history where campaign_id = :c", c=campaign)
    assert set(stored["ad_id"]) <= set(named["ad_id"]) and named["ad_name"].notna().all()


def test_topview_ads_are_not_in_the_ad_rows_but_in_the_advertiser_total(imported) -> None:
    simulator, harness = imported
    world = simulator.world
    advertiser = next(a for a in world.advertiser_ids if "RESERVATION_TOP_VIEW" in world.buying_types(a).values())
    (topview,) = [c for c, kind in world.buying_types(advertiser).items() if kind == "RESERVATION_TOP_VIEW"]
    stored = harness.query("select sum(spend) as s from ad_stats_daily where advertiser_id = :a", a=advertiser)
    assert harness.query("select count(*) as n from ad_stats_daily where campaign_id = :c", c=topview)["n"][0] == 0
    now = simulator.clock.now()
    total = world.report_frame(advertiser, "AUCTION_ADVERTISER", "day", DAY, DAY, now)["spend"].sum()
    reservation = world.report_frame(advertiser, "AUCTION_CAMPAIGN", "day", DAY, DAY, now, service_type="RESERVATION")
    assert topview in set(reservation["campaign_id"].astype(str))
    assert float(total) == pytest.approx(float(stored["s"][0]) + float(reservation["spend"].sum()))
    assert pd.notna(stored["s"][0])
