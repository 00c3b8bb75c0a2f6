"""Bench 5, postbacks: 1,000,000 first-party events mapped, hashed, queued, batched and delivered.

    python -m bench.postbacks                              # ~1,000,000 events, SQLite
    python -m bench.postbacks --events 100000 --warehouse postgres

The events come from the synthetic stream (not timed), are stored with
``store_events`` (timed apart: intake), then the real outbox path is timed end
to end: ``map_new_loads`` (the delivery asset's intake: the load not mapped
yet, mapping, PII hashing, order dedup, outbox insert) and
``deliver`` (claims, batches of 1,000, POST to the simulator served on
loopback, outcome bookkeeping). Checks that each event source got exactly
ceil(n / 1000) requests. Target (issue 8): ≥ 20,000 events/s end to end.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bench._common import (
    POSTGRES_URL,
    PostgresBackendCpu,
    Stopwatch,
    add_warehouse_argument,
    peak_rss_mib,
    release_memory_and_reset_peak_rss,
    rate,
    simulator_process,
    temporary_warehouse,
    warehouses_of,
    write_results,
)

TARGET_EVENTS_PER_S = 20_000
PIXEL_ID = "BENCHPIXEL000000001"
APP_ID = "7000000000000000777"
# The synthetic stream gives ~3.5 first-party events per session (in the 24-hour window) (web and app funnels, orders, background events).
EVENTS_PER_SESSION_GUESS = 3.5


def synthetic_events(wanted: int, end: datetime) -> list[Any]:
    """About ``wanted`` first-party events over the 24 hours before ``end`` (inside TikTok's accepted age)."""
    from tiktok_assets.postbacks.synthetic import SyntheticStreamConfig, generate_events

    ads = [{"ad_id": f"17{index:017d}", "campaign_id": "1800000000000000001", "advertiser_id": "7000000000000000001",
            "currency": "USD"} for index in range(200)]
    start = end - timedelta(hours=24)
    config = SyntheticStreamConfig(sessions_per_day=wanted / EVENTS_PER_SESSION_GUESS)
    return generate_events(ads, start, end, seed=11, config=config)


def store(url: str, events: list[Any], now: datetime) -> dict[str, Any]:
    """Load the events into a fresh warehouse (timed apart: intake is not part of end to end)."""
    from tiktok_assets.postbacks.store import ensure_postback_tables, store_events
    from tiktok_assets.warehouse import make_engine

    engine = make_engine(url)
    ensure_postback_tables(engine)
    with Stopwatch() as intake:
        store_events(engine, events, received_at=now)
    engine.dispose()
    return {"intake_s": round(intake.wall, 2), "intake_events_per_s": round(rate(len(events), intake.wall))}


def run(warehouse: str, url: str, first_party_events: int, now: datetime, workers: int) -> dict[str, Any]:
    from tiktok_assets.postbacks.delivery import deliver
    from tiktok_assets.postbacks.mapping import load_mapping
    from tiktok_assets.postbacks.outbox import map_new_loads
    from tiktok_assets.postbacks.store import postback_outbox
    from tiktok_assets.simulator import DEFAULT_ACCESS_TOKEN
    from tiktok_assets.tiktok.client import TikTokClient
    from tiktok_assets.warehouse import make_engine

    server = ExitStack()
    if warehouse == "postgres":
        # Every connection of this run (map workers' too) carries this name: the server CPU is theirs alone.
        name = f"bench_postbacks_{os.getpid()}"
        url = f"{url}&application_name={name}"
        server_cpu = server.enter_context(PostgresBackendCpu(POSTGRES_URL, name)).seconds
    else:
        def server_cpu() -> float:
            return float("nan")  # SQLite runs in the mapping and delivering processes: its CPU is in theirs
    # The simulator runs in its own process: its validation of a million events is TikTok's work, not ours.
    with server, simulator_process(2, n_advertisers=1, now=now) as sim:
        engine = make_engine(url)
        mapping = load_mapping(pixel_id=PIXEL_ID, app_id=APP_ID)
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_before = server_cpu()
        with Stopwatch() as mapped_watch:
            mapped = map_new_loads(engine, mapping, now=now, workers=workers).mapped
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        # The map workers have exited (the pool is shut down) and been waited for: their CPU is in RUSAGE_CHILDREN.
        workers_cpu = (children.ru_utime + children.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
        server_mapped = server_cpu()
        with engine.connect() as connection:
            per_source = {
                (row.event_source, row.event_source_id): row.n
                for row in connection.execute(
                    sa.select(postback_outbox.c.event_source, postback_outbox.c.event_source_id,
                              sa.func.count().label("n")).group_by(postback_outbox.c.event_source,
                                                                   postback_outbox.c.event_source_id))
            }
        simulator_before = sim.cpu_seconds()
        with TikTokClient(DEFAULT_ACCESS_TOKEN, sim.base_url, qps=None) as client, Stopwatch() as delivery:
            report = deliver(engine, client, clock=lambda: now)
        simulator_cpu = sim.cpu_seconds() - simulator_before
        server_delivered = server_cpu()
        # Every POST the client made, retries included: nothing else calls /event/track/ here.
        track_requests = client.stats.requests
        accepted = report.accepted
        engine.dispose()
    tiktok_events = mapped.tiktok_events
    expected_requests = {f"{source}:{source_id}": math.ceil(n / 1000) for (source, source_id), n in per_source.items()}
    end_to_end = mapped_watch.wall + delivery.wall
    return {
        "warehouse": warehouse,
        "map_workers": workers,
        "first_party_events": first_party_events,
        "tiktok_events": tiktok_events,
        "queued": mapped.enqueued.queued,
        "map_hash_enqueue_s": round(mapped_watch.wall, 2),
        "map_hash_enqueue_cpu_s": round(mapped_watch.cpu, 2),
        # CPU seconds are steadier than wall seconds on a shared machine: the whole of each phase's.
        "map_workers_cpu_s": round(workers_cpu, 2),
        "map_server_cpu_s": round(server_mapped - server_before, 2),
        "deliver_s": round(delivery.wall, 2),
        "deliver_cpu_s": round(delivery.cpu, 2),
        "deliver_server_cpu_s": round(server_delivered - server_mapped, 2),
        "deliver_simulator_cpu_s": round(simulator_cpu, 2),
        "end_to_end_s": round(end_to_end, 2),
        "first_party_events_per_s": round(rate(first_party_events, end_to_end)),
        "tiktok_events_per_s": round(rate(tiktok_events, end_to_end)),
        "target_events_per_s": TARGET_EVENTS_PER_S,
        "delivery_report": report.as_dict(),
        "track_requests": track_requests,
        "expected_requests_per_source": expected_requests,
        "expected_requests": sum(expected_requests.values()),
        "accepted_by_simulator": accepted,
        # This process's memory while mapping (without --workers) and delivering; the bench's own
        # generated events were released before. Map workers are separate processes.
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="about this many first-party events")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes mapping slices of 50,000 events (default: one per CPU)")
    add_warehouse_argument(parser)
    args = parser.parse_args()
    now = datetime.now(UTC).replace(microsecond=0)
    with Stopwatch() as making:
        events = synthetic_events(args.events, now)
    print(f"synthetic stream: {len(events):,} first-party events in {making.wall:.1f} s (not counted)")
    runs = []
    with ExitStack() as stack:
        urls = {warehouse: stack.enter_context(temporary_warehouse(warehouse)) for warehouse in warehouses_of(args.warehouse)}
        intakes = {warehouse: store(url, events, now) for warehouse, url in urls.items()}
        count = len(events)
        del events
        for warehouse, url in urls.items():
            release_memory_and_reset_peak_rss()
            figures = {**run(warehouse, url, count, now, args.workers), **intakes[warehouse]}
            runs.append(figures)
            print(f"postbacks {warehouse:8s}: {figures['first_party_events']:,} first-party → {figures['tiktok_events']:,} "
                  f"TikTok events; map+hash+enqueue {figures['map_hash_enqueue_s']:.1f} s, deliver {figures['deliver_s']:.1f} s "
                  f"= {figures['first_party_events_per_s']:,} first-party events/s ({figures['tiktok_events_per_s']:,} TikTok "
                  f"events/s; target {TARGET_EVENTS_PER_S:,}); requests {figures['track_requests']:,} "
                  f"(expected ceil(n/1000) per source: {figures['expected_requests']:,}); intake "
                  f"{figures['intake_events_per_s']:,} events/s; peak RSS {figures['peak_rss_mib']:,.0f} MiB", flush=True)
            print(f"  CPU s: map {figures['map_hash_enqueue_cpu_s'] + figures['map_workers_cpu_s']:.1f} "
                  f"(+ server {figures['map_server_cpu_s']:.1f}), deliver {figures['deliver_cpu_s']:.1f} "
                  f"(+ server {figures['deliver_server_cpu_s']:.1f}, simulator {figures['deliver_simulator_cpu_s']:.1f}); "
                  f"load average {os.getloadavg()[0]:.1f}", flush=True)
    write_results("postbacks", {"events_requested": args.events, "runs": runs})


if __name__ == "__main__":
    main()
