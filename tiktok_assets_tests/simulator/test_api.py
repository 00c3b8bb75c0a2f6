"""The HTTP API in-process (httpx transport): envelopes, paging, errors, tokens, rate limits, faults."""

from __future__ import annotations

import json
import math
from datetime import date

import httpx
import numpy as np
import pandas as pd
import pytest

from tiktok_assets.simulator import DEFAULT_ACCESS_TOKEN, SimClock, Simulator, World
from tiktok_assets.tiktok.client import TikTokClient
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.simulator.conftest import PREFIX, api_get, report_params

REPORT = "/report/integrated/get/"
ALL_METRICS = ["spend", "impressions", "clicks", "conversion", "app_install", "complete_payment",
               "total_complete_payment_rate", "total_purchase_value", "reach", "ctr", "cpc", "cpm"]


def _body(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def _error(response: httpx.Response) -> tuple[int, str]:
    body = _body(response)
    assert body["request_id"]
    return body["code"], body["message"]


def _all_report_rows(client: httpx.Client, params: dict, page_size: int) -> tuple[list[dict], list[dict]]:
    rows, infos, page = [], [], 1
    while True:
        body = _body(api_get(client, REPORT, **params, page=page, page_size=page_size))
        assert body["code"] == 0, body
        rows.extend(body["data"]["list"])
        infos.append(body["data"]["page_info"])
        if page >= body["data"]["page_info"]["total_page"]:
            return rows, infos
        page += 1


def _rows_to_frame(rows: list[dict], id_dimension: str, time_dimension: str, metrics: list[str]) -> pd.DataFrame:
    return pd.DataFrame({
        id_dimension: [row["dimensions"][id_dimension] for row in rows],
        "stat_time": pd.to_datetime([row["dimensions"][time_dimension] for row in rows], format="%Y-%m-%d %H:%M:%S"),
        **{metric: [float("nan") if row["metrics"][metric] == "-" else float(row["metrics"][metric]) for row in rows]
           for metric in metrics},
    })


# -- reports ----------------------------------------------------------------------------------


def test_report_envelope_is_tiktok_shaped(client, us_advertiser) -> None:
    body = _body(api_get(client, REPORT, **report_params(us_advertiser, "2026-11-18", "2026-11-19",
                                                         metrics=ALL_METRICS), page_size=5))
    assert set(body) == {"code", "message", "request_id", "data"}
    assert (body["code"], body["message"]) == (0, "OK")
    assert isinstance(body["request_id"], str) and body["request_id"].startswith("20261120123000")
    info = body["data"]["page_info"]
    assert info["page"] == 1 and info["page_size"] == 5 and info["total_page"] == math.ceil(info["total_number"] / 5)
    assert len(body["data"]["list"]) == 5
    for row in body["data"]["list"]:
        assert isinstance(row["dimensions"]["ad_id"], str) and row["dimensions"]["ad_id"].isdigit()
        assert row["dimensions"]["stat_time_day"] in ("2026-11-18 00:00:00", "2026-11-19 00:00:00")
        assert set(row["metrics"]) == set(ALL_METRICS)
        assert all(isinstance(value, str) for value in row["metrics"].values())
        assert "." in row["metrics"]["spend"] and len(row["metrics"]["spend"].split(".")[1]) == 2
        assert row["metrics"]["impressions"].isdigit()


def test_report_pages_reassemble_the_ground_truth(client, simulator, us_advertiser) -> None:
    params = report_params(us_advertiser, "2026-10-21", "2026-11-19", metrics=ALL_METRICS)
    rows, infos = _all_report_rows(client, params, page_size=97)
    truth = simulator.world.report_frame(us_advertiser, "AUCTION_AD", "day", date(2026, 10, 21), date(2026, 11, 19),
                                         SIM_NOW)
    assert len(infos) == math.ceil(len(truth) / 97) > 3
    assert {info["total_number"] for info in infos} == {len(truth)}
    served = _rows_to_frame(rows, "ad_id", "stat_time_day", ALL_METRICS)
    assert not served.duplicated(["ad_id", "stat_time"]).any()
    expected = truth[["ad_id", "stat_time", *ALL_METRICS]].astype({metric: "float64" for metric in ALL_METRICS})
    pd.testing.assert_frame_equal(served, expected, check_dtype=False)


def test_hourly_report_serves_dashes_for_reach_and_empty_ratios(client, us_advertiser) -> None:
    params = report_params(us_advertiser, "2026-11-19", "2026-11-19", time_dimension="stat_time_hour",
                           metrics=["clicks", "reach", "cpc", "ctr"])
    rows, _ = _all_report_rows(client, params, page_size=1000)
    assert len(rows) > 100
    assert {row["metrics"]["reach"] for row in rows} == {"-"}
    zero_clicks = [row for row in rows if row["metrics"]["clicks"] == "0"]
    assert zero_clicks and all(row["metrics"]["cpc"] == "-" for row in zero_clicks)
    assert all(row["metrics"]["ctr"] == "0.00" for row in zero_clicks)
    hours = {row["dimensions"]["stat_time_hour"][11:] for row in rows}
    assert "13:00:00" in hours and all(hour.endswith(":00:00") for hour in hours)


def test_yen_money_has_no_decimals(client, simulator) -> None:
    jpy = next(str(i["advertiser_id"]) for i in simulator.world.advertisers if i["currency"] == "JPY")
    body = _body(api_get(client, REPORT, **report_params(jpy, "2026-11-18", "2026-11-18", metrics=["spend", "cpm"])))
    assert body["data"]["list"]
    assert all("." not in row["metrics"]["spend"] for row in body["data"]["list"])


def test_other_levels_are_served(client, simulator, us_advertiser) -> None:
    for level, id_dimension in (("AUCTION_ADGROUP", "adgroup_id"), ("AUCTION_CAMPAIGN", "campaign_id"),
                                ("AUCTION_ADVERTISER", "advertiser_id")):
        params = report_params(us_advertiser, "2026-11-10", "2026-11-19", level=level, metrics=["spend"])
        rows, _ = _all_report_rows(client, params, page_size=1000)
        truth = simulator.world.report_frame(us_advertiser, level, "day", date(2026, 11, 10), date(2026, 11, 19),
                                             SIM_NOW)
        assert [row["dimensions"][id_dimension] for row in rows] == truth[id_dimension].tolist()
        assert [row["metrics"]["spend"] for row in rows] == [f"{value:.2f}" for value in truth["spend"]]


@pytest.mark.parametrize(
    ("start", "end", "time_dimension", "message"),
    [
        ("2026-10-20", "2026-11-19", "stat_time_day", "max time span is 30 days when use stat_time_day"),
        ("2026-11-18", "2026-11-19", "stat_time_hour", "max time span is 1 day when use stat_time_hour"),
    ],
)
def test_span_limits_use_tiktoks_messages(client, us_advertiser, start, end, time_dimension, message) -> None:
    code, text = _error(api_get(client, REPORT, **report_params(us_advertiser, start, end, time_dimension=time_dimension)))
    assert (code, text) == (40002, message)


def test_thirty_days_and_one_hour_day_are_allowed(client, us_advertiser) -> None:
    assert _body(api_get(client, REPORT, **report_params(us_advertiser, "2026-10-21", "2026-11-19")))["code"] == 0
    hourly = report_params(us_advertiser, "2026-11-19", "2026-11-19", time_dimension="stat_time_hour")
    assert _body(api_get(client, REPORT, **hourly))["code"] == 0


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"metrics": ["spend", "roas_magic"]}, "roas_magic"),
        ({"page_size": 1001}, "page_size"),
        ({"page": 0}, "page"),
        ({"dimensions": ["campaign_id", "stat_time_day"]}, "dimensions"),
        ({"dimensions": "ad_id,stat_time_day"}, "dimensions"),
        ({"data_level": "AUCTION_KEYWORD"}, "data_level"),
        ({"start_date": "2026/11/01"}, "start_date"),
        ({"start_date": "2026-11-19", "end_date": "2026-11-18"}, "end_date"),
        ({"advertiser_id": ""}, "advertiser_id"),
        ({"report_type": "NOT_A_REPORT_TYPE"}, "report_type"),
    ],
)
def test_bad_report_parameters_are_named(client, us_advertiser, override, named) -> None:
    params = {**report_params(us_advertiser, "2026-11-10", "2026-11-19"), **override}
    code, message = _error(api_get(client, REPORT, **params))
    assert code == 40002
    assert named in message


