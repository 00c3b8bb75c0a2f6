"""Secrets and PII: a recognisable fake token and app secret run the whole demo (and a forced auth failure)
against a server that echoes them in its error messages, then every place a secret could leak is scanned, raw
and URL-encoded; raw first-party PII never leaves the events table unhashed."""

from __future__ import annotations

import hashlib
import logging
import traceback
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote, quote_plus

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._serdes import serialize_value

from tiktok_assets.simulator import serve
from tiktok_assets.simulator.clock import SimClock
from tiktok_assets.tiktok.errors import TikTokAuthenticationError
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.reliability.support import fast_client, small_simulator, small_world, sqlite_engine
from tiktok_assets_tests.tiktok.echo import EchoingSimulator

CANARY = "tok-LEAKCANARY-4f1c9e7a2b"
# URL-encoding changes it: the query string carries it as sec-LEAKCANARY%2B9d%2F3a...
APP_SECRET_CANARY = "sec-LEAKCANARY+9d/3a7e51"
NEEDLES = tuple(dict.fromkeys(form for value in (CANARY, APP_SECRET_CANARY)
                              for form in (value, quote(value, safe=""), quote_plus(value))))
START, END = date(2026, 11, 16), date(2026, 11, 17)


def _hits(text: str, needles: tuple[str, ...]) -> list[str]:
    return [needle for needle in needles if needle in text]


def _scan_files(root: Path, needles: tuple[str, ...]) -> list[str]:
    """Files under ``root`` (instance storage, logs, the SQLite warehouse and its WAL) holding a needle."""
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            found += [f"{path}: {needle}" for needle in needles if needle.encode() in content]
    return found


def _scan_tables(engine: sa.Engine, needles: tuple[str, ...], skip: frozenset[str] = frozenset()) -> list[str]:
    found = []
    tables = sa.inspect(engine).get_table_names()
    with engine.connect() as connection:
        for table in tables:
            if table in skip:
                continue
            for row in connection.execute(sa.text(f'select * from "{table}"')):
                found += [f"{table}: {needle}" for needle in _hits(" ".join(map(str, row)), needles)]
    return found


def test_scans_find_a_planted_canary(tmp_path) -> None:
    """The scanners are not blind: a canary planted in a file and a table is found."""
    (tmp_path / "planted.log").write_text(f"token={CANARY}")
    engine = sqlite_engine(tmp_path / "w.sqlite")
    with engine.begin() as connection:
        connection.execute(sa.text("create table planted (note text)"))
        connection.execute(sa.text("insert into planted values (:n)"), {"n": f"x{CANARY}x"})
    assert _scan_files(tmp_path, (CANARY,)) and _scan_tables(engine, (CANARY,))


def test_demo_with_a_canary_token_leaks_it_nowhere(tmp_path, monkeypatch, caplog, capfd) -> None:
    from tiktok_assets.definitions import build_definitions
    from tiktok_assets.defs.resources import tiktok_api_from_env, warehouse_from_env
    from tiktok_assets.demo import materialize_recent

    caplog.set_level(logging.DEBUG)
    # TikTok can quote the token (and the app secret) back in an error message: this server always does.
    sim = EchoingSimulator(world=small_world(), clock=SimClock(fixed=SIM_NOW), qps=None)
    sim.grant(CANARY, sim.world.advertiser_ids)
    warehouse_url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    # Throttling on the way: retry warnings name the endpoint and TikTok's message, never the token.
    sim.faults.inject("rate_limit", count=2, path_contains="/report/integrated/get/")
    sim.faults.inject("http_502", count=1, path_contains="/ad/get/")
    (tmp_path / "dagster_home").mkdir()
    with serve(sim) as base_url, dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        monkeypatch.setenv("TIKTOK_ACCESS_TOKEN", CANARY)
        # The app secret travels in /oauth2/advertiser/get/'s query string, which httpx logs at INFO.
        monkeypatch.setenv("TIKTOK_APP_ID", "7000000000000000001")
        monkeypatch.setenv("TIKTOK_APP_SECRET", APP_SECRET_CANARY)
        monkeypatch.setenv("TIKTOK_API_BASE_URL", base_url)
        monkeypatch.setenv("TIKTOK_WAREHOUSE_URL", warehouse_url)
        monkeypatch.setenv("TIKTOK_API_QPS", "1000")
        defs = build_definitions(tiktok_api_from_env(), warehouse_from_env())
        materialize_recent(instance, START, END, defs=defs, log=print)
        assert sim.faults.pending == 0, "the retries really happened"
        assert sim.echoed >= 2, "the throttle answers echoed the token"
        # The same token, now revoked: the run must fail with a clear message, without the token.
        sim.revoke(CANARY)
        with pytest.raises(Exception) as caught:  # noqa: PT011 - whatever Dagster wraps it in
            materialize_recent(instance, START, END, defs=defs)
        failure_text = "".join(traceback.format_exception(caught.value))
        assert "Authentication failed" in failure_text
        assert TikTokAuthenticationError.__name__ in failure_text

        runs = instance.get_runs()
        assert len(runs) >= 5 and any(run.is_failure for run in runs)
        leaks = []
        materializations = 0
        for run in runs:
            leaks += [f"run {run.run_id} record" for _ in _hits(serialize_value(run), NEEDLES)]
            for record in instance.all_logs(run.run_id):
                if record.dagster_event and record.dagster_event.is_step_materialization:
                    materializations += 1
                leaks += [f"run {run.run_id} event {record.dagster_event_type}"
                          for _ in _hits(serialize_value(record), NEEDLES)]
        assert materializations > 0, "the scan saw materialization metadata"
        leaks += [f"exception: {hit}" for hit in _hits(failure_text, NEEDLES)]
        leaks += [f"captured log: {hit}" for hit in _hits(caplog.text, NEEDLES)]
        captured = capfd.readouterr()
        leaks += [f"stdout/stderr: {hit}" for hit in _hits(captured.out + captured.err, NEEDLES)]
        leaks += _scan_tables(sqlite_engine(tmp_path / "warehouse.sqlite"), NEEDLES)
        leaks += _scan_files(tmp_path, NEEDLES)
    assert "retry" in caplog.text, "the retry warnings were captured and scanned"
    assert "/oauth2/advertiser/get/" in caplog.text, "httpx's request log (the app secret's URL) was scanned"
    assert leaks == []
    assert "access_token: [REDACTED]" in failure_text, "the refusal's echoed message was scrubbed, not dropped"


