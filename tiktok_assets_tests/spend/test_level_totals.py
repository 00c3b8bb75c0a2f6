"""TikTok's own campaign / ad group / advertiser daily totals and lifetime totals, over HTTP against the simulator.

The expected values come from the simulator's world (``World.report_frame``, its ground truth), never from the
code under test; frequency is recomputed here as impressions / reach.
"""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import pandas as pd
import pytest

from tiktok_assets.defs import levels as level_defs
from tiktok_assets.defs import spend as spend_defs
from tiktok_assets.partitions import all_advertisers_range_tags
from tiktok_assets.simulator.entities import zone_info
from tiktok_assets.spend.settle import SKIP_SETTLED_TAG
from tiktok_assets_tests.spend.harness import SpendHarness, materializations

TOKEN = "limited-token-level-totals-000000000000"
LEVEL_KEYS = [dg.AssetKey(name) for name in level_defs.LEVEL_ASSETS.values()]
DATA_LEVEL = {"campaign": "AUCTION_CAMPAIGN", "adgroup": "AUCTION_ADGROUP", "advertiser": "AUCTION_ADVERTISER"}
ID = {"campaign": "campaign_id", "adgroup": "adgroup_id", "advertiser": "advertiser_id", "ad": "ad_id"}
START, END = date(2026, 11, 14), date(2026, 11, 18)


@pytest.fixture
def one_advertiser(loopback_simulator, warehouse_url, monkeypatch):
    """The US advertiser (America/Los_Angeles, one reservation campaign), its ad rows imported for START..END."""
    simulator, base_url = loopback_simulator
    advertiser_id = next(a["advertiser_id"] for a in simulator.world.advertisers
                         if a["display_timezone"] == "America/Los_Angeles")
    assert simulator.world.reservation_campaign_ids(advertiser_id), "the test wants reservation buying in the account"
    simulator.grant(TOKEN, [advertiser_id])
    monkeypatch.setattr(level_defs, "_utc_now", simulator.clock.now)
    monkeypatch.setattr(spend_defs, "_utc_now", simulator.clock.now)
    harness = SpendHarness(base_url, warehouse_url, access_token=TOKEN)
    assert harness.discover() == [advertiser_id]
    assert harness.import_range(START, END, entities=False).success
    return simulator, harness, advertiser_id


def _pull_levels(harness: SpendHarness, advertiser_id: str, *, settle: bool = False) -> dg.ExecuteInProcessResult:
    tags = all_advertisers_range_tags([advertiser_id], START, END)
    if settle:
        tags[SKIP_SETTLED_TAG] = "true"
    result = harness.run(LEVEL_KEYS, tags=tags)
    assert result.success
    return result


def _world_rows(simulator, advertiser_id: str, level: str, now) -> dict[tuple[str, str], tuple]:  # noqa: ANN001
    """(entity, day) -> spend, impressions, clicks, conversions, reach, frequency as TikTok serves them."""
    frame = simulator.world.report_frame(advertiser_id, DATA_LEVEL[level], "day", START, END, now)
    rows = {}
    for row in frame.itertuples(index=False):
        reach = int(row.reach)
        rows[(str(getattr(row, ID[level])), str(row.stat_time.date()))] = (
            round(float(row.spend), 4), int(row.impressions), int(row.clicks), int(row.conversion), reach,
            round(row.impressions / reach, 2))
    return rows


def _stored_rows(harness: SpendHarness, level: str) -> dict[tuple[str, str], tuple]:
    stored = harness.query("select * from level_stats_daily where level = :level", level=level)
    return {(row.entity_id, str(pd.Timestamp(row.stat_date).date())): (
        round(float(row.spend), 4), int(row.impressions), int(row.clicks), int(row.conversions), int(row.reach),
        round(float(row.frequency), 2)) for row in stored.itertuples()}


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {evaluation.asset_key.to_user_string(): evaluation for evaluation in result.get_asset_check_evaluations()}


