"""Bulk loads round-trip every column type exactly: binary COPY on PostgreSQL, executemany on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tiktok_assets.warehouse import make_engine, write_transaction
from tiktok_assets.warehouse.bulk import bulk_insert
from tiktok_assets.warehouse.pgbinary import BinaryCopyError, binary_type, id_text_stream

every_type = sa.Table(
    "bulk_every_type",
    sa.MetaData(),
    sa.Column("row_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("label", sa.Text),
    sa.Column("code", sa.String(8)),
    sa.Column("amount", sa.Numeric(20, 6, asdecimal=True)),
    sa.Column("ratio", sa.Float),
    sa.Column("count_big", sa.BigInteger),
    sa.Column("count_small", sa.SmallInteger),
    sa.Column("flag", sa.Boolean),
    sa.Column("day", sa.Date),
    sa.Column("moment", sa.DateTime),
    sa.Column("moment_tz", sa.DateTime(timezone=True)),
)


@pytest.fixture
def engine(warehouse_url: str) -> Iterator[Engine]:
    engine = make_engine(warehouse_url)
    every_type.create(engine)
    yield engine
    every_type.drop(engine)
    engine.dispose()


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "row_id": [1, 2, 3, 4, 5],
        # Different byte lengths, multi-byte UTF-8, CSV/COPY-special characters, NULL, the empty string.
        "label": ["plain", 'Shop, "the best"\nsince 1999\t\\', "Ünïcödé ✓ 広告", None, ""],
        "code": ["USD", "JPY", None, "EUR", "USD"],
        "amount": [1.12, -0.000001, 123456789.123456, np.nan, 0.1 + 0.2],
        "ratio": [0.5, np.nan, -1e-300, 1e300, 0.0],
        "count_big": pd.array([2**53 + 1, None, -(2**62), 0, 7], dtype="Int64"),
        "count_small": pd.array([1, -32768, None, 32767, 0], dtype="Int64"),
        "flag": pd.array([True, False, None, True, False], dtype="boolean"),
        "day": pd.to_datetime(["2026-11-20", "1999-12-31", None, "2000-01-01", "1970-01-01"]),
        "moment": pd.to_datetime(["2026-11-20 13:45:06.5", "1999-12-31 23:59:59.999999", "2000-01-01", None,
                                  "1969-07-20 20:17:40"], format="ISO8601"),
        "moment_tz": pd.to_datetime(["2026-11-20T13:45:06+09:00", None, "2000-01-01T00:00:00Z",
                                     "2026-03-29T01:30:00+01:00", "2026-11-20T00:00:00Z"], format="ISO8601", utc=True),
    })


def _stored(engine: Engine) -> list[dict]:
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(
            sa.select(every_type).order_by(every_type.c.row_id)).mappings()]


def test_every_type_round_trips_exactly_with_nulls(engine: Engine) -> None:
    with write_transaction(engine) as connection:
        bulk_insert(connection, every_type, _frame())
    rows = _stored(engine)
    assert [row["label"] for row in rows] == ["plain", 'Shop, "the best"\nsince 1999\t\\', "Ünïcödé ✓ 広告", None, ""]
    assert [row["code"] for row in rows] == ["USD", "JPY", None, "EUR", "USD"]
    amounts = [row["amount"] for row in rows]
    assert amounts[3] is None
    # Money is rounded to the column's 6 decimals, exactly as the server rounds text.
    assert [Decimal(str(amount)).quantize(Decimal("0.000001")) for amount in amounts[:3] + amounts[4:]] == [
        Decimal("1.120000"), Decimal("-0.000001"), Decimal("123456789.123456"), Decimal("0.300000")]
    assert [row["ratio"] for row in rows] == [0.5, None, -1e-300, 1e300, 0.0]
    assert [row["count_big"] for row in rows] == [2**53 + 1, None, -(2**62), 0, 7]
    assert [row["count_small"] for row in rows] == [1, -32768, None, 32767, 0]
    assert [row["flag"] for row in rows] == [True, False, None, True, False]
    assert [row["day"] for row in rows] == [date(2026, 11, 20), date(1999, 12, 31), None, date(2000, 1, 1),
                                            date(1970, 1, 1)]
    assert [row["moment"] for row in rows] == [datetime(2026, 11, 20, 13, 45, 6, 500000),
                                               datetime(1999, 12, 31, 23, 59, 59, 999999), datetime(2000, 1, 1),
                                               None, datetime(1969, 7, 20, 20, 17, 40)]
    moments_tz = [row["moment_tz"] for row in rows]
    assert moments_tz[1] is None
    as_utc = [moment if moment.tzinfo else moment.replace(tzinfo=UTC) for moment in moments_tz if moment is not None]
    assert [moment.astimezone(UTC) for moment in as_utc] == [
        datetime(2026, 11, 20, 4, 45, 6, tzinfo=UTC), datetime(2000, 1, 1, tzinfo=UTC),
        datetime(2026, 3, 29, 0, 30, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)]


def test_many_rows_in_mixed_layouts_all_arrive(engine: Engine) -> None:
    # 120,000 rows span three COPY chunks; NULLs and text lengths vary row by row.
    rng = np.random.default_rng(3)
    rows = 120_000
    labels = np.array(["a", "bb", "ccc", None, "ÿ" * 40], dtype=object)[rng.integers(0, 5, rows)]
    amounts = np.round(rng.uniform(-1e6, 1e6, rows), 6)
    amounts[rng.random(rows) < 0.1] = np.nan
    frame = pd.DataFrame({
        "row_id": np.arange(rows), "label": labels, "amount": amounts,
        "count_big": pd.array(rng.integers(-(2**40), 2**40, rows), dtype="Int64"),
    })
    with write_transaction(engine) as connection:
        bulk_insert(connection, every_type, frame)
    with engine.connect() as connection:
        stored = pd.DataFrame(connection.execute(
            sa.select(every_type.c.row_id, every_type.c.label, every_type.c.amount, every_type.c.count_big)
            .order_by(every_type.c.row_id)).all(), columns=["row_id", "label", "amount", "count_big"])
    assert stored["row_id"].tolist() == list(range(rows))
    assert stored["label"].tolist() == labels.tolist()
    got = stored["amount"].astype("float64").to_numpy()
    assert np.array_equal(np.isnan(got), np.isnan(amounts))
    assert np.allclose(got[~np.isnan(got)], amounts[~np.isnan(amounts)], rtol=0, atol=5e-7)
    assert stored["count_big"].tolist() == frame["count_big"].tolist()


@pytest.mark.parametrize(("column", "values", "problem"), [
    ("count_small", [1, 40_000], "does not fit int2"),
    ("count_big", [1.0, 2.5], "not a whole number"),
    ("label", ["ok", "nul\x00inside"], "NUL character"),
    # Numeric(20, 6) holds below 10^14 (the server would refuse it too, as "numeric field overflow").
    ("amount", [1.0, 1e14], r"exceeds ±100,000,000,000,000, the column's numeric\(20, 6\)"),
])
def test_unsendable_values_name_their_column_and_write_nothing(postgres_schema_url: str, column: str,
                                                              values: list, problem: str) -> None:
    engine = make_engine(postgres_schema_url)
    every_type.create(engine)
    try:
        frame = pd.DataFrame({"row_id": [1, 2], column: values})
        with (pytest.raises(BinaryCopyError, match=rf"bulk_every_type\.{column}.*{problem}"),
              write_transaction(engine) as connection):
            bulk_insert(connection, every_type, frame)
        assert _stored(engine) == []
    finally:
        every_type.drop(engine)
        engine.dispose()


def test_money_up_to_the_columns_precision_arrives_exactly(engine: Engine) -> None:
    # Sent as one int64 of 10^-8 units, the binary path refused anything from 9e10 up (90 billion), although
    # Numeric(20, 6) holds up to 10^14: a load of one such value (a broken export, or an ordinary sum in a
    # currency whose unit is worth little) failed whole. Each of these is a float exactly, so "exactly" holds.
    amounts = [90_000_000_000.5, 5e12, -99_999_999_999_999.75, 12_345_678_901.25, 41.9999999, -0.0000001]
    frame = pd.DataFrame({"row_id": range(len(amounts)), "amount": amounts})
    with write_transaction(engine) as connection:
        bulk_insert(connection, every_type, frame)
    stored = [row["amount"] for row in _stored(engine)]
    # The fifth rounds up at 6 decimals (carried into the whole part); the last rounds to zero, sent unsigned.
    assert stored == [Decimal("90000000000.500000"), Decimal("5000000000000.000000"),
                      Decimal("-99999999999999.750000"), Decimal("12345678901.250000"), Decimal("42.000000"),
                      Decimal("0.000000")]
    if engine.dialect.name == "postgresql":  # the binary path's own encoding
        assert [str(amount) for amount in stored[4:]] == ["42.000000", "0.000000"]


def test_a_type_without_a_binary_encoding_is_refused_by_name() -> None:
    table = sa.Table("odd", sa.MetaData(), sa.Column("payload", sa.JSON))
    with pytest.raises(NotImplementedError, match=r"odd\.payload"):
        binary_type(table.c.payload)


def test_rows_arrive_in_the_frames_order(warehouse_url: str) -> None:
    # The outbox numbers events as they are loaded: a bulk load must not reorder rows,
    # whatever mix of text lengths and NULLs they hold.
    ordered = sa.Table("bulk_ordered", sa.MetaData(),
                       sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                                 autoincrement=True),
                       sa.Column("label", sa.Text), sa.Column("amount", sa.Numeric(20, 6, asdecimal=False)))
    engine = make_engine(warehouse_url)
    ordered.create(engine)
    try:
        labels = ["x" * (index % 7) if index % 5 else None for index in range(2_000)]
        amounts = [None if index % 3 == 0 else index / 100 for index in range(2_000)]
        with write_transaction(engine) as connection:
            bulk_insert(connection, ordered, pd.DataFrame({"label": labels, "amount": amounts}))
        with engine.connect() as connection:
            stored = connection.execute(sa.select(ordered.c.label, ordered.c.amount).order_by(ordered.c.seq)).all()
        assert [row.label for row in stored] == labels
        assert [row.amount for row in stored] == amounts
    finally:
        ordered.drop(engine)
        engine.dispose()


id_texts = sa.Table(
    "bulk_id_texts",
    sa.MetaData(),
    sa.Column("row_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("body", sa.Text, nullable=False),
)


def _copy_id_texts(engine: Engine, ids: list[int], texts: list[str]) -> None:
    with write_transaction(engine) as connection:
        cursor = connection.connection.driver_connection.cursor()
        with cursor.copy("COPY bulk_id_texts (row_id, body) FROM STDIN WITH (FORMAT binary)") as copy:
            copy.write(id_text_stream(np.array(ids, dtype=np.int64), texts))


def test_id_text_stream_round_trips_ids_and_texts_in_order(postgres_schema_url: str) -> None:
    engine = make_engine(postgres_schema_url)
    id_texts.create(engine)
    # Big and negative ids, texts of different lengths: multi-byte UTF-8, COPY-special characters, the empty text.
    ids = [2**62 + 5, -3, 0, 17]
    texts = ['{"name":"Ünïcödé ✓ 広告"}', 'a\tb\nc\\d,"e"', "", "x" * 70_000]
    _copy_id_texts(engine, ids, texts)
    with engine.connect() as connection:
        rows = connection.execute(sa.select(id_texts.c.row_id, id_texts.c.body).order_by(id_texts.c.row_id)).all()
    engine.dispose()
    assert rows == sorted(zip(ids, texts))


def test_id_text_stream_refuses_a_nul_and_a_length_mismatch() -> None:
    with pytest.raises(BinaryCopyError, match="NUL"):
        id_text_stream(np.array([1], dtype=np.int64), ["a\x00b"])
    with pytest.raises(ValueError, match="2 ids for 1 texts"):
        id_text_stream(np.array([1, 2], dtype=np.int64), ["a"])
