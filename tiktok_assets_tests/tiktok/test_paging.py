"""Paging against answers shaped like TikTok's real ones: without ``page_info``, an empty listing as
``total_page: 1, total_number: 0``, and page_info that promises more than was served.

The server here is a small httpx transport that answers real HTTP requests with TikTok's envelope
(re-typed from DESIGN.md's report/entity shape and issue 14's recordings: ``{"code": 0, "message": "OK",
"request_id", "data": {"list": [...]}}`` with no ``page_info``), because the defect is in how the client
reads such answers, whatever serves them.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from typing import Any

import httpx
import pytest

from tiktok_assets.tiktok import errors
from tiktok_assets.tiktok.client import RetryPolicy, TikTokClient

REPORT = "/open_api/v1.3/report/integrated/get/"
ADS = "/open_api/v1.3/ad/get/"


def _report_row(index: int) -> dict[str, Any]:
    return {"dimensions": {"ad_id": str(1_700_000_000_000_000_000 + index), "stat_time_day": "2026-11-20 00:00:00"},
            "metrics": {"spend": f"{index % 97}.25", "impressions": str(index * 3), "clicks": "-"}}


def _ad_row(index: int) -> dict[str, Any]:
    return {"ad_id": str(1_800_000_000_000_000_000 + index), "ad_name": f"ad {index}", "operation_status": "ENABLE",
            "create_time": "2022-03-24 12:08:29"}


class ListingServer(httpx.BaseTransport):
    """Serves fixed listings page by page; ``page_info`` is whatever ``page_info(page, size, rows)`` returns."""

    def __init__(self, listings: dict[str, list[dict[str, Any]]], page_info=lambda page, size, rows: None,
                 ignore_page: bool = False, headers: dict[str, str] | None = None) -> None:
        self.listings = listings
        self.page_info = page_info
        self.ignore_page = ignore_page
        self.headers = headers or {}
        self.requests: Counter[str] = Counter()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests[request.url.path] += 1
        rows = self.listings[request.url.path]
        page = 1 if self.ignore_page else int(request.url.params.get("page", "1"))
        size = int(request.url.params.get("page_size", "10"))  # TikTok's default page size
        data: dict[str, Any] = {"list": rows[(page - 1) * size : page * size]}
        info = self.page_info(page, size, rows)
        if info is not None:
            data["page_info"] = info
        body = {"code": 0, "message": "OK", "request_id": f"20261120{self.requests.total():06d}", "data": data}
        return httpx.Response(200, content=json.dumps(body).encode(),
                              headers={"content-type": "application/json", **self.headers})


def _client(server: ListingServer) -> TikTokClient:
    return TikTokClient("test-token-0123456789", "http://tiktok.test", qps=None, transport=server, seed=0,
                        sleep=lambda _s: None, retry=RetryPolicy(max_attempts=2, base_delay=0.0, max_delay=0.0))


def _report(client: TikTokClient) -> list[dict[str, Any]]:
    return client.report("7001", start=date(2026, 11, 20), end=date(2026, 11, 20), metrics=["spend", "impressions"])


def test_report_without_page_info_is_read_to_the_short_page() -> None:
    # Issue 14: 2,500 report rows served without page_info, 1,000 stored.
    rows = [_report_row(index) for index in range(2500)]
    server = ListingServer({REPORT: rows})
    with _client(server) as client:
        got = _report(client)
    assert len(got) == 2500
    assert [row["dimensions"]["ad_id"] for row in got] == [row["dimensions"]["ad_id"] for row in rows]
    assert server.requests[REPORT] == 3  # 1,000 + 1,000 + 500


def test_ads_without_page_info_are_read_to_the_short_page() -> None:
    # Issue 14: 1,500 ads served without page_info, 1,000 stored.
    rows = [_ad_row(index) for index in range(1500)]
    server = ListingServer({ADS: rows})
    with _client(server) as client:
        got = client.ads("7001")
    assert [ad["ad_id"] for ad in got] == [ad["ad_id"] for ad in rows]
    assert server.requests[ADS] == 2


def test_a_listing_that_fills_its_last_page_exactly_asks_once_more_and_stops_at_the_empty_page() -> None:
    rows = [_ad_row(index) for index in range(2000)]
    server = ListingServer({ADS: rows})
    with _client(server) as client:
        assert len(client.ads("7001")) == 2000
    assert server.requests[ADS] == 3


def test_empty_listing_as_total_page_1_total_number_0_is_one_request_and_no_rows() -> None:
    server = ListingServer({ADS: [], REPORT: []},
                           page_info=lambda page, size, rows: {"page": page, "page_size": size, "total_number": 0,
                                                               "total_page": 1})
    with _client(server) as client:
        assert client.ads("7001") == []
        assert _report(client) == []
    assert server.requests == Counter({ADS: 1, REPORT: 1})


def test_page_info_promising_more_rows_than_served_is_never_returned_as_complete() -> None:
    rows = [_report_row(index) for index in range(1000)]
    # One page served, but page_info says 2,500 rows on one page: a truncated answer.
    server = ListingServer({REPORT: rows}, page_info=lambda page, size, _rows: {
        "page": page, "page_size": size, "total_number": 2500, "total_page": 1})
    with _client(server) as client, pytest.raises(errors.TikTokPagingError, match="fewer rows"):
        _report(client)
    assert server.requests[REPORT] == 4  # the first read and 3 restarts


def test_page_info_without_total_page_still_pages_to_total_number() -> None:
    rows = [_ad_row(index) for index in range(1500)]
    server = ListingServer({ADS: rows}, page_info=lambda page, size, all_rows: {"total_number": len(all_rows)})
    with _client(server) as client:
        assert len(client.ads("7001")) == 1500
    assert server.requests[ADS] == 2


def test_a_server_ignoring_page_without_page_info_fails_instead_of_looping_or_duplicating() -> None:
    server = ListingServer({ADS: [_ad_row(index) for index in range(1500)]}, ignore_page=True)
    with _client(server) as client, pytest.raises(errors.TikTokPagingError):
        client.ads("7001")
    assert server.requests[ADS] == 8  # two pages a read, 4 reads


@pytest.fixture
def sim_without_page_info():
    from tiktok_assets.simulator import Simulator, World
    from tiktok_assets.simulator.clock import SimClock
    from tiktok_assets.simulator.realism import Realism
    from tiktok_assets_tests.conftest import SIM_NOW

    return Simulator(world=World(seed=7), clock=SimClock(fixed=SIM_NOW), qps=None,
                     realism=Realism(omit_page_info=frozenset({"/ad/get/", "/report/integrated/get/"})))


def test_the_simulator_without_page_info_is_read_whole_in_small_pages(sim_without_page_info) -> None:
    from tiktok_assets.simulator import DEFAULT_ACCESS_TOKEN
    from tiktok_assets_tests.conftest import SIM_NOW

    sim = sim_without_page_info
    advertiser_id = sim.world.advertiser_ids[0]
    start, end = date(2026, 10, 21), date(2026, 11, 19)
    truth = sim.world.report_frame(advertiser_id, "AUCTION_AD", "day", start, end, SIM_NOW)
    with TikTokClient(DEFAULT_ACCESS_TOKEN, "http://simulator.local", qps=None, transport=sim.transport()) as client:
        ads = client.all_pages("/ad/get/", {"advertiser_id": advertiser_id,
                                            "filtering": {"primary_status": "STATUS_ALL"}}, page_size=7)
        rows = [row for page in client.report_pages(advertiser_id, start=start, end=end, metrics=["spend"],
                                                    page_size=100) for row in page]
    assert len(ads) == len(sim.world.ads(advertiser_id, SIM_NOW)) > 7
    assert len(rows) == len(truth) > 100


ADS_THROTTLE = ("Number of ad ids is equal or more than 20k, only return the top 20k id's results, sorting by "
                "create time desc order.")


class AdsThrottlingServer(ListingServer):
    """A report above its ad limit answers code 0 with only the newest ads and the X-Tt-Ads-Throttle header;
    narrowed by an ``ad_ids`` filter it answers whole (TikTok "Reporting FAQs", docs id 1738864850353154,
    "Data incompleteness"; <= 100 ids a filter, tiktok_assets_tests/contract/FACTS.md section 2)."""

    def __init__(self, rows: list[dict[str, Any]], ads: list[dict[str, Any]], limit: int,
                 honour_ids: bool = True) -> None:
        super().__init__({REPORT: rows, ADS: ads})
        self.limit = limit
        self.honour_ids = honour_ids
        self.id_filters: list[list[str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != REPORT:
            return super().handle_request(request)
        self.requests[REPORT] += 1
        filters = json.loads(request.url.params.get("filtering", "[]"))
        ids = next((json.loads(f["filter_value"]) for f in filters if f["field_name"] == "ad_ids"), None)
        rows = self.listings[REPORT]
        headers = {"content-type": "application/json"}
        if ids is None or not self.honour_ids:
            rows = rows[-self.limit :]  # the newest only
            headers["X-Tt-Ads-Throttle"] = ADS_THROTTLE
        else:
            assert len(ids) <= 100, "TikTok takes at most 100 ids a filter"
            self.id_filters.append(ids)
            rows = [row for row in rows if row["dimensions"]["ad_id"] in set(ids)]
        body = {"code": 0, "message": "OK", "data": {"list": rows}}
        return httpx.Response(200, content=json.dumps(body).encode(), headers=headers)


def test_a_report_cut_to_the_newest_ads_is_asked_again_by_id_filters_and_served_whole() -> None:
    rows = [_report_row(index) for index in range(250)]
    ads = [{"ad_id": row["dimensions"]["ad_id"], "ad_name": "x"} for row in rows]
    server = AdsThrottlingServer(rows, ads, limit=120)
    with _client(server) as client:
        got = _report(client)
        assert client.stats.splits == 3
    assert sorted(row["dimensions"]["ad_id"] for row in got) == sorted(ad["ad_id"] for ad in ads)
    assert [len(ids) for ids in server.id_filters] == [100, 100, 50]
    assert server.requests[REPORT] == 1 + 3 and server.requests[ADS] == 1


def test_a_cut_answer_that_stays_cut_under_id_filters_is_never_taken() -> None:
    rows = [_report_row(index) for index in range(30)]
    server = AdsThrottlingServer(rows, [{"ad_id": row["dimensions"]["ad_id"]} for row in rows], limit=20,
                                 honour_ids=False)
    with _client(server) as client, pytest.raises(errors.TikTokAdsThrottledError) as caught:
        _report(client)
    assert "advertiser 7001" in str(caught.value) and "20k" in str(caught.value)
    assert server.requests[REPORT] == 2  # the cut answer, then the one id batch: still cut


def test_the_simulators_cut_report_is_read_whole_by_id_filters() -> None:
    from tiktok_assets.simulator import DEFAULT_ACCESS_TOKEN, Simulator, World
    from tiktok_assets.simulator.clock import SimClock
    from tiktok_assets.simulator.realism import Realism
    from tiktok_assets_tests.conftest import SIM_NOW

    # 400 ads; TikTok's cut is at 20,000, here at 150 so that an id filter of 100 is served whole.
    sim = Simulator(world=World.sized(n_ads=400, n_advertisers=1), clock=SimClock(fixed=SIM_NOW), qps=None,
                    realism=Realism(ads_throttle_limit=150))
    advertiser_id = sim.world.advertiser_ids[0]
    day = date(2026, 11, 18)
    truth = sim.world.report_frame(advertiser_id, "AUCTION_AD", "day", day, day, SIM_NOW)
    assert truth["ad_id"].nunique() > 150, "the report must be big enough to be cut"
    with TikTokClient(DEFAULT_ACCESS_TOKEN, "http://simulator.local", qps=None, transport=sim.transport()) as client:
        rows = client.report(advertiser_id, start=day, end=day, metrics=["spend"])
        assert client.stats.splits == -(-len(sim.world.ads(advertiser_id, SIM_NOW)) // 100)
    assert sorted(row["dimensions"]["ad_id"] for row in rows) == sorted(truth["ad_id"])
    spend = sum(float(row["metrics"]["spend"]) for row in rows if row["metrics"]["spend"] != "-")
    assert round(spend, 2) == round(float(truth["spend"].sum()), 2)


def test_a_report_narrowed_to_ads_asks_only_for_them_in_requests_of_the_chosen_size() -> None:
    from tiktok_assets.simulator import DEFAULT_ACCESS_TOKEN, SimClock, Simulator, World
    from tiktok_assets_tests.conftest import SIM_NOW

    sim = Simulator(world=World.sized(n_ads=200, n_advertisers=1), clock=SimClock(fixed=SIM_NOW), qps=None)
    advertiser_id = sim.world.advertiser_ids[0]
    day = date(2026, 11, 18)
    truth = sim.world.report_frame(advertiser_id, "AUCTION_AD", "hour", day, day, SIM_NOW)
    wanted = sorted(truth["ad_id"].unique())[5:95]  # 90 ads
    with TikTokClient(DEFAULT_ACCESS_TOKEN, "http://simulator.local", qps=None, transport=sim.transport()) as client:
        sim.reset_counts()
        rows = client.report(advertiser_id, start=day, end=day, metrics=["spend"], granularity="hour", ids=wanted,
                             ids_per_request=41)
        # 90 ads in filters of 41: 3 requests, each one page (41 ads × 24 hours <= 1,000 rows).
        assert sum(sim.request_counts.values()) == 3
        assert client.report(advertiser_id, start=day, end=day, metrics=["spend"], ids=[]) == []
        with pytest.raises(ValueError, match="ids_per_request must be 1 to 100"):
            client.report(advertiser_id, start=day, end=day, metrics=["spend"], ids=wanted, ids_per_request=101)
        with pytest.raises(ValueError, match="no id filter"):
            client.report(advertiser_id, start=day, end=day, metrics=["spend"], data_level="AUCTION_ADVERTISER",
                          ids=wanted)
    served = truth[truth["ad_id"].isin(wanted)]
    assert sorted((row["dimensions"]["ad_id"], row["dimensions"]["stat_time_hour"]) for row in rows) == sorted(
        zip(served["ad_id"], served["stat_time"].dt.strftime("%Y-%m-%d %H:%M:%S"), strict=True))


def test_the_simulators_cut_lifetime_report_is_read_whole_by_id_filters() -> None:
    from tiktok_assets.simulator import DEFAULT_ACCESS_TOKEN, Simulator, World
    from tiktok_assets.simulator.clock import SimClock
    from tiktok_assets.simulator.realism import Realism
    from tiktok_assets_tests.conftest import SIM_NOW

    # Lifetime answers are cut like dated ones (every ad that ever spent counts): read whole by id filters.
    sim = Simulator(world=World.sized(n_ads=400, n_advertisers=1), clock=SimClock(fixed=SIM_NOW), qps=None)
    advertiser_id = sim.world.advertiser_ids[0]
    with TikTokClient(DEFAULT_ACCESS_TOKEN, "http://simulator.local", qps=None, transport=sim.transport()) as client:
        whole = client.lifetime_report(advertiser_id, metrics=["spend"])
    assert len(whole) > 150, "the lifetime report must be big enough to be cut"
    sim.realism = Realism(ads_throttle_limit=150)
    with TikTokClient(DEFAULT_ACCESS_TOKEN, "http://simulator.local", qps=None, transport=sim.transport()) as client:
        rows = client.lifetime_report(advertiser_id, metrics=["spend"])
        assert client.stats.splits == -(-len(sim.world.ads(advertiser_id, SIM_NOW)) // 100)
    assert sorted(rows, key=lambda row: row["dimensions"]["ad_id"]) == sorted(
        whole, key=lambda row: row["dimensions"]["ad_id"])
