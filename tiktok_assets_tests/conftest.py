"""Shared fixtures: the simulator (in-process and on loopback), SQLite and PostgreSQL warehouses."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

POSTGRES_URL = os.environ.get("TIKTOK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# A fixed "now" for the simulator: tests move it explicitly.
SIM_NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)


@pytest.fixture
def sim_clock():
    from tiktok_assets.simulator import SimClock

    return SimClock(fixed=SIM_NOW)


@pytest.fixture
def simulator(sim_clock):
    from tiktok_assets.simulator import Simulator, World

    return Simulator(world=World(seed=7), clock=sim_clock, qps=None)


@pytest.fixture
def loopback_simulator(simulator) -> Iterator[tuple[object, str]]:
    """The simulator served over a real socket on 127.0.0.1; yields (simulator, base_url)."""
    from tiktok_assets.simulator import serve

    with serve(simulator) as base_url:
        yield simulator, base_url


def _postgres_available() -> str | None:
    try:
        engine = sa.create_engine(POSTGRES_URL)
        with engine.connect() as connection:
            connection.execute(sa.text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"{type(exc).__name__}: {exc}"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    reason = _postgres_available()
    if reason:
        pytest.skip(f"PostgreSQL NOT REACHABLE at {POSTGRES_URL} ({reason}): Postgres tests skipped", allow_module_level=False)
    return POSTGRES_URL


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """A fresh schema per test (parallel-safe), dropped afterwards; yields a URL whose search_path is that schema."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url)
    with admin.begin() as connection:
        connection.execute(sa.text(f'create schema "{schema}"'))
    try:
        yield f"{postgres_url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'drop schema "{schema}" cascade'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def warehouse_url(request, tmp_path) -> str:
    """Each warehouse test runs on a SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    return request.getfixturevalue("postgres_schema_url")


@pytest.fixture(autouse=True)
def _no_dagster_instance_left_entered():
    """Fail the test that leaves a Dagster instance entered, instead of a later one on the same worker.

    An entered instance publishes its defs-state storage in a ContextVar; left
    entered, it outlives its instance, and the next Definitions to resolve
    fails with "Attempted to resolve undefined DagsterInstance weakref". A
    schedule or sensor context built without ``with`` did this: it enters
    its resources (and an instance for them) and only ``__exit__`` leaves
    them (see ``automation/location.py``).
    """
    from dagster._core.storage.defs_state.base import _current_storage

    yield
    left = _current_storage.get()
    if left is not None:
        _current_storage.set(None)  # the next test on this worker starts clean either way
        pytest.fail(f"this test left a Dagster instance entered ({left!r}): use the instance, or the schedule/"
                    "sensor context, as a context manager", pytrace=False)
