"""The SQL warehouse: SQLAlchemy Core tables, revision-aware partition writes, entity history (no Dagster import).

Works on a SQLite file (the default) and on PostgreSQL (psycopg 3) with the
same code. ``tables.py`` holds every table of the warehouse (one schema);
``migrations/`` the Alembic revisions ``create_schema`` applies; ``MIGRATIONS.md`` how it
changes.
"""

from tiktok_assets.warehouse.engine import make_engine, write_transaction
from tiktok_assets.warehouse.entities import (
    EntityWrite,
    entities_as_of,
    mark_unauthorised,
    upsert_advertisers,
    write_entity_snapshot,
)
from tiktok_assets.warehouse.errors import (
    WarehouseConfigError,
    WarehouseError,
    WarehouseInputError,
    WarehouseUnavailableError,
)
from tiktok_assets.warehouse.frames import PartitionKey
from tiktok_assets.warehouse.landing_url import parse_landing_page_url
from tiktok_assets.warehouse.reads import (
    partition_data_version,
    partition_drift,
    query_frame,
    read_partition_pulls,
    read_revisions,
    read_stats,
)
from tiktok_assets.warehouse.schema import create_schema, head_revision
from tiktok_assets.warehouse.stats import PartitionWrite, write_stats_partition, write_stats_partitions
from tiktok_assets.warehouse.tables import naive_utc

__all__ = [
    "EntityWrite",
    "PartitionKey",
    "PartitionWrite",
    "WarehouseConfigError",
    "WarehouseError",
    "WarehouseInputError",
    "WarehouseUnavailableError",
    "create_schema",
    "entities_as_of",
    "head_revision",
    "make_engine",
    "mark_unauthorised",
    "naive_utc",
    "parse_landing_page_url",
    "partition_data_version",
    "partition_drift",
    "query_frame",
    "read_partition_pulls",
    "read_revisions",
    "read_stats",
    "upsert_advertisers",
    "write_entity_snapshot",
    "write_stats_partition",
    "write_stats_partitions",
    "write_transaction",
]
