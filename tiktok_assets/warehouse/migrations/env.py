"""Alembic's environment: migrate the connection ``create_schema`` (or the revision command) passes in."""

from alembic import context

from tiktok_assets.warehouse.migrations.compare import configure_options
from tiktok_assets.warehouse.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run the warehouse migrations through tiktok_assets (create_schema, `tiktok-assets schema "
                       "upgrade` / `schema revision`), which pass the connection: there is no alembic.ini.")
context.configure(connection=connection, target_metadata=metadata, **configure_options(connection))
# The caller's transaction (and its schema lock) is already open: Alembic then adds none of its own.
with context.begin_transaction():
    context.run_migrations()
