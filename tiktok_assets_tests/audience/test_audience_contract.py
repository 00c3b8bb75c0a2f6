"""AUDIENCE reports against the recorded cases: the client asks what Airbyte's tested request asks, the simulator
answers in the recorded shape, and the recorded values parse (contract cases report_audience_*)."""

from __future__ import annotations

from datetime import date

import pytest

from tiktok_assets.audience.breakdowns import BREAKDOWNS
from tiktok_assets.audience.pull import parse_audience_rows
from tiktok_assets.simulator import SimClock, Simulator, World
from tiktok_assets.simulator.breakdowns import AUDIENCE_VALUES
from tiktok_assets.simulator.realism import Realism
from tiktok_assets.tiktok.client import TikTokClient
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.contract.cases import ReplayTransport, load_case
from tiktok_assets_tests.contract.test_simulator_contract import REPORT, assert_same_shape, get, report_params

TOKEN = "contract-token-audience-00000000000000000"


def test_the_client_asks_the_province_breakdown_as_airbytes_tested_request_does() -> None:
    case = load_case("report_audience_province_ad_level")
    transport = ReplayTransport([case], token=TOKEN)
    client = TikTokClient(TOKEN, transport=transport, qps=None, sleep=lambda seconds: None, seed=1)
    with client:
        rows = client.report("872746382648", start=date(2024, 1, 1), end=date(2024, 1, 1), metrics=case.metrics,
                             data_level="AUCTION_AD", audience=BREAKDOWNS["province"].dimensions)
    assert len(rows) == case.expected["rows"]
    (sent,) = transport.requests
    assert sent.query["report_type"] == "AUDIENCE" and sent.query["service_type"] == "AUCTION"
    assert "ad_status" in sent.query["filtering"], "deleted ads' rows are asked for"


def test_the_client_refuses_an_hourly_audience_report() -> None:
    with TikTokClient(TOKEN, transport=ReplayTransport([], token=TOKEN), qps=None) as client, \
            pytest.raises(ValueError, match="daily only"):
        client.report("1", start=date(2024, 1, 1), end=date(2024, 1, 1), metrics=["spend"], granularity="hour",
                      audience=("age",))


def test_the_recorded_dimension_values_are_values_the_simulator_serves_and_they_parse() -> None:
    case = load_case("report_audience_lifetime_age_gender")
    rows = case.first.body["data"]["list"]
    for name, values in case.expected["dimension_values"].items():
        assert sorted({row["dimensions"][name] for row in rows}) == values
        assert set(values) <= set(AUDIENCE_VALUES[name])
    # As a daily campaign row: stat_time_day beside the recorded dimensions (Airbyte's daily streams' primary
    # key), and conversion, which the recorded advertiser-level request did not ask for, as TikTok's empty "-".
    daily = [{"dimensions": {**row["dimensions"], "stat_time_day": "2024-01-01 00:00:00",
                             "campaign_id": row["dimensions"]["advertiser_id"]},
              "metrics": {**row["metrics"], "conversion": "-"}} for row in rows]
    parsed = parse_audience_rows(daily, BREAKDOWNS["age_gender"], "campaign", "USD", "872746382648")
    assert parsed["spend"].sum() == pytest.approx(case.expected["spend"])
    assert int(parsed["impressions"].sum()) == case.expected["impressions"]
    assert parsed["entity_id"].tolist() == ["872746382648"] * 2, "a JSON-number id is kept exact, as text"
    assert set(zip(parsed["breakdown_value"], parsed["breakdown_value_2"], strict=True)) == {
        ("AGE_35_44", "MALE"), ("AGE_55_100", "FEMALE")}


def test_the_simulator_answers_an_audience_report_in_the_recorded_shape() -> None:
    case = load_case("report_audience_lifetime_age_gender")
    sim = Simulator(world=World(seed=7), clock=SimClock(fixed=SIM_NOW), qps=None,
                    realism=Realism(omit_page_info=frozenset({"/report/integrated/get/"}), numeric_ids=True, lowercase_ok=True,
                                    omit_request_id=True))
    advertiser = sim.world.advertiser_ids[0]
    answer = get(sim, REPORT, report_params(advertiser, case.metrics, report_type="AUDIENCE",
                                            data_level="AUCTION_ADVERTISER", lifetime="true",
                                            dimensions=["advertiser_id", "gender", "age"]))
    assert_same_shape(case.first, answer)


def test_the_simulator_answers_the_province_request_in_the_recorded_shape() -> None:
    case = load_case("report_audience_province_ad_level")
    sim = Simulator(world=World(seed=7), clock=SimClock(fixed=SIM_NOW), qps=None,
                    realism=Realism(omit_page_info=frozenset({"/report/integrated/get/"}), lowercase_ok=True,
                                    omit_request_id=True))
    # The recorded day had no delivery: neither had any simulated account in 2020.
    query = {**case.first.query, "start_date": "2020-01-01", "end_date": "2020-01-01"}
    answer = get(sim, REPORT, report_params(sim.world.advertiser_ids[0], case.metrics, **query))
    assert_same_shape(case.first, answer)
