"""Advertisers, and the history of campaigns, ad groups and ads (slowly changing dimension, type 2).

Each entity has one row per version: ``valid_from`` is the snapshot that first
saw it, ``valid_to`` the snapshot that saw it change (NULL while in force), so
a report for an old day joins to the name in force that day.

* A snapshot compares each entity's tracked attributes with its open version:
  a difference closes that version (``valid_to`` = snapshot time) and opens a
  new one; an unchanged entity writes nothing, so re-running a snapshot is a
  no-op.
* ``create_time`` and ``modify_time`` are stored but not tracked: TikTok bumps
  ``modify_time`` on edits we do not keep (a budget change), and a version per
  budget edit would repeat the same name and status.
* Status is history too: ``operation_status`` (what the advertiser set:
  ENABLE / DISABLE), ``secondary_status`` (TikTok's delivery status, e.g.
  ``AD_STATUS_DELIVERY_OK``, ``AD_STATUS_DELETE``) and ``is_deleted`` are
  tracked, so a pause, a rejection or a deletion opens a version that says
  from when.
* **Deleted is not absent.** The list endpoints are asked for deleted entities
  too (TikTok leaves them out by default), and one listed as deleted gets a
  version with ``is_deleted`` true: it stays a row, with its last name and
  parents, for the stats it had. ``is_deleted`` comes from the row's own
  ``is_deleted`` flag when it has one, else from ``secondary_status``
  (any status ending in ``_DELETE``: ``CAMPAIGN_STATUS_DELETE``,
  ``AD_STATUS_DELETE``, and the ``*_CAMPAIGN_DELETE`` / ``*_ADGROUP_DELETE``
  of children deleted with their parent) or ``operation_status`` ``DELETE``.
  TikTok keeps a deleted row's ``operation_status`` as it was (ENABLE /
  DISABLE is all campaigns document), so only the secondary status tells.
* An entity merely *missing* from a snapshot keeps its open version untouched
  (not marked deleted) and is counted as ``vanished``: a listing can lack an
  entity for reasons other than deletion (a snapshot taken without the
  deleted filter, an ad moved out of reach of the token), and nothing in a
  missing row says which; its stats still need the last name it had.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from tiktok_assets.warehouse.engine import serialise_writers, write_transaction
from tiktok_assets.warehouse.errors import WarehouseInputError
from tiktok_assets.warehouse.landing_url import parse_landing_page_url
from tiktok_assets.warehouse.tables import ENTITY_TABLES, advertisers, naive_utc

EntityKind = Literal["campaign", "adgroup", "ad"]

_STATUS = ("operation_status", "secondary_status", "is_deleted")
TRACKED_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    # Buying and automation type never change for a campaign: tracked so a first import of them opens a version.
    "campaign": ("campaign_name", "objective_type", "buying_type", "rf_campaign_type", "campaign_automation_type",
                 *_STATUS),
    "adgroup": ("campaign_id", "adgroup_name", *_STATUS),
    # The utm_*/cvg_* columns derive from landing_page_url, so they change with it.
    "ad": ("adgroup_id", "campaign_id", "ad_name", *_STATUS, "landing_page_url"),
}
# TikTok's secondary statuses of deleted entities all end so (TikTok docs 1757239620352002, "Supported
# secondary statuses for a primary status"; tiktok_assets_tests/contract/FACTS.md §1): CAMPAIGN_STATUS_DELETE, ADGROUP_STATUS_DELETE and
# ADGROUP_STATUS_CAMPAIGN_DELETE, AD_STATUS_DELETE, AD_STATUS_ADGROUP_DELETE, AD_STATUS_CAMPAIGN_DELETE
# (deleted itself, or with its campaign or ad group: it can never deliver again).
DELETED_SUFFIX = "_DELETE"
# TikTok's entity times look like "2022-03-24 12:08:29" (UTC).
TIKTOK_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class EntityWrite:
    """What one entity snapshot did."""

    kind: str
    opened: int
    """New versions: entities seen for the first time plus changed ones."""
    closed: int
    """Versions closed because the entity changed."""
    unchanged: int
    vanished: int = 0
    """Entities with an open version that this snapshot did not list (left open, not marked deleted)."""
    deleted: int = 0
    """Entities this snapshot lists as deleted whose open version was not (deleted since the last snapshot)."""


def entity_table(kind: str) -> sa.Table:
    try:
        return ENTITY_TABLES[kind]
    except KeyError:
        raise WarehouseInputError(f"Unknown entity kind {kind!r}: use one of {', '.join(ENTITY_TABLES)}.") from None


def write_entity_snapshot(
    engine: Engine,
    kind: EntityKind,
    advertiser_id: str,
    rows: Sequence[Mapping[str, Any]] | pd.DataFrame,
    snapshot_at: datetime,
) -> EntityWrite:
    """Record one advertiser's complete list of ``kind`` entities as seen at ``snapshot_at``, in one transaction."""
    table = entity_table(kind)
    snapshot_at = naive_utc(snapshot_at)
    id_column = f"{kind}_id"
    versions = _versions(kind, table, str(advertiser_id), _records(rows), snapshot_at)
    tracked = TRACKED_ATTRIBUTES[kind]
    with write_transaction(engine) as connection:
        serialise_writers(connection, [f"{table.name}|{advertiser_id}"])
        open_versions = {
            row[id_column]: row
            for row in connection.execute(
                sa.select(table).where(table.c.advertiser_id == str(advertiser_id), table.c.valid_to.is_(None))
            ).mappings()
        }
        to_open, to_close = [], []
        newly_deleted = 0
        for version in versions:
            current = open_versions.get(version[id_column])
            if current is not None and all(current[name] == version[name] for name in tracked):
                continue
            newly_deleted += version["is_deleted"] and not (current is not None and current["is_deleted"])
            if current is not None:
                if current["valid_from"] >= snapshot_at:
                    raise WarehouseInputError(
                        f"{kind} {version[id_column]} of advertiser {advertiser_id} changed in a snapshot taken at "
                        f"{snapshot_at}, not after its current version ({current['valid_from']}): snapshots must be "
                        "written in time order; re-take the snapshot now."
                    )
                to_close.append({"entity_id": current[id_column], "version_from": current["valid_from"]})
            to_open.append(version)
        if to_close:
            connection.execute(
                sa.update(table)
                .where(table.c[id_column] == sa.bindparam("entity_id"), table.c.valid_from == sa.bindparam("version_from"))
                .values(valid_to=snapshot_at),
                to_close,
            )
        if to_open:
            connection.execute(sa.insert(table), to_open)
    seen = {version[id_column] for version in versions}
    return EntityWrite(
        kind=kind,
        opened=len(to_open),
        closed=len(to_close),
        unchanged=len(versions) - len(to_open),
        vanished=len(set(open_versions) - seen),
        deleted=newly_deleted,
    )


