"""AUDIENCE breakdown assets over HTTP against the simulator, on SQLite and PostgreSQL: the rows TikTok serves,
summing to the BASIC totals, deleted ads included, TikTok's latency respected, revisions only where values moved,
unchanged data versions on a re-pull that changed nothing."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import dagster as dg
import httpx
import pandas as pd
import pytest

from tiktok_assets.audience.breakdowns import BREAKDOWNS
from tiktok_assets.defs import spend as spend_defs
from tiktok_assets.defs.audience import SUMS_TO_BASIC_CHECK
from tiktok_assets.partitions import advertiser_date_key, all_advertisers_range_tags
from tiktok_assets_tests.spend.harness import SpendHarness, materializations

TOKEN = "limited-token-audience-000000000000000000"
ASSETS = [dg.AssetKey(breakdown.asset_name) for breakdown in BREAKDOWNS.values()]
LEVEL_OF = {"campaign": "AUCTION_CAMPAIGN", "adgroup": "AUCTION_ADGROUP", "ad": "AUCTION_AD"}
ID_OF = {"campaign": "campaign_id", "adgroup": "adgroup_id", "ad": "ad_id"}
STATUS_FIELD = {"campaign": "campaign_status", "adgroup": "adgroup_status", "ad": "ad_status"}
METRICS = {"spend": "spend", "impressions": "impressions", "clicks": "clicks", "conversion": "conversions"}
# The simulator's now is 2026-11-20 12:30 UTC: 04:30 in the US account (UTC-8). 11-18 ended 11-19 08:00 UTC, so
# its 16-hour audience latency passed at 11-20 00:00 UTC; 11-19 ends 11-20 08:00 UTC, complete at 11-21 00:00 UTC.
COMPLETE_DAYS = (date(2026, 11, 17), date(2026, 11, 18))
INCOMPLETE_DAY = date(2026, 11, 19)


@pytest.fixture
def us_advertiser(loopback_simulator, warehouse_url, monkeypatch):
    simulator, base_url = loopback_simulator
    advertiser_id = next(a["advertiser_id"] for a in simulator.world.advertisers
                         if a["display_timezone"] == "America/Los_Angeles")
    simulator.grant(TOKEN, [advertiser_id])
    monkeypatch.setattr(spend_defs, "_utc_now", simulator.clock.now)
    harness = SpendHarness(base_url, warehouse_url, access_token=TOKEN)
    assert harness.discover() == [advertiser_id]
    return simulator, base_url, harness, advertiser_id


def _run(harness: SpendHarness, advertiser_id: str, start: date, end: date,
         assets: list[dg.AssetKey] = ASSETS, **tags: str) -> dg.ExecuteInProcessResult:
    result = harness.run(assets, tags={**all_advertisers_range_tags([advertiser_id], start, end), **tags})
    assert result.success
    return result


def _served(base_url: str, advertiser_id: str, level: str, start: date, end: date,
            audience: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """What TikTok serves, read straight over HTTP (not through the client under test), deleted entities included."""
    query: dict[str, Any] = {
        "advertiser_id": advertiser_id, "service_type": "AUCTION", "report_type": "AUDIENCE" if audience else "BASIC",
        "data_level": LEVEL_OF[level], "dimensions": [ID_OF[level], "stat_time_day", *audience],
        "metrics": list(METRICS), "start_date": start.isoformat(), "end_date": end.isoformat(), "page_size": 1000,
        "filtering": [{"field_name": STATUS_FIELD[level], "filter_type": "IN", "filter_value": '["STATUS_ALL"]'}],
    }
    out: list[dict[str, Any]] = []
    page = 1
    with httpx.Client(base_url=base_url, headers={"Access-Token": TOKEN}) as client:
        while True:
            params = {k: json.dumps(v) if isinstance(v, list) else str(v) for k, v in {**query, "page": page}.items()}
            body = client.get("/open_api/v1.3/report/integrated/get/", params=params).json()
            assert body["code"] == 0, body
            out += body["data"]["list"]
            if page >= body["data"]["page_info"]["total_page"]:
                return out
            page += 1


def _expected_rows(base_url: str, advertiser_id: str, breakdown_name: str, start: date, end: date
                   ) -> dict[tuple, tuple]:
    breakdown = BREAKDOWNS[breakdown_name]
    expected = {}
    for level in breakdown.levels:
        for row in _served(base_url, advertiser_id, level, start, end, breakdown.dimensions):
            dims = row["dimensions"]
            values = [str(dims[name]) for name in breakdown.dimensions] + [""]
            key = (dims["stat_time_day"][:10], level, str(dims[ID_OF[level]]), values[0], values[1])
            expected[key] = tuple(Decimal(str(row["metrics"][name])) for name in METRICS)
    return expected


def _stored_rows(harness: SpendHarness, advertiser_id: str, breakdown_name: str) -> dict[tuple, tuple]:
    stored = harness.query(
        "select stat_date, level, entity_id, breakdown_value, breakdown_value_2, spend, impressions, clicks, "
        "conversions from audience_stats_daily where advertiser_id = :a and breakdown = :b",
        a=advertiser_id, b=breakdown_name)
    return {(str(pd.Timestamp(row.stat_date).date()), row.level, row.entity_id, row.breakdown_value,
             row.breakdown_value_2):
            (Decimal(str(round(float(row.spend), 6))).normalize(), Decimal(int(row.impressions)),
             Decimal(int(row.clicks)), Decimal(int(row.conversions)))
            for row in stored.itertuples()}


def _normal(rows: dict[tuple, tuple]) -> dict[tuple, tuple]:
    return {key: tuple(value.normalize() for value in values) for key, values in rows.items()}


def test_each_breakdown_holds_what_tiktok_serves_and_sums_to_the_basic_totals(us_advertiser) -> None:
    simulator, base_url, harness, advertiser_id = us_advertiser
    start, end = COMPLETE_DAYS
    # A deleted ad keeps its rows: the biggest spender of the first day is deleted before the pull.
    basic_ads = _served(base_url, advertiser_id, "ad", start, start)
    deleted_ad = max(basic_ads, key=lambda row: float(row["metrics"]["spend"]))["dimensions"]["ad_id"]
    simulator.world.delete(str(deleted_ad), at=simulator.clock.now() - timedelta(minutes=5))
    result = _run(harness, advertiser_id, start, end)

    for name, breakdown in BREAKDOWNS.items():
        expected = _expected_rows(base_url, advertiser_id, name, start, end)
        assert expected, f"the simulator serves the {name} breakdown"
        assert _stored_rows(harness, advertiser_id, name) == _normal(expected), name
        # Each entity-day of the breakdown adds up to TikTok's BASIC total of that entity and day.
        for level in breakdown.levels:
            summed: dict[tuple, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * len(METRICS))
            for (day, row_level, entity, _v1, _v2), values in expected.items():
                if row_level == level:
                    summed[(day, entity)] = [a + b for a, b in zip(summed[(day, entity)], values, strict=True)]
            basic = {(row["dimensions"]["stat_time_day"][:10], str(row["dimensions"][ID_OF[level]])):
                     [Decimal(str(row["metrics"][metric])) for metric in METRICS]
                     for row in _served(base_url, advertiser_id, level, start, end)}
            basic = {key: values for key, values in basic.items() if any(values)}
            assert {key: [v.normalize() for v in values] for key, values in summed.items()} == \
                   {key: [v.normalize() for v in values] for key, values in basic.items()}, (name, level)
        checks = {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()
                  if evaluation.asset_key == dg.AssetKey(breakdown.asset_name)}
        assert checks[SUMS_TO_BASIC_CHECK].passed, checks[SUMS_TO_BASIC_CHECK].description
        assert all(evaluation.passed for evaluation in checks.values()), name

    ad_rows = harness.query("select count(*) as n from audience_stats_daily where entity_id = :ad and level = 'ad'",
                            ad=str(deleted_ad))
    assert int(ad_rows["n"].iloc[0]) > 0, "the deleted ad's breakdown rows are imported"
    provinces = harness.query("select distinct level from audience_stats_daily where breakdown = 'province'")
    assert set(provinces["level"]) == {"ad"}


def test_a_day_inside_the_audience_latency_is_not_pulled_until_the_latency_passed(us_advertiser) -> None:
    simulator, base_url, harness, advertiser_id = us_advertiser
    age_gender = [dg.AssetKey("audience_age_gender_daily")]
    first = _run(harness, advertiser_id, COMPLETE_DAYS[1], INCOMPLETE_DAY, age_gender)
    assert set(materializations(first, "audience_age_gender_daily")) == {
        str(advertiser_date_key(advertiser_id, COMPLETE_DAYS[1]))}
    assert harness.query("select count(*) as n from audience_stats_daily where stat_date = :d",
                         d=INCOMPLETE_DAY.isoformat())["n"].iloc[0] == 0
    assert harness.count("audience_pulls") == 1

    simulator.clock.advance(datetime(2026, 11, 20, 23, 59) - datetime(2026, 11, 20, 12, 30))  # a minute short
    assert not materializations(_run(harness, advertiser_id, INCOMPLETE_DAY, INCOMPLETE_DAY, age_gender),
                                "audience_age_gender_daily")
    simulator.clock.advance(timedelta(minutes=2))  # 16 h after the day ended in the account's zone
    second = _run(harness, advertiser_id, INCOMPLETE_DAY, INCOMPLETE_DAY, age_gender)
    assert set(materializations(second, "audience_age_gender_daily")) == {
        str(advertiser_date_key(advertiser_id, INCOMPLETE_DAY))}
    expected = _expected_rows(base_url, advertiser_id, "age_gender", INCOMPLETE_DAY, INCOMPLETE_DAY)
    stored = _stored_rows(harness, advertiser_id, "age_gender")
    assert {key: value for key, value in stored.items() if key[0] == INCOMPLETE_DAY.isoformat()} == _normal(expected)


def test_a_repull_logs_revisions_exactly_where_values_moved_and_keeps_the_version_when_nothing_did(
        us_advertiser) -> None:
    simulator, base_url, harness, advertiser_id = us_advertiser
    country = [dg.AssetKey("audience_country_daily")]
    start, end = COMPLETE_DAYS
    first = _run(harness, advertiser_id, start, end, country)
    before = _expected_rows(base_url, advertiser_id, "country", start, end)
    versions = {key: m.tags[spend_defs.DATA_VERSION_TAG]
                for key, m in materializations(first, "audience_country_daily").items()}
    again = _run(harness, advertiser_id, start, end, country)
    assert {key: m.tags[spend_defs.DATA_VERSION_TAG]
            for key, m in materializations(again, "audience_country_daily").items()} == versions
    assert harness.count("audience_revisions") == 0, "nothing moved, nothing logged"

    simulator.clock.advance(timedelta(days=1))  # the simulator keeps revising these days for a week
    third = _run(harness, advertiser_id, start, end, country)
    after = _expected_rows(base_url, advertiser_id, "country", start, end)
    moved = {key for key in set(before) | set(after) if before.get(key) != after.get(key)}
    assert moved, "the simulator revised something"
    logged = harness.query("select stat_date, level, entity_id, breakdown_value, breakdown_value_2, change_kind, "
                           "old_spend, new_spend from audience_revisions")
    logged_keys = {(str(pd.Timestamp(row.stat_date).date()), row.level, row.entity_id, row.breakdown_value,
                    row.breakdown_value_2) for row in logged.itertuples()}
    assert logged_keys == moved
    assert len(logged) == len(moved)
    for row in logged.itertuples():
        key = (str(pd.Timestamp(row.stat_date).date()), row.level, row.entity_id, row.breakdown_value,
               row.breakdown_value_2)
        assert round(float(row.old_spend), 6) == float(before.get(key, (0,))[0])
        assert round(float(row.new_spend), 6) == float(after.get(key, (0,))[0])
    assert _stored_rows(harness, advertiser_id, "country") == _normal(after)
    changed = {key for key, m in materializations(third, "audience_country_daily").items()
               if m.tags[spend_defs.DATA_VERSION_TAG] != versions[key]}
    assert changed == {str(advertiser_date_key(advertiser_id, day))
                       for day in {date.fromisoformat(key[0]) for key in moved}}


def test_the_daily_audience_schedule_asks_the_newest_complete_day_and_never_one_inside_the_latency(
        us_advertiser, warehouse_url) -> None:
    from tiktok_assets.defs.audience import daily_audience_schedule
    from tiktok_assets.defs.resources import WarehouseResource
    from tiktok_assets.partitions import ADVERTISER_PARTITIONS_NAME, RANGE_END_TAG, RANGE_START_TAG
    from tiktok_assets.spend.settle import SKIP_SETTLED_TAG

    simulator, _base_url, harness, advertiser_id = us_advertiser

    def tick() -> dg.RunRequest:
        # A schedule resolves its resources through an instance ref: the harness's ephemeral instance has none.
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions(ADVERTISER_PARTITIONS_NAME, [advertiser_id])
            with dg.build_schedule_context(instance=instance, scheduled_execution_time=simulator.clock.now(),
                                           resources={"warehouse": WarehouseResource(url=warehouse_url)}) as context:
                (request,) = daily_audience_schedule.evaluate_tick(context).run_requests
        return request

    request = tick()
    assert request.tags[SKIP_SETTLED_TAG] == "true"
    assert request.tags[RANGE_END_TAG] == str(advertiser_date_key(advertiser_id, COMPLETE_DAYS[1]))
    assert request.tags[RANGE_START_TAG] == str(advertiser_date_key(advertiser_id, COMPLETE_DAYS[1] - timedelta(days=7)))
    simulator.clock.advance(timedelta(hours=13))  # 2026-11-21 01:30 UTC: 11-19 is complete for every breakdown
    assert tick().tags[RANGE_END_TAG] == str(advertiser_date_key(advertiser_id, INCOMPLETE_DAY))
