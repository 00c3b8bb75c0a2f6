"""Throttling as TikTok and the gateways before it answer: 40100 per app/token, 40133 per advertiser, HTTP 429.

40133's message is TikTok's as recorded in airbytehq/airbyte source-tiktok-marketing
unit_tests/integration/test_reports_daily_window_splitting.py (tiktok_assets_tests/contract/FACTS.md section 3).
"""

from __future__ import annotations

from datetime import date

import httpx

from tiktok_assets.simulator import DEFAULT_ACCESS_TOKEN, SimClock, Simulator, World
from tiktok_assets.tiktok.client import TikTokClient
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.simulator.conftest import api_get


def test_advertiser_limit_is_40133_with_tiktoks_message_and_separate_from_40100() -> None:
    ticks = [1000.0]
    world = World(seed=7)
    usd, eur = world.advertiser_ids[:2]
    sim = Simulator(world=world, clock=SimClock(fixed=SIM_NOW), qps=100.0, burst=100, advertiser_qps=2.0,
                    advertiser_burst=2, monotonic=lambda: ticks[0])
    with httpx.Client(base_url="http://sim", transport=sim.transport()) as http:
        assert [api_get(http, "/ad/get/", advertiser_id=usd).json()["code"] for _ in range(2)] == [0, 0]
        body = api_get(http, "/ad/get/", advertiser_id=usd).json()
        assert body["code"] == 40133
        assert body["message"] == (f"Advertiser ({usd})'s QPS (3) reaches QPS limit 2 for current path, request is "
                                   "temporarily restricted.")
        # another advertiser, same token: its own bucket
        assert api_get(http, "/ad/get/", advertiser_id=eur).json()["code"] == 0
        ticks[0] += 0.5
        assert api_get(http, "/ad/get/", advertiser_id=usd).json()["code"] == 0


def test_faults_for_40133_and_http_429(client, simulator, us_advertiser) -> None:
    simulator.faults.inject("advertiser_rate_limit")
    body = api_get(client, "/ad/get/", advertiser_id=us_advertiser).json()
    assert body["code"] == 40133 and us_advertiser in body["message"]
    simulator.faults.inject("http_429")
    response = api_get(client, "/ad/get/", advertiser_id=us_advertiser)
    assert response.status_code == 429 and "retry-after" not in response.headers
    assert api_get(client, "/ad/get/", advertiser_id=us_advertiser).json()["code"] == 0


def test_the_client_rides_out_both_throttles(simulator, us_advertiser) -> None:
    for kind in ("advertiser_rate_limit", "http_429", "advertiser_rate_limit"):
        simulator.faults.inject(kind, path_contains="report")
    tiktok = TikTokClient(DEFAULT_ACCESS_TOKEN, "http://sim", qps=None, transport=simulator.transport(),
                          sleep=lambda _: None)
    rows = tiktok.report(us_advertiser, start=date(2026, 11, 18), end=date(2026, 11, 18), metrics=["spend"])
    assert rows and simulator.faults.pending == 0


def test_wrong_app_credentials_are_40101_echoing_the_secret() -> None:
    sim = Simulator(world=World(seed=7), clock=SimClock(fixed=SIM_NOW), qps=None,
                    app_secrets={"7290011223344556677": "the-right-secret"})
    with httpx.Client(base_url="http://sim", transport=sim.transport()) as http:
        wrong = api_get(http, "/oauth2/advertiser/get/", app_id="7290011223344556677", secret="a-wrong-secret").json()
        assert wrong["code"] == 40101 and "a-wrong-secret" in wrong["message"]
        right = api_get(http, "/oauth2/advertiser/get/", app_id="7290011223344556677", secret="the-right-secret")
        assert right.json()["code"] == 0 and right.json()["data"]["list"]
        assert api_get(http, "/oauth2/advertiser/get/", app_id="7290011223344556677").json()["code"] == 40002
        # other routes never ask for app credentials
        assert api_get(http, "/ad/get/", advertiser_id=sim.world.advertiser_ids[0]).json()["code"] == 0
