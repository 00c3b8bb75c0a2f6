"""Fixtures for outbox and delivery tests: a warehouse with the postbacks tables, the default mapping."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from tiktok_assets.postbacks.mapping import MappingConfig, load_mapping
from tiktok_assets_tests.postbacks.helpers import APP_ID, PIXEL, STORE_APP_ID


@pytest.fixture
def engine(warehouse_url: str) -> Iterator[Engine]:
    """A fresh warehouse (SQLite file, then PostgreSQL schema) with every table, postbacks included."""
    from tiktok_assets.postbacks.store import ensure_postback_tables
    from tiktok_assets.warehouse import create_schema, make_engine

    engine = make_engine(warehouse_url)
    create_schema(engine)
    ensure_postback_tables(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def mapping() -> MappingConfig:
    return load_mapping({"destinations": {"app": {"store_app_id": STORE_APP_ID}}}, pixel_id=PIXEL, app_id=APP_ID)
