"""Throttling as TikTok (and the gateway in front of it) answers it: 40100/40016 app level, 40133 advertiser
level, HTTP 429; each retried with backoff and counted, never failing the run at once."""

from __future__ import annotations

import pytest

from tiktok_assets.simulator import DEFAULT_ACCESS_TOKEN, Simulator
from tiktok_assets.simulator.clock import SimClock
from tiktok_assets.tiktok import errors
from tiktok_assets.tiktok.client import RetryPolicy, TikTokClient
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.reliability.support import small_world


class FakeTime:
    """One monotonic clock for the simulator's buckets and the client's backoff sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _client(sim: Simulator, fake: FakeTime, max_attempts: int = 8) -> TikTokClient:
    return TikTokClient(DEFAULT_ACCESS_TOKEN, "http://simulator.local", qps=None, transport=sim.transport(),
                        sleep=fake.sleep, seed=0,
                        retry=RetryPolicy(max_attempts=max_attempts, base_delay=0.5, max_delay=4.0))


def test_advertiser_level_40133_is_retried_with_backoff_until_it_passes() -> None:
    fake = FakeTime()
    sim = Simulator(world=small_world(3, 2), clock=SimClock(fixed=SIM_NOW), qps=None, monotonic=fake.monotonic,
                    advertiser_qps=1.0, advertiser_burst=1)
    advertiser_id = sim.world.advertiser_ids[0]
    with _client(sim, fake) as client:
        first = client.campaigns(advertiser_id)
        # The bucket is empty now: the next call meets 40133 until the backoff has let a second pass.
        second = client.campaigns(advertiser_id)
        assert second == first and first
        assert client.stats.throttled >= 1
        assert client.stats.throttled == client.stats.retries
        assert sum(fake.slept) >= 0.999  # the bucket refills one request a second
    # Another advertiser has its own budget: not throttled by the first one's.
    with _client(sim, fake) as client:
        assert client.campaigns(sim.world.advertiser_ids[1])
        assert client.stats.throttled == 0


def test_persistent_40133_ends_in_retries_exhausted_not_a_token_or_api_error() -> None:
    fake = FakeTime()
    sim = Simulator(world=small_world(3, 1), clock=SimClock(fixed=SIM_NOW), qps=None, monotonic=lambda: 0.0,
                    advertiser_qps=1.0, advertiser_burst=1)
    advertiser_id = sim.world.advertiser_ids[0]
    with _client(sim, fake, max_attempts=3) as client:
        client.campaigns(advertiser_id)  # takes the one request the (frozen) bucket ever has
        with pytest.raises(errors.TikTokRetriesExhausted) as caught:
            client.campaigns(advertiser_id)
        assert client.stats.throttled == 3
    assert isinstance(caught.value.last_error, errors.TikTokRateLimitError)
    assert caught.value.last_error.code == 40133


@pytest.mark.parametrize("count", [1, 3])
def test_http_429_is_retried_like_a_throttle_code(count: int) -> None:
    fake = FakeTime()
    sim = Simulator(world=small_world(3, 1), clock=SimClock(fixed=SIM_NOW), qps=None, throttle_status=429)
    advertiser_id = sim.world.advertiser_ids[0]
    with _client(sim, fake) as client:
        expected = client.ads(advertiser_id)
        sim.faults.inject("rate_limit", count=count, path_contains="/ad/get/")
        assert client.ads(advertiser_id) == expected
        assert client.stats.throttled == count and client.stats.retries == count
    assert len(fake.slept) == count


def test_http_429_that_persists_says_throttled_after_every_attempt() -> None:
    fake = FakeTime()
    sim = Simulator(world=small_world(3, 1), clock=SimClock(fixed=SIM_NOW), qps=None, throttle_status=429)
    sim.faults.inject("rate_limit", count=10, path_contains="/campaign/get/")
    with _client(sim, fake, max_attempts=4) as client:
        with pytest.raises(errors.TikTokRetriesExhausted, match="after 4 attempts") as caught:
            client.campaigns(sim.world.advertiser_ids[0])
        assert client.stats.throttled == 4
    assert "HTTP 429" in str(caught.value)


def test_expired_token_40102_is_an_authentication_error_and_never_retried() -> None:
    error = errors.error_from_body({"code": 40102, "message": "Access token has expired."}, endpoint="/x/")
    assert isinstance(error, errors.TikTokAuthenticationError) and not error.retryable and not error.throttled
    assert str(error).startswith("Authentication failed")
