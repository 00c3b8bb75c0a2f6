"""TopView, Upgraded Smart+ and GMV Max against their contract cases (FACTS.md section 14), both ways:

the client, the parsers and the warehouse writes replay each case (the recording is the oracle), and the
simulator, set up as the answer came about, serves the same shape (``cases.shape_signature``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from tiktok_assets.simulator.realism import Realism
from tiktok_assets.spend.gmv_max import available_stores, parse_gmv_max_rows
from tiktok_assets.spend.pull import AdvertiserProfile
from tiktok_assets.tiktok.reports import parse_report_rows
from tiktok_assets_tests.contract.cases import load_case
from tiktok_assets_tests.contract.test_client_contract import ADVERTISER, replay
from tiktok_assets_tests.contract.test_simulator_contract import (  # noqa: F401 - fixtures
    REPORT,
    _rows,
    assert_same_shape,
    get,
    sim,
)

CAMPAIGNS = "/open_api/v1.3/campaign/get/"
CASE_DAY = date(2026, 11, 17)


@pytest.fixture
def engine(tmp_path):
    from tiktok_assets.warehouse import create_schema, make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    create_schema(engine)
    yield engine
    engine.dispose()


# -- TopView ---------------------------------------------------------------------------------------------


def test_client_lists_topview_campaigns_in_a_call_of_their_own_and_history_keeps_the_buying_type(engine) -> None:
    from tiktok_assets.warehouse.entities import write_entity_snapshot

    case = load_case("campaigns_topview")
    client, transport = replay("campaigns_official_example", "campaigns_topview")
    with client:
        rows = client.every_buying_type("campaign", ADVERTISER)
    # The default listing (AUCTION and RESERVATION_RF), then RESERVATION_TOP_VIEW alone, as TikTok requires.
    asked = [request.json_param("filtering") for request in transport.requests]
    assert asked == [{"primary_status": "STATUS_ALL"},
                     {"primary_status": "STATUS_ALL", "buying_types": ["RESERVATION_TOP_VIEW"]}]
    write_entity_snapshot(engine, "campaign", ADVERTISER, rows, datetime(2026, 11, 19, tzinfo=UTC))
    stored = pd.read_sql("select * from campaign_history", engine).set_index("campaign_id")
    (topview,) = case.expected["topview_ids"]
    assert stored.loc[topview, "buying_type"] == case.expected["buying_type"]
    assert stored.loc[topview, "rf_campaign_type"] == case.expected["rf_campaign_type"]
    assert stored.loc[topview, "campaign_automation_type"] == "MANUAL"
    (rf,) = load_case("campaigns_official_example").expected["reservation_ids"]
    assert stored.loc[rf, "buying_type"] == "RESERVATION_RF" and stored.loc[rf, "rf_campaign_type"] == "STANDARD"
    assert set(stored["buying_type"]) == {"AUCTION", "RESERVATION_RF", "RESERVATION_TOP_VIEW"}


def test_simulator_serves_topview_campaigns_only_when_asked_alone(sim) -> None:
    case = load_case("campaigns_topview")
    advertiser = next(a for a in sim.world.advertiser_ids if "RESERVATION_TOP_VIEW" in sim.world.buying_types(a).values())
    answer = get(sim, CAMPAIGNS, {"advertiser_id": advertiser, "page_size": 1000,
                                  "filtering": case.first.query["filtering"]})
    body = assert_same_shape(case.first, answer, extra_row_keys=True)
    topview = {c for c, kind in sim.world.buying_types(advertiser).items() if kind == "RESERVATION_TOP_VIEW"}
    assert {row["campaign_id"] for row in _rows(body)} == topview
    assert {row["rf_campaign_type"] for row in _rows(body)} == {case.expected["rf_campaign_type"]}
    default = get(sim, CAMPAIGNS, {"advertiser_id": advertiser, "page_size": 1000}).json()
    assert not topview & {row["campaign_id"] for row in _rows(default)}


# -- Upgraded Smart+ ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("case_name", ["report_smart_plus_ad_level", "report_smart_plus_creative_level"])
def test_client_reads_smart_plus_rows_by_ad_and_by_creative(case_name) -> None:
    case = load_case(case_name)
    client, _ = replay(case_name)
    params = {name: value for name, value in case.first.query.items()}
    with client:
        rows = client.all_pages("/report/integrated/get/", {**params, "start_date": "2026-11-17",
                                                            "end_date": "2026-11-17"}, advertiser_id=ADVERTISER)
    frame = parse_report_rows(rows, id_dimension=case.expected["id_dimension"], time_dimension="stat_time_day",
                              metrics=["spend", "impressions"], advertiser_id=ADVERTISER)
    assert len(frame) == case.expected["rows"]
    assert round(float(frame["spend"].sum()), 2) == case.expected["spend"]
    assert {row["metrics"]["campaign_automation_type"] for row in rows} == {case.expected["automation_type"]}


@pytest.mark.parametrize("case_name", ["report_smart_plus_ad_level", "report_smart_plus_creative_level"])
def test_simulator_serves_smart_plus_rows_by_ad_v2_and_by_creative(sim, case_name) -> None:
    case = load_case(case_name)
    advertiser = next(a for a in sim.world.advertiser_ids if sim.world.smart_plus_campaign_ids(a))
    query = case.first.query
    answer = get(sim, REPORT, {**query, "advertiser_id": advertiser, "service_type": "AUCTION",
                               "start_date": CASE_DAY.isoformat(), "end_date": CASE_DAY.isoformat(), "page": 1,
                               "page_size": 1000})
    body = assert_same_shape(case.first, answer)
    kinds = {row["metrics"]["campaign_automation_type"] for row in _rows(body)}
    assert case.expected["automation_type"] in kinds and kinds <= {case.expected["automation_type"], "MANUAL"}


def test_smart_plus_creative_rows_add_up_to_their_ads_rows(sim) -> None:
    advertiser = next(a for a in sim.world.advertiser_ids if sim.world.smart_plus_campaign_ids(a))
    by = {}
    for dimension in ("ad_id", "ad_id_v2"):
        body = get(sim, REPORT, {"advertiser_id": advertiser, "report_type": "BASIC", "data_level": "AUCTION_AD",
                                 "dimensions": [dimension, "stat_time_day"], "metrics": ["spend", "impressions"],
                                 "start_date": CASE_DAY.isoformat(), "end_date": CASE_DAY.isoformat(),
                                 "page_size": 1000}).json()
        by[dimension] = {row["dimensions"][dimension]: (float(row["metrics"]["spend"]),
                                                        int(row["metrics"]["impressions"])) for row in _rows(body)}
    v2_of = sim.world.ad_ids_v2(advertiser)
    summed: dict[str, list[float]] = {}
    for ad_id, (spend, impressions) in by["ad_id"].items():
        totals = summed.setdefault(v2_of[ad_id], [0.0, 0])
        totals[0] += spend
        totals[1] += impressions
    assert {key: (round(spend, 2), impressions) for key, (spend, impressions) in summed.items()} == by["ad_id_v2"]
    # Fewer rows by ad than by creative: one Smart+ ad groups several creatives.
    assert len(by["ad_id_v2"]) < len(by["ad_id"])


# -- GMV Max -----------------------------------------------------------------------------------------------


def test_client_reports_only_the_shops_available_for_gmv_max() -> None:
    case = load_case("gmv_max_store_list")
    client, _ = replay("gmv_max_store_list")
    with client:
        assert available_stores(client, ADVERTISER) == case.expected["available"]


def test_client_reads_and_stores_a_gmv_max_day_with_empty_orders_as_null(engine) -> None:
    from tiktok_assets.warehouse.levels import read_gmv_max_stats, write_gmv_max_partitions

    case = load_case("gmv_max_report_campaign_daily")
    (store,) = case.first.query["store_ids"]
    client, transport = replay("gmv_max_report_campaign_daily")
    metrics = list(case.first.body["data"]["list"][0]["metrics"])
    with client:
        rows = client.gmv_max_report(ADVERTISER, store, start=date(2026, 11, 17), end=date(2026, 11, 18),
                                     metrics=metrics)
    (request,) = transport.requests
    # filtering is an object here (not the integrated report's list), deleted campaigns asked for too.
    assert request.json_param("filtering") == {"gmv_max_promotion_types": ["PRODUCT"],
                                               "campaign_statuses": ["STATUS_ALL"]}
    profile = AdvertiserProfile(ADVERTISER, "Shop", "USD", "UTC-08:00")
    frame = parse_gmv_max_rows(rows, profile, store, "PRODUCT")
    (row,) = frame.to_dict("records")
    expected = case.expected
    assert (row["campaign_id"], str(row["stat_date"])) == (expected["campaign_id"], expected["stat_date"])
    assert (row["cost"], row["net_cost"], row["gross_revenue"], row["roi"]) == (
        expected["cost"], expected["net_cost"], expected["gross_revenue"], expected["roi"])
    assert pd.isna(row["orders"]) and expected["orders"] is None
    write_gmv_max_partitions(engine, {(ADVERTISER, date(2026, 11, 17)): frame}, datetime(2026, 11, 19, tzinfo=UTC))
    stored = read_gmv_max_stats(engine, date(2026, 11, 17), date(2026, 11, 17))
    assert len(stored) == 1 and pd.isna(stored["orders"].iloc[0]) and float(stored["cost"].iloc[0]) == 12.5


def test_simulator_serves_the_recorded_gmv_max_shapes(sim) -> None:
    sim.realism = Realism(lowercase_ok=True, omit_request_id=True)
    advertiser = next(a for a in sim.world.advertiser_ids if sim.world.gmv_max.stores(a))
    stores_case = load_case("gmv_max_store_list")
    stores = get(sim, stores_case.first.path, {"advertiser_id": advertiser})
    assert_same_shape(stores_case.first, stores)
    store = next(row["store_id"] for row in stores.json()["data"]["store_list"] if row["is_gmv_max_available"])
    case = load_case("gmv_max_report_campaign_daily")
    metrics = list(case.first.body["data"]["list"][0]["metrics"])
    answer = get(sim, case.first.path, {"advertiser_id": advertiser, "store_ids": [store],
                                        "dimensions": ["campaign_id", "stat_time_day"], "metrics": metrics,
                                        "filtering": {"gmv_max_promotion_types": ["PRODUCT"]},
                                        "start_date": "2026-11-17", "end_date": "2026-11-18", "page_size": 1000})
    body = assert_same_shape(case.first, answer)
    assert body["code"] == 0 and len(_rows(body)) == 2
    # The integrated report's list-shaped filtering is refused: this endpoint takes an object.
    refused = get(sim, case.first.path, {"advertiser_id": advertiser, "store_ids": [store],
                                         "dimensions": ["campaign_id", "stat_time_day"], "metrics": ["cost"],
                                         "filtering": [{"field_name": "campaign_ids"}],
                                         "start_date": "2026-11-17", "end_date": "2026-11-18"}).json()
    assert refused["code"] == 40002


def test_simulator_serves_topview_report_rows_with_the_buying_type_filter(sim) -> None:
    # TikTok: "To retrieve the reporting data of TopView ads, use the basic reports ... and specify the value
    # RESERVATION_TOP_VIEW for the buying_type filter" (docs 1740302848100353).
    advertiser = next(a for a in sim.world.advertiser_ids if "RESERVATION_TOP_VIEW" in sim.world.buying_types(a).values())
    (topview,) = [c for c, kind in sim.world.buying_types(advertiser).items() if kind == "RESERVATION_TOP_VIEW"]
    params = {"advertiser_id": advertiser, "report_type": "BASIC", "data_level": "AUCTION_CAMPAIGN",
              "dimensions": ["campaign_id", "stat_time_day"], "metrics": ["spend", "impressions"],
              "start_date": CASE_DAY.isoformat(), "end_date": CASE_DAY.isoformat(), "page_size": 1000}
    plain = get(sim, REPORT, params).json()
    assert topview not in {row["dimensions"]["campaign_id"] for row in _rows(plain)}
    filtered = get(sim, REPORT, {**params, "filtering": [{"field_name": "buying_type", "filter_type": "IN",
                                                          "filter_value": '["RESERVATION_TOP_VIEW"]'}]}).json()
    assert filtered["code"] == 0
    (row,) = _rows(filtered)
    truth = sim.world.report_frame(advertiser, "RESERVATION_CAMPAIGN", "day", CASE_DAY, CASE_DAY, sim.clock.now(),
                                   service_type="RESERVATION")
    expected = truth[truth["campaign_id"] == topview]
    assert row["dimensions"]["campaign_id"] == topview
    assert float(row["metrics"]["spend"]) == pytest.approx(float(expected["spend"].iloc[0]))
    mixed = get(sim, REPORT, {**params, "filtering": [{"field_name": "buying_type", "filter_type": "IN",
                                                       "filter_value": '["RESERVATION_TOP_VIEW", "AUCTION"]'}]})
    assert mixed.json()["code"] == 40002
