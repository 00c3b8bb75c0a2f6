"""Fixtures: the code location over a loopback simulator, a SQLite warehouse, a persistent test instance."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from tiktok_assets_tests.automation.location import Location


@pytest.fixture(scope="session")
def instance_template(tmp_path_factory) -> Path:
    """An empty, fully migrated SQLite instance; building one takes ~2 s, copying it ~0.1 s."""
    directory = tmp_path_factory.mktemp("dagster_instance_template")
    with dg.instance_for_test(temp_dir=str(directory)) as instance:
        instance.get_dynamic_partitions("tiktok_advertisers")
    return directory


@pytest.fixture
def instance(instance_template: Path, tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    """A persistent instance of its own (sensors need an instance ref to resolve dynamic partitions)."""
    home = tmp_path / "dagster_home"
    shutil.copytree(instance_template, home)
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    yield instance
    instance.dispose()


@pytest.fixture
def location(loopback_simulator, tmp_path, instance) -> Location:
    """Reads with LIMITED_TOKEN, which each test grants to the advertisers it wants."""
    _simulator, base_url = loopback_simulator
    return Location(base_url, f"sqlite:///{tmp_path / 'warehouse.sqlite'}", instance)
