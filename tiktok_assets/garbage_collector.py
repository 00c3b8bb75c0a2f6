"""Pausing the cyclic garbage collector while bulk code builds many small objects (postbacks, simulator)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small objects.

    On Python 3.11, allocating a million dicts and dataclasses triggers full
    collections that walk the whole (growing) heap; events and payloads form no
    reference cycles, so those passes are pure cost (payload building measured
    73k events/s with them, 135k without). Reference counting still frees
    everything. The switch is process-wide: a concurrent thread at worst runs
    with the collector paused or resumed a little early, which only moves time.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
