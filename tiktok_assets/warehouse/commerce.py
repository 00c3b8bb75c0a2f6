"""``advertiser_commerce_daily``: whole-partition replaces and each partition's data version.

A partition is (advertiser, local date): every recompute deletes its rows and inserts the new ones in one
transaction, so a re-run or a backfill leaves one copy, and a reader never sees half a partition. Its data
version fingerprints the stored bases (the ratios are functions of them): a recompute that changes nothing
keeps it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import date, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tiktok_assets.warehouse.engine import serialise_writers, write_transaction
from tiktok_assets.warehouse.tables import (
    COMMERCE_COUNTS,
    COMMERCE_MONEY,
    COMMERCE_RATIOS,
    MONEY_DECIMALS,
    advertiser_commerce_daily,
    naive_utc,
)

_VERSION_PREFIX = "tiktok_assets.commerce.v1\n"
COLUMNS = ["advertiser_id", "stat_date", "currency", *COMMERCE_MONEY, *COMMERCE_COUNTS, *COMMERCE_RATIOS]


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    records = []
    for row in frame[COLUMNS].to_dict("records"):
        record: dict[str, object] = {"advertiser_id": str(row["advertiser_id"]), "stat_date": row["stat_date"],
                                     "currency": str(row["currency"])}
        record.update({name: round(float(row[name]), MONEY_DECIMALS) for name in COMMERCE_MONEY})
        record.update({name: int(row[name]) for name in COMMERCE_COUNTS})
        record.update({name: None if pd.isna(row[name]) else float(row[name]) for name in COMMERCE_RATIOS})
        records.append(record)
    return records


def data_version(records: Iterable[Mapping[str, object]]) -> str:
    lines = sorted(f"{row['currency']}|" + "|".join(repr(row[name]) for name in (*COMMERCE_MONEY, *COMMERCE_COUNTS))
                   for row in records)
    return hashlib.sha256((_VERSION_PREFIX + "\n".join(lines)).encode()).hexdigest()[:32]


def replace_commerce_partitions(engine: Engine, frame: pd.DataFrame, partitions: Iterable[tuple[str, date]],
                                computed_at: datetime) -> dict[tuple[str, date], tuple[int, str]]:
    """Replace each (advertiser_id, stat_date) partition with ``frame``'s rows of it (none: emptied), in one
    transaction. Returns (rows, data version) per partition."""
    wanted = sorted(set(partitions))
    records = _records(frame) if not frame.empty else []
    by_partition: dict[tuple[str, date], list[dict[str, object]]] = {key: [] for key in wanted}
    for record in records:
        key = (str(record["advertiser_id"]), record["stat_date"])
        if key in by_partition:
            by_partition[key].append({**record, "computed_at": naive_utc(computed_at)})
    table = advertiser_commerce_daily
    with write_transaction(engine) as connection:
        serialise_writers(connection, (f"{table.name}|{a}|{d}" for a, d in wanted))
        for (advertiser_id, stat_date), rows in by_partition.items():
            connection.execute(sa.delete(table).where(table.c.advertiser_id == advertiser_id,
                                                      table.c.stat_date == stat_date))
            if rows:
                connection.execute(sa.insert(table), rows)
    return {key: (len(rows), data_version(rows)) for key, rows in by_partition.items()}