def test_client_repr_and_errors_never_show_the_token() -> None:
    sim = small_simulator()
    sim.grant(CANARY, None)
    with fast_client(sim, token=CANARY) as client:
        assert CANARY not in repr(client) and CANARY not in str(vars(client).get("base_url"))
        sim.revoke(CANARY)
        with pytest.raises(TikTokAuthenticationError) as caught:
            client.campaigns(sim.world.advertiser_ids[0])
    assert CANARY not in "".join(traceback.format_exception(caught.value))


def test_resolved_api_resource_repr_hides_the_token(monkeypatch) -> None:
    from tiktok_assets.defs.resources import tiktok_api_from_env

    monkeypatch.setenv("TIKTOK_ACCESS_TOKEN", CANARY)
    with dg.build_resources({"tiktok_api": tiktok_api_from_env()}) as resources:
        assert CANARY not in repr(resources.tiktok_api)


def test_raw_pii_never_leaves_the_events_table_unhashed(tmp_path, caplog) -> None:
    from tiktok_assets.postbacks.delivery import deliver
    from tiktok_assets.postbacks.events import parse_event
    from tiktok_assets.postbacks.mapping import load_mapping
    from tiktok_assets.postbacks.outbox import map_and_enqueue
    from tiktok_assets.postbacks.store import ensure_postback_tables, store_events

    caplog.set_level(logging.DEBUG)
    email, phone = "  Canary.Person@Example.COM ", "(415) 555-0137"
    normalised_email, e164 = "canary.person@example.com", "+14155550137"
    raw_values = (email.strip(), normalised_email, phone, e164, "4155550137")
    sim = small_simulator()
    engine = sqlite_engine(tmp_path / "w.sqlite")
    ensure_postback_tables(engine)
    moment = SIM_NOW - timedelta(hours=1)
    records = [
        {"event_id": f"pii-{index}", "source": "web", "event_name": name, "event_time": moment.isoformat(),
         "page_url": "https://shop.example.com/p", "email": email, "phone": phone, "value": "10", "currency": "USD"}
        for index, name in enumerate(["Placed Order", "Added To Cart", "Viewed Product"])
    ]
    # One event TikTok rejects (value as a number is fine; a future time is not): its dead letter must not hold PII.
    records.append({**records[0], "event_id": "pii-future", "event_time": (SIM_NOW + timedelta(hours=3)).isoformat()})
    store_events(engine, [parse_event(record) for record in records], received_at=SIM_NOW)
    map_and_enqueue(engine, moment - timedelta(hours=1), SIM_NOW + timedelta(hours=4),
                    load_mapping(pixel_id="CPIXEL1", app_id="7200000000000000001"), now=SIM_NOW)
    with fast_client(sim) as client:
        report = deliver(engine, client, clock=lambda: SIM_NOW)
    assert report.accepted >= 3 and report.rejected == 1
    sent = sim.events.accepted()
    expected_email_hash = hashlib.sha256(normalised_email.encode()).hexdigest()
    expected_phone_hash = hashlib.sha256(e164.encode()).hexdigest()
    assert {event["user"]["email"] for event in sent} == {expected_email_hash}
    assert {event["user"]["phone"] for event in sent} == {expected_phone_hash}
    leaks = _hits(str(sent), raw_values)
    leaks += _scan_tables(engine, raw_values, skip=frozenset({"first_party_events"}))
    leaks += _hits(caplog.text, raw_values)
    assert leaks == []
    # The events table is the one place raw PII lives (the store's own data, needed to re-map).
    assert _scan_tables(engine, (normalised_email,) + (email.strip(),))
