"""Narrowed hourly settle re-pulls (spend.narrow) against the simulator over HTTP.

A probed hourly re-pull of a moved day asks TikTok only for the ads whose ad-level
daily row moved. Here it is run beside a blind re-pull of a copy of the same
warehouse, day after day, and both must hold the same rows and log the same
revisions, the narrowed one with far fewer requests.
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pandas as pd
import pytest

from tiktok_assets.defs import spend as spend_defs
from tiktok_assets.partitions import advertiser_date_key, all_advertisers_range_tags
from tiktok_assets.simulator import SimClock, Simulator, World, serve
from tiktok_assets.spend.probe import Why
from tiktok_assets.spend.settle import SKIP_SETTLED_TAG, local_today
from tiktok_assets_tests.spend.harness import SpendHarness, materializations

HOURLY = dg.AssetKey("ad_stats_hourly")
# The simulator revises a day for 7 days: ages 7..9 of the window are final and probed, 10 is the settling pull.
WINDOW = 10
METRICS = ("spend", "impressions", "clicks", "conversions", "installs", "purchases", "purchase_value",
           "app_purchases", "app_purchase_value")
ROUTE = "/open_api/v1.3/report/integrated/get/"


@pytest.fixture
def world_of_200(tmp_path, monkeypatch):
    """One advertiser of 200 ads (a day is 5 pages of hourly rows), imported over the window and settled once."""
    monkeypatch.setenv("TIKTOK_PROBE_VERIFY_EVERY_DAYS", "0")
    simulator = Simulator(world=World.sized(n_ads=200, n_advertisers=1, seed=11),
                          clock=SimClock(fixed=datetime(2026, 11, 20, 12, 30, tzinfo=UTC)), qps=None)
    monkeypatch.setattr(spend_defs, "_utc_now", simulator.clock.now)
    with serve(simulator) as base_url:
        harness = SpendHarness(base_url, f"sqlite:///{tmp_path / 'w.sqlite'}", settle_days=WINDOW)
        [advertiser_id] = harness.discover()
        today = local_today(simulator.world.advertiser(advertiser_id).report_timezone, simulator.clock.now())
        start = today - timedelta(days=WINDOW + 1)
        assert harness.import_range(start, today - timedelta(days=1)).success
        settle(harness, advertiser_id, start)  # stores the first probes and ad digests
        yield simulator, harness, advertiser_id, start, base_url


def _today(simulator: Simulator, advertiser_id: str) -> date:
    return local_today(simulator.world.advertiser(advertiser_id).report_timezone, simulator.clock.now())


def settle(harness: SpendHarness, advertiser_id: str, start: date) -> dg.ExecuteInProcessResult:
    tags = {**all_advertisers_range_tags([advertiser_id], start, start + timedelta(days=40)), SKIP_SETTLED_TAG: "true"}
    result = harness.run([HOURLY], tags=tags)
    assert result.success
    return result


def stored_hourly(harness: SpendHarness) -> pd.DataFrame:
    stored = harness.query(f"select ad_id, stat_hour_utc, {', '.join(METRICS)} from ad_stats_hourly "
                           "order by ad_id, stat_hour_utc")
    return stored[["ad_id", "stat_hour_utc", *METRICS]]


def logged_revisions(harness: SpendHarness) -> list[tuple]:
    """What the hourly revision log says moved, without when it was pulled."""
    columns = ", ".join(f"old_{m}, new_{m}" for m in METRICS)
    log = harness.query(f"select ad_id, stat_time, change_kind, {columns} from stats_revisions "
                        "where table_name = 'ad_stats_hourly'")
    return sorted(tuple(str(value) for value in row) for row in log[sorted(log.columns)].itertuples(index=False,
                                                                                                      name=None))


def served_hourly(simulator: Simulator, advertiser_id: str, start: date, end: date) -> dict[tuple[str, str], tuple]:
    """What TikTok serves now, from the simulator's world (local hour as TikTok dates it)."""
    frame = simulator.world.report_frame(advertiser_id, "AUCTION_AD", "hour", start, end, simulator.clock.now())
    columns = ["spend", "impressions", "clicks", "conversion", "app_install"]
    return {(str(row[0]), str(row[1])): tuple(round(float(value), 4) for value in row[2:])
            for row in frame[["ad_id", "stat_time", *columns]].itertuples(index=False, name=None)}


