"""The simulator's notion of "now": real time, or a frozen time tests move by hand."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


def _require_aware(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (e.g. datetime(..., tzinfo=UTC)), got naive {moment!r}")
    return moment.astimezone(UTC)


class SimClock:
    """``SimClock()`` follows real time; ``SimClock(fixed=dt)`` stays at ``dt`` until moved.

    ``set`` and ``advance`` work on both: a real-time clock keeps ticking from
    the new point (it stores an offset), a frozen one stays frozen there.
    Thread-safe: the HTTP server reads it from worker threads while a test moves it.
    """

    def __init__(self, fixed: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._fixed = _require_aware(fixed, "SimClock(fixed=...)") if fixed is not None else None
        self._offset = timedelta(0)

    @property
    def frozen(self) -> bool:
        return self._fixed is not None

    def now(self) -> datetime:
        with self._lock:
            if self._fixed is not None:
                return self._fixed
            return datetime.now(UTC) + self._offset

    def set(self, moment: datetime) -> None:
        moment = _require_aware(moment, "SimClock.set(...)")
        with self._lock:
            if self._fixed is not None:
                self._fixed = moment
            else:
                self._offset = moment - datetime.now(UTC)

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            if self._fixed is not None:
                self._fixed = self._fixed + delta
            else:
                self._offset = self._offset + delta

    def __repr__(self) -> str:
        mode = "frozen" if self.frozen else "real-time"
        return f"SimClock({mode}, now={self.now().isoformat()})"
