"""AUDIENCE breakdowns and lifetime totals of BASIC report frames.

TikTok's AUDIENCE report splits each entity's day by who saw the ad (age × gender,
country, platform, province...). The simulator derives it from the BASIC frame, so a
breakdown always sums to its BASIC total: every additive metric of a row is split over
the breakdown's cells with one deterministic set of weights per (entity, day), by the
largest-remainder method (integers stay integers, money stays in minor units).
Ratios (ctr, cpc, cpm) are recomputed per cell from the split sums, as TikTok does.

Dimension values: age and gender as Airbyte's recorded AUDIENCE answer has them
(airbytehq/airbyte source-tiktok-marketing unit_tests/resource/http/response/
advertisers_audience_reports_lifetime.json: "AGE_35_44", "AGE_55_100", "MALE", "FEMALE");
country_code ISO 3166 alpha-2; platform and province_id are UNCONFIRMED
(tiktok_assets_tests/contract/FACTS.md section 9).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tiktok_assets.simulator import counters

# Each value with its share of an average account's delivery (before the per-(entity, day) jitter).
AUDIENCE_VALUES: dict[str, dict[str, float]] = {
    "age": {"AGE_13_17": 0.04, "AGE_18_24": 0.31, "AGE_25_34": 0.33, "AGE_35_44": 0.17, "AGE_45_54": 0.09,
            "AGE_55_100": 0.06},
    "gender": {"FEMALE": 0.52, "MALE": 0.45, "NONE": 0.03},
    "country_code": {"US": 0.55, "GB": 0.12, "CA": 0.09, "DE": 0.08, "FR": 0.07, "AU": 0.06, "JP": 0.03},
    "platform": {"ANDROID": 0.46, "IPHONE": 0.44, "IPAD": 0.04, "PC": 0.04, "OTHERS": 0.02},
    "province_id": {"5332921": 0.2, "5128638": 0.16, "4736286": 0.14, "4155751": 0.12, "4896861": 0.1,
                    "5165418": 0.1, "6254927": 0.09, "4197000": 0.09},
    "placement": {"PLACEMENT_TIKTOK": 0.82, "PLACEMENT_PANGLE": 0.12, "PLACEMENT_GLOBAL_APP_BUNDLE": 0.06},
}
AUDIENCE_DIMENSIONS = tuple(AUDIENCE_VALUES)
# BASIC reports take country_code beside the id and time dimensions (Airbyte's *_reports_by_country_* streams).
BASIC_EXTRA_DIMENSIONS = ("country_code",)
# Additive columns of a report frame, and how each is split: money in minor units.
COUNTS = ("impressions", "clicks", "conversion", "app_install", "complete_payment", "purchase")
MONEY = ("spend", "total_complete_payment_rate", "total_purchase_value")
_KEY = counters.stream_key(0x5EED_B0D1E5, 41)


def cells(dimensions: Sequence[str]) -> tuple[list[tuple[str, ...]], np.ndarray]:
    """Every combination of the dimensions' values, and its base share (a product: they sum to 1)."""
    combos: list[tuple[str, ...]] = [()]
    shares = np.ones(1)
    for name in dimensions:
        values = AUDIENCE_VALUES[name]
        combos = [(*combo, value) for combo in combos for value in values]
        shares = (shares[:, None] * np.array(list(values.values()))[None, :] / sum(values.values())).ravel()
    return combos, shares


def weights(entity_keys: np.ndarray, day_keys: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Per row (entity, day), the cells' weights: the base shares jittered ±35%, normalised to 1."""
    cell = np.arange(len(shares), dtype=np.int64)
    row = (entity_keys.astype(np.uint64) ^ (day_keys.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)))
    jitter = counters.uniform(_KEY, row.view(np.int64)[:, None], cell[None, :])
    raw = shares[None, :] * (0.65 + 0.7 * jitter)
    return raw / raw.sum(axis=1, keepdims=True)


