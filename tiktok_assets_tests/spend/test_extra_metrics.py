"""User-chosen metrics (issue 17 item 1): the simulator serves TikTok's whole BASIC catalogue over HTTP, a choice
from TIKTOK_EXTRA_METRICS or a YAML file is what gets asked and stored, a revised metric is logged as a revision in
its partition only, and a bad name fails naming it. Expected values are read from the simulator over HTTP, not
through the client under test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import httpx
import pandas as pd
import pytest

from tiktok_assets.defs import spend as spend_defs
from tiktok_assets.defs.extra_metrics import EXTRA_SCHEMA_CHECK
from tiktok_assets.partitions import advertiser_date_key, all_advertisers_range_tags
from tiktok_assets.simulator import DEFAULT_ACCESS_TOKEN
from tiktok_assets.spend.extra import ExtraMetricsConfigError, chosen_metrics, metric_batches
from tiktok_assets.tiktok.catalogue import ADVERTISER_ONLY, CATALOGUE, UnknownMetricError
from tiktok_assets.tiktok.client import TikTokClient
from tiktok_assets_tests.spend.harness import SpendHarness, materializations

ASSET = dg.AssetKey("ad_metrics_extra_daily")
REPORT = "/open_api/v1.3/report/integrated/get/"
# The simulator's now is 2026-11-20 12:30 UTC; with its 7-day settle window days up to 11-12 are final.
DAYS = (date(2026, 11, 17), date(2026, 11, 18))
FINAL_DAYS = (date(2026, 11, 10), date(2026, 11, 12))
FUNNEL = ("impressions", "video_play_actions", "video_watched_2s", "video_views_p25", "video_views_p50",
          "video_views_p75", "video_views_p100")


def _served(base_url: str, advertiser_id: str, metrics: list[str], start: date, end: date,
            level: str = "AUCTION_AD", time_dimension: str = "stat_time_day") -> dict[str, Any]:
    """One page (up to 1000 rows) of what TikTok serves, read straight over HTTP, deleted ads included."""
    id_dimension = {"AUCTION_AD": "ad_id", "AUCTION_ADGROUP": "adgroup_id"}[level]
    status = {"AUCTION_AD": "ad_status", "AUCTION_ADGROUP": "adgroup_status"}[level]
    query = {"advertiser_id": advertiser_id, "service_type": "AUCTION", "report_type": "BASIC", "data_level": level,
             "dimensions": [id_dimension, time_dimension], "metrics": metrics, "start_date": start.isoformat(),
             "end_date": end.isoformat(), "page_size": 1000,
             "filtering": [{"field_name": status, "filter_type": "IN", "filter_value": '["STATUS_ALL"]'}]}
    params = {key: json.dumps(value) if isinstance(value, list) else str(value) for key, value in query.items()}
    with httpx.Client(base_url=base_url, headers={"Access-Token": DEFAULT_ACCESS_TOKEN}) as client:
        return client.get(REPORT, params=params).json()


def _rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    assert body["code"] == 0, body
    assert body["data"]["page_info"]["total_page"] == 1, "the test reads one page"
    return body["data"]["list"]


@pytest.fixture
def sim(loopback_simulator, monkeypatch):
    simulator, base_url = loopback_simulator
    monkeypatch.setattr(spend_defs, "_utc_now", simulator.clock.now)
    monkeypatch.delenv("TIKTOK_EXTRA_METRICS", raising=False)
    monkeypatch.delenv("TIKTOK_EXTRA_METRICS_FILE", raising=False)
    return simulator, base_url


def _harness(base_url: str, warehouse_url: str) -> tuple[SpendHarness, str]:
    # Built after the test set its variables: the code location reads them when it loads, as a deployment does.
    harness = SpendHarness(base_url, warehouse_url)
    advertiser_id = harness.discover()[0]
    return harness, advertiser_id


def _run(harness: SpendHarness, advertiser_id: str, start: date, end: date, **kwargs: Any
         ) -> dg.ExecuteInProcessResult:
    return harness.run([ASSET], tags=all_advertisers_range_tags([advertiser_id], start, end), **kwargs)


def _stored(harness: SpendHarness, advertiser_id: str) -> dict[tuple[str, str, str], float]:
    frame = harness.query("select stat_date, ad_id, metric, value from ad_metrics_extra_daily "
                          "where advertiser_id = :a", a=advertiser_id)
    return {(str(row.stat_date)[:10], row.ad_id, row.metric): float(row.value) for row in frame.itertuples()}


def _expected(base_url: str, advertiser_id: str, metrics: list[str], start: date, end: date
              ) -> dict[tuple[str, str, str], float]:
    expected = {}
    for row in _rows(_served(base_url, advertiser_id, metrics, start, end)):
        for name in metrics:
            value = row["metrics"][name]
            if value not in ("-", None):
                expected[(row["dimensions"]["stat_time_day"][:10], row["dimensions"]["ad_id"], name)] = float(value)
    return expected


# -- the simulator, over HTTP ------------------------------------------------------------------------------


def test_the_simulator_serves_every_catalogued_metric_and_rejects_unknown_ones(sim) -> None:
    simulator, base_url = sim
    advertiser_id = simulator.world.advertiser_ids[0]
    every = [name for name in CATALOGUE if name not in ADVERTISER_ONLY]
    rows = _rows(_served(base_url, advertiser_id, every, *DAYS))
    assert rows and all(set(row["metrics"]) == set(every) for row in rows)
    # Engagement counts are strings of whole numbers, like every metric of a default answer.
    assert all(row["metrics"]["likes"].isdigit() and row["metrics"]["video_play_actions"].isdigit() for row in rows)
    assert sum(int(row["metrics"]["video_watched_2s"]) for row in rows) > 0
    body = _served(base_url, advertiser_id, ["likes", "video_watched_3s", "spend", "engagement_magic"], *DAYS)
    assert body["code"] == 40002
    assert "['video_watched_3s', 'engagement_magic']" in body["message"]


def test_video_funnel_holds_and_counts_add_up_over_hours_and_ads(sim) -> None:
    simulator, base_url = sim
    advertiser_id = simulator.world.advertiser_ids[0]
    names = list(dict.fromkeys([*FUNNEL, "video_watched_6s", "likes", "comments", "shares", "engagements", "clicks"]))
    day = DAYS[0]
    daily = _rows(_served(base_url, advertiser_id, names, day, day))
    for row in daily:
        values = [int(row["metrics"][name]) for name in FUNNEL]
        assert values == sorted(values, reverse=True), row
        m = {name: int(row["metrics"][name]) for name in names}
        assert m["video_watched_6s"] <= m["video_watched_2s"] and m["comments"] <= m["likes"]
        assert m["engagements"] == m["clicks"] + m["likes"] + m["comments"] + m["shares"] + int(
            _metric(base_url, advertiser_id, day, row["dimensions"]["ad_id"], "follows")) + int(
            _metric(base_url, advertiser_id, day, row["dimensions"]["ad_id"], "profile_visits"))
    hourly = _rows(_served(base_url, advertiser_id, ["video_play_actions", "likes"], day, day,
                           time_dimension="stat_time_hour"))
    for name in ("video_play_actions", "likes"):
        by_ad: dict[str, int] = {}
        for row in hourly:
            by_ad[row["dimensions"]["ad_id"]] = by_ad.get(row["dimensions"]["ad_id"], 0) + int(row["metrics"][name])
        assert by_ad == {row["dimensions"]["ad_id"]: int(row["metrics"][name]) for row in daily
                         if int(row["metrics"][name]) or row["dimensions"]["ad_id"] in by_ad}
    groups = _rows(_served(base_url, advertiser_id, ["video_play_actions"], day, day, level="AUCTION_ADGROUP"))
    ads = {ad["ad_id"]: ad["adgroup_id"] for ad in simulator.world.ads(advertiser_id, simulator.clock.now())}
    summed: dict[str, int] = {}
    for row in daily:
        group = ads[row["dimensions"]["ad_id"]]
        summed[group] = summed.get(group, 0) + int(row["metrics"]["video_play_actions"])
    assert {row["dimensions"]["adgroup_id"]: int(row["metrics"]["video_play_actions"]) for row in groups} == summed


def _metric(base_url: str, advertiser_id: str, day: date, ad_id: str, name: str) -> str:
    rows = _rows(_served(base_url, advertiser_id, [name], day, day))
    return next(row["metrics"][name] for row in rows if row["dimensions"]["ad_id"] == ad_id)


def test_a_young_days_video_plays_move_with_its_corrected_impressions(sim) -> None:
    simulator, base_url = sim
    advertiser_id = simulator.world.advertiser_ids[0]
    day = date(2026, 11, 19)  # age 0 at the simulator's now: invalid-traffic corrections still to come
    before = _expected(base_url, advertiser_id, ["impressions", "video_play_actions"], day, day)
    simulator.clock.advance(timedelta(days=3))
    after = _expected(base_url, advertiser_id, ["impressions", "video_play_actions"], day, day)
    moved_impressions = {key[1] for key in before if key[2] == "impressions" and before[key] != after.get(key)}
    moved_plays = {key[1] for key in before if key[2] == "video_play_actions" and before[key] != after.get(key)}
    assert moved_impressions, "the seeded corrections move some ads' impressions"
    assert moved_plays and moved_plays <= moved_impressions


# -- configuration ------------------------------------------------------------------------------------------


def test_a_bad_choice_names_the_bad_metric_and_its_setting(tmp_path) -> None:
    with pytest.raises(ExtraMetricsConfigError, match=r"TIKTOK_EXTRA_METRICS: 'video_wached_2s' is not") as error:
        chosen_metrics("likes, video_wached_2s", None)
    assert "did you mean 'video_watched_2s'" in str(error.value)
    with pytest.raises(ExtraMetricsConfigError, match="'ad_name' is an attribute"):
        chosen_metrics("ad_name", None)
    with pytest.raises(ExtraMetricsConfigError, match="'cash_spend' exists at the advertiser level only"):
        chosen_metrics("cash_spend", None)
    listed = tmp_path / "metrics.yaml"
    listed.write_text("- likes\n- profile_vists\n", encoding="utf-8")
    with pytest.raises(ExtraMetricsConfigError, match=r"TIKTOK_EXTRA_METRICS_FILE=.*'profile_vists' is not"):
        chosen_metrics(None, str(listed))
    listed.write_text("likes: 3\n", encoding="utf-8")
    with pytest.raises(ExtraMetricsConfigError, match="expected a YAML list"):
        chosen_metrics(None, str(listed))
    with pytest.raises(ExtraMetricsConfigError, match="no such file"):
        chosen_metrics(None, str(tmp_path / "missing.yaml"))
    listed.write_text("metrics:\n  - shares\n  - likes\n", encoding="utf-8")
    assert chosen_metrics("likes,comments", str(listed)) == ["likes", "comments", "shares"]


def test_the_client_refuses_an_unknown_metric_before_any_request() -> None:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"code": 0, "message": "OK", "data": {"list": []}})

    with TikTokClient("token", transport=httpx.MockTransport(record)) as client, pytest.raises(
            UnknownMetricError, match="'video_watched_3s' is not a TikTok BASIC report metric") as error:
        client.report("7001", start=DAYS[0], end=DAYS[1], metrics=["spend", "video_watched_3s"])
    assert error.value.names == ["video_watched_3s"] and sent == []


def test_metrics_are_asked_in_request_sized_groups() -> None:
    assert metric_batches(["a", "b", "c"], 2) == [["a", "b"], ["c"]]
    assert metric_batches([], 50) == []


# -- the asset, on SQLite and PostgreSQL ----------------------------------------------------------------------


def test_a_choice_from_the_environment_is_what_is_asked_and_stored(sim, warehouse_url, monkeypatch) -> None:
    simulator, base_url = sim
    monkeypatch.setenv("TIKTOK_EXTRA_METRICS", "video_watched_2s, likes")
    harness, advertiser_id = _harness(base_url, warehouse_url)
    result = _run(harness, advertiser_id, *DAYS)
    assert result.success
    metrics = ["video_watched_2s", "likes"]
    assert _stored(harness, advertiser_id) == _expected(base_url, advertiser_id, metrics, *DAYS)
    asked = harness.query("select distinct metrics from ad_metrics_extra_pulls")["metrics"].tolist()
    assert [json.loads(value) for value in asked] == [metrics]
    done = materializations(result, "ad_metrics_extra_daily")
    first = done[advertiser_date_key(advertiser_id, DAYS[0])]
    assert first.metadata["metrics_pulled"].value == metrics
    assert first.metadata["rows"].value == sum(1 for key in _stored(harness, advertiser_id) if key[0] == "2026-11-17")
    assert first.metadata["rows_changed"].value == first.metadata["rows"].value  # a first pull inserts them all
    checks = {check.check_name: check for check in result.get_asset_check_evaluations()}
    assert checks[EXTRA_SCHEMA_CHECK].passed


def test_a_choice_from_a_yaml_file_changes_what_is_asked(sim, warehouse_url, monkeypatch, tmp_path) -> None:
    simulator, base_url = sim
    listed = tmp_path / "extra.yaml"
    listed.write_text("- profile_visits\n- video_views_p25\n", encoding="utf-8")
    monkeypatch.setenv("TIKTOK_EXTRA_METRICS_FILE", str(listed))
    harness, advertiser_id = _harness(base_url, warehouse_url)
    assert _run(harness, advertiser_id, DAYS[0], DAYS[0]).success
    stored = _stored(harness, advertiser_id)
    assert {key[2] for key in stored} == {"profile_visits", "video_views_p25"}
    assert stored == _expected(base_url, advertiser_id, ["profile_visits", "video_views_p25"], DAYS[0], DAYS[0])


def test_a_revised_metric_is_a_revision_of_its_partition_only(sim, warehouse_url, monkeypatch) -> None:
    simulator, base_url = sim
    monkeypatch.setenv("TIKTOK_EXTRA_METRICS", "likes,video_watched_2s")
    harness, advertiser_id = _harness(base_url, warehouse_url)
    first = materializations(_run(harness, advertiser_id, *FINAL_DAYS), "ad_metrics_extra_daily")
    before = _stored(harness, advertiser_id)
    revised_day = date(2026, 11, 11)
    ad_id = next(key[1] for key in before if key[0] == revised_day.isoformat() and key[2] == "likes")
    simulator.world.revise(ad_id, revised_day, "likes", 7)
    second = materializations(_run(harness, advertiser_id, *FINAL_DAYS), "ad_metrics_extra_daily")
    revisions = harness.query("select ad_id, stat_date, metric, change_kind, old_value, new_value, pulled_at "
                              "from ad_metrics_extra_revisions")
    assert len(revisions) == 1
    row = revisions.iloc[0]
    old = before[(revised_day.isoformat(), ad_id, "likes")]
    assert (row.ad_id, str(row.stat_date)[:10], row.metric, row.change_kind) == (ad_id, "2026-11-11", "likes", "update")
    assert (float(row.old_value), float(row.new_value)) == (old, old + 7) and row.pulled_at is not None
    for offset in range(3):
        key = advertiser_date_key(advertiser_id, FINAL_DAYS[0] + timedelta(days=offset))
        same = FINAL_DAYS[0] + timedelta(days=offset) != revised_day
        assert (first[key].tags["dagster/data_version"] == second[key].tags["dagster/data_version"]) is same, key
        assert second[key].metadata["rows_changed"].value == (0 if same else 1)
    after = _stored(harness, advertiser_id)
    assert {key for key in after if after[key] != before.get(key)} == {(revised_day.isoformat(), ad_id, "likes")}


def test_with_nothing_configured_it_materializes_saying_so(sim, warehouse_url) -> None:
    _simulator, base_url = sim
    harness, advertiser_id = _harness(base_url, warehouse_url)
    result = _run(harness, advertiser_id, *DAYS)
    assert result.success
    done = materializations(result, "ad_metrics_extra_daily")
    assert len(done) == 2
    assert all("none configured" in str(m.metadata["extra_metrics"].value) for m in done.values())
    assert harness.count("ad_metrics_extra_daily") == 0


def test_a_bad_metric_fails_the_run_naming_it(sim, warehouse_url, monkeypatch) -> None:
    _simulator, base_url = sim
    monkeypatch.setenv("TIKTOK_EXTRA_METRICS", "likes,likez")
    harness, advertiser_id = _harness(base_url, warehouse_url)
    result = _run(harness, advertiser_id, *DAYS, raise_on_error=False)
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    assert "'likez' is not a TikTok BASIC report metric" in str(failure.step_failure_data.error)
    assert harness.count("ad_metrics_extra_pulls") == 0


# -- the settle schedule --------------------------------------------------------------------------------------

LIMITED_TOKEN = "extra-metrics-token-0000000000000000000000"


def _tick(harness: SpendHarness, at) -> dg.ScheduleExecutionData:  # noqa: ANN001
    schedule = harness.defs.resolve_schedule_def("extra_metrics_settle_schedule")
    # As the daemon: an instance with a ref (the schedule's resources are built for it).
    with dg.build_schedule_context(instance=harness.instance, instance_ref=harness.instance.get_ref(),
                                   scheduled_execution_time=at,
                                   resources=harness.defs.resources,
                                   repository_def=harness.defs.get_repository_def()) as context:
        return schedule.evaluate_tick(context)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as test_instance:
        yield test_instance


def test_the_settle_schedule_repulls_the_window_and_unsettled_days_of_the_extra_metrics(
        sim, warehouse_url, monkeypatch, instance) -> None:
    from tiktok_assets.warehouse.extra_metrics import write_extra_partitions

    simulator, base_url = sim
    advertiser_id = next(a["advertiser_id"] for a in simulator.world.advertisers
                         if a["display_timezone"] == "America/Los_Angeles")
    simulator.grant(LIMITED_TOKEN, [advertiser_id])
    now = simulator.clock.now()
    quiet = SpendHarness(base_url, warehouse_url, access_token=LIMITED_TOKEN)
    quiet.instance = instance
    quiet.discover()
    assert "No extra metric configured" in (_tick(quiet, now).skip_message or "")

    monkeypatch.setenv("TIKTOK_EXTRA_METRICS", "likes")
    harness = SpendHarness(base_url, warehouse_url, access_token=LIMITED_TOKEN)
    harness.instance = instance
    assert harness.discover() == [advertiser_id]
    today = date(2026, 11, 20)  # 04:30 in UTC-8 at the simulator's now
    row = pd.DataFrame({"ad_id": ["1"], "metric": ["likes"], "value": [3.0], "currency": ["USD"]})
    settled_day, unsettled_day = today - timedelta(days=14), today - timedelta(days=12)
    # Pulled twice, the second time after it aged out of the 7-day window, unchanged: settled.
    for pulled_on in (today - timedelta(days=10), today - timedelta(days=2)):
        write_extra_partitions(harness.engine, {(advertiser_id, settled_day): row}, ["likes"],
                               datetime.combine(pulled_on, time(20)))
    # Pulled once, and that pull inserted a row (a change): not settled yet, however old.
    write_extra_partitions(harness.engine, {(advertiser_id, unsettled_day): row}, ["likes"],
                           datetime.combine(today - timedelta(days=2), time(20)))

    (request,) = _tick(harness, now).run_requests
    assert request.tags["dagster/asset_partition_range_start"] == f"{unsettled_day}|{advertiser_id}"
    assert request.tags["dagster/asset_partition_range_end"] == f"{today - timedelta(days=1)}|{advertiser_id}"
    assert request.tags["tiktok/skip_settled"] == "true"

    result = harness.run([ASSET], tags=request.tags)
    assert result.success
    pulled = set(materializations(result, "ad_metrics_extra_daily"))
    assert pulled == {advertiser_date_key(advertiser_id, unsettled_day),
                      *(advertiser_date_key(advertiser_id, today - timedelta(days=offset)) for offset in range(1, 9))}


def test_today_filling_up_is_progress_and_revisions_start_after_the_day_closed(sim, warehouse_url,
                                                                                monkeypatch) -> None:
    simulator, base_url = sim
    monkeypatch.setenv("TIKTOK_EXTRA_METRICS", "video_play_actions,likes")
    harness, advertiser_id = _harness(base_url, warehouse_url)
    advertiser = next(a for a in simulator.world.advertisers if a["advertiser_id"] == advertiser_id)
    today = simulator.clock.now().astimezone(ZoneInfo(advertiser["display_timezone"])).date()
    assert _run(harness, advertiser_id, today, today).success  # the day so far
    simulator.clock.advance(timedelta(hours=6))
    assert _run(harness, advertiser_id, today, today).success  # more of it
    simulator.clock.advance(timedelta(days=1))
    assert _run(harness, advertiser_id, today, today).success  # the first pull after it closed
    pulls = harness.query("select intraday, changed from ad_metrics_extra_pulls order by pull_id")
    assert [bool(value) for value in pulls["intraday"]] == [True, True, False]
    assert bool(pulls["changed"].iloc[1]) and bool(pulls["changed"].iloc[2])
    assert harness.count("ad_metrics_extra_revisions") == 0
    # Two days on, TikTok's invalid-traffic corrections of the young day move video plays: now those are revisions.
    simulator.clock.advance(timedelta(days=2))
    assert _run(harness, advertiser_id, today, today).success
    revisions = harness.query("select metric, change_kind from ad_metrics_extra_revisions")
    assert len(revisions) and set(revisions["change_kind"]) <= {"update", "insert_late", "delete"}
