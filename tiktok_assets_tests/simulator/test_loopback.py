"""The simulator over a real socket (uvicorn on 127.0.0.1): same answers, same errors, every fault."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import httpx
import pytest

from tiktok_assets.simulator import DEFAULT_ACCESS_TOKEN, SimClock, Simulator, World, serve
from tiktok_assets.tiktok.client import TikTokClient
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.simulator.conftest import PREFIX, api_get, report_params

REPORT = "/report/integrated/get/"


@pytest.fixture
def socket_client(loopback_simulator):
    simulator, base_url = loopback_simulator
    with httpx.Client(base_url=base_url, timeout=5.0) as http:
        yield simulator, http


def _strip_request_id(body: dict) -> dict:
    return {key: value for key, value in body.items() if key != "request_id"}


def test_socket_and_in_process_answers_are_identical(socket_client, us_advertiser) -> None:
    simulator, http = socket_client
    params = report_params(us_advertiser, "2026-11-01", "2026-11-19", page_size=40, page=2)
    over_socket = api_get(http, REPORT, **params)
    assert over_socket.status_code == 200 and over_socket.headers["content-type"] == "application/json"
    with httpx.Client(base_url="http://sim", transport=simulator.transport()) as local:
        in_process = api_get(local, REPORT, **params)
    body = over_socket.json()
    assert body["code"] == 0 and body["data"]["page_info"]["total_page"] > 2
    assert all(isinstance(v, str) for row in body["data"]["list"] for v in row["metrics"].values())
    assert _strip_request_id(body) == _strip_request_id(in_process.json())


def test_errors_over_the_socket_are_http_200_envelopes(socket_client, us_advertiser) -> None:
    _, http = socket_client
    cases = [
        (api_get(http, "/ad/get/", token="wrong", advertiser_id=us_advertiser), 40105),
        (api_get(http, REPORT, **report_params(us_advertiser, "2026-10-01", "2026-11-19")), 40002),
        (api_get(http, REPORT, **report_params("1234567890123456789", "2026-11-18", "2026-11-18")), 40001),
    ]
    for response, code in cases:
        assert response.status_code == 200
        assert response.json()["code"] == code and response.json()["request_id"]
    assert api_get(http, "/nothing/here/").status_code == 404


@pytest.mark.parametrize(("kind", "status"), [("http_500", 500), ("http_502", 502), ("http_503", 503)])
def test_gateway_faults_over_the_socket(socket_client, us_advertiser, kind, status) -> None:
    simulator, http = socket_client
    simulator.faults.inject(kind)
    response = api_get(http, "/ad/get/", advertiser_id=us_advertiser)
    assert response.status_code == status and "<html>" in response.text


def test_timeout_fault_makes_the_client_time_out_then_the_server_recovers(socket_client, us_advertiser) -> None:
    simulator, http = socket_client
    simulator.faults.timeout_seconds = 3.0
    simulator.faults.inject("timeout")
    with httpx.Client(base_url=str(http.base_url), timeout=0.3) as impatient, pytest.raises(httpx.ReadTimeout):
        api_get(impatient, "/ad/get/", advertiser_id=us_advertiser)
    assert api_get(http, "/ad/get/", advertiser_id=us_advertiser).json()["code"] == 0


def test_connection_reset_fault_over_the_socket(socket_client, us_advertiser) -> None:
    simulator, http = socket_client
    simulator.faults.inject("connection_reset")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        api_get(http, "/ad/get/", advertiser_id=us_advertiser)
    assert api_get(http, "/ad/get/", advertiser_id=us_advertiser).json()["code"] == 0


def test_body_faults_over_the_socket(socket_client, us_advertiser) -> None:
    simulator, http = socket_client
    params = report_params(us_advertiser, "2026-11-10", "2026-11-19", page_size=50)
    truth = api_get(http, REPORT, **params).json()["data"]
    simulator.faults.inject("truncated")
    cut = api_get(http, REPORT, **params)
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content)
    simulator.faults.inject("rate_limit")
    assert api_get(http, REPORT, **params).json()["code"] == 40100
    simulator.faults.inject("total_page_change")
    assert api_get(http, REPORT, **params).json()["data"]["page_info"]["total_page"] == truth["page_info"]["total_page"] + 1
    simulator.faults.inject("empty_page")
    empty = api_get(http, REPORT, **params).json()["data"]
    assert empty["list"] == [] and empty["page_info"]["total_number"] == truth["page_info"]["total_number"] > 50


def test_project_client_gets_the_ground_truth_through_random_faults(us_advertiser) -> None:
    world = World(seed=7)
    sim = Simulator(world=world, clock=SimClock(fixed=SIM_NOW), qps=None, timeout_seconds=2.0)
    # Paging faults force a restart from page 1, so they come once each; per-request faults come at random.
    sim.faults.inject("total_page_change", path_contains="report")
    sim.faults.inject("empty_page", path_contains="report")
    sim.faults.random(seed=5, rate=0.3, kinds=["http_502", "timeout", "connection_reset", "truncated", "rate_limit"])
    with serve(sim) as base_url:
        client = TikTokClient(DEFAULT_ACCESS_TOKEN, base_url, qps=None, timeout=0.5, sleep=lambda _: None, seed=1)
        client.retry = type(client.retry)(max_attempts=12)
        rows = client.report(us_advertiser, start=date(2026, 11, 5), end=date(2026, 11, 19), metrics=["conversion"],
                             page_size=20)
    truth = world.report_frame(us_advertiser, "AUCTION_AD", "day", date(2026, 11, 5), date(2026, 11, 19), SIM_NOW)
    assert sum(sim.faults.delivered.values()) >= 5 and sim.faults.pending == 0
    served = sorted((r["dimensions"]["ad_id"], r["dimensions"]["stat_time_day"], int(r["metrics"]["conversion"]))
                    for r in rows)
    expected = sorted(zip(truth["ad_id"], truth["stat_time"].dt.strftime("%Y-%m-%d %H:%M:%S"),
                          truth["conversion"].astype(int), strict=True))
    assert served == expected


def test_serve_stops_listening_on_exit() -> None:
    sim = Simulator(world=World(seed=7), clock=SimClock(fixed=SIM_NOW), qps=None)
    with serve(sim) as base_url, httpx.Client(base_url=base_url) as http:
        assert api_get(http, "/oauth2/advertiser/get/").json()["code"] == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(base_url + PREFIX + "/oauth2/advertiser/get/", timeout=1.0)


def test_command_line_serves_and_prints_url_and_token() -> None:
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-m", "tiktok_assets.simulator", "--port", "0", "--seed", "3", "--ads", "40"],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        url = re.search(r"TIKTOK_API_BASE_URL=(http://127\.0\.0\.1:\d+)", "".join(lines))
        assert url, lines
        assert DEFAULT_ACCESS_TOKEN in "".join(lines)
        with httpx.Client(base_url=url.group(1), timeout=5.0) as http:
            listed = api_get(http, "/oauth2/advertiser/get/").json()["data"]["list"]
        assert len(listed) == 2
    finally:
        # Cleanup only: a host loaded by parallel tests can take longer than the server's graceful
        # shutdown to let it go, so it gets a kill after a while rather than failing the test.
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
