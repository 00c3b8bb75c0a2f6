"""SIGKILL during a spend import, then a re-run: no partition half-written, nothing lost or duplicated.

The import runs as a real Dagster run in a child process against the
simulator served on loopback by this test process; the test kills it
(SIGKILL: no cleanup, no rollback by Python) either at random points of its
traffic, or deterministically inside an open warehouse transaction. Then it
checks the warehouse as the child left it and re-runs the import in-process.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tiktok_assets.simulator import serve
from tiktok_assets.warehouse import create_schema, make_engine
from tiktok_assets_tests.reliability.support import (
    END,
    START,
    assert_no_partition_half_written,
    assert_warehouse_equals_truth,
    query,
    small_simulator,
)
from tiktok_assets_tests.spend.harness import SpendHarness

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHILD_START_TIMEOUT_SECONDS = 60
# Two advertisers x three days x (daily + hourly).
N_PARTITIONS = 2 * 3 * 2


def _spawn(base_url: str, warehouse_url: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tiktok_assets_tests.reliability.crash_child", base_url, warehouse_url,
         START.isoformat(), END.isoformat(), *extra],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _kill(child: subprocess.Popen) -> None:
    if child.poll() is None:
        os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)


def _wait_for(condition, child: subprocess.Popen, what: str) -> bool:  # noqa: ANN001
    """Poll until ``condition()``; False if the child exited first."""
    deadline = time.monotonic() + CHILD_START_TIMEOUT_SECONDS
    while not condition():
        if child.poll() is not None:
            return False
        if time.monotonic() > deadline:
            _kill(child)
            pytest.fail(f"timed out waiting for {what}; child output:\n{child.stdout.read().decode()[-3000:]}")
        time.sleep(0.002)
    return True


def _check_after_crash_then_rerun(sim, base_url: str, warehouse_url: str) -> int:  # noqa: ANN001
    """The warehouse as the killed run left it, then after an in-process re-run. Returns partitions complete at kill."""
    engine = make_engine(warehouse_url)
    create_schema(engine)  # the child may have died before creating it
    ids = sim.world.advertiser_ids
    complete_at_kill = assert_no_partition_half_written(engine, sim, ids, START, END)
    harness = SpendHarness(base_url, warehouse_url)
    assert harness.import_range(START, END, entities=False).success
    assert_warehouse_equals_truth(engine, sim, ids, START, END)
    assert assert_no_partition_half_written(engine, sim, ids, START, END) == N_PARTITIONS
    # Same numbers served twice: the re-run may only confirm what the killed run committed.
    assert int(query(engine, "select count(*) as n from stats_revisions")["n"].iloc[0]) == 0
    pulls = query(engine, "select table_name, advertiser_id, stat_date, count(*) as n from partition_pulls "
                          "group by table_name, advertiser_id, stat_date")
    assert len(pulls) == N_PARTITIONS
    engine.dispose()
    return complete_at_kill


@pytest.fixture
def served_simulator():
    sim = small_simulator()
    with serve(sim) as base_url:
        yield sim, base_url


@pytest.mark.parametrize("batch_number", [1, 3])
def test_kill_inside_an_open_warehouse_transaction_on_sqlite(batch_number: int, served_simulator, tmp_path) -> None:
    sim, base_url = served_simulator
    warehouse_url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    _kill_inside_transaction_then_rerun(sim, base_url, warehouse_url, batch_number, tmp_path)


def test_kill_inside_an_open_warehouse_transaction_on_postgres(served_simulator, postgres_schema_url, tmp_path) -> None:
    sim, base_url = served_simulator
    _kill_inside_transaction_then_rerun(sim, base_url, postgres_schema_url, 2, tmp_path)


def _kill_inside_transaction_then_rerun(sim, base_url: str, warehouse_url: str, batch_number: int,  # noqa: ANN001
                                        tmp_path: Path) -> None:
    marker = tmp_path / "in_transaction"
    child = _spawn(base_url, warehouse_url, str(batch_number), str(marker))
    try:
        reached = _wait_for(marker.exists, child, f"write batch {batch_number}")
        assert reached, f"the child ended before batch {batch_number}:\n{child.stdout.read().decode()[-3000:]}"
        in_flight = int(marker.read_text().split()[0])
        assert in_flight >= 1
    finally:
        _kill(child)
    assert child.returncode == -signal.SIGKILL
    # One write batch per advertiser and table (3 days each), committed in order before the one killed.
    complete = _check_after_crash_then_rerun(sim, base_url, warehouse_url)
    assert complete == (batch_number - 1) * 3, "exactly the batches committed before the kill are stored"


@pytest.mark.parametrize("seed", [11, 13, 18])
def test_kill_at_a_random_point_of_the_import(seed: int, served_simulator, tmp_path) -> None:
    """Killed after a random number of API requests plus a random few milliseconds (in a fetch or a write)."""
    sim, base_url = served_simulator
    rng = random.Random(seed)
    # A full run of this world makes 16 requests: oauth, 3 advertiser infos, 4 ad lists, 2 daily + 6 hourly reports.
    kill_after_requests = rng.randint(1, 16)
    warehouse_url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    child = _spawn(base_url, warehouse_url)
    try:
        _wait_for(lambda: sum(sim.request_counts.values()) >= kill_after_requests, child,
                  f"{kill_after_requests} requests")
        time.sleep(rng.uniform(0, 0.05))
    finally:
        _kill(child)
    assert child.returncode == -signal.SIGKILL, "the import finished before the kill: the test proved nothing"
    complete = _check_after_crash_then_rerun(sim, base_url, warehouse_url)
    assert 0 <= complete < N_PARTITIONS
