"""Metrics at ad / ad group / campaign / advertiser level, hourly and daily (no Dagster import).

Every level is summed straight from the ad-level stats with the same
currency-aware grouping, so a level's bases always equal the sum of the level
below it. Rows whose parents are unknown (an ad deleted before its ad group
was snapshotted) are first given their parents from the ad history; what stays
unknown is grouped under the id ``"unknown"`` rather than dropped, so spend
never vanishes between levels.

First-party orders compose as :mod:`tiktok_assets.metrics.attribution`
describes: each level counts the orders matched at that level or finer.

TikTok-attributed purchases and revenue (``tiktok_purchases``,
``tiktok_revenue``, ROAS's numerator) are taken per ad row by its campaign's
type from the campaign history, as :mod:`tiktok_assets.metrics.revenue`
documents, and then summed like every base.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, get_args

import numpy as np
import pandas as pd

from tiktok_assets.metrics.attribution import ID_COLUMNS, LEVEL_ID_COLUMN
from tiktok_assets.metrics.derive import (
    ADDITIVE_COLUMNS,
    CURRENCY,
    FIRST_PARTY_COLUMNS,
    REACH,
    SPREAD,
    FrameGrouper,
    Groups,
    metric_columns,
)
from tiktok_assets.metrics.entities import (
    UNKNOWN_PARENT_ID,
    EntityHistory,
    end_of_local_day_utc,
    latest_versions,
    lookup,
    values_as_of,
)
from tiktok_assets.metrics.errors import MissingColumnsError
from tiktok_assets.metrics.revenue import campaign_kinds, row_kinds

Level = Literal["ad", "adgroup", "campaign", "advertiser"]
Grain = Literal["hourly", "daily"]
LEVELS: tuple[Level, ...] = get_args(Level)
GRAINS: tuple[Grain, ...] = get_args(Grain)

LEVEL_KEYS: dict[str, tuple[str, ...]] = {
    "advertiser": ("advertiser_id",),
    "campaign": ("advertiser_id", "campaign_id"),
    "adgroup": ("advertiser_id", "campaign_id", "adgroup_id"),
    "ad": ("advertiser_id", "campaign_id", "adgroup_id", "ad_id"),
}
# name column -> (EntityHistory field holding its versions, id column); advertisers are not versioned.
_NAMES = {
    "advertiser_name": (None, "advertiser_id"),
    "campaign_name": ("campaigns", "campaign_id"),
    "adgroup_name": ("adgroups", "adgroup_id"),
    "ad_name": ("ads", "ad_id"),
}
LEVEL_NAMES: dict[str, tuple[str, ...]] = {
    level: tuple(name for name, (_, id_column) in _NAMES.items() if id_column in keys)
    for level, keys in LEVEL_KEYS.items()
}
GRAIN_KEY = {"hourly": "stat_hour_utc", "daily": "stat_date"}
# Functions of (advertiser, UTC hour): carried from the group's first row instead of hashed again.
GRAIN_CARRIED = {"hourly": ("stat_hour_local", "stat_date"), "daily": ()}

EntityTables = EntityHistory | Mapping[str, pd.DataFrame | None] | None


def metrics_at_level(
    stats: pd.DataFrame,
    level: Level,
    grain: Grain,
    entity_history: EntityTables = None,
    first_party: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Keys, names, summed bases and metrics of ``stats`` at one level and grain.

    ``stats`` is ``ad_stats_daily`` or ``ad_stats_hourly`` (hourly stats give
    daily too). Names come from the entity history version in force at the
    stat's time (the hour's UTC start; for a day, its last second in the
    advertiser's zone). ``first_party`` is :func:`attribute_first_party`'s
    output at the same grain (or hourly, for daily) and adds the two-source
    revenue columns. Rows come out in order of first appearance.
    """
    return metrics_for_levels(stats, [level], [grain], entity_history, first_party)[(level, grain)]


def metrics_for_levels(
    stats: pd.DataFrame,
    levels: Iterable[Level] = LEVELS,
    grains: Iterable[Grain] = ("daily",),
    entity_history: EntityTables = None,
    first_party: pd.DataFrame | None = None,
) -> dict[tuple[str, str], pd.DataFrame]:
    """:func:`metrics_at_level` for several levels and grains, hashing the key columns once."""
    levels, grains = _checked(levels, LEVELS, "level"), _checked(grains, GRAINS, "grain")
    history = EntityHistory.coerce(entity_history)
    grouper = _grouper(stats, first_party, history, [GRAIN_KEY[grain] for grain in grains], levels)
    results = {}
    for grain in grains:
        carried = [column for column in GRAIN_CARRIED[grain] if column in grouper.frame.columns]
        for level in levels:
            groups = _counted_at(grouper, grouper.groups([*LEVEL_KEYS[level], GRAIN_KEY[grain]], carry=carried), level)
            instants = _name_instants(groups.columns, grain, history)
            results[(level, grain)] = _finished(grouper, groups, level, [GRAIN_KEY[grain], *carried], instants, history)
    return results


