"""Serve a benchmark-sized simulator world on loopback in its own process, at a fixed simulated time.

``python -m bench._sim_server --ads 1000`` prints ``READY <base URL>`` once listening. A separate
process keeps the simulator's CPU and memory out of the figures of the code being measured.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from tiktok_assets.simulator import SimClock, Simulator, World, serve

from bench._common import SIM_NOW


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ads", type=int, default=1000)
    parser.add_argument("--advertisers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--now", default=SIM_NOW.isoformat(), help="the fixed simulated time (ISO, with offset)")
    options = parser.parse_args()
    world = World.sized(n_ads=options.ads, n_advertisers=options.advertisers, seed=options.seed)
    sim = Simulator(world=world, clock=SimClock(fixed=datetime.fromisoformat(options.now)), qps=None)
    with serve(sim) as base_url:
        print(f"READY {base_url}", flush=True)
        # Stop when the parent closes our stdin (it exited or is done with us).
        sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
