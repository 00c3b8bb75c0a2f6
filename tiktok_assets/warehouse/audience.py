"""Revision-aware partition writes of AUDIENCE breakdowns into ``audience_stats_daily`` (no Dagster import).

A partition is (breakdown, advertiser, local date): every row of one breakdown at campaign, ad group and ad level
for that day, handed in complete by each pull. The rules are those of the ad-level stats (``stats.py``), applied
to the long table's key (level, entity_id, breakdown_value, breakdown_value_2), each pull in one transaction:

* a row not stored yet is inserted (revision 1); on a re-pull it is logged as an ``insert_late`` revision;
* a row whose metrics differ (money compared in millionths) is updated (revision + 1) and logged as ``update``;
* a stored row the pull no longer serves is deleted and logged as ``delete``, except in a *settled* partition,
  where it is kept as it was and counted (``rows_vanished_kept``): a settled figure never drops because a row
  went missing;
* unchanged rows are not touched; one ``audience_pulls`` row records every pull, changed or not, with the
  partition's data version (a digest of its keys and metrics: equal content, equal version, so a re-pull that
  changed nothing recomputes nothing downstream).

The first pull of a partition logs no revision (there is nothing to revise yet). Audience days are pulled only
once complete (``tiktok_assets.audience.latency``), so there is no intraday case here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tiktok_assets.warehouse.bulk import bulk_insert
from tiktok_assets.warehouse.engine import serialise_writers, write_transaction
from tiktok_assets.warehouse.errors import WarehouseInputError
from tiktok_assets.warehouse.frames import money_micros
from tiktok_assets.warehouse.tables import (
    AUDIENCE_COUNT_METRICS,
    AUDIENCE_LEVELS,
    AUDIENCE_METRIC_COLUMNS,
    AUDIENCE_MONEY_METRICS,
    MONEY_DECIMALS,
    audience_pulls,
    audience_revisions,
    audience_stats_daily,
    naive_utc,
)

ROW_KEY = ("level", "entity_id", "breakdown_value", "breakdown_value_2")
"""What identifies a row inside its partition."""
FRAME_COLUMNS = (*ROW_KEY, "currency", *AUDIENCE_METRIC_COLUMNS)
"""The columns a caller hands in for one partition."""
_VERSION_PREFIX = b"tiktok_assets.audience.v1\n"
# A breakdown value longer than the column would be cut by PostgreSQL's error, not stored.
_MAX_VALUE_LENGTH = 64


@dataclass(frozen=True)
class AudienceWrite:
    """What one pull of one audience partition did."""

    asset_name: str
    breakdown: str
    advertiser_id: str
    stat_date: date
    pulled_at: datetime
    rows_served: int
    inserted: int
    updated: int
    deleted: int
    unchanged: int
    vanished_kept: int
    first_pull: bool
    spend_before: float
    spend_after: float
    data_version: str
    changed: bool
    rows_by_level: dict[str, int]
    """Rows the partition holds after the write, per level."""


def empty_frame() -> pd.DataFrame:
    """A partition with no rows (TikTok served nothing for the day)."""
    return pd.DataFrame({name: pd.Series(dtype="float64" if name in AUDIENCE_METRIC_COLUMNS else "object")
                         for name in FRAME_COLUMNS})


def write_audience_partitions(engine: Engine, breakdown: str, asset_name: str,
                              frames_by_partition: Mapping[tuple[str, date], pd.DataFrame], pulled_at: datetime, *,
                              settled: Collection[tuple[str, date]] = ()) -> dict[tuple[str, date], AudienceWrite]:
    """Write the complete content of each (advertiser_id, stat_date) partition of ``breakdown`` as served now.

    Every frame is checked before anything is written (``WarehouseInputError`` names the partition, the row and
    the problem); each partition is then written in a transaction of its own. ``settled`` names the partitions
    whose stored rows a pull lacks are kept (module docstring). Returns the writes in the caller's order.
    """
    pulled_at = naive_utc(pulled_at)
    prepared = {key: _normalised(breakdown, key, frame) for key, frame in frames_by_partition.items()}
    settled_keys = set(settled)
    writes: dict[tuple[str, date], AudienceWrite] = {}
    for key, rows in prepared.items():
        with write_transaction(engine) as connection:
            writes[key] = _write_partition(connection, breakdown, asset_name, key, rows, pulled_at,
                                           settled=key in settled_keys)
    return writes


def _describe(breakdown: str, key: tuple[str, date]) -> str:
    return f"audience_stats_daily partition ({breakdown}, advertiser {key[0]}, {key[1].isoformat()})"


def _normalised(breakdown: str, key: tuple[str, date], frame: object) -> pd.DataFrame:
    where = _describe(breakdown, key)
    advertiser_id, stat_date = key
    if not isinstance(advertiser_id, str) or not advertiser_id or not isinstance(stat_date, date):
        raise WarehouseInputError(f"{where}: a partition is (advertiser_id: str, stat_date: date).")
    if not isinstance(frame, pd.DataFrame):
        raise WarehouseInputError(f"{where}: expected a pandas DataFrame, got {type(frame).__name__}.")
    missing = [name for name in FRAME_COLUMNS if name not in frame.columns]
    extra = sorted(set(map(str, frame.columns)) - set(FRAME_COLUMNS))
    if missing or extra:
        raise WarehouseInputError(f"{where}: frame columns must be {', '.join(FRAME_COLUMNS)}"
                                  + (f"; missing {', '.join(missing)}" if missing else "")
                                  + (f"; unknown {', '.join(extra)}" if extra else "") + ".")
    rows = frame.loc[:, list(FRAME_COLUMNS)].reset_index(drop=True).copy()

    def fail(bad: np.ndarray, problem: str) -> WarehouseInputError:
        index = int(np.flatnonzero(bad)[0])
        row = ", ".join(f"{name} {rows[name].iloc[index]!r}" for name in ROW_KEY)
        return WarehouseInputError(f"{where}, row ({row}): {problem}.")

    bad_level = ~rows["level"].isin(AUDIENCE_LEVELS).to_numpy()
    if bad_level.any():
        raise fail(bad_level, f"level must be one of {', '.join(AUDIENCE_LEVELS)}")
    rows["breakdown_value_2"] = rows["breakdown_value_2"].where(rows["breakdown_value_2"].notna(), "")
    for name in ("entity_id", "breakdown_value", "breakdown_value_2"):
        values = rows[name]
        not_text = ~values.map(lambda value: isinstance(value, str)).to_numpy()
        if not_text.any():
            raise fail(not_text, f"{name} must be text (TikTok ids and dimension values are strings)")
        if name != "breakdown_value_2":
            empty = (values == "").to_numpy()
            if empty.any():
                raise fail(empty, f"{name} is empty")
        too_long = (values.str.len() > _MAX_VALUE_LENGTH).to_numpy() if name != "entity_id" else np.zeros(len(rows), bool)
        if too_long.any():
            raise fail(too_long, f"{name} is longer than {_MAX_VALUE_LENGTH} characters")
    for name in AUDIENCE_METRIC_COLUMNS:
        numbers = pd.to_numeric(rows[name], errors="coerce").to_numpy(dtype="float64")
        bad = ~np.isfinite(numbers) | (numbers < 0)
        if bad.any():
            raise fail(bad, f"{name} must be a finite number of at least 0, got {rows[name].iloc[int(np.flatnonzero(bad)[0])]!r}")
        if name in AUDIENCE_COUNT_METRICS:
            fractional = numbers != np.floor(numbers)
            if fractional.any():
                raise fail(fractional, f"{name} must be a whole number")
            rows[name] = numbers.astype("int64")
        else:
            rows[name] = np.round(numbers, MONEY_DECIMALS)
    rows["currency"] = rows["currency"].astype(object).where(rows["currency"].notna(), None)
    rows = rows.sort_values(list(ROW_KEY), kind="stable").reset_index(drop=True)
    duplicated = rows.duplicated(list(ROW_KEY)).to_numpy()
    if duplicated.any():
        raise fail(duplicated, "the row key appears twice; each (level, entity_id, breakdown values) once a day")
    return rows


def data_version(rows: pd.DataFrame) -> str:
    """Digest of a partition's keys and metrics, whatever their order (pulled_at and currency left out)."""
    rows = rows.sort_values(list(ROW_KEY), kind="stable")
    digest = hashlib.sha256(_VERSION_PREFIX)
    for name in ROW_KEY:
        digest.update("\x1f".join(rows[name].astype(str)).encode() + b"\x1e")
    for name in AUDIENCE_METRIC_COLUMNS:
        values = (money_micros(rows[name]) if name in AUDIENCE_MONEY_METRICS
                  else rows[name].to_numpy(dtype="int64"))
        digest.update(np.ascontiguousarray(values, dtype="<i8").tobytes())
    return digest.hexdigest()


