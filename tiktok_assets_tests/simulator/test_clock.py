"""SimClock: frozen or real time, moved by set/advance, always aware UTC."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tiktok_assets.simulator import SimClock

MOMENT = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)


def test_frozen_clock_moves_only_when_told() -> None:
    clock = SimClock(fixed=MOMENT)
    assert clock.now() == MOMENT and clock.now() == MOMENT
    clock.advance(timedelta(hours=49))
    assert clock.now() == datetime(2026, 11, 22, 13, 30, tzinfo=UTC)
    clock.set(datetime(2027, 1, 1, 9, 0, tzinfo=timezone(timedelta(hours=9))))
    assert clock.now() == datetime(2027, 1, 1, 0, 0, tzinfo=UTC)
    assert clock.now().tzinfo is UTC


def test_real_time_clock_ticks_from_where_it_was_set() -> None:
    clock = SimClock()
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)
    clock.set(MOMENT)
    assert timedelta(0) <= clock.now() - MOMENT < timedelta(seconds=5)
    clock.advance(timedelta(days=2))
    assert timedelta(days=2) <= clock.now() - MOMENT < timedelta(days=2, seconds=5)
    assert not clock.frozen


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SimClock(fixed=datetime(2026, 11, 20))
    with pytest.raises(ValueError, match="timezone-aware"):
        SimClock().set(datetime(2026, 11, 20))


def test_concurrent_advances_are_not_lost() -> None:
    clock = SimClock(fixed=MOMENT)

    def tick() -> None:
        for _ in range(1000):
            clock.advance(timedelta(seconds=1))

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert clock.now() == MOMENT + timedelta(seconds=4000)
