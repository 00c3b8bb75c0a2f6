"""Metrics tables: partition replace on SQLite and PostgreSQL, data versions, first-party reads."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from tiktok_assets.metrics.rollup import metrics_at_level
from tiktok_assets.metrics.store import (
    METRICS_TABLES,
    metrics_table,
    partition_data_versions,
    read_first_party_events,
    read_metrics,
    replace_metrics_partitions,
    storage_frame,
)
from tiktok_assets.postbacks.events import parse_event
from tiktok_assets.postbacks.store import store_events
from tiktok_assets.warehouse import create_schema, make_engine

ADVERTISER = "7001"
DAY_1, DAY_2 = date(2026, 11, 11), date(2026, 11, 12)
COMPUTED_AT = datetime(2026, 11, 20, 12, 0)


def _stats(rows: list[tuple[str, str, date, float, int, int]]) -> pd.DataFrame:
    """Ad-day stats: (ad_id, campaign_id, stat_date, spend, impressions, clicks)."""
    frame = pd.DataFrame(rows, columns=["ad_id", "campaign_id", "stat_date", "spend", "impressions", "clicks"])
    return frame.assign(advertiser_id=ADVERTISER, adgroup_id=frame["campaign_id"] + "-g", currency="USD",
                        conversions=3, installs=0, purchases=1, purchase_value=20.0, app_purchases=0,
                        app_purchase_value=0.0)


STATS = _stats([
    ("a1", "c1", DAY_1, 10.123456789, 1000, 10),
    ("a2", "c1", DAY_1, 5.0, 500, 0),
    ("a1", "c1", DAY_2, 7.5, 800, 8),
    ("a3", "c2", DAY_2, 2.25, 0, 0),
])


def _campaigns(stats: pd.DataFrame = STATS) -> pd.DataFrame:
    return metrics_at_level(stats, "campaign", "daily")


@pytest.fixture
def engine(warehouse_url: str) -> sa.Engine:
    engine = make_engine(warehouse_url)
    create_schema(engine)
    return engine


def test_replace_writes_partitions_and_a_rewrite_removes_rows_that_vanished(engine: sa.Engine) -> None:
    written = replace_metrics_partitions(engine, "daily", ADVERTISER, [DAY_1, DAY_2], {"campaign": _campaigns()},
                                         COMPUTED_AT)
    stored = read_metrics(engine, "campaign", "daily")
    assert list(zip(stored["stat_date"], stored["campaign_id"], strict=True)) == [
        (DAY_1, "c1"), (DAY_2, "c1"), (DAY_2, "c2")]
    # Summed by hand: 10.123456789 + 5.0, rounded to the warehouse's 6 decimals.
    assert stored["spend"].iloc[0] == pytest.approx(15.123457, abs=1e-9)
    assert stored["clicks"].tolist() == [10, 8, 0]
    assert stored["ctr"].iloc[0] == pytest.approx(10 / 1500)
    assert np.isnan(stored["ctr"].iloc[2]), "no impressions: CTR is null, not 0"
    assert stored["first_party_orders"].isna().all(), "no first-party frame given: unknown, not zero"
    assert (stored["computed_at"] == pd.Timestamp(COMPUTED_AT)).all()
    assert written["campaign"][DAY_2].rows == 2
    assert written["campaign"][DAY_1].totals["spend"].iloc[0] == pytest.approx(15.123457)

    # Campaign c2's only spend on DAY_2 was revised away; DAY_1 is not part of this write.
    revised = _campaigns(STATS[STATS["campaign_id"] == "c1"])
    on_day_2 = revised[revised["stat_date"] == DAY_2]
    replace_metrics_partitions(engine, "daily", ADVERTISER, [DAY_2], {"campaign": on_day_2}, COMPUTED_AT)
    stored = read_metrics(engine, "campaign", "daily")
    assert list(zip(stored["stat_date"], stored["campaign_id"], strict=True)) == [(DAY_1, "c1"), (DAY_2, "c1")]

    # Writing the same partitions twice leaves one copy of each row.
    for _ in range(2):
        replace_metrics_partitions(engine, "daily", ADVERTISER, [DAY_1, DAY_2], {"campaign": _campaigns()},
                                   COMPUTED_AT)
    assert len(read_metrics(engine, "campaign", "daily")) == 3


def test_rows_outside_the_partitions_being_written_are_refused(engine: sa.Engine) -> None:
    with pytest.raises(ValueError, match="outside advertiser 7001's partitions"):
        replace_metrics_partitions(engine, "daily", ADVERTISER, [DAY_1], {"campaign": _campaigns()}, COMPUTED_AT)
    assert read_metrics(engine, "campaign", "daily").empty, "nothing written"


def _versions(frame: pd.DataFrame, days: list[date] = [DAY_1, DAY_2]) -> dict[date, str]:  # noqa: B006
    table = metrics_table("campaign", "daily")
    return partition_data_versions(table, storage_frame(table, frame), days)


def test_data_versions_follow_content_per_day_and_ignore_row_order() -> None:
    base = _versions(_campaigns())
    assert base[DAY_1] != base[DAY_2]
    assert _versions(_campaigns().iloc[::-1]) == base, "row order is not content"

    more_clicks = STATS.assign(clicks=np.where(STATS["stat_date"] == DAY_2, STATS["clicks"] + 1, STATS["clicks"]))
    moved = _versions(_campaigns(more_clicks))
    assert moved[DAY_1] == base[DAY_1] and moved[DAY_2] != base[DAY_2], "only the changed day moves"

    renamed = _campaigns().assign(campaign_name=["Spring sale", None, None])
    assert _versions(renamed)[DAY_1] != base[DAY_1], "a new name is new content"

    # Ratios follow from the bases; noise in them is not a change.
    assert _versions(_campaigns().assign(ctr=0.5)) == base
    empty = _versions(_campaigns().iloc[0:0], [DAY_1, DAY_2])
    assert empty[DAY_1] == empty[DAY_2] != base[DAY_1]


def test_every_metrics_table_keys_currency_so_currencies_never_share_a_row() -> None:
    for (level, grain), table in METRICS_TABLES.items():
        keys = [column.name for column in table.primary_key.columns]
        assert keys[:2] == ["advertiser_id", "stat_date"], "partition writes delete by this prefix"
        assert "currency" in keys, table.name
        assert table.name == f"{level}_metrics_{grain}"


def test_first_party_reads_widen_the_window_for_time_zones_and_skip_personal_data(engine: sa.Engine) -> None:
    events = [
        parse_event({"event_id": event_id, "source": "web", "event_name": "Placed Order", "event_time": moment,
                     "page_url": "https://shop.example/thanks", "email": "buyer@example.com", "value": 10,
                     "currency": "USD", "cvg_source": "tiktok", "cvg_adid": "a1"})
        for event_id, moment in [("early", "2026-11-10T13:00:00Z"),  # 11-11 03:00 in Tokyo
                                 ("inside", "2026-11-11T12:00:00Z"),
                                 ("late", "2026-11-12T09:00:00Z"),  # 11-11 23:00 in Hawaii
                                 ("far", "2026-11-14T00:00:00Z")]
    ]
    store_events(engine, events, received_at=datetime(2026, 11, 20, tzinfo=UTC))
    read = read_first_party_events(engine, DAY_1, DAY_1)
    assert sorted(read["event_id"]) == ["early", "inside", "late"]
    assert "email" not in read.columns and "ip" not in read.columns
    with engine.begin() as connection:
        connection.exec_driver_sql("drop table first_party_events")
    assert read_first_party_events(engine, DAY_1, DAY_1) is None