def _partition_filter(table: sa.Table, breakdown: str, key: tuple[str, date]) -> sa.ColumnElement[bool]:
    return sa.and_(table.c.breakdown == breakdown, table.c.advertiser_id == key[0], table.c.stat_date == key[1])


def _stored_rows(connection: Connection, breakdown: str, key: tuple[str, date]) -> pd.DataFrame:
    table = audience_stats_daily
    columns = [*FRAME_COLUMNS, "revision"]
    query = sa.select(*(table.c[name] for name in columns)).where(_partition_filter(table, breakdown, key))
    stored = pd.DataFrame(connection.execute(query).all(), columns=columns)
    for name in AUDIENCE_METRIC_COLUMNS:
        stored[name] = (stored[name].astype("float64").round(MONEY_DECIMALS) if name in AUDIENCE_MONEY_METRICS
                        else stored[name].astype("int64"))
    return stored


def _write_partition(connection: Connection, breakdown: str, asset_name: str, key: tuple[str, date],
                     served: pd.DataFrame, pulled_at: datetime, *, settled: bool) -> AudienceWrite:
    advertiser_id, stat_date = key
    # Two runs writing the same partition at once would both see "not stored yet" and collide on insert.
    serialise_writers(connection, [f"audience_stats_daily|{breakdown}|{advertiser_id}|{stat_date}"])
    stored = _stored_rows(connection, breakdown, key)
    pulled_before = connection.execute(
        sa.select(sa.func.count()).select_from(audience_pulls).where(
            audience_pulls.c.table_name == asset_name, audience_pulls.c.advertiser_id == advertiser_id,
            audience_pulls.c.stat_date == stat_date)
    ).scalar_one() > 0
    merged = served.merge(stored, on=list(ROW_KEY), how="outer", suffixes=("", "_stored"), indicator=True)
    both = (merged["_merge"] == "both").to_numpy()
    differs = np.zeros(len(merged), dtype=bool)
    for name in AUDIENCE_METRIC_COLUMNS:
        new, old = merged[name].to_numpy(dtype="float64"), merged[f"{name}_stored"].to_numpy(dtype="float64")
        if name in AUDIENCE_MONEY_METRICS:
            differs |= money_micros(np.nan_to_num(new)) != money_micros(np.nan_to_num(old))
        else:
            differs |= new != old
    updates = merged[both & differs]
    inserts = merged[(merged["_merge"] == "left_only").to_numpy()]
    vanished = merged[(merged["_merge"] == "right_only").to_numpy()]
    deletes = vanished.iloc[0:0] if settled else vanished
    kept = vanished if settled else vanished.iloc[0:0]

    fixed = {"advertiser_id": advertiser_id, "stat_date": pd.Timestamp(stat_date), "breakdown": breakdown}
    if len(inserts):
        moment = pd.Timestamp(pulled_at)
        bulk_insert(connection, audience_stats_daily, inserts[list(FRAME_COLUMNS)].assign(
            **fixed, first_pulled_at=moment, last_pulled_at=moment, last_changed_at=moment, revision=1)
            .reset_index(drop=True))
    table = audience_stats_daily
    same_row = sa.and_(_partition_filter(table, breakdown, key),
                       *(table.c[name] == sa.bindparam(f"key_{name}") for name in ROW_KEY))
    if len(updates):
        connection.execute(
            sa.update(table).where(same_row).values(
                **{name: sa.bindparam(f"new_{name}") for name in (*AUDIENCE_METRIC_COLUMNS, "currency")},
                revision=table.c.revision + 1, last_pulled_at=pulled_at, last_changed_at=pulled_at),
            [{**{f"key_{name}": row[name] for name in ROW_KEY},
              **{f"new_{name}": _plain(row[name]) for name in (*AUDIENCE_METRIC_COLUMNS, "currency")}}
             for row in updates.to_dict("records")],
        )
    if len(deletes):
        connection.execute(sa.delete(table).where(same_row),
                           [{f"key_{name}": row[name] for name in ROW_KEY} for row in deletes.to_dict("records")])
    if pulled_before:
        _log_revisions(connection, breakdown, key, pulled_at, updates, inserts, deletes)

    # A kept row holds what was stored: its values are the merge's "_stored" columns.
    kept_rows = kept[list(ROW_KEY)].assign(**{name: kept[f"{name}_stored"]
                                             for name in ("currency", *AUDIENCE_METRIC_COLUMNS)})
    after = pd.concat([served, kept_rows], ignore_index=True) if len(kept) else served
    written = AudienceWrite(
        asset_name=asset_name, breakdown=breakdown, advertiser_id=advertiser_id, stat_date=stat_date,
        pulled_at=pulled_at, rows_served=len(served), inserted=len(inserts), updated=len(updates),
        deleted=len(deletes), unchanged=int((both & ~differs).sum()), vanished_kept=len(kept),
        first_pull=not pulled_before,
        spend_before=int(money_micros(stored["spend"]).sum()) / 10**MONEY_DECIMALS,
        spend_after=int(money_micros(after["spend"]).sum()) / 10**MONEY_DECIMALS,
        data_version=data_version(after), changed=bool(len(inserts) or len(updates) or len(deletes)),
        rows_by_level={level: int((after["level"] == level).sum()) for level in AUDIENCE_LEVELS},
    )
    connection.execute(sa.insert(audience_pulls).values(
        table_name=asset_name, advertiser_id=advertiser_id, stat_date=stat_date, pulled_at=pulled_at,
        rows_served=written.rows_served, rows_inserted=written.inserted, rows_updated=written.updated,
        rows_deleted=written.deleted, rows_unchanged=written.unchanged, rows_vanished_kept=written.vanished_kept,
        spend_before=written.spend_before, spend_after=written.spend_after, data_version=written.data_version,
        changed=written.changed,
    ))
    return written


