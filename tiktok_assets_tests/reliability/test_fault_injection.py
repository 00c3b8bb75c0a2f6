"""Spend import under every simulator fault: the warehouse ends equal to the truth, or the run fails clearly
with nothing half-written (and a clean re-run then converges)."""

from __future__ import annotations

import random
from datetime import date

import pytest

from tiktok_assets.simulator.faults import FAULT_KINDS, FaultKind
from tiktok_assets.tiktok.errors import TikTokError, TikTokPagingError, TikTokRetriesExhausted
from tiktok_assets_tests.reliability.support import (
    END,
    START,
    assert_no_partition_half_written,
    assert_warehouse_equals_truth,
    fast_client,
    pull_and_write,
    query,
    small_simulator,
    sqlite_engine,
)

N_SCHEDULES = 50


@pytest.mark.parametrize("kind", [kind.value for kind in FAULT_KINDS])
def test_each_fault_kind_in_a_burst_is_absorbed(kind: str, tmp_path) -> None:
    """Three faults of one kind on the report endpoint (retries and paging restarts absorb them)."""
    sim = small_simulator()
    engine = sqlite_engine(tmp_path / "w.sqlite")
    ids = sim.world.advertiser_ids
    sim.faults.inject(kind, count=3, path_contains="/report/integrated/get/")
    with fast_client(sim) as client:
        pull_and_write(client, engine, ids, START, END)
        stats = client.stats.as_dict()
    assert sim.faults.delivered[FaultKind(kind)] == 3, "every queued fault was served"
    assert stats["retries"] >= 1, f"{kind}: the client never noticed the fault ({stats})"
    assert_warehouse_equals_truth(engine, sim, ids, START, END)


def test_40100_storm_longer_than_one_request_retries_is_survived_only_by_paging_retries(tmp_path) -> None:
    """Five 40100s in a row exhaust a 6-attempt request only if there are six: here the sixth attempt succeeds."""
    sim = small_simulator()
    engine = sqlite_engine(tmp_path / "w.sqlite")
    sim.faults.inject("rate_limit", count=5, path_contains="/report/integrated/get/")
    with fast_client(sim, max_attempts=6) as client:
        pull_and_write(client, engine, sim.world.advertiser_ids, START, END)
        assert client.stats.throttled == 5
    assert_warehouse_equals_truth(engine, sim, sim.world.advertiser_ids, START, END)


def test_a_storm_beyond_the_retry_budget_fails_clearly_and_writes_nothing_half(tmp_path) -> None:
    sim = small_simulator()
    engine = sqlite_engine(tmp_path / "w.sqlite")
    ids = sim.world.advertiser_ids
    # Let the first advertiser's daily report through, then throttle everything for longer than the retries last.
    sim.faults.inject("rate_limit", count=50, path_contains="/report/integrated/get/")
    with fast_client(sim, max_attempts=4) as client, pytest.raises(TikTokRetriesExhausted) as caught:
        pull_and_write(client, engine, ids, START, END)
    message = str(caught.value)
    assert "/report/integrated/get/" in message and "after 4 attempts" in message and "40100" in message
    assert "retry later" in message
    assert assert_no_partition_half_written(engine, sim, ids, START, END) == 0
    assert query(engine, "select count(*) as n from stats_revisions")["n"].iloc[0] == 0
    sim.faults.clear()
    with fast_client(sim) as client:
        pull_and_write(client, engine, ids, START, END)
    assert_warehouse_equals_truth(engine, sim, ids, START, END)


def test_total_page_one_too_high_on_every_page_still_reads_every_row(tmp_path) -> None:
    """A consistent over-promise reads one extra, empty page; total_number still matches, so nothing is lost."""
    sim = small_simulator()
    engine = sqlite_engine(tmp_path / "w.sqlite")
    sim.faults.inject("total_page_change", count=1000, path_contains="/report/integrated/get/")
    with fast_client(sim) as client:
        pull_and_write(client, engine, sim.world.advertiser_ids, START, END)
    assert_warehouse_equals_truth(engine, sim, sim.world.advertiser_ids, START, END)


def test_pages_that_keep_coming_back_empty_fail_as_a_paging_error_not_a_short_partition(tmp_path) -> None:
    sim = small_simulator()
    engine = sqlite_engine(tmp_path / "w.sqlite")
    sim.faults.inject("empty_page", count=1000, path_contains="/report/integrated/get/")
    with fast_client(sim) as client, pytest.raises(TikTokPagingError, match="stayed inconsistent after 3 restarts"):
        pull_and_write(client, engine, sim.world.advertiser_ids, START, END)
    assert assert_no_partition_half_written(engine, sim, sim.world.advertiser_ids, START, END) == 0


@pytest.mark.parametrize("seed", range(N_SCHEDULES))
def test_seeded_random_fault_schedule_converges_to_truth_or_fails_cleanly(seed: int, tmp_path) -> None:
    """A random schedule of every fault kind (rate 5-40 % of requests) over every endpoint.

    Either the import finishes and equals the truth, or it raises a TikTok error
    whose partitions written so far are complete and every other one is empty;
    then the faults stop and a re-run converges to the truth.
    """
    rng = random.Random(seed)
    rate = rng.choice([0.05, 0.15, 0.25, 0.4])
    kinds = rng.sample(list(FAULT_KINDS), rng.randint(2, len(FAULT_KINDS)))
    sim = small_simulator(seed=seed % 5 + 1, n_advertisers=rng.choice([2, 2, 4]))
    ids = sim.world.advertiser_ids
    engine = sqlite_engine(tmp_path / "w.sqlite")
    sim.faults.random(seed, rate, kinds)
    try:
        with fast_client(sim, max_attempts=rng.choice([3, 6])) as client:
            pull_and_write(client, engine, ids, START, END)
    except TikTokError as error:
        assert str(error), "a failure must say what happened"
        assert_no_partition_half_written(engine, sim, ids, START, END)
        sim.faults.clear()
        with fast_client(sim) as client:
            pull_and_write(client, engine, ids, START, END)
    assert_warehouse_equals_truth(engine, sim, ids, START, END)
    assert_no_partition_half_written(engine, sim, ids, START, END)
    # The simulator's clock stands still, so no pull may ever record a revision.
    assert query(engine, "select count(*) as n from stats_revisions")["n"].iloc[0] == 0


def test_schedules_really_fail_some_requests() -> None:
    """Guard against a vacuous suite: the seeded schedules deliver faults of every kind overall."""
    delivered: set[FaultKind] = set()
    for seed in range(N_SCHEDULES):
        rng = random.Random(seed)
        rate = rng.choice([0.05, 0.15, 0.25, 0.4])
        kinds = rng.sample(list(FAULT_KINDS), rng.randint(2, len(FAULT_KINDS)))
        sim = small_simulator()
        sim.faults.random(seed, rate, kinds)
        for _ in range(40):
            kind = sim.faults.take("/open_api/v1.3/report/integrated/get/")
            if kind:
                delivered.add(kind)
    assert delivered == set(FAULT_KINDS)


def test_range_sanity() -> None:
    assert (END - START).days + 1 == 3 and END < date(2026, 11, 20)
