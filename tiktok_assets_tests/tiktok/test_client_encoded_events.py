"""track_encoded_events: stored JSON items sent as they are, the batch limit kept, each call's requests counted on its own."""

from __future__ import annotations

import json
import threading

import pytest

from tiktok_assets.simulator import DEFAULT_ACCESS_TOKEN
from tiktok_assets.tiktok.client import RequestStats, RetryPolicy, TikTokClient, encoded_track_body
from tiktok_assets.tiktok.errors import TikTokRetriesExhausted

PIXEL = "CENCODEDPIXEL01"
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002)


def item(event_id: str, event_time: int) -> str:
    return json.dumps({"event": "PageView", "event_time": event_time, "event_id": event_id,
                       "page": {"url": "https://shop.example.com/"}}, separators=(",", ":"))


@pytest.fixture
def client(simulator):
    with TikTokClient(DEFAULT_ACCESS_TOKEN, "http://simulator.local", qps=None, retry=FAST_RETRY,
                      transport=simulator.transport(), sleep=lambda _s: None) as client:
        yield client


def test_the_body_joins_the_items_into_the_rest_of_the_request():
    body = encoded_track_body({"event_source": "web", "event_source_id": PIXEL, "data": ["ignored"]}, ['{"a":1}', '{"b":"é"}'])
    assert body.content == f'{{"event_source":"web","event_source_id":"{PIXEL}","data":[{{"a":1}},{{"b":"é"}}]}}'.encode()
    assert encoded_track_body({}, []).content == b'{"data":[]}'
    with pytest.raises(ValueError, match="JSON objects"):
        encoded_track_body({"event_source": "web"}, ['{"a":1}', '"a string"'])


def test_more_than_1000_items_are_refused_before_any_request(client, simulator):
    with pytest.raises(ValueError, match="at most 1000"):
        client.track_encoded_events({"event_source": "web", "event_source_id": PIXEL}, ["{}"] * 1001)
    assert simulator.request_counts == {}


def test_items_arrive_as_events_and_each_call_counts_its_own_requests(client, simulator):
    now = int(simulator.clock.now().timestamp())
    simulator.faults.inject("rate_limit", 2, path_contains="/event/track/")
    tallies = [RequestStats(), RequestStats()]
    # Two calls at once on one client: the shared client.stats add up both, each tally only its own.
    calls = [threading.Thread(target=client.track_encoded_events,
                              args=({"event_source": "web", "event_source_id": PIXEL}, [item(f"e{n}", now - 60)]),
                              kwargs={"tally": tally}) for n, tally in enumerate(tallies)]
    for call in calls:
        call.start()
    for call in calls:
        call.join()

    assert sorted(event["event_id"] for event in simulator.events.accepted(PIXEL)) == ["e0", "e1"]
    assert client.stats.requests == 4 and client.stats.retries == 2
    assert sum(tally.requests for tally in tallies) == 4 and sum(tally.retries for tally in tallies) == 2
    assert all(tally.requests == tally.retries + 1 for tally in tallies)

    simulator.faults.inject("rate_limit", 3, path_contains="/event/track/")
    tally = RequestStats()
    with pytest.raises(TikTokRetriesExhausted):
        client.track_encoded_events({"event_source": "web", "event_source_id": PIXEL}, [item("e2", now - 60)], tally=tally)
    assert (tally.requests, tally.retries, tally.throttled) == (3, 2, 3)
