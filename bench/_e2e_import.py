"""The whole import of one day, as a user's process runs it: started fresh, Dagster imported, definitions built,
advertisers discovered, entities snapshotted per advertiser, daily + hourly stats in one run, on a Dagster
instance in ``$DAGSTER_HOME`` (what ``tiktok-assets demo`` does, without the derived reports and events).

``python -m bench._e2e_import --base-url URL --warehouse-url URL --day 2026-01-03`` (bench/end_to_end.py
starts it and measures the process from spawn to exit).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--warehouse-url", required=True)
    parser.add_argument("--day", type=date.fromisoformat, required=True)
    parser.add_argument("--qps", type=float, default=1000.0)
    options = parser.parse_args()

    import dagster as dg

    from tiktok_assets.definitions import build_definitions
    from tiktok_assets.defs.resources import TikTokApiResource, WarehouseResource
    from tiktok_assets.demo import materialize_recent

    defs = build_definitions(TikTokApiResource(base_url=options.base_url, qps=options.qps, backoff_seconds=0.05),
                             WarehouseResource(url=options.warehouse_url))
    with dg.DagsterInstance.get() as instance:
        print(materialize_recent(instance, options.day, options.day, defs=defs, with_reports=False, event_hours=0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