def test_narrowed_hourly_re_pulls_store_and_log_what_blind_ones_do_with_a_fraction_of_the_requests(
        world_of_200, monkeypatch) -> None:
    simulator, harness, advertiser_id, start, base_url = world_of_200
    copy = harness.engine.url.database + ".blind.sqlite"
    harness.engine.dispose()
    shutil.copyfile(harness.engine.url.database, copy)
    blind = SpendHarness(base_url, f"sqlite:///{copy}", settle_days=WINDOW)
    blind.discover()
    requests = {"probed": 0, "blind": 0}
    narrowed_partitions = 0
    for day in range(4):  # the seeded revisions of ages 0..6 each day, and one late conversion on day 2
        simulator.clock.advance(timedelta(days=1))
        if day == 2:
            # A late conversion on a day the simulator no longer revises (age 8): only the probe can say it moved.
            late = _today(simulator, advertiser_id) - timedelta(days=9)
            ad_id = str(harness.query("select ad_id from ad_stats_hourly where stat_date = :d and clicks > 0 "
                                      "order by ad_id limit 1", d=late)["ad_id"].iloc[0])
            simulator.world.revise(ad_id, late, "conversion", 2)
        for mode, run_harness in (("probed", harness), ("blind", blind)):
            monkeypatch.setenv("TIKTOK_REPULL_PROBE", "on" if mode == "probed" else "off")
            before = simulator.request_counts[ROUTE]
            result = settle(run_harness, advertiser_id, start)
            requests[mode] += simulator.request_counts[ROUTE] - before
            if mode == "probed":
                narrowed_partitions += sum(m.metadata["repull_scope"].value != "every ad"
                                           for m in materializations(result, "ad_stats_hourly").values()
                                           if "repull_scope" in m.metadata)
        pd.testing.assert_frame_equal(stored_hourly(harness), stored_hourly(blind))
        assert logged_revisions(harness) == logged_revisions(blind), f"day {day}: the same changes logged"
    assert narrowed_partitions >= 4, "moved days were re-pulled for some ads only"
    # 200 ads are 5 pages a day, and most days of this short window move every day; bench 8 measures the ratio.
    assert requests["probed"] < requests["blind"], requests
    # And what both hold is what TikTok serves now, for every day still inside the window.
    first = _today(simulator, advertiser_id) - timedelta(days=WINDOW + 1)
    stored = harness.query(f"select ad_id, stat_hour_local, {', '.join(METRICS[:5])} from ad_stats_hourly "
                           "where stat_date >= :d", d=first)
    stored_values = {(str(row[0]), str(pd.Timestamp(row[1]))): tuple(round(float(value), 4) for value in row[2:])
                     for row in stored[["ad_id", "stat_hour_local", *METRICS[:5]]].itertuples(index=False, name=None)}
    served = served_hourly(simulator, advertiser_id, first, _today(simulator, advertiser_id) - timedelta(days=1))
    assert stored_values == served
    blind.engine.dispose()


def test_an_offsetting_change_within_a_campaign_is_caught_at_the_verify_age_asking_only_those_two_ads(
        world_of_200, monkeypatch) -> None:
    simulator, harness, advertiser_id, start, _ = world_of_200
    monkeypatch.setenv("TIKTOK_PROBE_VERIFY_EVERY_DAYS", "9")
    simulator.clock.advance(timedelta(days=1))
    day = _today(simulator, advertiser_id) - timedelta(days=8)
    settle(harness, advertiser_id, start)  # age 7: final in the simulator from now on, pulled once more
    ads = harness.query("select ad_id, campaign_id from ad_stats_daily where stat_date = :d and spend >= 2 "
                        "order by campaign_id, ad_id", d=day)
    campaign = ads["campaign_id"].value_counts().index[0]
    plus, minus = (str(ad) for ad in ads[ads["campaign_id"] == campaign]["ad_id"].iloc[:2])
    # +2.00 and -2.00 on two ads of one campaign: every advertiser and campaign total stays equal.
    simulator.world.revise(plus, day, "spend", 2.0)
    simulator.world.revise(minus, day, "spend", -2.0)
    key = str(advertiser_date_key(advertiser_id, day))
    for age in (8,):
        simulator.clock.advance(timedelta(days=1))
        assert materializations(settle(harness, advertiser_id, start), "ad_stats_hourly")[key].metadata[
            "probe_unchanged"].value is True, f"age {age}: the campaign probe cannot see it"
    simulator.clock.advance(timedelta(days=1))  # age 9: the verify
    verified = materializations(settle(harness, advertiser_id, start), "ad_stats_hourly")[key]
    assert verified.metadata["repull_reason"].value == str(Why.VERIFY)
    of_ads = harness.query("select count(distinct ad_id) as n from ad_stats_daily where stat_date = :d",
                           d=day)["n"].iloc[0]
    assert verified.metadata["repull_scope"].value == f"2 of {of_ads} ads (their daily rows moved)"
    for ad_id, moved in ((plus, 2.0), (minus, -2.0)):
        logged = harness.query("select old_spend, new_spend from stats_revisions where table_name = 'ad_stats_hourly' "
                               "and ad_id = :a and stat_date = :d", a=ad_id, d=day)
        assert round(float((logged["new_spend"] - logged["old_spend"]).sum()), 2) == moved