def test_query_too_large_is_40067_and_the_client_splits_it(us_advertiser) -> None:
    world = World(seed=7)
    ads = len(world.ads(us_advertiser, SIM_NOW.replace(year=2030)))
    sim = Simulator(world=world, clock=SimClock(fixed=SIM_NOW), qps=None, max_report_rows=ads * 16)
    with httpx.Client(base_url="http://sim", transport=sim.transport()) as http:
        code, _ = _error(api_get(http, REPORT, **report_params(us_advertiser, "2026-10-21", "2026-11-19")))
        assert code == 40067
    tiktok = TikTokClient(DEFAULT_ACCESS_TOKEN, "http://sim", qps=None, transport=sim.transport(), sleep=lambda _: None)
    rows = tiktok.report(us_advertiser, start=date(2026, 10, 21), end=date(2026, 11, 19), metrics=["spend"])
    truth = world.report_frame(us_advertiser, "AUCTION_AD", "day", date(2026, 10, 21), date(2026, 11, 19), SIM_NOW)
    assert tiktok.stats.splits == 1
    assert sorted((r["dimensions"]["ad_id"], r["dimensions"]["stat_time_day"]) for r in rows) == sorted(
        zip(truth["ad_id"], truth["stat_time"].dt.strftime("%Y-%m-%d %H:%M:%S"), strict=True))


