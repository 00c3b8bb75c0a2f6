from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tiktok_assets.spend.settle import PullRecord, age_in_days, is_settled, local_today, repull_dates

TODAY = date(2026, 11, 20)


def test_age_counts_whole_days_since_the_day_ended() -> None:
    assert age_in_days(date(2026, 11, 19), TODAY) == 0
    assert age_in_days(date(2026, 11, 13), TODAY) == 6
    assert age_in_days(TODAY, TODAY) == -1


def test_local_today_differs_across_zones_at_the_same_instant() -> None:
    instant = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
    assert local_today("Asia/Tokyo", instant) == date(2026, 11, 21)
    assert local_today("America/Los_Angeles", instant) == date(2026, 11, 20)


def test_window_is_yesterday_back_to_the_day_that_ages_out_today() -> None:
    # settle 7: yesterday (age 0) .. Nov 12 (age 7, aging out today).
    assert repull_dates(TODAY, 7, []) == [date(2026, 11, day) for day in range(12, 20)]


def test_a_day_is_settled_only_after_an_unchanged_pull_past_the_window() -> None:
    nov_10 = date(2026, 11, 10)  # age 9 today
    pulled_inside_window = PullRecord(nov_10, pulled_on=date(2026, 11, 16), changed=False)  # age 5 at pull
    changed_after = PullRecord(nov_10, pulled_on=date(2026, 11, 18), changed=True)  # age 7, but moved
    final = PullRecord(nov_10, pulled_on=date(2026, 11, 19), changed=False)  # age 8, no change
    assert not is_settled(pulled_inside_window, TODAY, 7)
    assert not is_settled(changed_after, TODAY, 7)
    assert is_settled(final, TODAY, 7)
    assert nov_10 in repull_dates(TODAY, 7, [changed_after])
    assert nov_10 not in repull_dates(TODAY, 7, [final])


def test_settle_window_bounds() -> None:
    with pytest.raises(ValueError, match="1 to 28 days"):
        repull_dates(TODAY, 0, [])
    with pytest.raises(ValueError, match="1 to 28 days"):
        repull_dates(TODAY, 29, [])
    assert len(repull_dates(TODAY, 28, [])) == 29


def test_begun_and_planned_dates_filter_what_a_run_asked_for() -> None:
    from tiktok_assets.spend.settle import begun_dates, planned_dates

    today = date(2026, 3, 30)
    assert begun_dates([date(2026, 3, 31), today, date(2026, 3, 29), today], today) == [date(2026, 3, 29), today]
    old = date(2026, 3, 1)
    settled = PullRecord(old, date(2026, 3, 20), changed=False)
    asked = [old, date(2026, 3, 2), date(2026, 3, 29)]
    # The settled day and the never-pulled old one are left out; yesterday is in the window.
    assert planned_dates(asked, today, 7, [settled]) == [date(2026, 3, 29)]
    assert planned_dates([], today, 7, []) == []
