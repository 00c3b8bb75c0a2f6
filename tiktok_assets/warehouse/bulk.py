"""Bulk-loading a normalised frame into a table: COPY on PostgreSQL, executemany on SQLite.

Row-by-row ``INSERT`` through SQLAlchemy runs at a few thousand rows a second;
a year of hourly stats for 1,000 ads is 8.8 million rows. PostgreSQL gets the
frame as CSV through psycopg 3's ``cursor.copy``; SQLite gets one
``executemany`` over column lists already converted to what the driver binds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

_COPY_CHUNK_ROWS = 50_000


def bulk_insert(connection: Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """Insert every row of ``frame`` (columns named as in ``table``) in one round of bulk I/O."""
    if frame.empty:
        return
    if connection.dialect.name == "postgresql":
        _copy_csv(connection, table, frame)
    else:  # make_engine only builds SQLite and PostgreSQL engines
        _sqlite_executemany(connection, table, frame)


def _quoted(connection: Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote(name)


def _copy_csv(connection: Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    from psycopg.copy import QueuedLibpqWriter

    columns = ", ".join(_quoted(connection, name) for name in frame.columns)
    target = connection.dialect.identifier_preparer.format_table(table)
    raw_connection = connection.connection.driver_connection
    with raw_connection.cursor() as cursor:
        # The queued writer sends each chunk from a background thread, so the
        # server ingests one chunk while Python formats the next.
        writer = QueuedLibpqWriter(cursor)
        with cursor.copy(f"COPY {target} ({columns}) FROM STDIN WITH (FORMAT csv)", writer=writer) as copy:
            for start in range(0, len(frame), _COPY_CHUNK_ROWS):
                copy.write(csv_text(frame.iloc[start:start + _COPY_CHUNK_ROWS]))


def csv_text(frame: pd.DataFrame) -> str:
    """The frame as PostgreSQL CSV: unquoted empty fields are NULL, booleans t/f, ISO times.

    Faster than ``DataFrame.to_csv`` (3x measured): repeated values (ids, hours,
    dates) are formatted once per distinct value, numbers by the C ``str``/``repr``.
    """
    fields = [_csv_field(frame[name]) for name in frame.columns]
    return "\n".join(map(",".join, zip(*fields, strict=True))) + "\n"


def _csv_field(series: pd.Series) -> list[str]:
    kind = series.dtype.kind
    if isinstance(series.dtype, pd.Int64Dtype):  # nullable integers (reach)
        missing = series.isna().to_numpy()
        text = series.to_numpy(dtype="int64", na_value=0).astype(str).astype(object)
        text[missing] = ""
        return text.tolist()
    if kind == "b":
        return np.where(series.to_numpy(), "t", "f").tolist()
    if kind in "iu":
        return list(map(str, series.to_numpy().tolist()))
    if kind == "f":
        values = series.to_numpy()
        text = np.array(list(map(repr, values.tolist())), dtype=object)
        text[np.isnan(values)] = ""
        return text.tolist()
    # Texts, dates and times: format each distinct value once.
    codes, uniques = pd.factorize(series)
    if kind == "M":
        formatted = np.datetime_as_string(np.asarray(uniques, dtype="datetime64[us]"), unit="us").astype(object)
    else:
        formatted = np.array([_csv_quote(str(value)) for value in uniques], dtype=object)
    # Code -1 (missing) picks the appended "" (NULL).
    return np.append(formatted, "")[codes].tolist()


def _csv_quote(text: str) -> str:
    if any(special in text for special in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


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
        return series.astype("int64").tolist()
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