def test_no_hourly_data_is_an_empty_list_not_an_error(client, simulator) -> None:
    gbp = next(str(i["advertiser_id"]) for i in simulator.world.advertisers if i["currency"] == "GBP")
    hourly = _body(api_get(client, REPORT, **report_params(gbp, "2026-11-18", "2026-11-18",
                                                           time_dimension="stat_time_hour")))
    assert hourly["code"] == 0 and hourly["data"]["list"] == []
    assert hourly["data"]["page_info"]["total_number"] == 0
    daily = _body(api_get(client, REPORT, **report_params(gbp, "2026-11-18", "2026-11-18")))
    assert daily["data"]["list"]


# -- entities ---------------------------------------------------------------------------------


def test_authorised_advertisers_and_info(client, simulator) -> None:
    listed = _body(api_get(client, "/oauth2/advertiser/get/"))["data"]["list"]
    assert [row["advertiser_id"] for row in listed] == simulator.world.advertiser_ids
    ids = [row["advertiser_id"] for row in listed]
    info = _body(api_get(client, "/advertiser/info/", advertiser_ids=ids))["data"]["list"]
    assert {row["currency"]: row["timezone"] for row in info}["USD"] == "Etc/GMT+8"
    assert {row["currency"]: row["display_timezone"] for row in info}["JPY"] == "Asia/Tokyo"
    code, message = _error(api_get(client, "/advertiser/info/"))
    assert code == 40002 and "advertiser_ids" in message


@pytest.mark.parametrize("kind", ["campaign", "adgroup", "ad"])
def test_entity_pages_reassemble_the_world(client, simulator, us_advertiser, kind) -> None:
    # TopView entities are listed only when buying_types asks RESERVATION_TOP_VIEW alone (TikTok docs 1739315828649986).
    topview = {campaign for campaign, buying in simulator.world.buying_types(us_advertiser).items()
               if buying == "RESERVATION_TOP_VIEW"}
    truth = [row for row in getattr(simulator.world, f"{kind}s")(us_advertiser, SIM_NOW)
             if row["campaign_id"] not in topview]
    served, page = [], 1
    while True:
        body = _body(api_get(client, f"/{kind}/get/", advertiser_id=us_advertiser, page=page, page_size=4))
        assert body["code"] == 0
        served.extend(body["data"]["list"])
        if page >= body["data"]["page_info"]["total_page"]:
            break
        page += 1
    assert served == truth and len(served) > 2
    assert all(isinstance(row[f"{kind}_id"], str) for row in served)


