"""Sums and ratio metrics of ad stats (no Dagster import).

Every metric is a ratio of sums over its group, never an average of per-row
ratios: two ads with CTR 1 % on 100 impressions and 3 % on 10,000 impressions
have a combined CTR of 2.98 %, not 2 %. A zero (or missing) denominator gives a
null, never 0 or infinity, so "no clicks" cannot pass for "free clicks".

Money is only ever added within one currency: every grouping includes
``currency``, and helpers that would add across currencies raise
:class:`MixedCurrencyError`.

ROAS divides ``tiktok_revenue`` by spend: the web or the in-app purchase value
by campaign type, as :mod:`tiktok_assets.metrics.revenue` documents. It is
derived row by row before summing (a group may mix app and web campaigns); a
frame that already has it (a metrics table) has it summed like any base.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tiktok_assets.metrics.errors import MissingColumnsError, MissingCurrencyError, MixedCurrencyError
from tiktok_assets.metrics.revenue import SOURCE_COLUMNS, TIKTOK_PURCHASES, TIKTOK_REVENUE, attributed
from tiktok_assets.tiktok.reports import COUNT_COLUMNS, MONEY_COLUMNS, STAT_COLUMNS

CURRENCY = "currency"

FIRST_PARTY_ORDERS = "first_party_orders"
FIRST_PARTY_REVENUE = "first_party_revenue"
FIRST_PARTY_COLUMNS = (FIRST_PARTY_ORDERS, FIRST_PARTY_REVENUE)

# TikTok-attributed purchases and revenue by campaign type (metrics.revenue), derived per row.
ATTRIBUTED_COLUMNS = (TIKTOK_PURCHASES, TIKTOK_REVENUE)

# Whole numbers once summed (and stored as int64); the rest of the additive columns are money.
ADDITIVE_COUNT_COLUMNS = (*COUNT_COLUMNS, TIKTOK_PURCHASES, FIRST_PARTY_ORDERS)
ADDITIVE_MONEY_COLUMNS = (*MONEY_COLUMNS, TIKTOK_REVENUE, FIRST_PARTY_REVENUE)
ADDITIVE_COLUMNS = (*STAT_COLUMNS, *ATTRIBUTED_COLUMNS, *FIRST_PARTY_COLUMNS)

# Reach counts distinct people, so it cannot be summed over ads or hours. The
# largest reach of any row in a group is still a true lower bound of the
# group's reach (and exact when the group is one ad-day row).
REACH = "reach"
REACH_LOWER_BOUND = "reach_lower_bound"
# An hour whose figures were spread from the daily total (TikTok served no hours).
SPREAD = "spread"

# Sums with more than 2**53 units would lose precision in float64 bincount.
_EXACT_FLOAT_LIMIT = 2**53


@dataclass(frozen=True)
class Ratio:
    """``numerator / denominator × scale``, null where the denominator is zero or missing."""

    name: str
    numerator: str
    denominator: str
    scale: float = 1.0


METRICS: tuple[Ratio, ...] = (
    Ratio("ctr", "clicks", "impressions"),
    Ratio("cpc", "spend", "clicks"),
    Ratio("cpm", "spend", "impressions", 1000.0),
    Ratio("cpa", "spend", "conversions"),
    # ROAS on TikTok-attributed revenue: web or in-app purchase value by campaign type (metrics.revenue).
    Ratio("roas", TIKTOK_REVENUE, "spend"),
    Ratio("ipm", "installs", "impressions", 1000.0),
    Ratio("cpi", "spend", "installs"),
    Ratio("click_to_install_rate", "installs", "clicks"),
    Ratio("conversion_rate", "conversions", "clicks"),
)
METRIC_COLUMNS = tuple(metric.name for metric in METRICS)
_NEEDED_BASES = {metric.numerator for metric in METRICS} | {metric.denominator for metric in METRICS}

REVENUE_DISCREPANCY = "revenue_discrepancy"
FIRST_PARTY_METRICS: tuple[Ratio, ...] = (
    Ratio("tiktok_roas", TIKTOK_REVENUE, "spend"),
    Ratio("first_party_roas", FIRST_PARTY_REVENUE, "spend"),
)
FIRST_PARTY_METRIC_COLUMNS = (
    *(metric.name for metric in FIRST_PARTY_METRICS),
    REVENUE_DISCREPANCY,
)


def safe_ratio(numerator: np.ndarray | pd.Series, denominator: np.ndarray | pd.Series, scale: float = 1.0
               ) -> np.ndarray:
    """Element-wise ``numerator / denominator × scale`` as float64, NaN where the denominator is 0 or NaN."""
    top = _as_float(numerator, na_value=np.nan)
    bottom = _as_float(denominator, na_value=np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        result = top / np.where(bottom == 0, np.nan, bottom)
    if scale != 1.0:
        result *= scale
    return result


def with_currency(by: Sequence[str]) -> list[str]:
    """``by`` with ``currency`` appended unless already there: no grouping may mix currencies."""
    keys = list(dict.fromkeys(by))
    return keys if CURRENCY in keys else [*keys, CURRENCY]


def require_currency(frame: pd.DataFrame, where: str) -> None:
    """Raise unless ``frame`` has a currency on every row."""
    if CURRENCY not in frame.columns:
        raise MissingColumnsError(where, [CURRENCY], "every money amount needs its currency; add the advertiser's")
    missing = int(frame[CURRENCY].isna().sum())
    if missing:
        raise MissingCurrencyError(missing, where)


def require_single_currency(frame: pd.DataFrame, where: str = "this total") -> str | None:
    """The one currency of ``frame`` (None when empty); :class:`MixedCurrencyError` when there are several."""
    require_currency(frame, where)
    currencies = pd.unique(frame[CURRENCY])
    if len(currencies) > 1:
        raise MixedCurrencyError(currencies, where)
    return str(currencies[0]) if len(currencies) else None


def totals(frame: pd.DataFrame) -> pd.Series:
    """Grand totals of the additive columns plus their metrics, for a frame in one currency.

    Refuses (MixedCurrencyError) to add amounts in different currencies: use
    :func:`aggregate` with ``by=[]`` to get one total row per currency instead.
    """
    currency = require_single_currency(frame, "totals()")
    summed = aggregate(frame, by=[])
    if summed.empty:
        summed = pd.DataFrame({CURRENCY: [currency], **{column: [0] for column in _present(frame, ADDITIVE_COLUMNS)}})
    return with_metrics(summed).iloc[0]


def aggregate(frame: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Sum the additive columns of ``frame`` per group of ``by`` (+ ``currency``, always).

    Returns the group keys, the summed bases present in ``frame`` (stat columns,
    ``tiktok_purchases`` / ``tiktok_revenue`` — derived per row when ``frame``
    has the web and in-app columns but not these, with every campaign's type
    unknown: see :mod:`.revenue` — and first-party orders/revenue), ``reach_lower_bound`` when ``frame`` has
    ``reach``, and ``spread`` (any hour of the group spread from daily) when it
    has ``spread``. Null keys form their own group, so rows with an unknown
    parent keep their spend. Groups come out in order of first appearance.
    """
    return FrameGrouper(frame).aggregate(by)


