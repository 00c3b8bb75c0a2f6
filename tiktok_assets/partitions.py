"""Partitions, defined once and shared by assets, schedules and sensors."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import date

import dagster as dg

ADVERTISER_PARTITIONS_NAME = "tiktok_advertisers"
DATE_DIMENSION = "date"
# Keys read "2026-11-20|7012..." (Dagster orders dimensions by name). Dagster
# reads a key range of these partitions as a rectangle, date range × advertiser
# range (in the dynamic partitions' order), so "every advertiser over a date
# range" is one range and therefore one single-run backfill.
ADVERTISER_DIMENSION = "tiktok_advertiser"


# A fixed first day: a start that moved with the calendar would make old
# partitions vanish from Dagster's history. Override for older accounts.
HISTORY_START = os.environ.get("TIKTOK_HISTORY_START", "2025-01-01")


advertiser_partitions = dg.DynamicPartitionsDefinition(name=ADVERTISER_PARTITIONS_NAME)

# Dates are the advertiser's local dates. end_offset=2 keeps "today" available
# for advertisers east of UTC (a local date is at most one day ahead of UTC's).
stat_date_partitions = dg.DailyPartitionsDefinition(start_date=HISTORY_START, end_offset=2)

advertiser_date_partitions = dg.MultiPartitionsDefinition(
    {DATE_DIMENSION: stat_date_partitions, ADVERTISER_DIMENSION: advertiser_partitions}
)


def advertiser_date_key(advertiser_id: str, stat_date: date | str) -> dg.MultiPartitionKey:
    day = stat_date.isoformat() if isinstance(stat_date, date) else stat_date
    return dg.MultiPartitionKey({DATE_DIMENSION: day, ADVERTISER_DIMENSION: advertiser_id})


RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def all_advertisers_range_tags(advertiser_ids: list[str], start: date, end: date) -> dict[str, str]:
    """Run tags selecting every advertiser from ``start`` to ``end``: one rectangular key range.

    ``advertiser_ids`` must be in the dynamic partitions' own order (as
    ``instance.get_dynamic_partitions`` returns them).
    """
    if not advertiser_ids:
        raise ValueError("no advertisers to select: discover advertisers first (tiktok_advertisers)")
    return {
        RANGE_START_TAG: str(advertiser_date_key(advertiser_ids[0], start)),
        RANGE_END_TAG: str(advertiser_date_key(advertiser_ids[-1], end)),
    }


def split_advertiser_date_key(partition_key: str | dg.MultiPartitionKey) -> tuple[str, date]:
    """(advertiser_id, stat_date) of a multi-partition key such as '2026-11-20|7012...'."""
    if isinstance(partition_key, dg.MultiPartitionKey):
        keys = partition_key.keys_by_dimension
    else:
        keys = advertiser_date_partitions.get_partition_key_from_str(partition_key).keys_by_dimension
    try:
        return keys[ADVERTISER_DIMENSION], date.fromisoformat(keys[DATE_DIMENSION])
    except ValueError as exc:
        raise ValueError(f"Partition key {str(partition_key)!r} has an impossible date: {exc}") from None


def dates_by_advertiser(partition_keys: Iterable[str | dg.MultiPartitionKey]) -> dict[str, list[date]]:
    """A run's ``date|advertiser`` partition keys as each advertiser's dates (in key order)."""
    found: dict[str, list[date]] = {}
    for key in partition_keys:
        advertiser_id, stat_date = split_advertiser_date_key(key)
        found.setdefault(advertiser_id, []).append(stat_date)
    return found


# First-party events by the UTC hour they happened in (postback delivery).
# end_offset=1 makes the hour in progress a partition too: postbacks go out
# while the hour runs, and later arrivals re-run it (delivery is idempotent).
event_hour_partitions = dg.HourlyPartitionsDefinition(start_date=f"{HISTORY_START}-00:00", end_offset=1)
