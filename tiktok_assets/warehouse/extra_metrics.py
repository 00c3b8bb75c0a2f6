"""Revision-aware partition writes of user-chosen metrics into ``ad_metrics_extra_daily`` (no Dagster import).

A partition is (advertiser, local date), as for ``ad_stats_daily``; inside it a row is (ad_id, metric) with the
value TikTok served under its own name. Each pull hands in the complete rows *of the metrics it asked for* and is
written in one transaction, with the rules of the ad-level stats (``stats.py``), scoped to those metrics:

* a row not stored yet is inserted (revision 1); on a re-pull of an ended day it is logged as ``insert_late``;
* a row whose value differs (compared in millionths) is updated (revision + 1) and logged as ``update``, with the
  old and new value and when the pull ran;
* a stored row of an asked metric the pull no longer serves is deleted and logged as ``delete``, except in a
  *settled* partition, where it is kept as it was (``rows_vanished_kept``);
* rows of metrics the pull did not ask for are left alone: dropping a metric from the configuration keeps its
  history, it is simply no longer refreshed;
* unchanged rows are not touched (only changed rows are written); one ``ad_metrics_extra_pulls`` row records every
  pull, changed or not, with the partition's data version (a digest of all its rows: equal content, equal version).

The first pull of a partition logs no revision (there is nothing to revise), nor does a pull of a day still
running (``intraday``: its figures filling up are progress, not revisions), nor the first pull after the day
closed (the rest of the day arriving): revision history starts there, as for ``partition_pulls``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
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
    EXTRA_METRICS_TABLE,
    MONEY_DECIMALS,
    ad_metrics_extra_daily,
    ad_metrics_extra_pulls,
    ad_metrics_extra_revisions,
    naive_utc,
)

ROW_KEY = ("ad_id", "metric")
"""What identifies a row inside its partition."""
FRAME_COLUMNS = (*ROW_KEY, "value", "currency")
"""The columns a caller hands in for one partition."""
_VERSION_PREFIX = b"tiktok_assets.extra_metrics.v1\n"
_MAX_METRIC_LENGTH = 64


@dataclass(frozen=True)
class ExtraWrite:
    """What one pull of one partition did."""

    advertiser_id: str
    stat_date: date
    pulled_at: datetime
    metrics: tuple[str, ...]
    rows_served: int
    inserted: int
    updated: int
    deleted: int
    unchanged: int
    vanished_kept: int
    first_pull: bool
    intraday: bool
    data_version: str
    changed: bool
    rows_by_metric: dict[str, int]
    """Rows the partition holds after the write, per metric."""
    moved_by_metric: dict[str, float]
    """Per asked metric, its partition total after minus before (0 when nothing moved)."""


def empty_frame() -> pd.DataFrame:
    """A partition with no rows (TikTok served nothing for the day)."""
    return pd.DataFrame({"ad_id": pd.Series(dtype=object), "metric": pd.Series(dtype=object),
                         "value": pd.Series(dtype="float64"), "currency": pd.Series(dtype=object)})


def write_extra_partitions(engine: Engine, frames_by_partition: Mapping[tuple[str, date], pd.DataFrame],
                           metrics: Sequence[str], pulled_at: datetime, *,
                           settled: Collection[tuple[str, date]] = (),
                           intraday: Collection[tuple[str, date]] = ()) -> dict[tuple[str, date], ExtraWrite]:
    """Write the complete rows of ``metrics`` for each (advertiser_id, stat_date) partition, as served now.

    Every frame is checked before anything is written (``WarehouseInputError`` names the partition, the row and
    the problem); each partition is then written in a transaction of its own, so a re-run or a backfill of the
    same partition replaces it whole or not at all. Returns the writes in the caller's order.
    """
    asked = tuple(dict.fromkeys(metrics))
    if not asked:
        raise WarehouseInputError("ad_metrics_extra_daily: a pull asks at least one metric.")
    pulled_at = naive_utc(pulled_at)
    prepared = {key: _normalised(key, frame, asked) for key, frame in frames_by_partition.items()}
    settled_keys, intraday_keys = set(settled), set(intraday)
    writes: dict[tuple[str, date], ExtraWrite] = {}
    for key, rows in prepared.items():
        with write_transaction(engine) as connection:
            writes[key] = _write_partition(connection, key, rows, asked, pulled_at, settled=key in settled_keys,
                                           intraday=key in intraday_keys)
    return writes


def _describe(key: tuple[str, date]) -> str:
    return f"ad_metrics_extra_daily partition (advertiser {key[0]}, {key[1].isoformat()})"


def _normalised(key: tuple[str, date], frame: object, asked: tuple[str, ...]) -> pd.DataFrame:
    where = _describe(key)
    advertiser_id, stat_date = key
    if not isinstance(advertiser_id, str) or not advertiser_id or not isinstance(stat_date, date):
        raise WarehouseInputError(f"{where}: a partition is (advertiser_id: str, stat_date: date).")
    if not isinstance(frame, pd.DataFrame):
        raise WarehouseInputError(f"{where}: expected a pandas DataFrame, got {type(frame).__name__}.")
    missing = [name for name in FRAME_COLUMNS if name not in frame.columns]
    if missing:
        raise WarehouseInputError(f"{where}: frame columns must be {', '.join(FRAME_COLUMNS)}; "
                                  f"missing {', '.join(missing)}.")
    rows = frame.loc[:, list(FRAME_COLUMNS)].reset_index(drop=True).copy()

    def fail(bad: np.ndarray, problem: str) -> WarehouseInputError:
        index = int(np.flatnonzero(bad)[0])
        return WarehouseInputError(f"{where}, row (ad_id {rows['ad_id'].iloc[index]!r}, metric "
                                   f"{rows['metric'].iloc[index]!r}): {problem}.")

    for name in ROW_KEY:
        not_text = ~rows[name].map(lambda value: isinstance(value, str) and value != "").to_numpy(dtype=bool)
        if not_text.any():
            raise fail(not_text, f"{name} must be non-empty text")
    too_long = (rows["metric"].str.len() > _MAX_METRIC_LENGTH).to_numpy()
    if too_long.any():
        raise fail(too_long, f"metric is longer than {_MAX_METRIC_LENGTH} characters")
    not_asked = ~rows["metric"].isin(asked).to_numpy()
    if not_asked.any():
        raise fail(not_asked, f"the pull did not ask for this metric (asked: {', '.join(asked)})")
    numbers = pd.to_numeric(rows["value"], errors="coerce").to_numpy(dtype="float64")
    bad = ~np.isfinite(numbers)
    if bad.any():
        raise fail(bad, f"value must be a finite number, got {rows['value'].iloc[int(np.flatnonzero(bad)[0])]!r}")
    rows["value"] = np.round(numbers, MONEY_DECIMALS)
    rows["currency"] = rows["currency"].astype(object).where(rows["currency"].notna(), None)
    rows = rows.sort_values(list(ROW_KEY), kind="stable").reset_index(drop=True)
    duplicated = rows.duplicated(list(ROW_KEY)).to_numpy()
    if duplicated.any():
        raise fail(duplicated, "the row appears twice; each (ad_id, metric) once a day")
    return rows


def data_version(rows: pd.DataFrame) -> str:
    """Digest of a partition's rows (keys and values), whatever their order; bookkeeping left out."""
    rows = rows.sort_values(list(ROW_KEY), kind="stable")
    digest = hashlib.sha256(_VERSION_PREFIX)
    for name in ROW_KEY:
        digest.update("\x1f".join(rows[name].astype(str)).encode() + b"\x1e")
    digest.update(np.ascontiguousarray(money_micros(rows["value"]), dtype="<i8").tobytes())
    return digest.hexdigest()


