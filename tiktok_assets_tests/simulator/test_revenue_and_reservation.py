"""Two revenues (web Complete Payment vs in-app purchase) and reservation (R&F) buying, as TikTok reports them.

tiktok_assets_tests/contract/FACTS.md section 4 (TikTok's metric docs, via bububa/tiktok-business
model/report/metrics.go): complete_payment and total_complete_payment_rate are the website's purchases and their value;
purchase and total_purchase_value the app's. Section 6: AUCTION_ADVERTISER holds auction and reservation delivery
together; listings take buying_types.
"""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import numpy as np
import pandas as pd
import pytest

from tiktok_assets.simulator import World
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.simulator.conftest import api_get, report_params

REPORT = "/report/integrated/get/"
START, END = date(2026, 10, 21), date(2026, 11, 19)


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=7)


def _kinds(world: World, advertiser_id: str) -> dict[str, str]:
    objective = {c["campaign_id"]: c["objective_type"] for c in world.campaigns(advertiser_id, SIM_NOW)}
    return {a["ad_id"]: objective[a["campaign_id"]] for a in world.ads(advertiser_id, SIM_NOW)}


def _rows(client: httpx.Client, **params) -> list[dict]:
    rows, page = [], 1
    while True:
        body = api_get(client, REPORT, **params, page=page, page_size=1000).json()
        assert body["code"] == 0, body
        rows.extend(body["data"]["list"])
        if page >= body["data"]["page_info"]["total_page"]:
            return rows
        page += 1


# -- web vs app revenue ------------------------------------------------------------------------


def test_web_ads_earn_complete_payments_and_app_ads_in_app_purchases(world: World) -> None:
    for advertiser_id in world.advertiser_ids:
        frame = world.report_frame(advertiser_id, "AUCTION_AD", "day", START, END, SIM_NOW)
        kind = frame["ad_id"].map(_kinds(world, advertiser_id))
        web, app = frame[kind == "WEB_CONVERSIONS"], frame[kind == "APP_PROMOTION"]
        assert (web["purchase"] == 0).all() and (web["total_purchase_value"] == 0).all()
        assert web["complete_payment"].sum() > 0 and web["total_complete_payment_rate"].sum() > 0
        if len(app):
            assert (app["complete_payment"] == 0).all() and (app["total_complete_payment_rate"] == 0).all()
            assert app["purchase"].sum() > 0 and app["total_purchase_value"].sum() > 0
            assert (app["purchase"] <= app["app_install"]).all()
            # value only where there are purchases
            assert (app.loc[app["purchase"] == 0, "total_purchase_value"] == 0).all()


def test_in_app_purchases_arrive_late_like_other_conversions() -> None:
    world = World(seed=7, settle_days=5)
    usd = world.advertiser_ids[0]
    day = date(2026, 11, 10)
    young = world.report_frame(usd, "AUCTION_AD", "day", day, day, SIM_NOW - timedelta(days=8))
    final = world.report_frame(usd, "AUCTION_AD", "day", day, day, SIM_NOW)
    assert young["purchase"].sum() < final["purchase"].sum()
    assert young["total_purchase_value"].sum() < final["total_purchase_value"].sum()


def test_the_api_serves_both_revenues_apart(client, simulator, us_advertiser) -> None:
    metrics = ["complete_payment", "total_complete_payment_rate", "purchase", "total_purchase_value"]
    rows = _rows(client, **report_params(us_advertiser, str(START), str(END), metrics=metrics))
    truth = simulator.world.report_frame(us_advertiser, "AUCTION_AD", "day", START, END, SIM_NOW, hide_deleted=True)
    served = pd.DataFrame([{name: float(row["metrics"][name]) for name in metrics} for row in rows])
    for name in metrics:
        assert np.allclose(served[name], truth[name]), name
    assert served["purchase"].sum() > 0 and served["complete_payment"].sum() > 0


# -- reservation -----------------------------------------------------------------------------


