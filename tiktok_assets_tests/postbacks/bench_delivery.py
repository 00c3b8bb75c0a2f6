"""Postback throughput on a million events: load, map + enqueue, deliver (a benchmark that prints figures, not a test).

    python -m tiktok_assets_tests.postbacks.bench_delivery                 # 1,000,000 events, SQLite file
    python -m tiktok_assets_tests.postbacks.bench_delivery --events 200000 --url postgresql+psycopg://postgres@127.0.0.1/test

Delivery is timed twice: against the in-process simulator (which validates,
deduplicates and stores every event), and against an endpoint that answers
OK without reading the body, which is this code's own cost (claims, JSON,
state updates).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import httpx
import sqlalchemy as sa

from tiktok_assets.postbacks.delivery import deliver
from tiktok_assets.postbacks.events import FirstPartyEvent
from tiktok_assets.postbacks.mapping import load_mapping
from tiktok_assets.postbacks.outbox import map_and_enqueue
from tiktok_assets.postbacks.store import ensure_postback_tables, postback_outbox, store_events
from tiktok_assets.postbacks.synthetic import SyntheticStreamConfig, generate_events
from tiktok_assets.simulator import DEFAULT_ACCESS_TOKEN, SimClock, Simulator, World
from tiktok_assets.tiktok.client import TikTokClient
from tiktok_assets.warehouse import create_schema, make_engine

T = TypeVar("T")
DAY = datetime(2026, 11, 19, tzinfo=UTC)
NOW = DAY + timedelta(days=1, hours=1)
ADS = [{"ad_id": f"17900000000{index:02d}", "campaign_id": f"17800000000{index // 5:02d}", "currency": "USD"}
       for index in range(20)]


def events(count: int) -> list[FirstPartyEvent]:
    """A day of the demo stream, repeated under new event ids until there are ``count`` events."""
    sample = generate_events(ADS, DAY, DAY + timedelta(days=1), config=SyntheticStreamConfig(sessions_per_day=15_000))
    out: list[FirstPartyEvent] = []
    copy = 0
    while len(out) < count:
        out.extend(dataclasses.replace(event, event_id=f"{event.event_id}-r{copy}") for event in sample[: count - len(out)])
        copy += 1
    return out


def timed(label: str, count: int, work: Callable[[], T]) -> T:
    # CPU time too: on a shared machine the wall clock also counts other people's work.
    started, cpu_started = time.perf_counter(), time.process_time()
    result = work()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(f"{label:<40} {count:>9,} in {seconds:6.1f} s wall = {count / seconds:>7,.0f}/s; {cpu:6.1f} s CPU = {count / cpu:>7,.0f}/s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--url", help="warehouse URL (default: a new SQLite file)")
    args = parser.parse_args()
    url = args.url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.sqlite'}"
    engine = make_engine(url)
    create_schema(engine)
    ensure_postback_tables(engine)
    print(f"warehouse {engine.dialect.name}; generating {args.events:,} first-party events...")
    first_party = events(args.events)
    timed("store_events (first_party_events)", len(first_party), lambda: store_events(engine, first_party, received_at=NOW))
    first_party.clear()  # free the memory before the next phases
    mapping = load_mapping(pixel_id="CBENCHPIXEL", app_id="7100000000000000001")

    def map_every_hour() -> int:
        return sum(map_and_enqueue(engine, DAY + timedelta(hours=hour), DAY + timedelta(hours=hour + 1), mapping,
                                   now=NOW).enqueued.queued for hour in range(24))

    queued = timed("map + hash + enqueue, hour by hour", args.events, map_every_hour)
    print(f"  -> {queued:,} TikTok events queued")

    simulator = Simulator(world=World(seed=7), clock=SimClock(fixed=NOW), qps=None)
    with TikTokClient(DEFAULT_ACCESS_TOKEN, "http://simulator.local", qps=None, transport=simulator.transport()) as client:
        report = timed("deliver: in-process simulator", queued, lambda: deliver(engine, client, clock=lambda: NOW))
    print(f"  -> {report.as_dict()}; simulator stored {len(simulator.events):,}")

    with engine.begin() as connection:
        connection.execute(sa.update(postback_outbox).values(state="pending", attempts=0, batch_id=None,
                                                             first_attempt_at=None, accepted_at=None))
    ok = httpx.MockTransport(lambda request: httpx.Response(200, json={"code": 0, "message": "OK", "request_id": "bench"}))
    with TikTokClient(DEFAULT_ACCESS_TOKEN, "http://null.local", qps=None, transport=ok) as client:
        report = timed("deliver: endpoint answering OK unread", queued, lambda: deliver(engine, client, clock=lambda: NOW))
    print(f"  -> {report.as_dict()}")


if __name__ == "__main__":
    main()
