"""Events API throttling: 40133 and HTTP 429 on /event/track/ are retried with backoff by the client, and when
they persist the destination is paused (events pending), never reported as a token problem."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tiktok_assets.postbacks.delivery import DeliverySettings, deliver
from tiktok_assets.postbacks.errors import DeliveryError
from tiktok_assets.postbacks.mapping import load_mapping
from tiktok_assets.postbacks.outbox import map_and_enqueue
from tiktok_assets.postbacks.store import ensure_postback_tables, postback_outbox, store_events
from tiktok_assets.simulator import DEFAULT_ACCESS_TOKEN, Simulator, World
from tiktok_assets.simulator.clock import SimClock
from tiktok_assets.tiktok.client import RetryPolicy, TikTokClient
from tiktok_assets.warehouse import create_schema, make_engine
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.postbacks.helpers import APP_ID, HOUR_END, HOUR_START, PIXEL, at, web_event
from tiktok_assets_tests.tiktok.test_throttling import FakeTime

TRACK = "/event/track/"


@pytest.fixture
def engine(tmp_path) -> sa.Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.sqlite'}")
    create_schema(engine)
    ensure_postback_tables(engine)
    store_events(engine, [web_event(f"t{index:04d}", "$page_load", minute=index % 60) for index in range(1500)],
                 received_at=SIM_NOW)
    map_and_enqueue(engine, HOUR_START, HOUR_END, load_mapping(pixel_id=PIXEL, app_id=APP_ID), now=SIM_NOW)
    yield engine
    engine.dispose()


def _client(sim: Simulator, fake: FakeTime, max_attempts: int = 8) -> TikTokClient:
    return TikTokClient(DEFAULT_ACCESS_TOKEN, "http://simulator.local", qps=None, transport=sim.transport(),
                        sleep=fake.sleep, seed=0,
                        retry=RetryPolicy(max_attempts=max_attempts, base_delay=0.5, max_delay=4.0))


def _states(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return dict(connection.execute(sa.select(postback_outbox.c.state, sa.func.count())
                                       .group_by(postback_outbox.c.state)).all())


def test_40133_on_event_track_is_retried_and_every_event_delivered(engine) -> None:
    fake = FakeTime()
    # One request a second for the pixel: the second batch of 1,000 meets 40133 until the backoff lets it pass.
    sim = Simulator(world=World(seed=7), clock=SimClock(fixed=SIM_NOW), qps=None, monotonic=fake.monotonic,
                    advertiser_qps=1.0, advertiser_burst=1)
    with _client(sim, fake) as client:
        report = deliver(engine, client, settings=DeliverySettings(concurrency=1), clock=at(SIM_NOW))
        assert client.stats.throttled >= 1
    assert report.accepted == 1500 and report.problems == []
    assert report.client_retries == client.stats.retries >= 1
    assert len(sim.events.accepted()) == 1500


@pytest.mark.parametrize("throttle_status", [200, 429])
def test_persistent_throttling_pauses_the_destination_and_never_blames_the_token(engine, throttle_status) -> None:
    fake = FakeTime()
    sim = Simulator(world=World(seed=7), clock=SimClock(fixed=SIM_NOW), qps=None, monotonic=lambda: 0.0,
                    advertiser_qps=1.0, advertiser_burst=1, throttle_status=throttle_status)
    if throttle_status == 429:
        sim.advertiser_qps = None
        sim.faults.inject("rate_limit", count=100, path_contains=TRACK)
    with _client(sim, fake, max_attempts=3) as client:
        try:
            report = deliver(engine, client, settings=DeliverySettings(concurrency=1), clock=at(SIM_NOW))
        except DeliveryError as error:  # the defect: a throttle read as a refusal, "fix the token"
            pytest.fail(f"throttling was reported as a refusal: {error}")
    states = _states(engine)
    if throttle_status == 200:
        # The bucket held one request: the first batch went through, the second met 40133 until retries ran out.
        assert report.accepted == 1000 and states == {"accepted": 1000, "pending": 500}
        assert "40133" in report.problems[0]
    else:
        assert report.accepted == 0 and states == {"pending": 1500}
        assert "HTTP 429" in report.problems[0]
    assert len(report.problems) == 1 and PIXEL in report.problems[0]
    assert "token" not in report.problems[0].lower()
