"""The stats import's fetch pipeline (spend.pipeline): results in order, errors surface, nothing left running; slices."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tiktok_assets.spend.pipeline import prefetched, slices_of


def test_results_come_back_in_input_order_whatever_finishes_first() -> None:
    def slow_for_small(value: int) -> int:
        time.sleep(0.01 * (5 - value))
        return value * 10

    with ThreadPoolExecutor(max_workers=3) as pool:
        assert list(prefetched(pool, slow_for_small, [1, 2, 3, 4], ahead=3)) == [10, 20, 30, 40]


def test_no_more_than_ahead_items_are_in_flight_beyond_the_one_consumed() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def record(value: int) -> int:
        with lock:
            started.append(value)
        return value

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = prefetched(pool, record, list(range(10)), ahead=2)
        assert next(results) == 0
        time.sleep(0.05)
        # Item 0 consumed, items 1 and 2 in flight: 3 is not started yet.
        assert sorted(started) == [0, 1, 2]
        results.close()


def test_an_error_in_a_fetch_reaches_the_caller() -> None:
    def fail_on_two(value: int) -> int:
        if value == 2:
            raise ValueError("page 2 broke")
        return value

    with ThreadPoolExecutor(max_workers=2) as pool, pytest.raises(ValueError, match="page 2 broke"):
        list(prefetched(pool, fail_on_two, [1, 2, 3], ahead=2))


def test_dates_are_sorted_deduplicated_and_cut_into_slices_of_at_most_slice_days() -> None:
    from datetime import date, timedelta

    import pandas as pd

    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(65)]
    slices = slices_of("profile", pd.DataFrame(), [*reversed(days), days[3]], slice_days=30)
    assert [len(piece.dates) for piece in slices] == [30, 30, 5]
    assert [day for piece in slices for day in piece.dates] == days
    with pytest.raises(ValueError, match="slice_days"):
        slices_of("profile", pd.DataFrame(), days, slice_days=0)