class FrameGrouper:
    """Groups one frame several ways, factorising each key column only once.

    pandas' multi-key groupby re-hashes every key column on every call and
    consolidates its result; over a year of hourly rows for 1,000 ads (8.8 M
    rows) that dominated the run time. Here each key column is factorised once,
    the codes are combined into one int64 group id, and sums are
    ``np.bincount`` over that id.
    """

    def __init__(self, frame: pd.DataFrame, row_kinds: np.ndarray | None = None) -> None:
        self.frame = frame
        self._codes: dict[str, _KeyCodes] = {}
        self._attributed_rows: dict[str, np.ndarray] | None = None
        self.row_kinds = row_kinds

    @property
    def row_kinds(self) -> np.ndarray | None:
        """Campaign kind per row (``revenue.APP/WEB/UNKNOWN``) for TikTok-attributed revenue; None: all unknown."""
        return self._row_kinds

    @row_kinds.setter
    def row_kinds(self, kinds: np.ndarray | None) -> None:
        self._row_kinds = kinds
        self._attributed_rows = None

    def key_codes(self, column: str) -> tuple[np.ndarray, pd.Index]:
        """Integer codes of a key column and its distinct non-null values; null gets code ``len(uniques)``."""
        return self._key(column).codes, self._key(column).uniques

    def has_nulls(self, column: str) -> bool:
        """Whether the column has a null (no extra pass over the rows)."""
        return self._key(column).has_null

    def categorical(self, column: str, rows: np.ndarray) -> pd.Categorical:
        """The column at ``rows`` as a Categorical built from the cached codes (cheap to look up by)."""
        key = self._key(column)
        codes = key.codes[rows]
        if key.has_null:
            codes = np.where(codes == len(key.uniques), -1, codes)
        return pd.Categorical.from_codes(codes, categories=key.uniques, validate=False)

    def _key(self, column: str) -> _KeyCodes:
        if column not in self._codes:
            codes, uniques = pd.factorize(self.frame[column])
            null = codes < 0
            has_null = bool(null.any())
            # Null keys form a group of their own: rows with an unknown parent keep their spend.
            codes = np.where(null, len(uniques), codes) if has_null else codes
            self._codes[column] = _KeyCodes(codes.astype(np.int64, copy=False), pd.Index(uniques), has_null)
        return self._codes[column]

    def group_ids(self, keys: Sequence[str]) -> tuple[np.ndarray, int]:
        """A dense group id per row (numbered by first appearance) and the number of groups."""
        combined = np.zeros(len(self.frame), dtype=np.int64)
        cardinality = 1
        for key in keys:
            key_codes = self._key(key)
            size = len(key_codes.uniques) + 1
            codes = key_codes.codes
            if cardinality * size >= 2**62:
                combined, distinct = pd.factorize(combined)
                cardinality = max(len(distinct), 1)
            combined = combined * size + codes
            cardinality *= size
        ids, distinct = pd.factorize(combined)
        return ids.astype(np.int64, copy=False), len(distinct)

    def aggregate(self, by: Sequence[str], carry: Sequence[str] = ()) -> pd.DataFrame:
        """Like :func:`aggregate`; ``carry`` columns are taken from each group's first row.

        Only carry columns that are functions of the keys (e.g. the local hour
        of a UTC hour within one advertiser): they are not checked.
        """
        groups = self.groups(by, carry)
        return pd.DataFrame(groups.columns, copy=False)

    def groups(self, by: Sequence[str], carry: Sequence[str] = ()) -> Groups:
        """The summed columns of each group, plus which input row each group starts at."""
        frame = self.frame
        keys = with_currency(by)
        missing = [column for column in [*keys, *carry] if column not in frame.columns]
        if missing:
            raise MissingColumnsError("aggregate() input", missing, f"it has {', '.join(map(str, frame.columns))}")
        if self.has_nulls(CURRENCY):
            raise MissingCurrencyError(int(frame[CURRENCY].isna().sum()), "aggregate()")
        ids, count = self.group_ids(keys) if len(frame) else (np.zeros(0, dtype=np.int64), 0)
        first_rows = _first_row_of_each_group(ids)
        # Every row its own group, in order (ad-level hourly stats): a plain copy beats
        # gathering and summing 8.8 M one-row groups. Copied, so editing the result
        # never edits the caller's stats.
        identity = count == len(frame)
        columns: dict[str, pd.api.extensions.ExtensionArray | np.ndarray] = {
            column: _values(frame[column]).copy() if identity else _values(frame[column]).take(first_rows)
            for column in [*keys, *carry]
        }
        for column in _present(frame, ADDITIVE_COLUMNS):
            # A missing value sums as 0 (a first-party row appended to the stats has no spend), so the copy
            # shortcut only applies to a column without one.
            if identity and frame[column].dtype == _sum_dtype(column) and not frame[column].hasnans:
                columns[column] = frame[column].to_numpy(copy=True)
                continue
            values = _as_float(frame[column], na_value=0.0)
            sums = values if identity else np.bincount(ids, weights=values, minlength=count)
            columns[column] = _typed_sum(column, sums)
        for column, values in self._attributed().items():
            sums = values if identity else np.bincount(ids, weights=values, minlength=count)
            columns[column] = _typed_sum(column, sums)
        if REACH in frame.columns:
            reach = _as_float(frame[REACH], na_value=np.nan)
            columns[REACH_LOWER_BOUND] = reach if identity else (
                pd.Series(reach).groupby(ids).max().reindex(range(count)).to_numpy())
        if SPREAD in frame.columns:
            spread = _as_float(frame[SPREAD], na_value=0.0)
            columns[SPREAD] = (spread if identity else np.bincount(ids, weights=spread, minlength=count)) > 0
        return Groups(columns=columns, first_rows=first_rows)

    def _attributed(self) -> dict[str, np.ndarray]:
        """Per-row TikTok-attributed purchases and revenue, unless the frame has them or no revenue at all.

        Computed once per grouper: every level and grain sums the same rows.
        """
        if self._attributed_rows is None:
            self._attributed_rows = self._attribute()
        return self._attributed_rows

    def _attribute(self) -> dict[str, np.ndarray]:
        frame = self.frame
        if TIKTOK_REVENUE in frame.columns:
            return {}
        present = [column for column in SOURCE_COLUMNS if column in frame.columns]
        if not present:
            return {}
        if len(present) < len(SOURCE_COLUMNS):
            missing = [column for column in SOURCE_COLUMNS if column not in frame.columns]
            raise MissingColumnsError("aggregate() input", missing, "TikTok-attributed revenue needs the web "
                                      "(purchases, purchase_value) and in-app (app_purchases, app_purchase_value) columns")
        if self.row_kinds is not None and len(self.row_kinds) != len(frame):
            raise ValueError(f"row_kinds has {len(self.row_kinds)} entries for {len(frame)} rows")
        sources = {column: _as_float(frame[column], na_value=0.0) for column in SOURCE_COLUMNS}
        return attributed(sources, self.row_kinds)


