"""Counter-based random numbers: every draw is a pure function of (seed, stream, a, b).

The world must compute any (ad, hour) cell directly, in any order, without
replaying a sequential generator from some origin; so instead of a stateful
RNG each value hashes its coordinates with SplitMix64's finaliser (a
bijective 64-bit mixer with full avalanche). Vectorised over numpy arrays.
"""

from __future__ import annotations

import numpy as np

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MUL_A = np.uint64(0xD6E8FEB86659FD93)
_MUL_B = np.uint64(0xA0761D6478BD642F)
_TWO_PI = 2.0 * np.pi


def _mix_scalar(value: int) -> int:
    value &= _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


def _mix(values: np.ndarray) -> np.ndarray:
    # uint64 array arithmetic wraps modulo 2**64, which is what the mixer wants.
    values = (values ^ (values >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    values = (values ^ (values >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return values ^ (values >> np.uint64(31))


def stream_key(seed: int, stream: int) -> np.uint64:
    """A 64-bit key for one named stream of one world."""
    return np.uint64(_mix_scalar(_mix_scalar(seed * _GOLDEN + 1) + stream * _GOLDEN))


def cell_hash(key: np.uint64, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """64-bit hashes of the cells (a, b), broadcasting a against b."""
    a64 = np.asarray(a).astype(np.uint64)
    b64 = np.asarray(b).astype(np.uint64)
    return _mix(_mix(a64 * _MUL_A + key) ^ (b64 * _MUL_B))


def uniform(key: np.uint64, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Uniform floats in the open interval (0, 1), one per cell."""
    bits = cell_hash(key, a, b) >> np.uint64(11)
    return (bits.astype(np.float64) + 0.5) * (1.0 / (1 << 53))


def normal_pair(key: np.uint64, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two independent standard normals per cell (Box-Muller on one 64-bit hash split in halves)."""
    bits = cell_hash(key, a, b)
    low = ((bits & np.uint64(0xFFFFFFFF)).astype(np.float64) + 0.5) * (1.0 / 4294967296.0)
    high = ((bits >> np.uint64(32)).astype(np.float64) + 0.5) * (1.0 / 4294967296.0)
    radius = np.sqrt(-2.0 * np.log(low))
    angle = _TWO_PI * high
    return radius * np.cos(angle), radius * np.sin(angle)
