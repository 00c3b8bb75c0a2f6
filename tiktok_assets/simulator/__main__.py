"""``python -m tiktok_assets.simulator``: serve the TikTok Business API simulator on loopback."""

from __future__ import annotations

import argparse
import sys
import threading

from tiktok_assets.simulator.app import DEFAULT_ACCESS_TOKEN, Simulator
from tiktok_assets.simulator.realism import ROUTES_WITH_PAGE_INFO, Realism
from tiktok_assets.simulator.server import serve
from tiktok_assets.simulator.world import World


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tiktok_assets.simulator", description=__doc__)
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0 picks a free one; default 8765)")
    parser.add_argument("--seed", type=int, default=7, help="world seed (default 7)")
    parser.add_argument("--settle-days", type=int, default=7, help="days until a day's values stop changing (default 7)")
    parser.add_argument("--qps", type=float, default=50.0, help="rate limit per token; 0 disables it (default 50)")
    parser.add_argument("--burst", type=int, default=100, help="rate-limit burst per token (default 100)")
    parser.add_argument("--ads", type=int, default=None,
                        help="total ads (spread over --advertisers) for a benchmark-sized world; default: the small demo world")
    parser.add_argument("--advertisers", type=int, default=None, help="number of advertisers (default 4, or 2 with --ads)")
    parser.add_argument("--loose", action="store_true",
                        help="answer in every looser shape real answers take: numbers where recorded rows have them, "
                             "nulls, ids as JSON numbers, message 'ok', no request_id, no page_info")
    parser.add_argument("--show-deleted", action="store_true",
                        help="serve deleted entities and their rows without a status filter (TikTok hides them)")
    return parser


def realism_from(options: argparse.Namespace) -> Realism:
    if not options.loose:
        return Realism(hide_deleted=not options.show_deleted)
    return Realism(hide_deleted=not options.show_deleted, omit_page_info=ROUTES_WITH_PAGE_INFO, integer_counts=True,
                   null_metrics=True, numeric_ids=True, lowercase_ok=True, omit_request_id=True)


def main(argv: list[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    if options.ads is not None:
        world = World.sized(n_ads=options.ads, n_advertisers=options.advertisers or 2, seed=options.seed,
                            settle_days=options.settle_days)
    else:
        world = World(seed=options.seed, n_advertisers=options.advertisers or 4, settle_days=options.settle_days)
    sim = Simulator(world=world, qps=options.qps or None, burst=options.burst, realism=realism_from(options))
    with serve(sim, port=options.port) as base_url:
        print(f"TikTok Business API simulator: {base_url}/open_api/v1.3/  ({world!r})")
        print(f"TIKTOK_API_BASE_URL={base_url}")
        print(f"Access-Token: {DEFAULT_ACCESS_TOKEN}  (a fake token that only this simulator accepts)")
        print("Ctrl-C to stop.", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopping")
    return 0


if __name__ == "__main__":
    sys.exit(main())