def _plain(value: object) -> object:
    """numpy scalars as the Python values drivers bind."""
    return value.item() if isinstance(value, np.generic) else value


def _log_revisions(connection: Connection, breakdown: str, key: tuple[str, date], pulled_at: datetime,
                   updates: pd.DataFrame, inserts: pd.DataFrame, deletes: pd.DataFrame) -> None:
    """One revision row per changed row of a partition pulled before: old and new value of every metric."""
    logged: list[dict[str, object]] = []
    for kind, rows in (("update", updates), ("insert_late", inserts), ("delete", deletes)):
        for row in rows.to_dict("records"):
            entry: dict[str, object] = {"advertiser_id": key[0], "stat_date": key[1], "breakdown": breakdown,
                                        **{name: row[name] for name in ROW_KEY}, "pulled_at": pulled_at,
                                        "change_kind": kind}
            # As stats_revisions: the row's revision after the change (a late insert is its first).
            entry["revision"] = 1 if kind == "insert_late" else int(row["revision"]) + 1
            for name in AUDIENCE_METRIC_COLUMNS:
                old = 0 if kind == "insert_late" else row[f"{name}_stored"]
                new = 0 if kind == "delete" else row[name]
                entry[f"old_{name}"], entry[f"new_{name}"] = _plain(old), _plain(new)
                if name in AUDIENCE_COUNT_METRICS:
                    entry[f"old_{name}"], entry[f"new_{name}"] = int(entry[f"old_{name}"]), int(entry[f"new_{name}"])
            logged.append(entry)
    if logged:
        connection.execute(sa.insert(audience_revisions), logged)