@dataclass(frozen=True)
class _KeyCodes:
    codes: np.ndarray
    uniques: pd.Index
    has_null: bool


@dataclass(frozen=True)
class Groups:
    """Aggregated columns (keys, carried columns, sums) and the input row each group starts at."""

    columns: dict[str, pd.api.extensions.ExtensionArray | np.ndarray]
    first_rows: np.ndarray

    def __len__(self) -> int:
        return len(self.first_rows)


def metric_columns(summed: Mapping[str, pd.Series | np.ndarray]) -> dict[str, np.ndarray]:
    """The metric columns :func:`with_metrics` adds, computed from summed columns (a frame or a dict)."""
    missing = _NEEDED_BASES - set(summed.keys())
    if missing:
        raise MissingColumnsError("with_metrics() input", missing, "pass the output of aggregate()")
    # Each base is converted to float once, not once per metric using it.
    bases = {column: _as_float(summed[column], na_value=np.nan) for column in _NEEDED_BASES}
    added: dict[str, np.ndarray] = {
        metric.name: safe_ratio(bases[metric.numerator], bases[metric.denominator], metric.scale)
        for metric in METRICS
    }
    if FIRST_PARTY_REVENUE in summed.keys():
        bases[TIKTOK_REVENUE] = _as_float(summed[TIKTOK_REVENUE], na_value=0.0)
        bases[FIRST_PARTY_REVENUE] = _as_float(summed[FIRST_PARTY_REVENUE], na_value=0.0)
        for metric in FIRST_PARTY_METRICS:
            added[metric.name] = safe_ratio(bases[metric.numerator], bases[metric.denominator], metric.scale)
        added[REVENUE_DISCREPANCY] = safe_ratio(
            bases[TIKTOK_REVENUE] - bases[FIRST_PARTY_REVENUE], bases[FIRST_PARTY_REVENUE])
    return added


