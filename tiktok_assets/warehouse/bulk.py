"""Bulk-loading a normalised frame into a table: binary COPY on PostgreSQL, executemany on SQLite.

Row-by-row ``INSERT`` through SQLAlchemy runs at a few thousand rows a second;
a year of hourly stats for 1,000 ads is 8.8 million rows. PostgreSQL gets the
rows as binary ``COPY`` (``pgbinary``): the server parses no text (numbers,
times and money arrive in their stored form) and numpy builds the stream a
column at a time. SQLite gets one ``executemany`` over column lists
already converted to what the driver binds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tiktok_assets.warehouse.frames import naive_utc_times
from tiktok_assets.warehouse.pgbinary import copy_chunks


def bulk_insert(connection: Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """Insert every row of ``frame`` (columns named as in ``table``) in one round of bulk I/O."""
    if frame.empty:
        return
    if connection.dialect.name == "postgresql":
        _copy_binary(connection, table, frame)
    else:  # make_engine only builds SQLite and PostgreSQL engines
        _sqlite_executemany(connection, table, frame)


def _quoted(connection: Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote(name)


def _copy_binary(connection: Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    from psycopg.copy import QueuedLibpqWriter

    names = ", ".join(_quoted(connection, name) for name in frame.columns)
    target = connection.dialect.identifier_preparer.format_table(table)
    raw_connection = connection.connection.driver_connection
    with raw_connection.cursor() as cursor:
        # The queued writer sends from a background thread, so the server
        # ingests one chunk while numpy encodes the next.
        writer = QueuedLibpqWriter(cursor)
        with cursor.copy(f"COPY {target} ({names}) FROM STDIN WITH (FORMAT binary)", writer=writer) as copy:
            for chunk in copy_chunks(table, frame):
                copy.write(chunk)


def _sqlite_executemany(connection: Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    columns = [_sqlite_values(table.c[name].type, frame[name]) for name in frame.columns]
    names = ", ".join(_quoted(connection, name) for name in frame.columns)
    placeholders = ", ".join("?" for _ in frame.columns)
    target = connection.dialect.identifier_preparer.format_table(table)
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.executemany(f"INSERT INTO {target} ({names}) VALUES ({placeholders})", zip(*columns, strict=True))
    finally:
        cursor.close()


def _sqlite_values(column_type: sa.types.TypeEngine, series: pd.Series) -> list[object]:
    """A column as the Python values SQLAlchemy's SQLite types would have bound."""
    if isinstance(column_type, sa.DateTime):
        return _iso_strings(series, with_time=True)
    if isinstance(column_type, sa.Date):
        return _iso_strings(series, with_time=False)
    if isinstance(column_type, sa.Boolean):
        missing = series.isna().to_numpy()
        flags = series.to_numpy(dtype=object, na_value=False).astype(bool).astype("int64").astype(object)
        flags[missing] = None
        return flags.tolist()
    if series.dtype == object:
        return series.tolist()
    if isinstance(series.dtype, pd.Int64Dtype) or series.isna().any():
        # Nullable integers (reach) become Python ints and None.
        return series.to_numpy(dtype=object, na_value=None).tolist()
    return series.to_numpy().tolist()


def _iso_strings(series: pd.Series, *, with_time: bool) -> list[str]:
    # SQLAlchemy stores SQLite dates as 'YYYY-MM-DD' and datetimes as
    # 'YYYY-MM-DD HH:MM:SS.ffffff'; rows loaded here must compare equal to rows
    # and parameters SQLAlchemy writes, so the text has to match exactly.
    series = naive_utc_times(series)
    codes, uniques = pd.factorize(series)
    if not len(uniques):
        return [None] * len(series)
    values = np.asarray(uniques, dtype="datetime64[us]")
    if with_time:
        text = np.datetime_as_string(values, unit="us")
        text.view(np.uint32).reshape(len(text), -1)[:, 10] = ord(" ")
    else:
        text = np.datetime_as_string(values, unit="D")
    # Code -1 (missing) picks the appended None (NULL).
    return np.append(text.astype(object), None)[codes].tolist()