def _records(rows: Sequence[Mapping[str, Any]] | pd.DataFrame) -> list[Mapping[str, Any]]:
    if isinstance(rows, pd.DataFrame):
        return rows.astype(object).where(rows.notna(), None).to_dict("records")
    return list(rows)


def _versions(kind: str, table: sa.Table, advertiser_id: str, records: list[Mapping[str, Any]],
              snapshot_at: datetime) -> list[dict[str, Any]]:
    id_column = f"{kind}_id"
    source_columns = [column for column in table.columns if column.name in _source_columns(kind)]
    versions: list[dict[str, Any]] = []
    seen: set[str] = set()
    for position, record in enumerate(records):
        entity_id = _text(record.get(id_column))
        if entity_id is None:
            raise WarehouseInputError(
                f"{kind} snapshot of advertiser {advertiser_id}: row {position} has no {id_column}; "
                f"every entity TikTok lists has one, check the /{kind}/get/ parsing."
            )
        if entity_id in seen:
            raise WarehouseInputError(
                f"{kind} snapshot of advertiser {advertiser_id}: {id_column} {entity_id} appears twice; "
                "pass each entity once (paging overlap?)."
            )
        seen.add(entity_id)
        row_advertiser = _text(record.get("advertiser_id"))
        if row_advertiser is not None and row_advertiser != advertiser_id:
            raise WarehouseInputError(
                f"{kind} {entity_id} belongs to advertiser {row_advertiser}, not {advertiser_id}: "
                "write each advertiser's snapshot separately."
            )
        version: dict[str, Any] = {
            column.name: _time(record.get(column.name), column.name, kind, entity_id)
            if isinstance(column.type, sa.DateTime) else _text(record.get(column.name))
            for column in source_columns if column.name != "is_deleted"
        }
        version["is_deleted"] = _deleted(record, version, kind, entity_id)
        if kind == "ad":
            version.update(parse_landing_page_url(version["landing_page_url"]))
        version.update(advertiser_id=advertiser_id, valid_from=snapshot_at, valid_to=None)
        versions.append(version)
    return versions


def _deleted(record: Mapping[str, Any], version: Mapping[str, Any], kind: str, entity_id: str) -> bool:
    flag = record.get("is_deleted")
    if flag is not None and not (isinstance(flag, float) and flag != flag):
        if isinstance(flag, bool | np.bool_):
            return bool(flag)
        text = str(flag).strip().lower()
        if text not in ("true", "false", "1", "0"):
            raise WarehouseInputError(f"{kind} {entity_id}: is_deleted {flag!r} is not true or false.")
        return text in ("true", "1")
    secondary = version.get("secondary_status")
    return (secondary is not None and secondary.upper().endswith(DELETED_SUFFIX)) or version.get("operation_status") == "DELETE"