def test_level_totals_hold_tiktoks_own_figures_and_reconcile_with_ad_rows(one_advertiser) -> None:
    simulator, harness, advertiser_id = one_advertiser
    result = _pull_levels(harness, advertiser_id)
    now = simulator.clock.now()
    for level in level_defs.LEVEL_ASSETS:
        assert _stored_rows(harness, level) == _world_rows(simulator, advertiser_id, level, now), level
    # Reach is TikTok's, deduplicated across ads: some campaign reaches fewer people than its ads' reach summed.
    ads = simulator.world.report_frame(advertiser_id, "AUCTION_AD", "day", START, END, now)
    ads = ads.merge(pd.DataFrame(simulator.world.ads(advertiser_id, now))[["ad_id", "campaign_id"]].astype(str),
                    on="ad_id")
    summed = ads.groupby(["campaign_id", ads["stat_time"].dt.date.astype(str)])["reach"].sum()
    stored = harness.query("select entity_id, stat_date, reach from level_stats_daily where level = 'campaign'")
    below = [row for row in stored.itertuples()
             if row.reach < summed[(row.entity_id, str(pd.Timestamp(row.stat_date).date()))]]
    assert below, "campaign reach should be deduplicated, below the sum of its ads' reach"
    # The advertiser's spend splits into cash and voucher spend.
    account = harness.query("select spend, cash_spend, voucher_spend from level_stats_daily where level = 'advertiser'")
    assert len(account) == (END - START).days + 1
    assert (abs(account["cash_spend"] + account["voucher_spend"] - account["spend"]) < 0.005).all()

    checks = _checks(result)
    assert set(checks) == {f"{level}_stats_daily" for level in level_defs.LEVEL_ASSETS}
    assert all(check.passed for check in checks.values()), {k: v.description for k, v in checks.items()}
    # The account total holds the reservation campaign, which ad rows lack: reported, not a failure.
    assert checks["advertiser_stats_daily"].metadata["not_in_ad_rows"].data, "reservation spend should show"
    parts = materializations(result, "campaign_stats_daily")
    assert len(parts) == (END - START).days + 1
    assert all(m.tags[spend_defs.DATA_VERSION_TAG] for m in parts.values())


def test_repull_records_revisions_only_where_values_moved(one_advertiser) -> None:
    simulator, harness, advertiser_id = one_advertiser
    first = materializations(_pull_levels(harness, advertiser_id), "adgroup_stats_daily")
    before = {level: _world_rows(simulator, advertiser_id, level, simulator.clock.now()) for level in DATA_LEVEL}
    # The same day again: nothing moved, nothing logged, the same data versions.
    again = materializations(_pull_levels(harness, advertiser_id, settle=True), "adgroup_stats_daily")
    assert harness.count("level_stats_revisions") == 0
    assert {k: m.tags[spend_defs.DATA_VERSION_TAG] for k, m in again.items()} == {
        k: m.tags[spend_defs.DATA_VERSION_TAG] for k, m in first.items()}

    simulator.clock.advance(timedelta(days=1))
    _pull_levels(harness, advertiser_id, settle=True)
    after = {level: _world_rows(simulator, advertiser_id, level, simulator.clock.now()) for level in DATA_LEVEL}
    expected = sorted((level, entity, day) for level in DATA_LEVEL
                      for (entity, day), values in after[level].items() if before[level].get((entity, day)) != values)
    assert expected, "the simulator revised something inside the settle window"
    logged = harness.query("select level, entity_id, stat_date, old_spend, new_spend, old_conversions, "
                           "new_conversions from level_stats_revisions")
    assert sorted((row.level, row.entity_id, str(pd.Timestamp(row.stat_date).date()))
                  for row in logged.itertuples()) == expected
    for row in logged.itertuples():
        key = (row.entity_id, str(pd.Timestamp(row.stat_date).date()))
        assert (round(float(row.old_spend), 4), int(row.old_conversions)) == (before[row.level][key][0],
                                                                              before[row.level][key][3])
        assert (round(float(row.new_spend), 4), int(row.new_conversions)) == (after[row.level][key][0],
                                                                              after[row.level][key][3])
    for level in DATA_LEVEL:
        assert _stored_rows(harness, level) == after[level]