def split_integers(totals: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Split each row's non-negative integer total over its cells; each row sums exactly to its total."""
    totals = totals.astype(np.int64)
    exact = totals[:, None] * weights
    base = np.floor(exact).astype(np.int64)
    short = totals - base.sum(axis=1)
    # The cells with the largest fractional parts get the leftover units (rank 0 = largest).
    rank = np.argsort(np.argsort(-(exact - base), axis=1, kind="stable"), axis=1, kind="stable")
    return base + (rank < short[:, None])


def split(frame: pd.DataFrame, id_dimension: str, dimensions: Sequence[str], decimals: int) -> pd.DataFrame:
    """The frame's rows broken down by ``dimensions``: columns id, stat_time (if any), the dimensions, metrics.

    Cells where every additive metric is 0 are left out (TikTok serves no row for them).
    """
    combos, shares = cells(dimensions)
    n_rows, n_cells = len(frame), len(combos)
    ids = frame[id_dimension].to_numpy().astype(str)
    entity_keys = pd.util.hash_array(ids.astype(object)).astype(np.uint64)
    has_time = "stat_time" in frame.columns
    day_keys = (frame["stat_time"].to_numpy(dtype="datetime64[D]").astype(np.int64) if has_time
                else np.zeros(n_rows, dtype=np.int64))
    w = weights(entity_keys, day_keys, shares)
    scale = 10.0 ** decimals
    parts: dict[str, np.ndarray] = {}
    for name in COUNTS:
        parts[name] = split_integers(frame[name].to_numpy(), w).ravel()
    for name in MONEY:
        minor = np.rint(frame[name].to_numpy(dtype=np.float64) * scale)
        parts[name] = split_integers(minor, w).ravel() / scale
    out: dict[str, np.ndarray] = {id_dimension: np.repeat(frame[id_dimension].to_numpy(), n_cells)}
    if has_time:
        out["stat_time"] = np.repeat(frame["stat_time"].to_numpy(), n_cells)
    for index, name in enumerate(dimensions):
        out[name] = np.tile(np.array([combo[index] for combo in combos], dtype=object), n_rows)
    out.update(parts)
    reach = frame["reach"].to_numpy(dtype=np.float64)
    # Reach is people, not additive: a cell's reach follows its share of impressions, at least 1 if it delivered.
    out["reach"] = np.where(parts["impressions"] > 0, np.maximum(1.0, np.floor(np.repeat(reach, n_cells) * w.ravel())),
                            np.where(np.isnan(np.repeat(reach, n_cells)), np.nan, 0.0))
    result = pd.DataFrame(out)
    result = with_ratios(result, decimals)
    kept = np.zeros(len(result), dtype=bool)
    for name in (*COUNTS, *MONEY):
        kept |= result[name].to_numpy() > 0
    return result[kept].reset_index(drop=True)


def with_ratios(frame: pd.DataFrame, decimals: int) -> pd.DataFrame:
    """ctr, cpc and cpm recomputed from the frame's sums (as :meth:`World._build_frame` computes them)."""
    impressions = frame["impressions"].to_numpy(dtype=np.float64)
    clicks = frame["clicks"].to_numpy(dtype=np.float64)
    spend = frame["spend"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["ctr"] = np.where(impressions > 0, np.round(clicks / impressions * 100.0, 2), np.nan)
        frame["cpc"] = np.where(clicks > 0, np.round(spend / clicks, decimals), np.nan)
        frame["cpm"] = np.where(impressions > 0, np.round(spend / impressions * 1000.0, decimals), np.nan)
    return frame


def lifetime(frames: Sequence[pd.DataFrame], id_dimension: str, decimals: int) -> pd.DataFrame:
    """Daily frames summed per entity over all their days: the ``query_lifetime=true`` rows (no stat_time).

    Reach over many days is deduplicated like :func:`stats.rolled_up_reach`: 85% of the summed daily
    reach, never below the largest day's.
    """
    frames = [frame for frame in frames if not frame.empty]
    if not frames:
        columns = [id_dimension, *COUNTS, *MONEY, "reach", "ctr", "cpc", "cpm"]
        return pd.DataFrame({name: pd.Series(dtype=object if name == id_dimension else np.float64)
                             for name in columns})
    whole = pd.concat(frames, ignore_index=True)
    grouped = whole.groupby(id_dimension, sort=True)
    summed = grouped[[*COUNTS, *MONEY]].sum()
    for name in MONEY:
        summed[name] = np.round(summed[name], decimals)
    reach_sum, reach_max = grouped["reach"].sum(min_count=1), grouped["reach"].max()
    summed["reach"] = np.maximum(reach_max, np.floor(reach_sum * 0.85))
    result = summed.reset_index()
    return with_ratios(result, decimals)
