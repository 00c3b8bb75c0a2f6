"""Realism knobs: the simulator can serve every looser shape real answers take (tiktok_assets_tests/contract/FACTS.md
section 7).

Each knob is switched on the running simulator (``Simulator.realism``) and checked in the raw answer, parsed with
``json.loads`` exactly as a client would.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import httpx
import pytest

from tiktok_assets.simulator import SimClock, Simulator, World
from tiktok_assets.simulator.realism import Realism
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.simulator.conftest import api_get, report_params

REPORT = "/report/integrated/get/"


def _answer(client: httpx.Client, path: str, **params) -> dict:
    response = api_get(client, path, **params)
    assert response.status_code == 200, response.text
    return json.loads(response.content)


def test_defaults_are_tiktoks_defaults() -> None:
    realism = Realism()
    assert realism.hide_deleted
    assert not (realism.omit_page_info or realism.integer_counts or realism.null_metrics or realism.numeric_ids
                or realism.lowercase_ok or realism.omit_request_id)


def test_unknown_route_in_omit_page_info_is_refused() -> None:
    with pytest.raises(ValueError, match="/oauth2/advertiser/get/"):
        Realism(omit_page_info=frozenset({"/oauth2/advertiser/get/"}))


def test_omit_page_info_on_chosen_routes_only(client, simulator, us_advertiser) -> None:
    simulator.realism = Realism(omit_page_info=frozenset({"/report/integrated/get/", "/ad/get/"}))
    report = _answer(client, REPORT, **report_params(us_advertiser, "2026-11-10", "2026-11-19"), page_size=50)
    assert set(report["data"]) == {"list"} and len(report["data"]["list"]) == 50
    assert set(_answer(client, "/ad/get/", advertiser_id=us_advertiser)["data"]) == {"list"}
    assert "page_info" in _answer(client, "/campaign/get/", advertiser_id=us_advertiser)["data"]


def test_lowercase_ok_and_no_request_id(client, simulator, us_advertiser) -> None:
    simulator.realism = Realism(lowercase_ok=True, omit_request_id=True)
    body = _answer(client, "/campaign/get/", advertiser_id=us_advertiser)
    assert (body["code"], body["message"]) == (0, "ok") and "request_id" not in body
    error = _answer(client, "/campaign/get/", advertiser_id=us_advertiser, page_size=5000)
    assert error["code"] == 40002 and "request_id" not in error


def test_integer_counts_follow_the_recorded_row(client, simulator, us_advertiser) -> None:
    # airbytehq/airbyte's ads_reports_hourly.json: impressions/clicks strings; app_install, purchase, likes JSON ints;
    # average_video_play a JSON float; secondary_goal_result null (tiktok_assets_tests/contract/FACTS.md section 7).
    metrics = ["spend", "impressions", "app_install", "purchase", "likes", "average_video_play",
               "secondary_goal_result"]
    params = report_params(us_advertiser, "2026-11-18", "2026-11-18", metrics=metrics)
    strings = _answer(client, REPORT, **params, page_size=1000)["data"]["list"]
    simulator.realism = Realism(integer_counts=True)
    loose = _answer(client, REPORT, **params, page_size=1000)["data"]["list"]
    assert len(loose) == len(strings) > 5
    for as_text, row in zip(strings, loose, strict=True):
        got = row["metrics"]
        assert got["impressions"] == as_text["metrics"]["impressions"] and got["spend"] == as_text["metrics"]["spend"]
        assert isinstance(got["app_install"], int) and got["app_install"] == int(as_text["metrics"]["app_install"])
        assert isinstance(got["purchase"], int) and got["purchase"] == int(as_text["metrics"]["purchase"])
        assert isinstance(got["likes"], int) and isinstance(got["average_video_play"], float)
        assert got["secondary_goal_result"] is None and as_text["metrics"]["secondary_goal_result"] == "-"
    assert any(row["metrics"]["purchase"] > 0 for row in loose)


def test_null_metrics_replace_dashes(client, simulator, us_advertiser) -> None:
    params = report_params(us_advertiser, "2026-11-19", "2026-11-19", time_dimension="stat_time_hour",
                           metrics=["clicks", "reach", "cpc", "vta_purchase", "likes"])
    simulator.realism = Realism(null_metrics=True)
    rows = _answer(client, REPORT, **params, page_size=1000)["data"]["list"]
    # vta_purchase is catalogued but not modelled (empty); likes is modelled (simulator/engagement.py): a string.
    assert rows and all(row["metrics"]["reach"] is None and row["metrics"]["vta_purchase"] is None for row in rows)
    assert all(isinstance(row["metrics"]["likes"], str) for row in rows)
    zero_clicks = [row for row in rows if row["metrics"]["clicks"] == "0"]
    assert zero_clicks and all(row["metrics"]["cpc"] is None for row in zero_clicks)
    assert any(isinstance(row["metrics"]["cpc"], str) for row in rows)


def test_numeric_ids_are_exact_json_numbers_above_2_to_53(client, simulator, us_advertiser) -> None:
    simulator.realism = Realism(numeric_ids=True)
    rows = _answer(client, REPORT, **report_params(us_advertiser, "2026-11-18", "2026-11-18"))["data"]["list"]
    day = date(2026, 11, 18)
    truth = simulator.world.report_frame(us_advertiser, "AUCTION_AD", "day", day, day, SIM_NOW, hide_deleted=True)
    served = [row["dimensions"]["ad_id"] for row in rows]
    assert all(isinstance(ad_id, int) and ad_id > 2**53 for ad_id in served)
    assert [str(ad_id) for ad_id in served] == truth["ad_id"].tolist()[: len(served)]
    ads = _answer(client, "/ad/get/", advertiser_id=us_advertiser)["data"]["list"]
    assert all(isinstance(ad[key], int) for ad in ads for key in ("ad_id", "adgroup_id", "campaign_id",
                                                                    "advertiser_id"))
    info = _answer(client, "/advertiser/info/", advertiser_ids=[us_advertiser])["data"]["list"][0]
    assert info["advertiser_id"] == int(us_advertiser)


def test_empty_listing_has_one_page(client, simulator) -> None:
    gbp = next(str(i["advertiser_id"]) for i in simulator.world.advertisers if i["currency"] == "GBP")
    data = _answer(client, REPORT, **report_params(gbp, "2026-11-18", "2026-11-18",
                                                   time_dimension="stat_time_hour"))["data"]
    assert data["list"] == [] and (data["page_info"]["total_number"], data["page_info"]["total_page"]) == (0, 1)


def test_advertiser_info_fields_can_be_left_out_or_replaced(client, simulator, us_advertiser) -> None:
    other = simulator.world.advertiser_ids[1]
    simulator.realism = Realism(advertiser_info={us_advertiser: {"currency": None, "timezone": "UTC+05:45"}})
    rows = _answer(client, "/advertiser/info/", advertiser_ids=[us_advertiser, other])["data"]["list"]
    assert "currency" not in rows[0] and rows[0]["timezone"] == "UTC+05:45"
    assert rows[1]["currency"] == "EUR" and rows[1]["timezone"] == "Etc/GMT-1"


def test_realism_is_given_to_the_simulator_and_replaceable() -> None:
    realism = Realism(lowercase_ok=True)
    sim = Simulator(world=World(seed=7), clock=SimClock(fixed=SIM_NOW), qps=None, realism=realism)
    assert sim.realism is realism
    sim.realism = replace(realism, lowercase_ok=False)
    with httpx.Client(base_url="http://sim", transport=sim.transport()) as http:
        assert _answer(http, "/oauth2/advertiser/get/")["message"] == "OK"


def test_the_command_line_switches_realism() -> None:
    from tiktok_assets.simulator.__main__ import build_parser, realism_from

    assert realism_from(build_parser().parse_args([])) == Realism()
    loose = realism_from(build_parser().parse_args(["--loose", "--show-deleted"]))
    assert not loose.hide_deleted and loose.numeric_ids and loose.integer_counts and loose.omit_request_id
    assert "/report/integrated/get/" in loose.omit_page_info


def test_ads_throttle_keeps_the_newest_ads_and_says_so(client, simulator, us_advertiser) -> None:
    # TikTok docs 1738864850353154 (FAQ, "Data incompleteness"): at 20,000 ads or more only the newest 20,000 by
    # create time, code 0, and the X-Tt-Ads-Throttle header (tiktok_assets_tests/contract/FACTS.md section 2).
    params = report_params(us_advertiser, "2026-11-10", "2026-11-19", metrics=["spend"])
    whole = api_get(client, REPORT, **params, page_size=1000)
    assert "x-tt-ads-throttle" not in whole.headers
    served = {row["dimensions"]["ad_id"] for row in whole.json()["data"]["list"]}
    created = {ad["ad_id"]: ad["create_time"] for ad in simulator.world.ads(us_advertiser, SIM_NOW)}
    newest = set(sorted(served, key=lambda ad_id: created[ad_id], reverse=True)[:3])
    simulator.realism = Realism(ads_throttle_limit=3)
    cut = api_get(client, REPORT, **params, page_size=1000)
    assert cut.json()["code"] == 0
    assert cut.headers["x-tt-ads-throttle"].startswith("Number of ad ids is equal or more than 20k")
    assert {row["dimensions"]["ad_id"] for row in cut.json()["data"]["list"]} == newest
    # Narrowed by ad ids below the limit, the report is whole again.
    two = sorted(served)[:2]
    narrowed = api_get(client, REPORT, **params, page_size=1000, filtering=[
        {"field_name": "ad_ids", "filter_type": "IN", "filter_value": json.dumps(two)}])
    assert "x-tt-ads-throttle" not in narrowed.headers
    assert {row["dimensions"]["ad_id"] for row in narrowed.json()["data"]["list"]} == set(two)
    with pytest.raises(ValueError, match="ads_throttle_limit"):
        Realism(ads_throttle_limit=0)