def test_entity_defaults_fields_and_filters(client, simulator, us_advertiser) -> None:
    body = _body(api_get(client, "/ad/get/", advertiser_id=us_advertiser))
    assert body["data"]["page_info"]["page_size"] == 10 and len(body["data"]["list"]) == 10
    ads = simulator.world.ads(us_advertiser, SIM_NOW)
    assert any("modify_time" not in ad for ad in ads)
    campaign_id = ads[0]["campaign_id"]
    filtered = _body(api_get(client, "/ad/get/", advertiser_id=us_advertiser, page_size=1000,
                             filtering={"campaign_ids": [campaign_id]}, fields=["ad_id", "campaign_id"]))
    rows = filtered["data"]["list"]
    assert rows and all(set(row) == {"ad_id", "campaign_id"} and row["campaign_id"] == campaign_id for row in rows)
    code, message = _error(api_get(client, "/campaign/get/", advertiser_id=us_advertiser, page_size=1001))
    assert code == 40002 and "page_size" in message


# -- tokens, permissions, rate limits, routing ------------------------------------------------


def test_bad_missing_and_revoked_tokens_get_40105(simulator, client, us_advertiser) -> None:
    for token in ("0" * 40, None):
        response = api_get(client, "/oauth2/advertiser/get/", token=token)
        assert response.status_code == 200
        assert _error(response) == (40105, "Access token is incorrect or has been revoked.")
    simulator.grant("temporary-token-abc", None)
    assert _body(api_get(client, "/campaign/get/", token="temporary-token-abc", advertiser_id=us_advertiser))["code"] == 0
    simulator.revoke("temporary-token-abc")
    response = api_get(client, "/campaign/get/", token="temporary-token-abc", advertiser_id=us_advertiser)
    assert _error(response)[0] == 40105
    assert "temporary-token-abc" not in response.text and "temporary-token-abc" not in repr(simulator)


def test_foreign_advertiser_gets_40001_naming_it(us_advertiser) -> None:
    world = World(seed=7)
    other = world.advertiser_ids[1]
    sim = Simulator(world=world, clock=SimClock(fixed=SIM_NOW), tokens={"agency-token": {us_advertiser}}, qps=None)
    with httpx.Client(base_url="http://sim", transport=sim.transport()) as http:
        listed = _body(api_get(http, "/oauth2/advertiser/get/", token="agency-token"))["data"]["list"]
        assert [row["advertiser_id"] for row in listed] == [us_advertiser]
        ok = api_get(http, REPORT, token="agency-token", **report_params(us_advertiser, "2026-11-18", "2026-11-18"))
        assert _body(ok)["code"] == 0
        for response in (
            api_get(http, REPORT, token="agency-token", **report_params(other, "2026-11-18", "2026-11-18")),
            api_get(http, "/ad/get/", token="agency-token", advertiser_id=other),
            api_get(http, "/advertiser/info/", token="agency-token", advertiser_ids=[us_advertiser, other]),
            api_get(http, "/ad/get/", advertiser_id="1234567890123456789"),
        ):
            code, message = _error(response)
            assert code == 40001
            assert other in message or "1234567890123456789" in message


def test_rate_limit_answers_40100_per_token() -> None:
    ticks = [1000.0]
    sim = Simulator(world=World(seed=7), clock=SimClock(fixed=SIM_NOW), qps=1.0, burst=2,
                    tokens={"second-token": None}, monotonic=lambda: ticks[0])
    with httpx.Client(base_url="http://sim", transport=sim.transport()) as http:
        assert _body(api_get(http, "/oauth2/advertiser/get/"))["code"] == 0
        assert _body(api_get(http, "/oauth2/advertiser/get/"))["code"] == 0
        throttled = api_get(http, "/oauth2/advertiser/get/")
        assert _error(throttled) == (40100, "Too many requests. Please retry in some time.")
        # each token has its own bucket
        assert _body(api_get(http, "/oauth2/advertiser/get/", token="second-token"))["code"] == 0
        ticks[0] += 0.5
        assert _error(api_get(http, "/oauth2/advertiser/get/"))[0] == 40100
        ticks[0] += 0.5
        assert _body(api_get(http, "/oauth2/advertiser/get/"))["code"] == 0