def test_reconciliation_warns_naming_the_entity_whose_ad_rows_were_tampered_with(one_advertiser) -> None:
    simulator, harness, advertiser_id = one_advertiser
    victim = harness.query("select ad_id, campaign_id, adgroup_id, stat_date from ad_stats_daily "
                           "where advertiser_id = :a and spend > 1 order by spend desc limit 1", a=advertiser_id)
    ad_id, campaign_id, adgroup_id = victim["ad_id"][0], victim["campaign_id"][0], victim["adgroup_id"][0]
    day = pd.Timestamp(victim["stat_date"][0]).date()
    with harness.engine.begin() as connection:
        connection.exec_driver_sql(
            "update ad_stats_daily set spend = spend + 5, clicks = clicks + 3 where ad_id = %s" % f"'{ad_id}'"
            + f" and stat_date = '{day.isoformat()}'")
    checks = _checks(_pull_levels(harness, advertiser_id))
    for level, entity in (("campaign", campaign_id), ("adgroup", adgroup_id), ("advertiser", advertiser_id)):
        check = checks[f"{level}_stats_daily"]
        assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN, level
        assert check.metadata["entities"].data == [entity], level
        assert f"{level} {entity} on {day}" in check.description


def _world_lifetime(simulator, advertiser_id: str, level: str, now) -> pd.DataFrame:  # noqa: ANN001
    """Additive lifetime totals from the world's daily rows, summed here (30 days a frame)."""
    world = simulator.world
    today = now.astimezone(zone_info(world.advertiser(advertiser_id).market.timezone)).date()
    frames, first = [], world.epoch
    while first <= today:
        last = min(today, first + timedelta(days=29))
        frames.append(world.report_frame(advertiser_id, DATA_LEVEL.get(level, "AUCTION_AD"), "day", first, last, now))
        first = last + timedelta(days=1)
    whole = pd.concat(frames, ignore_index=True)
    summed = whole.groupby(ID[level])[["spend", "impressions", "clicks", "conversion"]].sum()
    summed["spend"] = summed["spend"].round(4)
    summed["largest_day_reach"] = whole.groupby(ID[level])["reach"].max()
    summed["summed_reach"] = whole.groupby(ID[level])["reach"].sum()
    return summed


def test_lifetime_totals_equal_the_worlds_and_snapshots_accumulate(loopback_simulator, warehouse_url,
                                                                 monkeypatch) -> None:
    simulator, base_url = loopback_simulator
    advertiser_id = simulator.world.advertiser_ids[1]
    simulator.grant(TOKEN, [advertiser_id])
    monkeypatch.setattr(level_defs, "_utc_now", simulator.clock.now)
    harness = SpendHarness(base_url, warehouse_url, access_token=TOKEN)
    harness.discover()
    run = harness.run([dg.AssetKey("lifetime_totals")], partition_key=advertiser_id)
    assert run.success
    now = simulator.clock.now()
    stored = harness.query("select * from lifetime_snapshots")
    for level in ("ad", "adgroup", "campaign"):
        mine = stored[stored["level"] == level].set_index("entity_id")
        world = _world_lifetime(simulator, advertiser_id, level, now)
        world.index = world.index.astype(str)
        assert set(mine.index) == set(world.index), level
        assert (abs(mine["spend"].astype(float) - world.loc[mine.index, "spend"]) < 0.005).all(), level
        assert (mine["impressions"] == world.loc[mine.index, "impressions"]).all(), level
        assert (mine["clicks"] == world.loc[mine.index, "clicks"]).all(), level
        assert (mine["conversions"] == world.loc[mine.index, "conversion"]).all(), level
        # Lifetime reach is people over the whole life: at least the busiest day's, at most every day's summed.
        assert (mine["reach"] >= world.loc[mine.index, "largest_day_reach"]).all(), level
        assert (mine["reach"] <= world.loc[mine.index, "summed_reach"]).all(), level
        assert (abs(mine["frequency"] - (mine["impressions"] / mine["reach"]).round(2)) < 0.006).all(), level
    first_count = len(stored)

    # The same day again: nothing moved, nothing written.
    assert harness.run([dg.AssetKey("lifetime_totals")], partition_key=advertiser_id).success
    assert harness.count("lifetime_snapshots") == first_count

    # A day later the delivering entities have grown: new snapshots beside the old ones.
    simulator.clock.advance(timedelta(days=1))
    assert harness.run([dg.AssetKey("lifetime_totals")], partition_key=advertiser_id).success
    grown = harness.query("select level, entity_id, count(*) as n, min(spend) as first_spend, "
                          "max(spend) as last_spend from lifetime_snapshots group by level, entity_id")
    assert harness.count("lifetime_snapshots") > first_count
    assert (grown["n"] <= 2).all() and (grown["n"] == 2).any()
    moved = grown[grown["n"] == 2]
    assert (moved["last_spend"].astype(float) >= moved["first_spend"].astype(float)).all()
