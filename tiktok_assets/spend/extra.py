"""User-chosen metrics: which ones (configuration), how they are asked, and their rows (no Dagster import).

A user picks any BASIC metric TikTok documents beyond the core set (``pull.DAILY_METRICS``), by name, in
``TIKTOK_EXTRA_METRICS`` (comma-separated) and/or a YAML list in the file ``TIKTOK_EXTRA_METRICS_FILE``. Every
name is checked against ``tiktok_assets.tiktok.catalogue`` before anything is asked: a wrong name fails naming it
and the setting it came from. They are stored long (``warehouse.extra_metrics``): one row per ad, day and metric
under TikTok's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import yaml

from tiktok_assets.spend.pull import AdvertiserProfile, contiguous_ranges
from tiktok_assets.tiktok.catalogue import CATALOGUE, UnknownMetricError, check_metrics
from tiktok_assets.tiktok.client import TikTokClient
from tiktok_assets.tiktok.reports import ABSURD_METRIC_VALUE, REPORT_METRICS, parse_report_rows

EXTRA_METRICS_VARIABLE = "TIKTOK_EXTRA_METRICS"
EXTRA_METRICS_FILE_VARIABLE = "TIKTOK_EXTRA_METRICS_FILE"
# TikTok documents no limit on the number of metrics in one report request (the "metrics" field of "Run a
# synchronous report", docs?id=1740302848100353, via bububa/tiktok-business model/report/integrated_get.go); its
# 40067 "query too large" names "fewer metrics" as a remedy. We ask at most this many per request (our choice,
# UNCONFIRMED as a TikTok limit): a longer choice is split into several requests over the same days.
METRICS_PER_REQUEST = 50


class ExtraMetricsConfigError(ValueError):
    """The chosen metrics cannot be used; the message names the setting and the bad metric(s)."""


def parse_metric_list(text: str | None) -> list[str]:
    """``"video_watched_2s, likes"`` as names, in order, blanks dropped."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def read_metrics_file(path: str | Path) -> list[str]:
    """The YAML file's metric names: a list (``- likes``), or a mapping with a ``metrics`` list."""
    where = f"{EXTRA_METRICS_FILE_VARIABLE}={path}"
    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExtraMetricsConfigError(f"{where}: no such file; point it at a YAML list of TikTok metric names "
                                      "or unset it.") from None
    except yaml.YAMLError as error:
        raise ExtraMetricsConfigError(f"{where}: not valid YAML ({error}).") from None
    if loaded is None:
        return []  # an empty file: nothing chosen
    if isinstance(loaded, dict) and set(loaded) == {"metrics"}:
        loaded = loaded["metrics"] or []
    if not isinstance(loaded, list) or not all(isinstance(name, str) for name in loaded):
        raise ExtraMetricsConfigError(f"{where}: expected a YAML list of metric names (e.g. '- video_watched_2s'), "
                                      f"got {type(loaded).__name__}.")
    return [name.strip() for name in loaded if name.strip()]


def chosen_metrics(listed: str | None, file_path: str | None) -> list[str]:
    """The configured extra metrics: those listed, then those of the file, each once, checked against the
    catalogue (numbers only, valid at ad level). ``ExtraMetricsConfigError`` names the setting and the metric."""
    names: list[str] = []
    for where, found in ((EXTRA_METRICS_VARIABLE, parse_metric_list(listed)),
                         (f"{EXTRA_METRICS_FILE_VARIABLE}={file_path}",
                          read_metrics_file(file_path) if file_path else [])):
        try:
            names.extend(check_metrics(found, level="AD", numeric_only=True, where=where))
        except UnknownMetricError as error:
            raise ExtraMetricsConfigError(str(error)) from None
    return list(dict.fromkeys(names))


def metric_batches(metrics: Sequence[str], per_request: int = METRICS_PER_REQUEST) -> list[list[str]]:
    """The metrics in request-sized groups, in order."""
    if per_request < 1:
        raise ValueError(f"per_request must be at least 1, got {per_request}")
    return [list(metrics[at : at + per_request]) for at in range(0, len(metrics), per_request)]


ROW_COLUMNS = ("ad_id", "metric", "value", "currency")