def test_unknown_path_is_http_404_and_wrong_method_405(client) -> None:
    assert client.get(PREFIX + "/report/unknown/get/", headers={"Access-Token": DEFAULT_ACCESS_TOKEN}).status_code == 404
    assert client.get("/open_api/v1.2/ad/get/").status_code == 404
    assert client.post(PREFIX + "/ad/get/", headers={"Access-Token": DEFAULT_ACCESS_TOKEN}).status_code == 405


def test_request_ids_are_unique_and_counts_are_per_path(client, simulator, us_advertiser) -> None:
    ids = {_body(api_get(client, "/campaign/get/", advertiser_id=us_advertiser))["request_id"] for _ in range(5)}
    api_get(client, "/ad/get/", advertiser_id=us_advertiser)
    assert len(ids) == 5
    counts = simulator.request_counts
    assert counts[PREFIX + "/campaign/get/"] == 5 and counts[PREFIX + "/ad/get/"] == 1


def test_settle_days_can_be_given_to_the_simulator() -> None:
    assert Simulator(settle_days=3).world.settle_days == 3
    with pytest.raises(ValueError, match="settle_days"):
        Simulator(world=World(settle_days=7), settle_days=3)


# -- faults in-process ------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "status"), [("http_500", 500), ("http_502", 502), ("http_503", 503)])
def test_gateway_faults_are_real_http_errors_with_html(client, simulator, us_advertiser, kind, status) -> None:
    simulator.faults.inject(kind)
    response = api_get(client, "/ad/get/", advertiser_id=us_advertiser)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html") and "<html>" in response.text
    assert _body(api_get(client, "/ad/get/", advertiser_id=us_advertiser))["code"] == 0


def test_timeout_fault_raises_read_timeout_after_processing(client, simulator) -> None:
    simulator.faults.inject("timeout", path_contains="/event/track/")
    event = {"event": "Purchase", "event_time": int(SIM_NOW.timestamp()), "event_id": "order-1",
             "page": {"url": "https://shop.example.com/thanks"}}
    with pytest.raises(httpx.ReadTimeout):
        client.post(PREFIX + "/event/track/", headers={"Access-Token": DEFAULT_ACCESS_TOKEN},
                    json={"event_source": "web", "event_source_id": "PIXEL1", "data": [event]})
    # The server did the work before the answer was lost: a retry is a duplicate.
    assert len(simulator.events.accepted()) == 1


def test_connection_reset_fault_raises_and_is_not_processed(client, simulator) -> None:
    simulator.faults.inject("connection_reset")
    event = {"event": "Purchase", "event_time": int(SIM_NOW.timestamp()), "event_id": "order-2",
             "page": {"url": "https://shop.example.com/thanks"}}
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(PREFIX + "/event/track/", headers={"Access-Token": DEFAULT_ACCESS_TOKEN},
                    json={"event_source": "web", "event_source_id": "PIXEL1", "data": [event]})
    assert simulator.events.accepted() == []


def test_truncated_fault_cuts_a_valid_body_in_half(client, simulator, us_advertiser) -> None:
    simulator.faults.inject("truncated")
    cut = api_get(client, "/ad/get/", advertiser_id=us_advertiser, page_size=1000)
    whole = api_get(client, "/ad/get/", advertiser_id=us_advertiser, page_size=1000)
    assert cut.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content)
    assert len(cut.content) == len(whole.content) // 2
    assert whole.content.startswith(cut.content[:20])


def test_rate_limit_fault_is_40100(client, simulator, us_advertiser) -> None:
    simulator.faults.inject("rate_limit", count=2)
    assert _error(api_get(client, "/ad/get/", advertiser_id=us_advertiser))[0] == 40100
    assert _error(api_get(client, "/ad/get/", advertiser_id=us_advertiser))[0] == 40100
    assert _body(api_get(client, "/ad/get/", advertiser_id=us_advertiser))["code"] == 0