def _partition_filter(table: sa.Table, key: tuple[str, date]) -> sa.ColumnElement[bool]:
    return sa.and_(table.c.advertiser_id == key[0], table.c.stat_date == key[1])


def _stored_rows(connection: Connection, key: tuple[str, date]) -> pd.DataFrame:
    table = ad_metrics_extra_daily
    columns = [*FRAME_COLUMNS, "revision"]
    query = sa.select(*(table.c[name] for name in columns)).where(_partition_filter(table, key))
    stored = pd.DataFrame(connection.execute(query).all(), columns=columns)
    stored["value"] = stored["value"].astype("float64").round(MONEY_DECIMALS)
    return stored


def _write_partition(connection: Connection, key: tuple[str, date], served: pd.DataFrame, asked: tuple[str, ...],
                     pulled_at: datetime, *, settled: bool, intraday: bool) -> ExtraWrite:
    advertiser_id, stat_date = key
    # Two runs writing the same partition at once would both see "not stored yet" and collide on insert.
    serialise_writers(connection, [f"ad_metrics_extra_daily|{advertiser_id}|{stat_date}"])
    stored_all = _stored_rows(connection, key)
    in_scope = stored_all["metric"].isin(asked).to_numpy()
    stored, untouched = stored_all[in_scope], stored_all[~in_scope]
    pulls = ad_metrics_extra_pulls
    earlier = connection.execute(
        sa.select(sa.func.count(), sa.func.sum(sa.case((pulls.c.intraday.is_(False), 1), else_=0)))
        .select_from(pulls).where(pulls.c.table_name == EXTRA_METRICS_TABLE, pulls.c.advertiser_id == advertiser_id,
                                  pulls.c.stat_date == stat_date)
    ).one()
    pulled_before = earlier[0] > 0
    # Revision history starts at the first pull after the day closed: what it finds beyond the last intraday
    # pull is the rest of the day, not TikTok revising it.
    pulled_after_close_before = (earlier[1] or 0) > 0
    merged = served.merge(stored, on=list(ROW_KEY), how="outer", suffixes=("", "_stored"), indicator=True)
    both = (merged["_merge"] == "both").to_numpy()
    differs = money_micros(np.nan_to_num(merged["value"].to_numpy(dtype="float64"))) != money_micros(
        np.nan_to_num(merged["value_stored"].to_numpy(dtype="float64")))
    updates = merged[both & differs]
    inserts = merged[(merged["_merge"] == "left_only").to_numpy()]
    vanished = merged[(merged["_merge"] == "right_only").to_numpy()]
    deletes = vanished.iloc[0:0] if settled else vanished
    kept = vanished if settled else vanished.iloc[0:0]

    table = ad_metrics_extra_daily
    if len(inserts):
        moment = pd.Timestamp(pulled_at)
        bulk_insert(connection, table, inserts[list(FRAME_COLUMNS)].assign(
            advertiser_id=advertiser_id, stat_date=pd.Timestamp(stat_date), first_pulled_at=moment,
            last_pulled_at=moment, last_changed_at=moment, revision=1).reset_index(drop=True))
    same_row = sa.and_(_partition_filter(table, key), table.c.ad_id == sa.bindparam("key_ad_id"),
                       table.c.metric == sa.bindparam("key_metric"))
    if len(updates):
        connection.execute(
            sa.update(table).where(same_row).values(value=sa.bindparam("new_value"),
                                                    currency=sa.bindparam("new_currency"),
                                                    revision=table.c.revision + 1, last_pulled_at=pulled_at,
                                                    last_changed_at=pulled_at),
            [{"key_ad_id": row["ad_id"], "key_metric": row["metric"], "new_value": float(row["value"]),
              "new_currency": row["currency"]} for row in updates.to_dict("records")],
        )
    if len(deletes):
        connection.execute(sa.delete(table).where(same_row),
                           [{"key_ad_id": row["ad_id"], "key_metric": row["metric"]}
                            for row in deletes.to_dict("records")])
    if pulled_after_close_before and not intraday:
        _log_revisions(connection, key, pulled_at, updates, inserts, deletes)

    kept_rows = kept[list(ROW_KEY)].assign(value=kept["value_stored"], currency=kept["currency_stored"])
    after = pd.concat([frame for frame in (served, kept_rows, untouched[list(FRAME_COLUMNS)]) if len(frame)],
                      ignore_index=True) if len(served) or len(kept_rows) or len(untouched) else empty_frame()
    before_totals = stored.groupby("metric")["value"].sum() if len(stored) else pd.Series(dtype="float64")
    after_scope = after[after["metric"].isin(asked)]
    after_totals = after_scope.groupby("metric")["value"].sum() if len(after_scope) else pd.Series(dtype="float64")
    moved = {name: round(float(after_totals.get(name, 0.0)) - float(before_totals.get(name, 0.0)), MONEY_DECIMALS)
             for name in asked}
    written = ExtraWrite(
        advertiser_id=advertiser_id, stat_date=stat_date, pulled_at=pulled_at, metrics=asked,
        rows_served=len(served), inserted=len(inserts), updated=len(updates), deleted=len(deletes),
        unchanged=int((both & ~differs).sum()), vanished_kept=len(kept), first_pull=not pulled_before,
        intraday=intraday, data_version=data_version(after),
        changed=bool(len(inserts) or len(updates) or len(deletes)),
        rows_by_metric={str(name): int(count) for name, count in after["metric"].value_counts().sort_index().items()},
        moved_by_metric=moved,
    )
    connection.execute(sa.insert(pulls).values(
        table_name=EXTRA_METRICS_TABLE, advertiser_id=advertiser_id, stat_date=stat_date, pulled_at=pulled_at,
        metrics=json.dumps(list(asked)), rows_served=written.rows_served, rows_inserted=written.inserted,
        rows_updated=written.updated, rows_deleted=written.deleted, rows_unchanged=written.unchanged,
        rows_vanished_kept=written.vanished_kept, data_version=written.data_version, changed=written.changed,
        intraday=intraday,
    ))
    return written


def _log_revisions(connection: Connection, key: tuple[str, date], pulled_at: datetime, updates: pd.DataFrame,
                   inserts: pd.DataFrame, deletes: pd.DataFrame) -> None:
    """One revision row per changed row of a partition pulled before: old and new value, and when."""
    logged: list[dict[str, object]] = []
    for kind, rows in (("update", updates), ("insert_late", inserts), ("delete", deletes)):
        for row in rows.to_dict("records"):
            logged.append({
                "advertiser_id": key[0], "stat_date": key[1], "ad_id": row["ad_id"], "metric": row["metric"],
                # As stats_revisions: the row's revision after the change (a late insert is its first).
                "revision": 1 if kind == "insert_late" else int(row["revision"]) + 1,
                "pulled_at": pulled_at, "change_kind": kind,
                "old_value": 0.0 if kind == "insert_late" else float(row["value_stored"]),
                "new_value": 0.0 if kind == "delete" else float(row["value"]),
            })
    if logged:
        connection.execute(sa.insert(ad_metrics_extra_revisions), logged)
