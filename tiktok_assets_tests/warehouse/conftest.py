"""Warehouse fixtures: a fresh, schema-created engine on a SQLite file and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from tiktok_assets.warehouse import create_schema, make_engine


@pytest.fixture
def engine(warehouse_url: str) -> Iterator[Engine]:
    """Parametrised by the shared ``warehouse_url`` fixture: every test runs on SQLite and PostgreSQL."""
    engine = make_engine(warehouse_url)
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    create_schema(engine)
    yield engine
    engine.dispose()