def test_paging_faults_lie_about_pages(client, simulator, us_advertiser) -> None:
    params = report_params(us_advertiser, "2026-11-10", "2026-11-19")
    truth = _body(api_get(client, REPORT, **params, page_size=50))["data"]
    simulator.faults.inject("total_page_change", path_contains="report")
    changed = _body(api_get(client, REPORT, **params, page_size=50))["data"]
    assert changed["page_info"]["total_page"] == truth["page_info"]["total_page"] + 1
    assert changed["list"] == truth["list"]
    simulator.faults.inject("empty_page", path_contains="report")
    empty = _body(api_get(client, REPORT, **params, page_size=50))["data"]
    assert empty["list"] == [] and empty["page_info"] == truth["page_info"]
    assert truth["page_info"]["total_number"] > 50


def test_faults_only_hit_matching_paths(client, simulator, us_advertiser) -> None:
    simulator.faults.inject("http_503", count=2, path_contains="/ad/get/")
    assert api_get(client, "/campaign/get/", advertiser_id=us_advertiser).status_code == 200
    assert api_get(client, "/ad/get/", advertiser_id=us_advertiser).status_code == 503
    assert api_get(client, "/ad/get/", advertiser_id=us_advertiser).status_code == 503
    assert api_get(client, "/ad/get/", advertiser_id=us_advertiser).status_code == 200
    assert simulator.faults.pending == 0
    with pytest.raises(ValueError, match="Unknown fault kind"):
        simulator.faults.inject("meteor_strike")


def test_random_faults_are_seeded_and_roughly_at_rate(us_advertiser) -> None:
    def run(seed: int) -> list[int]:
        sim = Simulator(world=World(seed=7), clock=SimClock(fixed=SIM_NOW), qps=None)
        sim.faults.random(seed=seed, rate=0.25, kinds=["http_500", "rate_limit"])
        with httpx.Client(base_url="http://sim", transport=sim.transport()) as http:
            outcomes = []
            for _ in range(200):
                response = api_get(http, "/oauth2/advertiser/get/")
                outcomes.append(response.status_code if response.status_code != 200 else response.json()["code"])
            return outcomes

    first, again, other = run(1), run(1), run(2)
    assert first == again and first != other
    failures = sum(outcome != 0 for outcome in first)
    assert 25 <= failures <= 75
    assert {outcome for outcome in first} == {0, 500, 40100}
    sim = Simulator(world=World(seed=7), clock=SimClock(fixed=SIM_NOW), qps=None)
    sim.faults.random(seed=1, rate=0.5)
    sim.faults.clear()
    with httpx.Client(base_url="http://sim", transport=sim.transport()) as http:
        assert all(api_get(http, "/oauth2/advertiser/get/").status_code == 200 for _ in range(20))


def test_project_client_survives_every_fault_in_process(simulator, us_advertiser) -> None:
    for kind in ("http_500", "timeout", "connection_reset", "truncated", "rate_limit", "total_page_change",
                 "empty_page"):
        simulator.faults.inject(kind, path_contains="report")
    tiktok = TikTokClient(DEFAULT_ACCESS_TOKEN, "http://sim", qps=None, transport=simulator.transport(),
                          sleep=lambda _: None)
    rows = tiktok.report(us_advertiser, start=date(2026, 11, 1), end=date(2026, 11, 19), metrics=["spend"],
                         page_size=100)
    truth = simulator.world.report_frame(us_advertiser, "AUCTION_AD", "day", date(2026, 11, 1), date(2026, 11, 19),
                                         SIM_NOW)
    assert simulator.faults.pending == 0
    served = sorted((r["dimensions"]["ad_id"], r["dimensions"]["stat_time_day"], r["metrics"]["spend"]) for r in rows)
    expected = sorted(zip(truth["ad_id"], truth["stat_time"].dt.strftime("%Y-%m-%d %H:%M:%S"),
                          [f"{value:.2f}" for value in truth["spend"]], strict=True))
    assert served == expected
    assert np.isclose(sum(float(r[2]) for r in served), truth["spend"].sum())
