"""The pure parts of the audience import: latency and the late-clock settle plan, the sums rule, the writer's
input errors and settled partitions (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from tiktok_assets.audience.latency import audience_plan, audience_settled, complete_at, complete_dates
from tiktok_assets.audience.pull import total_mismatches
from tiktok_assets.spend.settle import PullRecord
from tiktok_assets.warehouse import WarehouseInputError, create_schema, make_engine, query_frame
from tiktok_assets.warehouse.audience import write_audience_partitions

LA = "Etc/GMT+8"  # UTC-8, as TikTok names the US account's zone
SIXTEEN_HOURS = timedelta(hours=16)


def test_a_day_is_complete_sixteen_hours_after_it_ended_in_the_accounts_zone() -> None:
    day = date(2026, 11, 19)
    # The day ends at 2026-11-20 00:00 UTC-8 = 08:00 UTC; plus 16 hours.
    assert complete_at(day, LA, SIXTEEN_HOURS) == datetime(2026, 11, 21, 0, 0, tzinfo=UTC)
    assert complete_dates([day], LA, datetime(2026, 11, 20, 23, 59, tzinfo=UTC), SIXTEEN_HOURS) == []
    assert complete_dates([day], LA, datetime(2026, 11, 21, 0, 0, tzinfo=UTC), SIXTEEN_HOURS) == [day]
    # East of UTC the same instant completes a day earlier in the calendar: Tokyo's 11-19 ends 11-19 15:00 UTC.
    assert complete_dates([day], "Etc/GMT-9", datetime(2026, 11, 20, 7, 0, tzinfo=UTC), SIXTEEN_HOURS) == [day]


def test_the_settle_window_counts_from_completion_not_from_the_days_end() -> None:
    day = date(2026, 11, 1)
    now = datetime(2026, 11, 9, 12, 0, tzinfo=UTC)  # 11-09 04:00 in UTC-8: day 11-01 ended 7 days and 4 h ago
    # On the late clock (now - 16 h = 11-08 12:00 local) 11-01 is 6 days old, not 7: still in a 7-day window,
    # and a pull made (late clock) on 11-07, unchanged, does not settle it.
    pulled_late = PullRecord(stat_date=day, pulled_on=date(2026, 11, 7), changed=False)
    assert audience_plan([day], LA, now, SIXTEEN_HOURS, 7, [pulled_late]) == [day]
    assert audience_settled([pulled_late], LA, now, SIXTEEN_HOURS, 7) == set()
    later = now + timedelta(days=2)
    pulled_after = PullRecord(stat_date=day, pulled_on=date(2026, 11, 9), changed=False)
    assert audience_settled([pulled_after], LA, later, SIXTEEN_HOURS, 7) == {day}
    assert audience_plan([day], LA, later, SIXTEEN_HOURS, 7, [pulled_after]) == []


def _totals(**metrics: float) -> pd.DataFrame:
    row = {"advertiser_id": "7", "stat_date": date(2026, 11, 1), "level": "ad", "entity_id": "1", "cells": 18,
           "spend": 10.0, "impressions": 100, "clicks": 5, "conversions": 1}
    return pd.DataFrame([{**row, **metrics}])


def test_a_breakdown_within_half_a_cent_a_cell_agrees_and_anything_else_is_named() -> None:
    basic = _totals().drop(columns="cells")
    assert total_mismatches(_totals(spend=10.08), basic).empty  # 18 cells may round 0.09 apart
    off = total_mismatches(_totals(spend=10.2), basic)
    assert off[["entity_id", "spend_gap"]].to_dict("records") == [{"entity_id": "1", "spend_gap": 0.2}]
    assert len(total_mismatches(_totals(clicks=6), basic)) == 1
    missing_entity = total_mismatches(_totals().iloc[0:0], basic)
    assert missing_entity["spend_basic"].tolist() == [10.0] and missing_entity["spend_breakdown"].tolist() == [0.0]


def _frame(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"level": "ad", "entity_id": entity, "breakdown_value": value, "breakdown_value_2": "",
                          "currency": "USD", "spend": spend, "impressions": 100, "clicks": 1, "conversions": 0}
                         for entity, value, _unused, spend in rows])


@pytest.fixture
def engine(warehouse_url: str):
    engine = make_engine(warehouse_url)
    create_schema(engine)
    yield engine
    engine.dispose()


def test_bad_rows_are_refused_naming_the_partition_row_and_problem(engine) -> None:
    key = ("7", date(2026, 11, 1))
    bad = _frame([("1", "US", "", -1.0)])
    with pytest.raises(WarehouseInputError, match=r"country, advertiser 7, 2026-11-01.*entity_id '1'.*spend"):
        write_audience_partitions(engine, "country", "audience_country_daily", {key: bad}, datetime(2026, 11, 2))
    twice = _frame([("1", "US", "", 1.0), ("1", "US", "", 2.0)])
    with pytest.raises(WarehouseInputError, match="appears twice"):
        write_audience_partitions(engine, "country", "audience_country_daily", {key: twice}, datetime(2026, 11, 2))
    assert query_frame(engine, "select count(*) as n from audience_pulls")["n"].iloc[0] == 0


def test_a_settled_partition_keeps_rows_a_pull_no_longer_serves_and_an_open_one_logs_their_delete(engine) -> None:
    settled, open_ = ("7", date(2026, 11, 1)), ("7", date(2026, 11, 2))
    both = _frame([("1", "US", "", 1.5), ("2", "GB", "", 2.5)])
    write_audience_partitions(engine, "country", "audience_country_daily", {settled: both, open_: both},
                              datetime(2026, 11, 3))
    one = _frame([("1", "US", "", 1.5)])
    writes = write_audience_partitions(engine, "country", "audience_country_daily", {settled: one, open_: one},
                                       datetime(2026, 11, 12), settled=[settled])
    assert (writes[settled].vanished_kept, writes[settled].deleted, writes[settled].changed) == (1, 0, False)
    assert (writes[open_].vanished_kept, writes[open_].deleted, writes[open_].changed) == (0, 1, True)
    assert writes[settled].spend_after == 4.0 and writes[open_].spend_after == 1.5
    log = query_frame(engine, "select stat_date, entity_id, change_kind, old_spend, new_spend, revision "
                              "from audience_revisions")
    assert [(row.entity_id, row.change_kind, float(row.old_spend), float(row.new_spend), row.revision)
            for row in log.itertuples()] == [("2", "delete", 2.5, 0.0, 2)]


def test_the_schema_names_the_partition_of_a_bad_row() -> None:
    from tiktok_assets.audience.schemas import audience_schema_failures

    good = _frame([("1", "US", "", 1.0)])
    bad = good.assign(clicks=500, currency="usd")
    failures = audience_schema_failures("7", {date(2026, 11, 1): good, date(2026, 11, 2): bad})
    assert set(failures["partition"]) == {"2026-11-02|7"}
    assert {"clicks exceed impressions", "str_matches('^[A-Z]{3}$')"} <= set(failures["check"].astype(str))


def test_the_sums_check_warns_naming_the_partitions_and_does_not_fail() -> None:
    import dagster as dg

    from tiktok_assets.audience.breakdowns import BREAKDOWNS
    from tiktok_assets.defs.audience import _sums_check

    off = total_mismatches(_totals(spend=12.0), _totals().drop(columns="cells"))
    result = _sums_check(dg.AssetKey("audience_province_daily"), BREAKDOWNS["province"], [off, off.iloc[0:0]])
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert "2026-11-01|7" in result.description and "province_id leaves some location ids out" in result.description
    assert _sums_check(dg.AssetKey("audience_province_daily"), BREAKDOWNS["province"], []).passed
