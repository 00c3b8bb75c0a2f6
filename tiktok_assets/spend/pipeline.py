"""The stats import's fetch pipeline: slices of days, fetched ahead on threads, validated per slice (no Dagster import).

A year-long backfill is fetched and written in slices of ``SLICE_DAYS`` so
memory stays flat; the next ``FETCH_AHEAD_SLICES`` slices are fetched and
parsed on worker threads while the current one is validated and written, so
the API wait, our parsing and the database overlap instead of taking turns.
Writes stay on the caller's thread, in order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from itertools import islice
from typing import Generic, TypeVar

import numpy as np
import pandas as pd

from tiktok_assets.spend.schemas import schema_failures

# Days fetched and written together: bounds memory in a year-long backfill.
SLICE_DAYS = 30
# Slices fetched ahead on worker threads while the current one is written.
FETCH_AHEAD_SLICES = 2

T = TypeVar("T")
R = TypeVar("R")
P = TypeVar("P")


@dataclass(frozen=True)
class Slice(Generic[P]):
    """Consecutive work of one advertiser: its profile (or whatever the fetch needs), parents and sorted dates."""

    profile: P
    parents: pd.DataFrame
    dates: tuple[date, ...]


def slices_of(profile: P, parents: pd.DataFrame, dates: Iterable[date], slice_days: int = SLICE_DAYS
              ) -> list[Slice[P]]:
    """The advertiser's dates, sorted, cut into slices of at most ``slice_days``."""
    if slice_days < 1:
        raise ValueError(f"slice_days must be at least 1, got {slice_days}")
    ordered = sorted(set(dates))
    return [Slice(profile, parents, tuple(ordered[start : start + slice_days]))
            for start in range(0, len(ordered), slice_days)]


def prefetched(pool: ThreadPoolExecutor, work: Callable[[T], R], items: Sequence[T], ahead: int) -> Iterator[R]:
    """``work(item)`` for each item, in order, with up to ``ahead`` items computed in advance on ``pool``."""
    if ahead < 1:
        raise ValueError(f"ahead must be at least 1, got {ahead}")
    pending: deque[Future[R]] = deque()
    upcoming = iter(items)
    for item in islice(upcoming, ahead):
        pending.append(pool.submit(work, item))
    try:
        while pending:
            result = pending.popleft().result()
            for item in islice(upcoming, 1):
                pending.append(pool.submit(work, item))
            yield result
    finally:
        # A failed or abandoned run must not keep fetching in the background.
        for future in pending:
            future.cancel()


def fetched_ahead(work: Callable[[T], R], items: Sequence[T], ahead: int = FETCH_AHEAD_SLICES
                  ) -> Iterator[tuple[T, R]]:
    """``(item, work(item))`` in order, ``ahead`` items fetched in advance on a pool of its own.

    ``work`` runs on worker threads: it must be thread-safe (the TikTok client,
    httpx and its rate limiter, are). Closing the iterator cancels what has not started.
    """
    with ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="tiktok-fetch") as pool:
        yield from zip(items, prefetched(pool, work, items, ahead), strict=True)


def slice_schema_failures(table: str, advertiser_id: str, frames: dict[date, pd.DataFrame]) -> pd.DataFrame:
    """pandera failures of a slice's partitions, validated together (one call per slice, not per partition),
    each labelled with its partition ``date|advertiser``.

    Keys are unique within a partition iff within the slice, because the
    partition's advertiser and date are part of every key.
    """
    non_empty = {day: frame for day, frame in frames.items() if not frame.empty}
    if not non_empty:
        return pd.DataFrame()
    together = pd.concat(non_empty.values(), ignore_index=True)
    failures = schema_failures(table, together)
    if failures.empty:
        return failures
    labels = np.repeat([f"{day}|{advertiser_id}" for day in non_empty], [len(frame) for frame in non_empty.values()])
    rows = pd.to_numeric(failures.get("index"), errors="coerce")
    failures["partition"] = [
        labels[int(row)] if pd.notna(row) and 0 <= row < len(labels) else f"{min(non_empty)}..{max(non_empty)}|{advertiser_id}"
        for row in rows
    ]
    return failures
