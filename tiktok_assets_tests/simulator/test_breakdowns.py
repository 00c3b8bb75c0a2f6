"""AUDIENCE breakdowns and lifetime reports: every breakdown sums to its BASIC total, over HTTP."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import numpy as np
import pytest

from tiktok_assets.simulator import DEFAULT_ACCESS_TOKEN, SimClock, Simulator, World
from tiktok_assets.simulator.breakdowns import AUDIENCE_VALUES, split_integers
from tiktok_assets_tests.conftest import SIM_NOW

DAYS = (date(2026, 1, 2), date(2026, 1, 3))
ADDITIVE = ("spend", "impressions", "clicks", "conversion")


@pytest.fixture(scope="module")
def sim() -> Simulator:
    return Simulator(world=World(seed=7), clock=SimClock(fixed=SIM_NOW), qps=None)


def rows(sim: Simulator, **params: Any) -> list[dict[str, Any]]:
    query = {"advertiser_id": sim.world.advertiser_ids[0], "service_type": "AUCTION", "report_type": "BASIC",
             "data_level": "AUCTION_AD", "metrics": list(ADDITIVE) + ["ctr", "cpc", "cpm", "reach"],
             "start_date": DAYS[0].isoformat(), "end_date": DAYS[1].isoformat(), "page_size": 1000, **params}
    out: list[dict[str, Any]] = []
    page = 1
    with httpx.Client(base_url="https://business-api.tiktok.com", transport=sim.transport(),
                      headers={"Access-Token": DEFAULT_ACCESS_TOKEN}) as client:
        while True:
            encoded = {k: json.dumps(v) if isinstance(v, list) else str(v) for k, v in {**query, "page": page}.items()}
            body = client.get("/open_api/v1.3/report/integrated/get/", params=encoded).json()
            assert body["code"] == 0, body
            out += body["data"]["list"]
            if page >= body["data"]["page_info"]["total_page"]:
                return out
            page += 1


def totals(report: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[tuple[str, ...], dict[str, Decimal]]:
    summed: dict[tuple[str, ...], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in report:
        key = tuple(str(row["dimensions"][name]) for name in keys)
        for metric in ADDITIVE:
            summed[key][metric] += Decimal(str(row["metrics"][metric]))
    return {key: dict(value) for key, value in summed.items()}


def test_split_integers_sums_exactly_and_is_near_proportional() -> None:
    totals_ = np.array([0, 1, 7, 12345, 999_999])
    weights = np.tile(np.array([0.5, 0.3, 0.2]), (5, 1))
    parts = split_integers(totals_, weights)
    assert parts.sum(axis=1).tolist() == totals_.tolist()
    assert np.all(np.abs(parts - totals_[:, None] * weights) < 1)


@pytest.mark.parametrize("level", ["AD", "ADGROUP", "CAMPAIGN", "ADVERTISER"])
@pytest.mark.parametrize("breakdown", [["gender", "age"], ["country_code"], ["platform"], ["province_id"]])
def test_audience_breakdown_sums_to_basic_total(sim: Simulator, level: str, breakdown: list[str]) -> None:
    id_dim = {"AD": "ad_id", "ADGROUP": "adgroup_id", "CAMPAIGN": "campaign_id", "ADVERTISER": "advertiser_id"}[level]
    basic = rows(sim, data_level=f"AUCTION_{level}", dimensions=[id_dim, "stat_time_day"])
    audience = rows(sim, report_type="AUDIENCE", data_level=f"AUCTION_{level}",
                    dimensions=[id_dim, "stat_time_day", *breakdown])
    assert basic and len(audience) > len(basic)
    assert totals(audience, (id_dim, "stat_time_day")) == totals(basic, (id_dim, "stat_time_day"))
    for row in audience:
        for name in breakdown:
            assert row["dimensions"][name] in AUDIENCE_VALUES[name]
        impressions, clicks = int(row["metrics"]["impressions"]), int(row["metrics"]["clicks"])
        if impressions:
            assert row["metrics"]["ctr"] == f"{clicks / impressions * 100:.2f}"


def test_audience_breakdown_is_deterministic(sim: Simulator) -> None:
    params = dict(report_type="AUDIENCE", dimensions=["ad_id", "stat_time_day", "country_code"])
    assert rows(sim, **params) == rows(sim, **params)


def test_basic_report_by_country_sums_to_basic_total(sim: Simulator) -> None:
    basic = rows(sim, dimensions=["ad_id", "stat_time_hour"], start_date=DAYS[1].isoformat())
    by_country = rows(sim, dimensions=["ad_id", "stat_time_hour", "country_code"], start_date=DAYS[1].isoformat())
    assert totals(by_country, ("ad_id", "stat_time_hour")) == totals(basic, ("ad_id", "stat_time_hour"))


@pytest.mark.parametrize("level", ["AD", "CAMPAIGN", "ADVERTISER"])
def test_lifetime_report_is_the_sum_of_every_day(sim: Simulator, level: str) -> None:
    id_dim = {"AD": "ad_id", "CAMPAIGN": "campaign_id", "ADVERTISER": "advertiser_id"}[level]
    today = SIM_NOW.date()
    daily: list[dict[str, Any]] = []
    first = sim.world.epoch
    while first <= today:  # TikTok serves at most 30 days a request
        last = min(today, first + timedelta(days=29))
        daily += rows(sim, data_level=f"AUCTION_{level}", dimensions=[id_dim, "stat_time_day"],
                      start_date=first.isoformat(), end_date=last.isoformat())
        first = last + timedelta(days=1)
    lifetime = rows(sim, data_level=f"AUCTION_{level}", dimensions=[id_dim], query_lifetime="true")
    assert all(set(row["dimensions"]) == {id_dim} for row in lifetime)
    assert totals(lifetime, (id_dim,)) == totals(daily, (id_dim,))


def test_audience_lifetime_sums_to_basic_lifetime(sim: Simulator) -> None:
    basic = rows(sim, data_level="AUCTION_ADVERTISER", dimensions=["advertiser_id"], query_lifetime="true")
    audience = rows(sim, report_type="AUDIENCE", data_level="AUCTION_ADVERTISER",
                    dimensions=["advertiser_id", "gender", "age"], query_lifetime="true")
    assert totals(audience, ("advertiser_id",)) == totals(basic, ("advertiser_id",))


@pytest.mark.parametrize("params", [
    dict(report_type="AUDIENCE", dimensions=["ad_id", "stat_time_day"]),
    dict(report_type="AUDIENCE", dimensions=["ad_id", "stat_time_hour", "age"]),
    dict(report_type="AUDIENCE", dimensions=["ad_id", "stat_time_day", "shoe_size"]),
    dict(dimensions=["ad_id", "stat_time_day", "age"]),
    dict(dimensions=["ad_id", "stat_time_day"], query_lifetime="true"),
    dict(dimensions=["ad_id"]),
    dict(report_type="PLAYABLE_MATERIAL", dimensions=["ad_id", "stat_time_day"]),
])
def test_invalid_report_shapes_are_rejected_with_40002(sim: Simulator, params: dict[str, Any]) -> None:
    query = {"advertiser_id": sim.world.advertiser_ids[0], "service_type": "AUCTION", "report_type": "BASIC",
             "data_level": "AUCTION_AD", "metrics": ["spend"], "start_date": DAYS[0].isoformat(),
             "end_date": DAYS[1].isoformat(), **params}
    with httpx.Client(base_url="https://business-api.tiktok.com", transport=sim.transport(),
                      headers={"Access-Token": DEFAULT_ACCESS_TOKEN}) as client:
        body = client.get("/open_api/v1.3/report/integrated/get/",
                          params={k: json.dumps(v) if isinstance(v, list) else v for k, v in query.items()}).json()
    assert body["code"] == 40002, body
