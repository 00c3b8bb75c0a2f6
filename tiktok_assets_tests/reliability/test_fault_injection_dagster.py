"""Seeded fault schedules through real Dagster runs over a loopback socket (the socket-level faults for real:
a stalled answer past the client's timeout, a connection closed mid-response, an HTML 502)."""

from __future__ import annotations

import random

import pytest

from tiktok_assets.simulator import serve
from tiktok_assets.simulator.faults import FAULT_KINDS
from tiktok_assets_tests.reliability.dagster_support import FastHarness
from tiktok_assets_tests.reliability.support import (
    END,
    START,
    assert_no_partition_half_written,
    assert_warehouse_equals_truth,
    small_simulator,
)


@pytest.mark.parametrize("seed", [101, 102, 103, 104])
def test_dagster_import_under_a_seeded_schedule_converges_or_fails_cleanly(seed: int, tmp_path) -> None:
    rng = random.Random(seed)
    sim = small_simulator(seed=seed)
    # A stalled answer lasts past the client's 0.3 s timeout, then the server lets go.
    sim.faults.timeout_seconds = 0.6
    with serve(sim) as base_url:
        harness = FastHarness(base_url, f"sqlite:///{tmp_path / 'w.sqlite'}", timeout_seconds=0.3,
                              max_attempts=rng.choice([2, 6]))
        harness.discover()
        sim.faults.random(seed, rng.choice([0.15, 0.3]), FAULT_KINDS)
        result = harness.import_stats(START, END, raise_on_error=False)
        ids = sim.world.advertiser_ids
        if not result.success:
            failures = [event for event in result.all_events if event.is_step_failure]
            assert failures, "a failed run names its failed step"
            text = str(failures[0].step_failure_data.error)
            assert "TikTok" in text, text
            assert_no_partition_half_written(harness.engine, sim, ids, START, END)
            sim.faults.clear()
            assert harness.import_stats(START, END).success
        assert sum(sim.faults.delivered.values()) > 0 or not result.success
        assert_warehouse_equals_truth(harness.engine, sim, ids, START, END)
