"""Probed settle re-pulls (spend.probe) against the simulator over HTTP: skipped days, caught changes, fallbacks."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import pandas as pd
import pytest

from tiktok_assets.defs import spend as spend_defs
from tiktok_assets.partitions import advertiser_date_key, all_advertisers_range_tags
from tiktok_assets.spend.probe import Why
from tiktok_assets.spend.settle import SKIP_SETTLED_TAG
from tiktok_assets.warehouse import partition_data_version
from tiktok_assets_tests.spend.harness import STATS, SpendHarness, materializations
from tiktok_assets_tests.spend.test_revisions import FAR_FUTURE, TOKEN, _served

# Los Angeles is on 2026-11-20 at the simulator's start: a 14-day window is 11-05 (age 14) to 11-19 (age 0).
# The simulator revises a day for 7 days, so at the first settle run 11-05..11-12 are final.
START, END = date(2026, 11, 5), date(2026, 11, 19)
WINDOW = 14
DAILY = dg.AssetKey("ad_stats_daily")


@pytest.fixture
def probed(loopback_simulator, tmp_path, monkeypatch):
    """The US advertiser imported 11-05..11-19 and settle-re-pulled once (which stores the first probes)."""
    monkeypatch.setenv("TIKTOK_PROBE_VERIFY_EVERY_DAYS", "0")
    simulator, base_url = loopback_simulator
    # The import judges a day's age on the simulator's clock, as TikTok revises it.
    monkeypatch.setattr(spend_defs, "_utc_now", simulator.clock.now)
    advertiser_id = next(a["advertiser_id"] for a in simulator.world.advertisers
                         if a["display_timezone"] == "America/Los_Angeles")
    simulator.grant(TOKEN, [advertiser_id])
    harness = SpendHarness(base_url, f"sqlite:///{tmp_path / 'w.sqlite'}", access_token=TOKEN, settle_days=WINDOW)
    assert harness.discover() == [advertiser_id]
    assert harness.import_range(START, END).success
    first = settle(harness, advertiser_id)
    assert {m.metadata["repull_reason"].value for m in materializations(first, "ad_stats_daily").values()} == {
        str(Why.NO_PROBE), str(Why.SETTLING)}, "no probe stored yet: every day is pulled"
    assert harness.count("stats_probes") == 2 * ((END - START).days + 1), "one probe per pulled day and stats table"
    return simulator, harness, advertiser_id


def settle(harness: SpendHarness, advertiser_id: str, assets: list[dg.AssetKey] = STATS,
           end: date | None = None) -> dg.ExecuteInProcessResult:
    """A settle run as daily_settle_schedule requests it, over START..end."""
    tags = {**all_advertisers_range_tags([advertiser_id], START, end or END + timedelta(days=10)),
            SKIP_SETTLED_TAG: "true"}
    result = harness.run(assets, tags=tags)
    assert result.success
    return result


def _key(advertiser_id: str, day: date) -> str:
    return str(advertiser_date_key(advertiser_id, day))


def _spending_ads(harness: SpendHarness, advertiser_id: str, day: date, at_least: float) -> pd.DataFrame:
    return harness.query("select ad_id, campaign_id, spend from ad_stats_daily where advertiser_id = :a and "
                         "stat_date = :d and spend >= :s order by campaign_id, ad_id", a=advertiser_id, d=day,
                         s=at_least)


def _revisions(harness: SpendHarness, table: str, ad_id: str, day: date) -> pd.DataFrame:
    return harness.query("select old_spend, new_spend from stats_revisions where table_name = :t and ad_id = :ad "
                         "and stat_date = :d", t=table, ad=ad_id, d=day)


def test_one_ad_changed_on_one_final_day_is_caught_and_only_that_day_of_the_final_ones_is_re_pulled(probed) -> None:
    simulator, harness, advertiser_id = probed
    simulator.clock.advance(timedelta(days=1))  # Los Angeles on 11-21: 11-07..11-12 (ages 8..13) were final already
    changed_day = date(2026, 11, 10)
    ad_id = str(_spending_ads(harness, advertiser_id, changed_day, 1.0)["ad_id"].iloc[0])
    simulator.world.revise(ad_id, changed_day, "spend", 3.0)
    result = settle(harness, advertiser_id)

    for table in ("ad_stats_daily", "ad_stats_hourly"):
        done = materializations(result, table)
        moved = done[_key(advertiser_id, changed_day)]
        assert moved.metadata["repull_reason"].value == str(Why.MOVED)
        assert moved.metadata["changed"].value is True
        logged = _revisions(harness, table, ad_id, changed_day)
        assert round(float((logged["new_spend"] - logged["old_spend"]).sum()), 2) == 3.0, table
        for day in (date(2026, 11, 7) + timedelta(days=n) for n in range(6)):
            if day == changed_day:
                continue
            skipped = done[_key(advertiser_id, day)]
            assert skipped.metadata["probe_unchanged"].value is True, (table, day)
            # The stored version again: declarative automation downstream sees no change.
            assert skipped.tags["dagster/data_version"] == partition_data_version(harness.engine, table,
                                                                                  advertiser_id, day)
        assert done[_key(advertiser_id, date(2026, 11, 6))].metadata["repull_reason"].value == str(Why.SETTLING)


def test_an_offsetting_change_within_a_campaign_is_caught_by_the_periodic_full_verify(probed, monkeypatch) -> None:
    simulator, harness, advertiser_id = probed
    monkeypatch.setenv("TIKTOK_PROBE_VERIFY_EVERY_DAYS", "11")
    simulator.clock.advance(timedelta(days=1))  # 11-21
    day = date(2026, 11, 12)  # age 8: final in the simulator since the last pull, 3 days before its verify age 11
    ads = _spending_ads(harness, advertiser_id, day, 2.0)
    campaign = ads["campaign_id"].value_counts().index[0]
    plus, minus = (str(ad) for ad in ads[ads["campaign_id"] == campaign]["ad_id"].iloc[:2])
    # One ad +2.00, another of the same campaign -2.00: advertiser and campaign totals stay equal in every metric.
    simulator.world.revise(plus, day, "spend", 2.0)
    simulator.world.revise(minus, day, "spend", -2.0)
    for age in (8, 9, 10):
        result = settle(harness, advertiser_id, [DAILY])
        assert materializations(result, "ad_stats_daily")[_key(advertiser_id, day)].metadata[
            "probe_unchanged"].value is True, f"age {age}: the probe cannot see it (the residual risk)"
        assert _revisions(harness, "ad_stats_daily", plus, day).empty
        simulator.clock.advance(timedelta(days=1))
    result = settle(harness, advertiser_id, [DAILY])  # age 11: the full verify
    verified = materializations(result, "ad_stats_daily")[_key(advertiser_id, day)]
    assert verified.metadata["repull_reason"].value == str(Why.VERIFY)
    assert verified.metadata["changed"].value is True
    for ad_id, moved in ((plus, 2.0), (minus, -2.0)):
        logged = _revisions(harness, "ad_stats_daily", ad_id, day)
        assert round(float((logged["new_spend"] - logged["old_spend"]).sum()), 2) == moved


def test_a_failed_probe_falls_back_to_a_blind_re_pull_and_skips_nothing(probed) -> None:
    simulator, harness, advertiser_id = probed
    simulator.clock.advance(timedelta(days=1))
    changed_day = date(2026, 11, 10)
    ad_id = str(_spending_ads(harness, advertiser_id, changed_day, 1.0)["ad_id"].iloc[0])
    simulator.world.revise(ad_id, changed_day, "spend", 3.0)
    probes_before = harness.query("select stat_date, probe_digest, probed_at from stats_probes "
                                  "where table_name = 'ad_stats_daily' order by stat_date")
    # Every attempt of the first report request (the probe) fails: the client gives up on it.
    simulator.faults.inject("server_error", count=6, path_contains="/report/integrated/get/")
    result = settle(harness, advertiser_id, [DAILY])
    done = materializations(result, "ad_stats_daily")
    reasons = {key: m.metadata["repull_reason"].value for key, m in done.items()}
    assert not any("probe_unchanged" in m.metadata for m in done.values()), "nothing skipped on a failed probe"
    probe_decided = [_key(advertiser_id, date(2026, 11, 7) + timedelta(days=n)) for n in range(13)]
    assert {reasons[key] for key in probe_decided} == {str(Why.PROBE_FAILED)}
    logged = _revisions(harness, "ad_stats_daily", ad_id, changed_day)
    assert round(float((logged["new_spend"] - logged["old_spend"]).sum()), 2) == 3.0
    after = harness.query("select stat_date, probe_digest, probed_at from stats_probes "
                          "where table_name = 'ad_stats_daily' order by stat_date")
    pd.testing.assert_frame_equal(after, probes_before)  # no probe was taken, so none is stored


def test_probed_re_pulls_log_every_change_blind_ones_would_and_skip_the_days_that_did_not_move(probed) -> None:
    simulator, harness, advertiser_id = probed
    start = date(2026, 11, 6)
    served = [_served(simulator, advertiser_id, start, END, simulator.clock.now())]
    revisions_before = harness.count("stats_revisions")
    skipped = 0
    for day in range(8):  # day by day: new revisions every day at ages 0..6, one manual one on a final day
        simulator.clock.advance(timedelta(days=1))
        if day == 2:
            late = date(2026, 11, 9)
            simulator.world.revise(str(_spending_ads(harness, advertiser_id, late, 1.0)["ad_id"].iloc[-1]), late,
                                   "conversion", 1)
        result = settle(harness, advertiser_id, [DAILY])
        skipped += sum("probe_unchanged" in m.metadata for m in materializations(result, "ad_stats_daily").values())
        served.append(_served(simulator, advertiser_id, start, END, simulator.clock.now()))
    assert skipped >= 20, "the probe skipped the days that did not move"

    stored = harness.query("select ad_id, stat_date, spend, conversions from ad_stats_daily where advertiser_id = :a "
                           "and stat_date between :s and :e", a=advertiser_id, s=start, e=END)
    final = _served(simulator, advertiser_id, start, END, FAR_FUTURE)
    assert {(row.ad_id, str(pd.Timestamp(row.stat_date).date())): (round(float(row.spend), 4), float(row.conversions))
            for row in stored.itertuples()} == {key: (values[0], float(values[1])) for key, values in final.items()}
    expected = sorted(
        (key[0], key[1], before.get(key, (0.0, 0))[0], after.get(key, (0.0, 0))[0],
         float(before.get(key, (0.0, 0))[1]), float(after.get(key, (0.0, 0))[1]))
        for before, after in zip(served, served[1:], strict=False)
        for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)
    )
    log = harness.query("select ad_id, stat_date, old_spend, new_spend, old_conversions, new_conversions "
                        "from stats_revisions where table_name = 'ad_stats_daily' and stat_date between :s and :e",
                        s=start, e=END)
    assert harness.count("stats_revisions") > revisions_before
    assert sorted((row.ad_id, str(pd.Timestamp(row.stat_date).date()), round(float(row.old_spend), 4),
                   round(float(row.new_spend), 4), float(row.old_conversions), float(row.new_conversions))
                  for row in log.itertuples()
                  if pd.Timestamp(row.stat_date).date() >= start) == expected