def parse_extra_rows(rows: Sequence[dict[str, Any]], metrics: Sequence[str], currency: str,
                     advertiser_id: str | None = None) -> pd.DataFrame:
    """Daily AUCTION_AD report rows as long rows: ``stat_date`` plus ``ROW_COLUMNS``.

    A value TikTok serves as "-" (or null) is no row: it means "nothing to count" for a count and "undefined"
    for a rate, and neither is a number to store. Values are read by the report parser, so a non-numeric,
    infinite or absurd value fails naming the metric and the ad.
    """
    parsed = parse_report_rows(rows, id_dimension="ad_id", time_dimension="stat_time_day", metrics=metrics,
                               advertiser_id=advertiser_id)
    pieces = []
    for name in metrics:
        # The parser names the core metrics plainly (conversion -> conversions); everything else keeps TikTok's.
        values = parsed[REPORT_METRICS.get(name, name)].to_numpy(dtype="float64") if len(parsed) else np.array([])
        present = ~np.isnan(values)
        pieces.append(pd.DataFrame({"stat_date": parsed["stat_time"].dt.date[present] if len(parsed) else [],
                                    "ad_id": parsed["ad_id"][present].astype(str) if len(parsed) else [],
                                    "metric": name, "value": values[present]}))
    whole = pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame(columns=["stat_date", *ROW_COLUMNS])
    whole["currency"] = currency
    return whole[["stat_date", *ROW_COLUMNS]]


def fetch_extra_metrics(client: TikTokClient, advertiser: AdvertiserProfile, metrics: Sequence[str],
                        dates: Sequence[date], per_request: int = METRICS_PER_REQUEST) -> dict[date, pd.DataFrame]:
    """Each date's long rows of ``metrics`` for every ad (an empty frame where TikTok served nothing).

    One report per run of consecutive days and group of ``per_request`` metrics, paged and split by the client
    like every other report; deleted ads' rows are asked for too (the client's default status filter).
    """
    pieces = []
    for batch in metric_batches(list(metrics), per_request):
        rows = [row for start, end in contiguous_ranges(dates)
                for row in client.report(advertiser.advertiser_id, start=start, end=end, metrics=batch,
                                         data_level="AUCTION_AD", granularity="day")]
        pieces.append(parse_extra_rows(rows, batch, advertiser.currency, advertiser.advertiser_id))
    whole = pd.concat(pieces, ignore_index=True)
    return {day: whole[whole["stat_date"] == day].drop(columns="stat_date").reset_index(drop=True)
            for day in sorted(set(dates))}


_ADDITIVE_COUNTS = sorted(name for name, info in CATALOGUE.items() if info.additive and info.kind == "count")

extra_rows_schema = pa.DataFrameSchema(
    {
        "ad_id": pa.Column(str, pa.Check.str_length(min_value=1)),
        "metric": pa.Column(str, pa.Check.isin(sorted(name for name, info in CATALOGUE.items()
                                                       if info.kind != "text"))),
        "value": pa.Column(float, pa.Check(lambda values: np.isfinite(values) & (np.abs(values) < ABSURD_METRIC_VALUE),
                                           name="finite_and_plausible", element_wise=False)),
        "currency": pa.Column(str, pa.Check.str_matches(r"^[A-Z]{3}$")),
    },
    checks=[
        pa.Check(lambda frame: ~frame["metric"].isin(_ADDITIVE_COUNTS) | (frame["value"] >= 0),
                 name="additive_counts_non_negative", error="an additive count is negative"),
        pa.Check(lambda frame: ~frame["metric"].isin(_ADDITIVE_COUNTS) | (frame["value"] == np.floor(frame["value"])),
                 name="additive_counts_whole", error="an additive count is not a whole number"),
    ],
    unique=["ad_id", "metric"],
    strict=False,
    coerce=True,
    name="ad_metrics_extra_rows",
)


def extra_schema_failures(advertiser_id: str, frames: dict[date, pd.DataFrame]) -> pd.DataFrame:
    """pandera's failure cases of each partition's rows, labelled with the partition ``date|advertiser``."""
    found = []
    for day, frame in sorted(frames.items()):
        if frame.empty:
            continue
        try:
            extra_rows_schema.validate(frame, lazy=True)
        except pa.errors.SchemaErrors as errors:
            found.append(errors.failure_cases.assign(partition=f"{day}|{advertiser_id}"))
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame()