def with_metrics(summed: pd.DataFrame) -> pd.DataFrame:
    """``summed`` (from :func:`aggregate`) plus the ratio metrics of DESIGN.md, computed row by row.

    Adds ``ctr, cpc, cpm, cpa, roas, ipm, cpi, click_to_install_rate,
    conversion_rate`` (ROAS on ``tiktok_revenue``, :mod:`.revenue`'s rule).
    When ``first_party_revenue`` is present it also adds ``tiktok_roas``
    (= ``roas``), ``first_party_roas`` and ``revenue_discrepancy`` =
    (tiktok_revenue − first_party_revenue) / first_party_revenue: positive when
    TikTok claims more revenue than the shop recorded for its clicks (the usual
    case: view-through and cross-device credit), negative when the shop saw
    more. Null where first-party revenue is zero.
    """
    added = metric_columns(summed)
    existing = {column: summed[column] for column in summed.columns if column not in added}
    return pd.DataFrame({**existing, **added}, index=summed.index, copy=False)


def _present(frame: pd.DataFrame, columns: Iterable[str]) -> list[str]:
    return [column for column in columns if column in frame.columns]


def _values(column: pd.Series) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """The column's data without a copy: numpy for numpy dtypes (cheap to rebuild a frame from), else the array."""
    if isinstance(column.dtype, np.dtype):
        return column.to_numpy(copy=False)
    return column.array


def _as_float(values: np.ndarray | pd.Series | pd.api.extensions.ExtensionArray, *, na_value: float) -> np.ndarray:
    """float64 values with nulls as ``na_value``, without pandas' generic null scan for plain numeric arrays."""
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "biu":
        return np.asarray(values, dtype=np.float64)
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        array = np.asarray(values, dtype=np.float64)
        if not np.isnan(na_value):
            nulls = np.isnan(array)
            if nulls.any():
                array = np.where(nulls, na_value, array)
        return array
    return pd.Series(values).to_numpy(dtype=np.float64, na_value=na_value)


def _sum_dtype(column: str) -> np.dtype:
    return np.dtype(np.int64) if column in ADDITIVE_COUNT_COLUMNS else np.dtype(np.float64)


def _typed_sum(column: str, sums: np.ndarray) -> np.ndarray:
    """Counts back to int64 (bincount sums in float64), money as float64."""
    if column in ADDITIVE_COUNT_COLUMNS:
        if sums.size and np.abs(sums).max() >= _EXACT_FLOAT_LIMIT:
            raise OverflowError(f"{column} sums beyond 2**53 cannot be added exactly; aggregate smaller groups")
        return np.rint(sums).astype(np.int64)
    return sums


def _first_row_of_each_group(ids: np.ndarray) -> np.ndarray:
    """Row positions where each group first appears, in group-id order.

    Group ids are numbered by first appearance, so a row starts a new group
    exactly when its id exceeds every id before it.
    """
    if ids.size == 0:
        return np.zeros(0, dtype=np.int64)
    seen = np.maximum.accumulate(ids)
    starts = np.empty(ids.size, dtype=bool)
    starts[0] = True
    starts[1:] = ids[1:] > seen[:-1]
    return np.flatnonzero(starts)
