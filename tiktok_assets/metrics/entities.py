"""Entity history lookups for metrics: names in force at a time, parents, advertiser time zones.

The warehouse keeps campaigns, ad groups and ads as SCD2 history
(``valid_from`` ≤ t < ``valid_to``, ``valid_to`` null while current), one
version per observed change. Versions start when a pull first *saw* them, which
is usually after the entity's first stats (a backfill imports last month's
spend with today's snapshot), so a time before an entity's first version gets
that first version, and a time after a closed last version (a deleted entity)
keeps its last one: a stat never loses its label because of when we happened
to take the snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

from tiktok_assets.metrics.errors import MissingColumnsError, MissingZoneError
from tiktok_assets.spend.zones import ZoneError, report_zone, zone_info

# Keys of the warehouse tables, as another engineer names them.
TABLE_NAMES = {
    "advertisers": "advertisers",
    "campaign_history": "campaigns",
    "adgroup_history": "adgroups",
    "ad_history": "ads",
}

# The id given to a parent nobody knows (an ad deleted before its ad group was
# snapshotted): its spend stays in every rollup instead of vanishing.
UNKNOWN_PARENT_ID = "unknown"

# valid_from is packed with an entity number into one int64 (entity << 32 | seconds):
# seconds since 1970 fit 32 bits until 2106.
_SECONDS_BITS = 32
_MAX_SECONDS = 2**_SECONDS_BITS - 1


@dataclass(frozen=True)
class EntityHistory:
    """The entity tables metrics need; any may be missing (names then stay null)."""

    advertisers: pd.DataFrame | None = None
    campaigns: pd.DataFrame | None = None
    adgroups: pd.DataFrame | None = None
    ads: pd.DataFrame | None = None

    @classmethod
    def from_tables(cls, tables: Mapping[str, pd.DataFrame | None]) -> EntityHistory:
        """From warehouse table names: ``advertisers``, ``campaign_history``, ``adgroup_history``, ``ad_history``."""
        unknown = set(tables) - set(TABLE_NAMES) - set(TABLE_NAMES.values())
        if unknown:
            raise ValueError(
                f"Unknown entity table(s) {', '.join(sorted(unknown))}: expected {', '.join(TABLE_NAMES)}"
            )
        fields = {TABLE_NAMES.get(name, name): frame for name, frame in tables.items()}
        return cls(**fields)

    @classmethod
    def coerce(cls, value: EntityHistory | Mapping[str, pd.DataFrame | None] | None) -> EntityHistory:
        if value is None:
            return cls()
        if isinstance(value, EntityHistory):
            return value
        return cls.from_tables(value)

    def advertiser_ids(self) -> list[str]:
        """Advertisers in scope: those in ``advertisers``, else any seen in the histories."""
        if self.advertisers is not None and not self.advertisers.empty:
            return sorted(set(as_id(self.advertisers["advertiser_id"]).dropna()))
        seen: set[str] = set()
        for frame in (self.campaigns, self.adgroups, self.ads):
            if frame is not None and "advertiser_id" in frame.columns:
                seen.update(as_id(frame["advertiser_id"]).dropna())
        return sorted(seen)

    def advertiser_zones(self) -> dict[str, str | None]:
        """advertiser_id -> the fixed-offset zone (``UTC±HH:MM``) TikTok dates its reports in; None if unreadable.

        (``tiktok_assets_tests/contract/FACTS.md`` §5: account time zones have no DST.)

        TikTok dates reports in the account's fixed offset, never with DST: the
        ``timezone`` field (a Region/City name counts as its standard offset),
        else ``display_timezone`` (``tiktok_assets.spend.zones.report_zone``,
        the rule the spend import uses). An advertiser whose row has neither,
        or only unreadable ones, maps to None: :func:`row_zones` refuses it.
        """
        frame = self.advertisers
        if frame is None or frame.empty:
            return {}
        fields = [column for column in ("timezone", "display_timezone") if column in frame.columns]
        zones: dict[str, str | None] = {}
        # One row per advertiser: a handful, not a hot loop.
        for advertiser_id, *values in zip(as_id(frame["advertiser_id"]), *(frame[column] for column in fields),
                                          strict=True):
            record = {field: None if pd.isna(value) else value for field, value in zip(fields, values, strict=True)}
            try:
                zones[advertiser_id] = report_zone(record)[0]
            except ZoneError:
                zones[advertiser_id] = None
        return zones

    def advertiser_values(self, column: str) -> dict[str, object]:
        frame = self.advertisers
        if frame is None or column not in frame.columns:
            return {}
        return dict(zip(as_id(frame["advertiser_id"]), frame[column], strict=True))


def as_id(values: pd.Series) -> pd.Series:
    """IDs as strings (TikTok IDs are JSON strings), nulls kept as None.

    Object columns are taken to hold strings already (the warehouse contract),
    so the 8.8 M-row stats frames are not copied; numeric or string-dtype IDs
    (a hand-made history frame) are converted.
    """
    if values.dtype == object:
        return values
    present = values.notna()
    strings = pd.Series(None, index=values.index, dtype=object)
    strings[present] = values[present].astype(str).to_numpy(dtype=object)
    return strings


def latest_versions(history: pd.DataFrame, id_column: str) -> pd.DataFrame:
    """One row per entity: its version with the latest ``valid_from`` (the current one)."""
    _require(history, [id_column], f"{id_column.removesuffix('_id')} history")
    frame = history.assign(**{id_column: as_id(history[id_column])}).dropna(subset=[id_column])
    if "valid_from" in frame.columns:
        order = utc_seconds(frame["valid_from"], missing=0)
        frame = frame.iloc[np.argsort(order, kind="stable")]
    return frame.drop_duplicates(id_column, keep="last").reset_index(drop=True)


def utc_seconds(values: pd.Series | np.ndarray | pd.api.extensions.ExtensionArray, *, missing: int) -> np.ndarray:
    """Seconds since 1970 of naive-UTC or aware instants, clipped to [0, 2**32); nulls become ``missing``."""
    series = values.reset_index(drop=True) if isinstance(values, pd.Series) else pd.Series(values)
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    elif series.dtype.kind != "M":  # strings or objects: let pandas read them
        series = pd.to_datetime(series, utc=True).dt.tz_localize(None)
    array = series.to_numpy()
    seconds = array.astype("datetime64[s]").astype(np.int64)
    seconds = np.where(np.isnat(array), missing, seconds)
    return np.clip(seconds, 0, _MAX_SECONDS)


def values_as_of(
    history: pd.DataFrame | None,
    id_column: str,
    value_column: str,
    ids: pd.Series | pd.Categorical | np.ndarray,
    instants: np.ndarray | pd.Series | pd.api.extensions.ExtensionArray,
) -> np.ndarray:
    """``value_column`` of the version of each ``ids[i]`` in force at ``instants[i]`` (naive UTC).

    Vectorised as-of join: versions are packed as ``entity << 32 | valid_from
    seconds`` and sorted, each query is packed the same way, and one
    ``searchsorted`` finds the last version starting at or before it. With
    contiguous SCD2 versions that is exactly valid_from ≤ t < valid_to. Unknown
    entities get None.
    """
    result = np.empty(len(ids), dtype=object)
    if history is None or history.empty or value_column not in history.columns or len(ids) == 0:
        return result
    _require(history, [id_column, "valid_from"], f"{id_column.removesuffix('_id')} history")
    versions = history.assign(**{id_column: as_id(history[id_column])}).dropna(subset=[id_column])
    entity_codes, entities = pd.factorize(versions[id_column])
    starts = utc_seconds(versions["valid_from"], missing=0)
    order = np.lexsort((starts, entity_codes))
    entity_codes, starts = entity_codes[order], starts[order]
    values = versions[value_column].to_numpy(dtype=object)[order]
    # The first version of each entity reaches back to the beginning of time.
    first = np.ones(len(order), dtype=bool)
    first[1:] = entity_codes[1:] != entity_codes[:-1]
    starts = np.where(first, 0, starts)
    version_keys = (entity_codes.astype(np.int64) << _SECONDS_BITS) | starts

    query_codes, query_ids = _factorized_ids(ids)
    query_entities = np.append(pd.Index(entities).get_indexer(query_ids), -1)[query_codes]
    known = query_entities >= 0
    query_keys = (query_entities[known].astype(np.int64) << _SECONDS_BITS) | utc_seconds(
        instants, missing=_MAX_SECONDS
    )[known]
    positions = np.searchsorted(version_keys, query_keys, side="right") - 1
    result[known] = values[positions]
    return result


def lookup(mapping: Mapping[str, object], ids: pd.Series | pd.Categorical | np.ndarray) -> np.ndarray:
    """``mapping[id]`` for each id (None when absent), without a Python call per row."""
    codes, uniques = _factorized_ids(ids)
    mapped = np.array([mapping.get(value) for value in uniques] + [None], dtype=object)
    return mapped[codes]


def _factorized_ids(ids: pd.Series | pd.Categorical | np.ndarray) -> tuple[np.ndarray, pd.Index]:
    """(code per row, distinct ids as strings); a null id gets code -1, which indexes an appended "missing" slot."""
    if isinstance(ids, pd.Categorical):
        codes, uniques = ids.codes.astype(np.int64), pd.Series(np.asarray(ids.categories, dtype=object))
    else:
        codes, uniques = pd.factorize(pd.Series(ids, dtype=object).reset_index(drop=True))
        uniques = pd.Series(np.asarray(uniques, dtype=object))
    return codes, pd.Index(as_id(uniques), dtype=object)


def row_zones(advertiser_ids: pd.Series | np.ndarray, zones: Mapping[str, str | None]) -> np.ndarray:
    """Each row's zone text from its advertiser (:meth:`EntityHistory.advertiser_zones`).

    An advertiser whose ``/advertiser/info/`` row has no readable zone raises
    :class:`MissingZoneError` naming it: its local dates are unknown, not UTC.
    Rows without an advertiser, or of an advertiser with no ``advertisers``
    row at all (hand-built frames; the spend import always writes one), are
    read in UTC.
    """
    codes, uniques = _factorized_ids(advertiser_ids)
    unreadable = [advertiser_id for advertiser_id in uniques if advertiser_id in zones and zones[advertiser_id] is None]
    if unreadable:
        raise MissingZoneError(unreadable)
    mapped = np.array([zones.get(advertiser_id) or "UTC" for advertiser_id in uniques] + ["UTC"], dtype=object)
    return mapped[codes]


def utc_to_local(utc: pd.Series, advertiser_ids: pd.Series, zones: Mapping[str, str | None]) -> pd.Series:
    """Naive local wall times of naive-UTC (or aware) instants in each row's advertiser zone (:func:`row_zones`).

    Loops over distinct time zones (a handful), never over rows.
    """
    instants = pd.to_datetime(pd.Series(utc).reset_index(drop=True), utc=True)
    zone_of_row = row_zones(advertiser_ids, zones)
    local = pd.Series(pd.NaT, index=instants.index, dtype="datetime64[ns]")
    for zone in pd.unique(zone_of_row):
        rows = zone_of_row == zone
        local[rows] = (instants[rows].dt.tz_convert(zone_info(zone)).dt.tz_localize(None)
                       .to_numpy(dtype="datetime64[ns]"))
    return local


def end_of_local_day_utc(stat_dates: pd.Series, advertiser_ids: pd.Series, zones: Mapping[str, str | None]
                         ) -> np.ndarray:
    """The last second of each local ``stat_date`` in its advertiser's zone, as naive UTC datetime64.

    A day's stats carry the names in force when the day closed, so an entity
    created or renamed during the day is labelled as the day ended.
    """
    days = pd.Series(pd.to_datetime(pd.Series(stat_dates).reset_index(drop=True)).to_numpy())
    advertisers = as_id(pd.Series(advertiser_ids)).reset_index(drop=True)
    pair_codes, pairs = pd.factorize(pd.MultiIndex.from_arrays([advertisers.fillna(""), days]))
    pair_days = pd.DatetimeIndex(pairs.get_level_values(1))
    pair_zones = row_zones(pd.Series(pairs.get_level_values(0), dtype=object).replace("", None), zones)
    ends = np.empty(len(pairs), dtype="datetime64[ns]")
    for zone in pd.unique(pair_zones):
        rows = pair_zones == zone
        next_midnight = (pair_days[rows] + timedelta(days=1)).tz_localize(
            zone_info(zone), ambiguous=np.ones(int(rows.sum()), dtype=bool), nonexistent="shift_forward"
        )
        ends[rows] = (next_midnight.tz_convert("UTC").tz_localize(None) - timedelta(seconds=1)).to_numpy()
    return ends[pair_codes]


def _require(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise MissingColumnsError(what, missing, "pass the warehouse's SCD2 history table")