def _source_columns(kind: str) -> set[str]:
    """Columns read from TikTok's entity rows (the rest are derived or bookkeeping)."""
    derived = set(parse_landing_page_url(None)) if kind == "ad" else set()
    return {column.name for column in ENTITY_TABLES[kind].columns} - derived - {"advertiser_id", "valid_from", "valid_to"}


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    return text or None


def _time(value: object, name: str, kind: str, entity_id: str) -> datetime | None:
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return naive_utc(value)
    try:
        return datetime.strptime(str(value).strip(), TIKTOK_TIME_FORMAT)
    except ValueError:
        raise WarehouseInputError(
            f"{kind} {entity_id}: {name} {value!r} is not a TikTok time like '2022-03-24 12:08:29'."
        ) from None


def entities_as_of(engine: Engine, kind: EntityKind, at: datetime, advertiser_id: str | None = None) -> pd.DataFrame:
    """Each entity's version in force at ``at``: the latest one with ``valid_from <= at``.

    An entity first snapshotted after ``at`` existed before we looked (its
    stats may predate the first snapshot), so it gets its earliest version.
    """
    table = entity_table(kind)
    at = naive_utc(at)
    query = sa.select(table)
    if advertiser_id is not None:
        query = query.where(table.c.advertiser_id == str(advertiser_id))
    with engine.connect() as connection:
        versions = pd.DataFrame(connection.execute(query).mappings().all(), columns=[c.name for c in table.columns])
    if versions.empty:
        return versions
    id_column = f"{kind}_id"
    versions = versions.sort_values([id_column, "valid_from"])
    started = versions[versions["valid_from"] <= pd.Timestamp(at)]
    in_force = started.groupby(id_column, sort=False).tail(1)
    later = versions[~versions[id_column].isin(in_force[id_column])].groupby(id_column, sort=False).head(1)
    return pd.concat([in_force, later]).sort_values(id_column).reset_index(drop=True)


def upsert_advertisers(engine: Engine, rows: Iterable[Mapping[str, Any]], seen_at: datetime) -> int:
    """Insert or refresh advertisers from /advertiser/info/ rows; each is marked authorised and seen at ``seen_at``.

    A row lacking ``currency``, ``timezone`` or ``display_timezone`` keeps the
    value stored before: TikTok never changes an account's currency or time
    zone, and ``/advertiser/info/`` leaves fields out when asked for fewer
    (or when the token may not read them), so a missing field is no news.
    """
    seen_at = naive_utc(seen_at)
    records = []
    for row in rows:
        advertiser_id = _text(row.get("advertiser_id"))
        if advertiser_id is None:
            raise WarehouseInputError(f"Advertiser row without advertiser_id: {sorted(row)}; check /advertiser/info/ parsing.")
        records.append({
            "advertiser_id": advertiser_id,
            "advertiser_name": _text(row.get("name") or row.get("advertiser_name")),
            "currency": _text(row.get("currency")),
            "timezone": _text(row.get("timezone")),
            "display_timezone": _text(row.get("display_timezone")),
            "status": _text(row.get("status")),
            "first_seen_at": seen_at,
            "last_seen_at": seen_at,
            "authorised": True,
        })
    if not records:
        return 0
    with write_transaction(engine) as connection:
        insert = _dialect_insert(connection)(advertisers)
        refreshed = {name: insert.excluded[name] for name in ("advertiser_name", "status", "last_seen_at", "authorised")}
        refreshed.update({name: sa.func.coalesce(insert.excluded[name], advertisers.c[name])
                          for name in ("currency", "timezone", "display_timezone")})
        connection.execute(insert.on_conflict_do_update(index_elements=["advertiser_id"], set_=refreshed), records)
    return len(records)


def _dialect_insert(connection: Connection):  # noqa: ANN202 - the dialect's Insert factory
    return postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert


def mark_unauthorised(engine: Engine, advertiser_ids: Iterable[str]) -> int:
    """Flag advertisers the token lost access to; their history stays. Returns how many were flagged."""
    ids = sorted({str(advertiser_id) for advertiser_id in advertiser_ids})
    if not ids:
        return 0
    with write_transaction(engine) as connection:
        result = connection.execute(
            sa.update(advertisers).where(advertisers.c.advertiser_id.in_(ids)).values(authorised=False)
        )
    return result.rowcount
