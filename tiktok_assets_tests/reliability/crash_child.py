"""A spend import in a process of its own, for the parent test to SIGKILL.

    python -m tiktok_assets_tests.reliability.crash_child BASE_URL WAREHOUSE_URL START END [STALL_AT_BATCH MARKER]

With STALL_AT_BATCH, the N-th warehouse write batch stops *inside* its open
transaction (rows written, not committed), writes MARKER and sleeps, so the
parent kills it exactly there. Without it the import simply runs.
"""

from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path


def _stall_inside_batch(batch_number: int, marker: Path) -> None:
    from tiktok_assets.warehouse import stats

    real_write_batch = stats._write_batch
    seen = {"batches": 0}

    def write_batch_then_stall(connection, batch, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        writes = real_write_batch(connection, batch, *args, **kwargs)
        seen["batches"] += 1
        if seen["batches"] == batch_number:
            # Rows and partition_pulls are written; the commit has not happened.
            # Written aside and renamed: the parent polls for the marker, and must never read it half written.
            partial = marker.with_name(marker.name + ".partial")
            partial.write_text(f"{len(writes)} partitions in the open transaction")
            partial.replace(marker)
            time.sleep(120)
        return writes

    stats._write_batch = write_batch_then_stall


def main(argv: list[str]) -> None:
    base_url, warehouse_url, start, end = argv[:4]
    if len(argv) > 4:
        _stall_inside_batch(int(argv[4]), Path(argv[5]))
    from tiktok_assets_tests.spend.harness import SpendHarness

    harness = SpendHarness(base_url, warehouse_url)
    harness.import_range(date.fromisoformat(start), date.fromisoformat(end), entities=False)
    print("import finished", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
