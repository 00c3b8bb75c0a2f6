"""The metrics run's slicing, now a pure function of the domain (issue 16, defect 8)."""

from datetime import date, timedelta

from tiktok_assets.metrics.compute import SLICE_DAYS, date_slices


def test_slices_hold_the_runs_distinct_dates_and_span_at_most_slice_days() -> None:
    start = date(2026, 1, 1)
    year = [start + timedelta(days=offset) for offset in range(365)]
    slices = date_slices({"7001": year, "7002": year[::7]})

    assert [day for days in slices for day in days] == year  # each date once, in order
    assert all((days[-1] - days[0]).days < SLICE_DAYS for days in slices)
    assert len(slices) == -(-365 // SLICE_DAYS)


def test_a_gap_longer_than_a_slice_starts_a_new_one_and_no_dates_make_no_slice() -> None:
    assert date_slices({"7001": [date(2026, 1, 1), date(2026, 1, 2)], "7002": [date(2026, 3, 1)]}) == [
        [date(2026, 1, 1), date(2026, 1, 2)], [date(2026, 3, 1)]]
    assert date_slices({}) == []