def metrics_over_period(
    stats: pd.DataFrame,
    level: Level,
    entity_history: EntityTables = None,
    first_party: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per entity (and currency) over the whole of ``stats``: totals for a date range.

    Adds ``period_start``/``period_end`` (first and last stat_date present) and
    names as they stood at the end of the period.
    """
    (level,) = _checked([level], LEVELS, "level")
    history = EntityHistory.coerce(entity_history)
    grouper = _grouper(stats, first_party, history, ["stat_date"], [level])
    groups = _counted_at(grouper, grouper.groups(LEVEL_KEYS[level]), level)
    dates = pd.Series(grouper.key_codes("stat_date")[1])
    start, end = (dates.min(), dates.max()) if len(dates) else (None, None)
    groups.columns["period_start"] = np.full(len(groups), start, dtype=object)
    groups.columns["period_end"] = np.full(len(groups), end, dtype=object)
    advertisers = pd.Series(groups.columns["advertiser_id"], dtype=object)
    instants = (
        end_of_local_day_utc(pd.Series([end] * len(groups)), advertisers, history.advertiser_zones())
        if end is not None
        else np.full(len(groups), np.datetime64("NaT"), dtype="datetime64[ns]")
    )
    return _finished(grouper, groups, level, ["period_start", "period_end"], instants, history)


def level_names(
    ids: Mapping[str, pd.Series | pd.Categorical | np.ndarray],
    level: Level,
    instants: np.ndarray,
    entity_history: EntityTables,
) -> dict[str, np.ndarray]:
    """The names of ``level``'s entities and their parents in force at ``instants`` (naive UTC).

    ``ids`` maps id columns (advertiser_id, campaign_id, …) to one id per row.
    """
    history = EntityHistory.coerce(entity_history)
    names = {}
    for name in LEVEL_NAMES[level]:
        field, id_column = _NAMES[name]
        if field is None:
            names[name] = lookup(history.advertiser_values(name), ids[id_column])
        else:
            names[name] = values_as_of(getattr(history, field), id_column, name, ids[id_column], instants)
    return names


def _checked(values: Iterable[str], allowed: Sequence[str], what: str) -> list:
    values = list(dict.fromkeys(values))
    wrong = [value for value in values if value not in allowed]
    if wrong or not values:
        raise ValueError(f"{what} must be among {', '.join(allowed)}; got {', '.join(map(repr, wrong)) or 'none'}")
    return values


def _grouper(stats: pd.DataFrame, first_party: pd.DataFrame | None, history: EntityHistory,
             time_columns: Sequence[str], levels: Sequence[str]) -> FrameGrouper:
    """A grouper over the stats with known parents (plus the first-party rows when given), knowing campaign types."""
    grouper = _rows_grouper(stats, first_party, history, time_columns, levels)
    kinds = campaign_kinds(history)
    if kinds:
        # The grouper factorises campaign_id anyway: one lookup per campaign, not per row.
        codes, campaign_ids = grouper.key_codes("campaign_id")
        grouper.row_kinds = row_kinds(codes, campaign_ids, kinds)
    return grouper


def _rows_grouper(stats: pd.DataFrame, first_party: pd.DataFrame | None, history: EntityHistory,
                  time_columns: Sequence[str], levels: Sequence[str]) -> FrameGrouper:
    id_columns = sorted({column for level in levels for column in LEVEL_KEYS[level]})
    missing = [column for column in [*ID_COLUMNS, CURRENCY, *time_columns] if column not in stats.columns]
    if missing:
        hint = "hourly metrics need ad_stats_hourly (stat_hour_utc)" if "stat_hour_utc" in missing else ""
        raise MissingColumnsError("stats", missing, hint or "pass ad_stats_daily or ad_stats_hourly")
    if first_party is None:
        grouper = FrameGrouper(stats)
        # Grouping factorises the id columns anyway, and that tells whether any has a null.
        if any(grouper.has_nulls(column) for column in id_columns):
            grouper = FrameGrouper(_with_known_parents(stats, history))
        return grouper
    if any(stats[column].hasnans for column in id_columns):
        stats = _with_known_parents(stats, history)
    missing = [column for column in [*ID_COLUMNS, CURRENCY, *time_columns, *FIRST_PARTY_COLUMNS]
               if column not in first_party.columns]
    if missing:
        hint = "build it with attribute_first_party(..., grain='hourly')" if "stat_hour_utc" in missing else (
            "pass attribute_first_party()'s output")
        raise MissingColumnsError("first_party", missing, hint)
    time_like = [column for column in dict.fromkeys((*GRAIN_KEY.values(), *GRAIN_CARRIED["hourly"]))
                 if column in stats.columns and column in first_party.columns]
    stat_columns = [column for column in stats.columns
                    if column in {*ID_COLUMNS, CURRENCY, *time_like, *ADDITIVE_COLUMNS, REACH, SPREAD}]
    first_party_rows = first_party[[*ID_COLUMNS, CURRENCY, *time_like, *FIRST_PARTY_COLUMNS]].assign(
        **{column: _like(first_party[column], stats[column]) for column in time_like}
    )
    return FrameGrouper(pd.concat([stats[stat_columns], first_party_rows], ignore_index=True))


def _with_known_parents(stats: pd.DataFrame, history: EntityHistory) -> pd.DataFrame:
    unknown = {column: stats[column].isna().to_numpy() for column in ID_COLUMNS}
    stats = stats.copy()
    ads = latest_versions(history.ads, "ad_id") if history.ads is not None and not history.ads.empty else None
    for column, rows in unknown.items():
        if not rows.any():
            continue
        if ads is not None and column != "ad_id" and column in ads.columns:
            known = dict(zip(ads["ad_id"], ads[column], strict=True))
            stats.loc[rows, column] = lookup(known, stats.loc[rows, "ad_id"])
        still_unknown = stats[column].isna()
        stats.loc[still_unknown, column] = UNKNOWN_PARENT_ID
    return stats


def _like(values: pd.Series, reference: pd.Series) -> pd.Series:
    """``values`` in ``reference``'s date/time representation so the two group together."""
    if pd.api.types.is_datetime64_any_dtype(reference.dtype):
        converted = pd.to_datetime(values)
        target_zone = getattr(reference.dtype, "tz", None)
        if target_zone is not None:
            converted = (converted.dt.tz_localize("UTC") if converted.dt.tz is None else converted).dt.tz_convert(
                target_zone)
        return converted
    if reference.dtype == object and pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values.dt.date.astype(object)
    return values


def _counted_at(grouper: FrameGrouper, groups: Groups, level: str) -> Groups:
    """Drop groups without an id for ``level``.

    Stats ids are all filled, so only first-party rows matched above this level
    lack it: they belong to the parent, not to an entity here.
    """
    column = LEVEL_ID_COLUMN[level]
    if not grouper.has_nulls(column):
        return groups
    codes, uniques = grouper.key_codes(column)
    keep = codes[groups.first_rows] != len(uniques)
    if keep.all():
        return groups
    columns = {name: values[keep] for name, values in groups.columns.items()}
    return Groups(columns=columns, first_rows=groups.first_rows[keep])


def _name_instants(columns: Mapping[str, object], grain: str, history: EntityHistory
                   ) -> np.ndarray | pd.api.extensions.ExtensionArray:
    if grain == "hourly":
        return columns["stat_hour_utc"]
    return end_of_local_day_utc(pd.Series(columns["stat_date"]), pd.Series(columns["advertiser_id"], dtype=object),
                                history.advertiser_zones())


def _finished(grouper: FrameGrouper, groups: Groups, level: str, time_columns: Sequence[str],
              instants: np.ndarray, history: EntityHistory) -> pd.DataFrame:
    """The output frame, built once in its final column order (no intermediate copies of 8.8 M rows)."""
    ids = {column: grouper.categorical(column, groups.first_rows) for column in LEVEL_KEYS[level]}
    names = level_names(ids, level, instants, history)
    columns = groups.columns
    leading = {
        **{key: columns[key] for key in LEVEL_KEYS[level]},
        **names,
        CURRENCY: columns[CURRENCY],
        **{column: columns[column] for column in time_columns},
    }
    rest = {column: values for column, values in columns.items() if column not in leading}
    return pd.DataFrame({**leading, **rest, **metric_columns(columns)}, copy=False)
