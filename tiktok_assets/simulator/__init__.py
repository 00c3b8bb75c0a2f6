"""The embedded TikTok Business API v1.3 simulator: a deterministic world served over HTTP or in-process.

    sim = Simulator(world=World(seed=7), clock=SimClock(fixed=now))
    sim.realism = Realism(omit_page_info=frozenset({"/ad/get/"}))   # answers shaped as real ones can be
    client = httpx.Client(base_url="http://sim", transport=sim.transport())
    with serve(sim) as base_url: ...        # a real socket on 127.0.0.1

``python -m tiktok_assets.simulator --port 8765`` serves it from the command line.
"""

from tiktok_assets.simulator.app import DEFAULT_ACCESS_TOKEN, SimResponse, Simulator
from tiktok_assets.simulator.clock import SimClock
from tiktok_assets.simulator.faults import FaultKind
from tiktok_assets.simulator.realism import Realism
from tiktok_assets.simulator.server import serve
from tiktok_assets.simulator.world import World

__all__ = ["DEFAULT_ACCESS_TOKEN", "FaultKind", "Realism", "SimClock", "SimResponse", "Simulator", "World", "serve"]
