"""The one scrubber: registered secrets never reach error text or the HTTP libraries' logs, raw or URL-encoded,
even when TikTok echoes them back in its message."""

from __future__ import annotations

import logging
import traceback
from urllib.parse import quote, quote_plus

import pytest

from tiktok_assets.simulator import DEFAULT_ACCESS_TOKEN, Simulator, serve
from tiktok_assets.simulator.clock import SimClock
from tiktok_assets.tiktok import errors, scrub
from tiktok_assets.tiktok.client import RetryPolicy, TikTokClient
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.reliability.support import small_world
from tiktok_assets_tests.tiktok.echo import EchoingSimulator

TOKEN = "tok-SCRUBCANARY/7e+1a=9c&b"  # characters that URL-encoding changes
APP_SECRET = "sec-SCRUBCANARY 3f9d+0a/e2"


def _forms(value: str) -> tuple[str, ...]:
    return (value, quote(value, safe=""), quote_plus(value))


def _leaks(text: str, *values: str) -> list[str]:
    return [form for value in values for form in _forms(value) if form in text]


def test_a_registered_secret_is_removed_raw_and_url_encoded() -> None:
    scrub.register_secret(TOKEN)
    text = f"a {TOKEN} b {quote(TOKEN, safe='')} c {quote_plus(TOKEN)} d"
    assert scrub.scrub(text) == "a [REDACTED] b [REDACTED] c [REDACTED] d"
    assert scrub.scrub("nothing secret here") == "nothing secret here"


def test_short_values_are_not_registered_so_ordinary_words_survive() -> None:
    scrub.register_secret("wrong", "", None)
    assert scrub.scrub("the wrong token") == "the wrong token"


def test_an_echoed_token_never_reaches_the_error_its_message_or_its_traceback() -> None:
    scrub.register_secret(TOKEN)
    body = {"code": 40105, "message": f"Access token {TOKEN} is incorrect or has been revoked.", "request_id": "r1"}
    error = errors.error_from_body(body, endpoint="/open_api/v1.3/ad/get/", advertiser_id="7001")
    assert isinstance(error, errors.TikTokAuthenticationError)
    text = str(error) + repr(error) + error.tiktok_message + "".join(traceback.format_exception(error))
    assert _leaks(text, TOKEN) == []
    assert "[REDACTED] is incorrect" in error.tiktok_message


def _echo_simulator() -> EchoingSimulator:
    return EchoingSimulator(world=small_world(3, 1), clock=SimClock(fixed=SIM_NOW), qps=None)


def test_echoed_token_in_errors_retries_and_logs_of_the_client_over_a_socket(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    sim = _echo_simulator()
    sim.grant(TOKEN, None)
    advertiser_id = sim.world.advertiser_ids[0]
    with serve(sim) as base_url, TikTokClient(TOKEN, base_url, qps=None, seed=0, sleep=lambda _s: None,
                                               retry=RetryPolicy(max_attempts=3, base_delay=0.0)) as client:
        # Throttled with the token echoed: the retry warnings and the final error quote TikTok's message.
        sim.faults.inject("rate_limit", count=5, path_contains="/campaign/get/")
        with pytest.raises(errors.TikTokRetriesExhausted) as exhausted:
            client.campaigns(advertiser_id)
        sim.revoke(TOKEN)
        with pytest.raises(errors.TikTokAuthenticationError) as refused:
            client.ads(advertiser_id)
    assert sim.echoed >= 4, "the server really echoed the token"
    texts = ["".join(traceback.format_exception(caught.value)) for caught in (exhausted, refused)]
    assert "retry 1/2" in caplog.text
    assert _leaks(" ".join(texts) + caplog.text, TOKEN) == []


def test_the_app_secret_in_the_oauth_query_never_reaches_httpx_logs(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    sim = Simulator(world=small_world(3, 1), clock=SimClock(fixed=SIM_NOW), qps=None)
    with TikTokClient(DEFAULT_ACCESS_TOKEN, "http://simulator.local", qps=None, transport=sim.transport()) as client:
        assert client.authorised_advertisers(app_id="7000000000000000001", secret=APP_SECRET)
    # httpx logged the request URL (secret in its query): still logged, without the secret.
    assert "/oauth2/advertiser/get/" in caplog.text and "secret=[REDACTED]" in caplog.text
    assert _leaks(caplog.text, APP_SECRET) == []


def test_the_log_filter_scrubs_httpcore_child_loggers_and_exception_text(caplog) -> None:
    scrub.register_secret(TOKEN)
    scrub.install_log_filter()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("httpcore.http11").debug("send_request_headers %s", TOKEN)
    try:
        raise ValueError(f"boom {TOKEN}")
    except ValueError:
        logging.getLogger("httpx").exception("failed")
    assert "send_request_headers [REDACTED]" in caplog.text and "boom [REDACTED]" in caplog.text
    assert _leaks(caplog.text, TOKEN) == []


def test_a_malformed_log_record_is_scrubbed_too_and_never_raises(caplog) -> None:
    scrub.register_secret(TOKEN)
    scrub.install_log_filter()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("httpx").info("two placeholders %s %s, one argument", TOKEN)
    assert "two placeholders" in caplog.text and _leaks(caplog.text, TOKEN) == []