def test_reservation_campaigns_are_listed_and_told_apart_by_buying_types(client, simulator, us_advertiser) -> None:
    reserved = set(simulator.world.reservation_campaign_ids(us_advertiser))
    assert len(reserved) == 1

    def listed(**filtering) -> set[str]:
        params = {"filtering": filtering} if filtering else {}
        body = api_get(client, "/campaign/get/", advertiser_id=us_advertiser, page_size=1000, **params).json()
        assert body["code"] == 0, body
        return {row["campaign_id"] for row in body["data"]["list"]}

    everything = listed()
    assert reserved <= everything  # TikTok's default buying_types are AUCTION and RESERVATION_RF
    assert listed(buying_types=["RESERVATION_RF"]) == reserved
    assert listed(buying_types=["AUCTION"]) == everything - reserved
    # This advertiser has no TopView buy (the world's one is on the JPY advertiser, contract case campaigns_topview).
    assert listed(buying_types=["RESERVATION_TOP_VIEW"]) == set()
    body = api_get(client, "/campaign/get/", advertiser_id=us_advertiser,
                   filtering={"buying_types": ["RESERVATION_TOP_VIEW", "AUCTION"]}).json()
    assert body["code"] == 40002 and "RESERVATION_TOP_VIEW" in body["message"]


def test_reservation_delivery_is_never_in_auction_rows_below_the_advertiser(client, simulator, us_advertiser) -> None:
    world = simulator.world
    reserved_ads = {a["ad_id"] for a in world.ads(us_advertiser, SIM_NOW)
                    if a["campaign_id"] in world.reservation_campaign_ids(us_advertiser)}
    auction = _rows(client, **report_params(us_advertiser, str(START), str(END), metrics=["spend"]))
    assert reserved_ads and not reserved_ads & {row["dimensions"]["ad_id"] for row in auction}
    reservation = _rows(client, **report_params(us_advertiser, str(START), str(END), level="AUCTION_AD",
                                                metrics=["spend"]) | {"service_type": "RESERVATION",
                                                                      "data_level": "RESERVATION_AD"})
    assert {row["dimensions"]["ad_id"] for row in reservation} == reserved_ads
    truth = world.report_frame(us_advertiser, "AUCTION_AD", "day", START, END, SIM_NOW, service_type="RESERVATION")
    assert sum(float(row["metrics"]["spend"]) for row in reservation) == pytest.approx(truth["spend"].sum())


def test_advertiser_rows_hold_auction_and_reservation_spend(client, simulator, us_advertiser) -> None:
    world = simulator.world
    account = _rows(client, **report_params(us_advertiser, str(START), str(END), level="AUCTION_ADVERTISER",
                                            metrics=["spend"]))
    auction = world.report_frame(us_advertiser, "AUCTION_AD", "day", START, END, SIM_NOW)
    reserved = world.report_frame(us_advertiser, "AUCTION_AD", "day", START, END, SIM_NOW, service_type="RESERVATION")
    served = sum(float(row["metrics"]["spend"]) for row in account)
    assert reserved["spend"].sum() > 0
    assert served == pytest.approx(auction["spend"].sum() + reserved["spend"].sum())


def test_reservation_levels_need_reservation_service_type(client, us_advertiser) -> None:
    for service_type, data_level in (("AUCTION", "RESERVATION_AD"), ("RESERVATION", "AUCTION_AD")):
        params = report_params(us_advertiser, "2026-11-18", "2026-11-18") | {"service_type": service_type,
                                                                             "data_level": data_level}
        body = api_get(client, REPORT, **params).json()
        assert body["code"] == 40002
        assert body["message"] == "Conflict occurs. The input params including metrics and dimensions have no relation."


def test_an_advertiser_without_reservation_serves_an_empty_reservation_report(client, simulator) -> None:
    eur = simulator.world.advertiser_ids[1]
    assert simulator.world.reservation_campaign_ids(eur) == []
    params = report_params(eur, "2026-11-18", "2026-11-18") | {"service_type": "RESERVATION",
                                                               "data_level": "RESERVATION_CAMPAIGN",
                                                               "dimensions": ["campaign_id", "stat_time_day"]}
    assert _rows(client, **params) == []


def test_sized_worlds_have_no_reservation_unless_asked() -> None:
    assert World.sized(n_ads=40, n_advertisers=2).n_ads == 40
    sized = World.sized(n_ads=40, n_advertisers=2, reservation_campaigns=1)
    assert sized.n_ads == 42 and len(sized.reservation_campaign_ids(sized.advertiser_ids[0])) == 1
