"""Checking, normalising and fingerprinting stats frames before they reach the database (pandas only).

Everything here is vectorised over the rows of a whole batch of partitions; the
only Python loops run once per partition or per column.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

import numpy as np
import pandas as pd
import sqlalchemy as sa

from tiktok_assets.warehouse.errors import WarehouseInputError
from tiktok_assets.warehouse.tables import (
    BOOKKEEPING_COLUMNS,
    MONEY_DECIMALS,
    MONEY_METRICS,
    compared_metrics,
    frame_columns,
    time_column,
)

MICROS = 10**MONEY_DECIMALS
# Bump when the canonical content below changes: every data version changes with it.
# v2 (schema 3): app_purchases and app_purchase_value joined the metrics.
_VERSION_PREFIX = b"tiktok_assets.stats.v2\n"
_ID_COLUMNS = ("advertiser_id", "ad_id")
_OPTIONAL_TEXT_COLUMNS = ("campaign_id", "adgroup_id", "currency")
# reach is unknown ("-") for some rows; the fingerprint needs a number it can never be.
_NULL_REACH = -1


class PartitionKey(NamedTuple):
    """(advertiser_id, local stat_date): equal to the plain tuple, so either works as a dict key."""

    advertiser_id: str
    stat_date: date

    def describe(self, table_name: str) -> str:
        return f"{table_name} partition (advertiser {self.advertiser_id}, {self.stat_date.isoformat()})"


@dataclass(frozen=True)
class PartitionContent:
    """What one partition holds once written: its fingerprint and totals."""

    rows: int
    data_version: str
    spend: float
    conversions: int
    purchase_value: float
    app_purchase_value: float = 0.0


@dataclass
class PreparedBatch:
    """Normalised rows of several partitions, sorted by partition, then time, then ad (the primary key's order)."""

    table: sa.Table
    rows: pd.DataFrame
    content: dict[PartitionKey, PartitionContent]
    """Every partition of the batch, in the caller's order, empty ones included."""
    row_partition: np.ndarray
    """For each row of ``rows``, the index of its partition in ``content``."""


def prepare_stats_batch(table: sa.Table, frames: Mapping[tuple[str, date] | PartitionKey, pd.DataFrame]
                        ) -> PreparedBatch:
    """Check every frame against ``table`` and its partition, and normalise the rows.

    Raises ``WarehouseInputError`` naming the partition, column and row key of
    the first problem found; nothing is normalised halfway.
    """
    keys = [partition_key(table, key) for key in frames]
    if len(set(keys)) != len(keys):
        raise WarehouseInputError(f"{table.name}: the same partition appears twice in one batch; pass each once.")
    columns = frame_columns(table)
    pieces, lengths = [], []
    for key, frame in zip(keys, frames.values(), strict=True):
        check_frame_shape(table, key, frame)
        lengths.append(len(frame))
        if len(frame):
            pieces.append(frame[columns])
    lengths_array = np.asarray(lengths, dtype="int64")
    if pieces:
        raw = pd.concat(pieces, ignore_index=True)
    else:
        raw = pd.DataFrame({name: pd.Series(dtype="object") for name in columns})
    labels = _Labels(table.name, keys, np.repeat(np.arange(len(keys)), lengths_array))
    rows = _normalise(table, raw, labels)
    order = _sort_order(table, rows, labels.partition)
    rows = rows.iloc[order].reset_index(drop=True)
    row_partition = labels.partition[order]
    _check_unique_keys(table, rows, row_partition, keys)
    return PreparedBatch(table=table, rows=rows, content=_content(table, rows, row_partition, keys),
                         row_partition=row_partition)


def partition_content(table: sa.Table, key: PartitionKey, frame: pd.DataFrame) -> PartitionContent:
    """Fingerprint and totals of one partition's rows (served or stored)."""
    return prepare_stats_batch(table, {key: frame}).content[key]


def partition_key(table: sa.Table, key: tuple[str, date]) -> PartitionKey:
    """Check and normalise an (advertiser_id, stat_date) pair; a datetime stat_date becomes its date."""
    try:
        advertiser_id, stat_date = key
    except (TypeError, ValueError):
        raise WarehouseInputError(
            f"{table.name}: partition keys are (advertiser_id, stat_date) pairs, got {key!r}."
        ) from None
    if isinstance(stat_date, datetime):
        stat_date = stat_date.date()
    if not isinstance(advertiser_id, str) or not advertiser_id or not isinstance(stat_date, date):
        raise WarehouseInputError(
            f"{table.name}: a partition is (advertiser_id: str, stat_date: date), got ({advertiser_id!r}, {stat_date!r})."
        )
    return PartitionKey(advertiser_id, stat_date)


def check_frame_shape(table: sa.Table, key: tuple[str, date] | PartitionKey, frame: object) -> None:
    """The frame's columns are exactly the table's (bookkeeping excepted); a frame with no rows may have none."""
    key = partition_key(table, key)
    if not isinstance(frame, pd.DataFrame):
        raise WarehouseInputError(f"{key.describe(table.name)}: expected a pandas DataFrame, got {type(frame).__name__}.")
    if frame.empty and not len(frame.columns):
        return
    columns = frame_columns(table)
    present = set(map(str, frame.columns))
    missing = [name for name in columns if name not in present]
    if missing:
        raise WarehouseInputError(
            f"{key.describe(table.name)}: frame is missing column(s) {', '.join(missing)}; "
            f"{table.name} needs {', '.join(columns)}."
        )
    bookkeeping = sorted(present & set(BOOKKEEPING_COLUMNS))
    if bookkeeping:
        raise WarehouseInputError(
            f"{key.describe(table.name)}: column(s) {', '.join(bookkeeping)} are set by the warehouse; drop them from the frame."
        )
    unknown = sorted(present - set(columns))
    if unknown:
        raise WarehouseInputError(
            f"{key.describe(table.name)}: frame has column(s) {', '.join(unknown)} that {table.name} does not; "
            "drop them, or add them to the table with a migration (warehouse/MIGRATIONS.md)."
        )
    if frame.columns.duplicated().any():
        raise WarehouseInputError(f"{key.describe(table.name)}: frame has duplicated column names; rename them.")


@dataclass(frozen=True)
class _Labels:
    """Which partition each raw row was handed in for, to name it in errors."""

    table_name: str
    keys: list[PartitionKey]
    partition: np.ndarray

    def fail(self, frame: pd.DataFrame, bad: np.ndarray | pd.Series, problem: str) -> WarehouseInputError:
        index = int(np.flatnonzero(np.asarray(bad))[0])
        key = self.keys[int(self.partition[index])]
        return WarehouseInputError(f"{key.describe(self.table_name)}, {_row_key(frame, index)}: {problem}.")


def _row_key(frame: pd.DataFrame, index: int) -> str:
    parts = [f"{name} {frame[name].iloc[index]}" for name in ("ad_id", "stat_hour_utc", "stat_hour_local")
             if name in frame]
    return ", ".join(parts) or f"row {index}"


def _normalise(table: sa.Table, raw: pd.DataFrame, labels: _Labels) -> pd.DataFrame:
    out: dict[str, object] = {}
    for name in _ID_COLUMNS:
        out[name] = _text(raw, name, labels, required=True)
    for name in _OPTIONAL_TEXT_COLUMNS:
        out[name] = _text(raw, name, labels, required=False)
    out["stat_date"] = _day(raw, labels)
    if "stat_hour_utc" in raw:
        out["stat_hour_utc"] = _instant(raw, "stat_hour_utc", labels, to_utc=True)
        out["stat_hour_local"] = _instant(raw, "stat_hour_local", labels, to_utc=False)
        local_day = out["stat_hour_local"].dt.normalize()
        wrong = (local_day != out["stat_date"]).to_numpy()
        if wrong.any():
            raise labels.fail(raw, wrong, "stat_hour_local falls on another local date than stat_date")
    for name in compared_metrics(table):
        out[name] = _metric(raw, name, labels)
    if "spread" in raw:
        out["spread"] = _flag(raw, "spread", labels)
    partition_advertiser = np.array([key.advertiser_id for key in labels.keys], dtype=object)[labels.partition]
    wrong = out["advertiser_id"].to_numpy() != partition_advertiser
    if wrong.any():
        raise labels.fail(raw, wrong, "advertiser_id of the row is not the partition's advertiser")
    partition_day = np.array([np.datetime64(key.stat_date, "ns") for key in labels.keys],
                             dtype="datetime64[ns]")[labels.partition]
    wrong = out["stat_date"].to_numpy() != partition_day
    if wrong.any():
        raise labels.fail(raw, wrong, "stat_date of the row is not the partition's date")
    return pd.DataFrame(out, columns=frame_columns(table))


def _text(raw: pd.DataFrame, name: str, labels: _Labels, *, required: bool) -> pd.Series:
    series = raw[name]
    if pd.api.types.is_integer_dtype(series.dtype):
        return series.astype(str).astype(object)
    missing = series.isna().to_numpy()
    if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
        present = series[~missing]
        kind = pd.api.types.infer_dtype(present, skipna=True)
        if kind == "integer":
            present = present.astype(str)
        elif kind not in ("string", "empty"):
            bad = ~missing & ~series.map(lambda value: isinstance(value, str)).to_numpy()
            raise labels.fail(raw, bad, f"column {name!r} must hold strings (TikTok ids are strings), "
                                        f"got {series[bad].iloc[0]!r}")
        values = np.full(len(series), None, dtype=object)
        values[~missing] = present.to_numpy(dtype=object)
        empty = values == ""
        missing = missing | empty
        values[empty] = None
    elif missing.all():
        values = np.full(len(series), None, dtype=object)
    else:
        raise labels.fail(raw, ~missing, f"column {name!r} must hold strings, got {series.dtype} values")
    if required and missing.any():
        raise labels.fail(raw, missing, f"column {name!r} is empty")
    return pd.Series(values, dtype=object)


def _day(raw: pd.DataFrame, labels: _Labels) -> pd.Series:
    days = _to_datetime(raw, "stat_date", labels)
    if days.dt.tz is not None:
        days = days.dt.tz_localize(None)
    off_midnight = (days != days.dt.normalize()).to_numpy()
    if off_midnight.any():
        raise labels.fail(raw, off_midnight, "column 'stat_date' has a time of day; pass the local date")
    return days


def _instant(raw: pd.DataFrame, name: str, labels: _Labels, *, to_utc: bool) -> pd.Series:
    times = _to_datetime(raw, name, labels)
    if times.dt.tz is not None:
        # An aware UTC hour is converted; an aware local hour keeps its wall time.
        times = times.dt.tz_convert("UTC").dt.tz_localize(None) if to_utc else times.dt.tz_localize(None)
    return times


def _to_datetime(raw: pd.DataFrame, name: str, labels: _Labels) -> pd.Series:
    series = raw[name]
    try:
        converted = pd.to_datetime(series, errors="coerce", format="ISO8601")
    except (TypeError, ValueError) as exc:
        raise WarehouseInputError(f"{labels.table_name}: column {name!r} cannot be read as dates/times ({exc}).") from None
    bad = converted.isna().to_numpy()
    if bad.any():
        raise labels.fail(raw, bad, f"column {name!r} has a missing or unreadable value "
                                    f"{series[bad].iloc[0]!r}")
    return converted.astype("datetime64[ns]") if converted.dt.tz is None else converted


def _metric(raw: pd.DataFrame, name: str, labels: _Labels) -> pd.Series:
    series = raw[name]
    numbers = pd.to_numeric(series, errors="coerce").astype("float64")
    empty = numbers.isna().to_numpy()
    unreadable = empty & series.notna().to_numpy()
    if unreadable.any():
        raise labels.fail(raw, unreadable, f"column {name!r} has a non-numeric value {series[unreadable].iloc[0]!r}")
    if name != "reach" and empty.any():
        raise labels.fail(raw, empty, f"column {name!r} is empty; TikTok's '-' means no delivery, so pass 0")
    values = numbers.to_numpy()
    negative = values < 0
    if negative.any():
        raise labels.fail(raw, negative, f"column {name!r} is negative ({values[negative][0]}); "
                                         f"TikTok never serves a negative {name}, check the report parsing")
    if name in MONEY_METRICS:
        return pd.Series(np.round(values, MONEY_DECIMALS))
    fractional = ~empty & (values != np.floor(values))
    if fractional.any():
        raise labels.fail(raw, fractional, f"column {name!r} must be a whole number, got {values[fractional][0]}")
    if name == "reach":
        reach = pd.Series(np.where(empty, 0, values).astype("int64"), dtype="Int64")
        reach[empty] = pd.NA
        return reach
    return pd.Series(values.astype("int64"))


def _flag(raw: pd.DataFrame, name: str, labels: _Labels) -> pd.Series:
    series = raw[name]
    missing = series.isna().to_numpy()
    if missing.any():
        raise labels.fail(raw, missing, f"column {name!r} is empty; pass True or False")
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype(bool).reset_index(drop=True)
    valid = series.isin([True, False, 0, 1]).to_numpy()
    if not valid.all():
        raise labels.fail(raw, ~valid, f"column {name!r} must be True or False, got {series[~valid].iloc[0]!r}")
    return series.astype(bool).reset_index(drop=True)


def _sort_order(table: sa.Table, rows: pd.DataFrame, partition: np.ndarray) -> np.ndarray:
    ad_rank, _ = pd.factorize(rows["ad_id"], sort=True)
    moment = rows[time_column(table)].to_numpy().view("int64")
    return np.lexsort((ad_rank, moment, partition))


def _check_unique_keys(table: sa.Table, rows: pd.DataFrame, row_partition: np.ndarray,
                       keys: list[PartitionKey]) -> None:
    if len(rows) < 2:
        return
    moment = time_column(table)
    same = ((row_partition[1:] == row_partition[:-1])  # sorted, so duplicates are neighbours
            & (rows["ad_id"].to_numpy()[1:] == rows["ad_id"].to_numpy()[:-1])
            & (rows[moment].to_numpy()[1:] == rows[moment].to_numpy()[:-1]))
    if same.any():
        index = int(np.flatnonzero(same)[0]) + 1
        key = keys[int(row_partition[index])]
        raise WarehouseInputError(
            f"{key.describe(table.name)}: duplicate key (advertiser_id {rows['advertiser_id'].iloc[index]}, "
            f"ad_id {rows['ad_id'].iloc[index]}, {moment} {rows[moment].iloc[index]}); each row key must appear once, "
            "aggregate or drop the duplicates."
        )


def naive_utc_times(series: pd.Series) -> pd.Series:
    """Times as the warehouse keeps them, naive UTC: text is read as ISO 8601, zoned times converted to UTC."""
    if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
        series = pd.to_datetime(series, format="ISO8601")
    if getattr(series.dt, "tz", None) is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    return series


def money_micros(values: pd.Series | np.ndarray) -> np.ndarray:
    """Money as whole millionths: exact to sum and to compare."""
    return np.rint(np.asarray(values, dtype="float64") * MICROS).astype("int64")


def _fingerprint_columns(table: sa.Table, rows: pd.DataFrame) -> list[np.ndarray]:
    arrays = [rows[time_column(table)].to_numpy().view("int64")]
    for name in compared_metrics(table):
        if name in MONEY_METRICS:
            arrays.append(money_micros(rows[name]))
        elif name == "reach":
            arrays.append(rows[name].fillna(_NULL_REACH).to_numpy(dtype="int64"))
        else:
            arrays.append(rows[name].to_numpy(dtype="int64"))
    return [np.ascontiguousarray(array, dtype="<i8") for array in arrays]


def _content(table: sa.Table, rows: pd.DataFrame, row_partition: np.ndarray, keys: list[PartitionKey]
             ) -> dict[PartitionKey, PartitionContent]:
    """Fingerprint (row keys and metric values, in key order) and totals of each partition.

    The fingerprint ignores pulled_at, parents and currency: two pulls with the
    same numbers have the same data version, so nothing downstream recomputes.
    """
    starts = np.searchsorted(row_partition, np.arange(len(keys)), side="left")
    ends = np.searchsorted(row_partition, np.arange(len(keys)), side="right")
    ad_ids = rows["ad_id"].to_numpy()
    columns = _fingerprint_columns(table, rows)
    spend, purchase_value = money_micros(rows["spend"]), money_micros(rows["purchase_value"])
    app_purchase_value = money_micros(rows["app_purchase_value"])
    conversions = rows["conversions"].to_numpy(dtype="int64")
    content = {}
    for position, key in enumerate(keys):
        start, end = int(starts[position]), int(ends[position])
        digest = hashlib.sha256(_VERSION_PREFIX)
        digest.update("\x1f".join(ad_ids[start:end]).encode())
        for array in columns:
            digest.update(array[start:end].tobytes())
        content[key] = PartitionContent(
            rows=end - start,
            data_version=digest.hexdigest(),
            spend=int(spend[start:end].sum()) / MICROS,
            conversions=int(conversions[start:end].sum()),
            purchase_value=int(purchase_value[start:end].sum()) / MICROS,
            app_purchase_value=int(app_purchase_value[start:end].sum()) / MICROS,
        )
    return content