def audience_totals(engine: Engine, breakdown: str, partitions: Collection[tuple[str, date]]) -> pd.DataFrame:
    """Per (advertiser_id, stat_date, level, entity_id) of the partitions: summed metrics and the cell count."""
    if not partitions:
        return pd.DataFrame(columns=["advertiser_id", "stat_date", "level", "entity_id", "cells",
                                     *AUDIENCE_METRIC_COLUMNS])
    table = audience_stats_daily
    by_advertiser: dict[str, list[date]] = {}
    for advertiser_id, stat_date in partitions:
        by_advertiser.setdefault(advertiser_id, []).append(stat_date)
    query = (
        sa.select(table.c.advertiser_id, table.c.stat_date, table.c.level, table.c.entity_id,
                  sa.func.count().label("cells"),
                  *(sa.func.sum(table.c[name]).label(name) for name in AUDIENCE_METRIC_COLUMNS))
        .where(table.c.breakdown == breakdown,
               sa.or_(*(sa.and_(table.c.advertiser_id == advertiser_id, table.c.stat_date.in_(days))
                        for advertiser_id, days in by_advertiser.items())))
        .group_by(table.c.advertiser_id, table.c.stat_date, table.c.level, table.c.entity_id)
    )
    with engine.connect() as connection:
        frame = pd.DataFrame(connection.execute(query).mappings().all())
    if frame.empty:
        return audience_totals(engine, breakdown, ())
    frame["stat_date"] = pd.to_datetime(frame["stat_date"]).dt.date
    return frame
