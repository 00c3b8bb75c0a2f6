"""The TikTok client against the simulator over a real loopback socket."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from tiktok_assets.simulator import DEFAULT_ACCESS_TOKEN
from tiktok_assets.tiktok import errors
from tiktok_assets.tiktok.client import RetryPolicy, TikTokClient
from tiktok_assets.tiktok.reports import parse_report_rows

FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.01)
METRICS = ["spend", "impressions", "clicks", "conversion"]


@pytest.fixture
def api(loopback_simulator):
    simulator, base_url = loopback_simulator
    with TikTokClient(DEFAULT_ACCESS_TOKEN, base_url, qps=None, retry=FAST_RETRY, timeout=2.0) as client:
        yield simulator, client


def _advertiser(simulator) -> str:
    return simulator.world.advertiser_ids[0]


def test_paging_across_several_pages_returns_every_row_once(api) -> None:
    simulator, client = api
    advertiser_id = _advertiser(simulator)
    ads_small_pages = client.all_pages("/ad/get/", {"advertiser_id": advertiser_id}, advertiser_id=advertiser_id,
                                       page_size=5)
    ads_one_page = client.ads(advertiser_id)
    assert len(ads_one_page) > 10, "the world should have enough ads to need several pages of 5"
    assert [ad["ad_id"] for ad in ads_small_pages] == [ad["ad_id"] for ad in ads_one_page]
    assert len({ad["ad_id"] for ad in ads_small_pages}) == len(ads_small_pages)
    expected_pages = -(-len(ads_one_page) // 5)
    assert simulator.request_counts["/open_api/v1.3/ad/get/"] == expected_pages + 1


def test_report_range_is_split_to_the_api_limits_and_matches_the_world(api) -> None:
    simulator, client = api
    advertiser_id = _advertiser(simulator)
    start, end = date(2026, 8, 1), date(2026, 10, 14)  # 75 days: 30 + 30 + 15
    before = simulator.request_counts["/open_api/v1.3/report/integrated/get/"]
    rows = client.report(advertiser_id, start=start, end=end, metrics=METRICS, granularity="day", page_size=1000)
    requests = simulator.request_counts["/open_api/v1.3/report/integrated/get/"] - before
    assert requests >= 3  # at least one request per 30-day chunk, more if a chunk needs paging
    frame = parse_report_rows(rows, id_dimension="ad_id", time_dimension="stat_time_day", metrics=METRICS)
    truth = simulator.world.report_frame(advertiser_id, "AUCTION_AD", "day", start, end, simulator.clock.now())
    assert len(frame) == len(truth)
    assert round(frame["spend"].sum(), 2) == round(truth["spend"].sum(), 2)
    assert frame["clicks"].sum() == truth["clicks"].sum()


def test_hourly_report_is_one_request_a_day(api) -> None:
    simulator, client = api
    advertiser_id = _advertiser(simulator)
    before = simulator.request_counts["/open_api/v1.3/report/integrated/get/"]
    rows = client.report(advertiser_id, start=date(2026, 11, 1), end=date(2026, 11, 3), metrics=METRICS,
                         granularity="hour")
    assert simulator.request_counts["/open_api/v1.3/report/integrated/get/"] - before >= 3
    days = {row["dimensions"]["stat_time_hour"][:10] for row in rows}
    assert days == {"2026-11-01", "2026-11-02", "2026-11-03"}


def test_query_too_large_is_split_and_still_complete(loopback_simulator) -> None:
    simulator, base_url = loopback_simulator
    advertiser_id = _advertiser(simulator)
    start, end = date(2026, 9, 1), date(2026, 9, 30)
    truth = simulator.world.report_frame(advertiser_id, "AUCTION_AD", "day", start, end, simulator.clock.now())
    simulator.max_report_rows = 100  # a 30-day query of this advertiser's ads is larger
    with TikTokClient(DEFAULT_ACCESS_TOKEN, base_url, qps=None, retry=FAST_RETRY) as client:
        rows = client.report(advertiser_id, start=start, end=end, metrics=METRICS)
        assert client.stats.splits >= 1
    assert len(rows) == len(truth)


def test_bad_parameter_names_the_parameter_and_quotes_tiktok(api) -> None:
    simulator, client = api
    params = {
        "advertiser_id": _advertiser(simulator), "service_type": "AUCTION", "report_type": "BASIC",
        "data_level": "AUCTION_AD", "dimensions": ["ad_id", "stat_time_day"], "metrics": ["spend"],
        "start_date": "2026-01-01", "end_date": "2026-03-01",
    }
    with pytest.raises(errors.TikTokBadParameterError) as caught:
        client.request("GET", "/report/integrated/get/", params=params)
    assert "max time span is 30 days when use stat_time_day" in str(caught.value)
    with pytest.raises(errors.TikTokBadParameterError) as caught:
        client.request("GET", "/report/integrated/get/", params={**params, "metrics": ["spend", "bogus_metric"],
                                                                 "end_date": "2026-01-02"})
    assert "bogus_metric" in str(caught.value)


def test_bad_token_fails_fast_without_retry_and_without_leaking(loopback_simulator, caplog) -> None:
    simulator, base_url = loopback_simulator
    secret = "f" * 30 + "LEAKCHECK42"
    caplog.set_level(logging.DEBUG)
    with TikTokClient(secret, base_url, qps=None, retry=FAST_RETRY) as client:
        with pytest.raises(errors.TikTokAuthenticationError) as caught:
            client.authorised_advertisers()
        assert client.stats.requests == 1 and client.stats.retries == 0
        assert secret not in repr(client)
    assert str(caught.value).startswith("Authentication failed")
    assert secret not in str(caught.value)
    assert secret not in repr(caught.value)
    assert secret not in caplog.text


def test_foreign_advertiser_is_a_permission_error_naming_it(loopback_simulator) -> None:
    simulator, base_url = loopback_simulator
    own, foreign = simulator.world.advertiser_ids[0], simulator.world.advertiser_ids[1]
    simulator.grant("limited-token-0123456789", [own])
    with TikTokClient("limited-token-0123456789", base_url, qps=None, retry=FAST_RETRY) as client:
        assert client.ads(own)
        with pytest.raises(errors.TikTokPermissionError) as caught:
            client.ads(foreign)
        assert client.stats.retries == 0
    assert f"Advertiser {foreign} not found or not authorised" in str(caught.value)


@pytest.mark.parametrize("fault", ["rate_limit", "http_500", "http_502", "http_503", "truncated", "connection_reset"])
def test_transient_faults_are_retried_then_succeed(api, fault: str) -> None:
    simulator, client = api
    advertiser_id = _advertiser(simulator)
    expected = client.campaigns(advertiser_id)
    simulator.faults.inject(fault, count=2, path_contains="/campaign/get/")
    retries_before = client.stats.retries
    assert client.campaigns(advertiser_id) == expected
    assert client.stats.retries - retries_before == 2


def test_timeout_is_retried(loopback_simulator) -> None:
    simulator, base_url = loopback_simulator
    simulator.faults.timeout_seconds = 1.0
    advertiser_id = _advertiser(simulator)
    with TikTokClient(DEFAULT_ACCESS_TOKEN, base_url, qps=None, retry=FAST_RETRY, timeout=0.3) as client:
        simulator.faults.inject("timeout", count=1, path_contains="/adgroup/get/")
        assert len(client.adgroups(advertiser_id)) > 0
        assert client.stats.retries == 1


def test_persistent_throttling_exhausts_retries_with_a_clear_error(api) -> None:
    simulator, client = api
    simulator.faults.inject("rate_limit", count=10, path_contains="/campaign/get/")
    with pytest.raises(errors.TikTokRetriesExhausted, match="after 4 attempts"):
        client.campaigns(_advertiser(simulator))
    assert client.stats.throttled == 4


@pytest.mark.parametrize("fault", ["total_page_change", "empty_page"])
def test_inconsistent_paging_restarts_from_page_one(api, fault: str) -> None:
    simulator, client = api
    advertiser_id = _advertiser(simulator)
    expected = client.all_pages("/ad/get/", {"advertiser_id": advertiser_id}, page_size=4)
    simulator.faults.inject(fault, count=1, path_contains="/ad/get/")
    got = client.all_pages("/ad/get/", {"advertiser_id": advertiser_id}, page_size=4)
    assert [ad["ad_id"] for ad in got] == [ad["ad_id"] for ad in expected]


def test_server_rate_limit_is_absorbed_by_client_side_limiting(loopback_simulator) -> None:
    simulator, base_url = loopback_simulator
    simulator.qps, simulator.burst = 20.0, 2
    advertiser_id = _advertiser(simulator)
    # The client keeps under the simulator's 20 qps, so TikTok never has to throttle it.
    with TikTokClient(DEFAULT_ACCESS_TOKEN, base_url, qps=15.0, burst=1, retry=FAST_RETRY) as client:
        for _ in range(10):
            client.campaigns(advertiser_id)
        assert client.stats.throttled == 0
