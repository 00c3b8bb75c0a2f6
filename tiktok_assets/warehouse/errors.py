"""Warehouse errors: each names what was wrong and what to do next.

Messages never contain a database password: URLs are rendered with
``render_as_string(hide_password=True)``.
"""

from __future__ import annotations


class WarehouseError(Exception):
    """Base class of every error raised by the warehouse."""


class WarehouseInputError(WarehouseError, ValueError):
    """A frame or row handed to the warehouse is not what the table needs; nothing was written."""


class WarehouseConfigError(WarehouseError):
    """The warehouse URL or settings cannot be used."""


class WarehouseUnavailableError(WarehouseError):
    """The database could not be reached or refused the connection."""
