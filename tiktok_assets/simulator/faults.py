"""Injectable faults: what a flaky gateway or a busy TikTok does to requests.

``inject(kind, count, path_contains)`` queues faults for the next matching
requests (first queued, first served); ``random(seed, rate, kinds)`` adds a
seeded random schedule on top. The simulator asks :meth:`FaultInjector.take`
once per request.

What each kind does, in-process (httpx transport) and over the socket:

=====================  ==============================================================
``http_500/502/503``   real HTTP status with an HTML body (gateway failure)
``timeout``            the request **is processed**, then the answer is lost:
                       in-process ``httpx.ReadTimeout``; over the socket the server
                       waits ``timeout_seconds`` before answering
``connection_reset``   the request is **not processed**: in-process
                       ``httpx.RemoteProtocolError``; over the socket the
                       connection closes mid-response
``truncated``          a valid answer's body cut in half
``rate_limit``         HTTP 200 with body code 40100, request not processed
``advertiser_rate_limit``  HTTP 200 with body code 40133 (TikTok's per-advertiser QPS limit, its message),
                       request not processed
``http_429``           HTTP 429 with a plain-text body, as a gateway in front of TikTok throttles; not processed
``server_error``       HTTP 200 with body code 50000 "System error.", request not processed
``total_page_change``  ``page_info.total_page`` is one more than the truth
``empty_page``         ``data.list`` is empty although ``page_info`` says more
=====================  ==============================================================
"""

from __future__ import annotations

import enum
import random as _random
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass


class FaultKind(enum.StrEnum):
    HTTP_500 = "http_500"
    HTTP_502 = "http_502"
    HTTP_503 = "http_503"
    TIMEOUT = "timeout"
    CONNECTION_RESET = "connection_reset"
    TRUNCATED = "truncated"
    RATE_LIMIT = "rate_limit"
    ADVERTISER_RATE_LIMIT = "advertiser_rate_limit"
    HTTP_429 = "http_429"
    SERVER_ERROR = "server_error"
    TOTAL_PAGE_CHANGE = "total_page_change"
    EMPTY_PAGE = "empty_page"

    @property
    def http_status(self) -> int | None:
        return {"http_500": 500, "http_502": 502, "http_503": 503}.get(self.value)


FAULT_KINDS: tuple[FaultKind, ...] = tuple(FaultKind)
# Faults answered before the request reaches an endpoint (nothing is processed).
GATEWAY_FAULTS = frozenset({FaultKind.HTTP_500, FaultKind.HTTP_502, FaultKind.HTTP_503, FaultKind.CONNECTION_RESET,
                            FaultKind.RATE_LIMIT, FaultKind.ADVERTISER_RATE_LIMIT, FaultKind.HTTP_429, FaultKind.SERVER_ERROR})


def parse_kind(kind: str | FaultKind) -> FaultKind:
    try:
        return FaultKind(kind)
    except ValueError:
        raise ValueError(f"Unknown fault kind {kind!r}: use one of {', '.join(k.value for k in FaultKind)}") from None


@dataclass
class _Queued:
    kind: FaultKind
    remaining: int
    path_contains: str | None


@dataclass
class _RandomSchedule:
    rng: _random.Random
    rate: float
    kinds: tuple[FaultKind, ...]
    path_contains: str | None


class FaultInjector:
    """Fault schedules for the simulator; thread-safe."""

    def __init__(self, timeout_seconds: float = 5.0) -> None:
        self.timeout_seconds = timeout_seconds
        """How long the socket server stalls on a ``timeout`` fault: set it above the client's timeout."""
        self._lock = threading.Lock()
        self._queue: list[_Queued] = []
        self._random: _RandomSchedule | None = None
        self.delivered: Counter[FaultKind] = Counter()
        """Faults actually applied, by kind."""

    def inject(self, kind: str | FaultKind, count: int = 1, path_contains: str | None = None) -> None:
        """Fail the next ``count`` requests whose path contains ``path_contains`` (any path if None)."""
        if count < 1:
            raise ValueError(f"inject(count={count}): count must be at least 1")
        with self._lock:
            self._queue.append(_Queued(parse_kind(kind), count, path_contains))

    def random(self, seed: int, rate: float, kinds: Iterable[str | FaultKind] = FAULT_KINDS,
               path_contains: str | None = None) -> None:
        """Fail each matching request with probability ``rate``, kind drawn from ``kinds`` (seeded)."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"random(rate={rate}): rate must be between 0 and 1")
        parsed = tuple(parse_kind(kind) for kind in kinds)
        if not parsed:
            raise ValueError("random(kinds=...) needs at least one fault kind")
        with self._lock:
            self._random = _RandomSchedule(_random.Random(seed), rate, parsed, path_contains)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._random = None

    @property
    def pending(self) -> int:
        with self._lock:
            return sum(item.remaining for item in self._queue)

    def take(self, path: str) -> FaultKind | None:
        """The fault for this request, if any (consumes it)."""
        with self._lock:
            for item in self._queue:
                if item.path_contains is None or item.path_contains in path:
                    item.remaining -= 1
                    if item.remaining == 0:
                        self._queue.remove(item)
                    self.delivered[item.kind] += 1
                    return item.kind
            schedule = self._random
            if schedule and (schedule.path_contains is None or schedule.path_contains in path):
                if schedule.rng.random() < schedule.rate:
                    kind = schedule.rng.choice(schedule.kinds)
                    self.delivered[kind] += 1
                    return kind
            return None
