"""Deleted ads keep their spend (defect 1, pipeline side): a re-pull after an ad is deleted, inside the settle
window and after it, never lowers the day's spend; a settled day that stops serving rows keeps them and warns."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from tiktok_assets.defs.spend import SETTLED_ROWS_CHECK
from tiktok_assets_tests.spend.harness import SpendHarness

TOKEN = "limited-token-deleted-ads-00000000000000"
DAY = date(2026, 11, 16)  # 3 days old at the simulator's now (2026-11-20): inside the settle window


@pytest.fixture
def one_advertiser(loopback_simulator, tmp_path):
    """A harness whose token reads only the US advertiser."""
    simulator, base_url = loopback_simulator
    advertiser_id = next(a["advertiser_id"] for a in simulator.world.advertisers if a["currency"] == "USD")
    simulator.grant(TOKEN, [advertiser_id])
    harness = SpendHarness(base_url, f"sqlite:///{tmp_path / 'w.sqlite'}", access_token=TOKEN)
    assert harness.discover() == [advertiser_id]
    return simulator, harness, advertiser_id


def _day_spend(harness: SpendHarness, advertiser_id: str, ad_id: str | None = None) -> float:
    sql = "select coalesce(sum(spend), 0) as s from ad_stats_daily where advertiser_id = :a and stat_date = :d"
    params = {"a": advertiser_id, "d": DAY.isoformat()}
    if ad_id is not None:
        sql += " and ad_id = :ad"
        params["ad"] = ad_id
    return round(float(harness.query(sql, **params)["s"].iloc[0]), 2)


def _truth(simulator, advertiser_id: str, *, hide_deleted: bool) -> float:
    frame = simulator.world.report_frame(advertiser_id, "AUCTION_AD", "day", DAY, DAY, simulator.clock.now(),
                                         hide_deleted=hide_deleted)
    return round(float(frame["spend"].sum()), 2)


def test_deleting_an_ad_never_lowers_the_days_spend_in_the_window_or_after(one_advertiser) -> None:
    simulator, harness, advertiser_id = one_advertiser
    assert harness.import_range(DAY, DAY).success
    stored = harness.query("select ad_id, spend from ad_stats_daily where advertiser_id = :a and spend > 0 "
                           "order by spend desc", a=advertiser_id)
    ad_id = str(stored["ad_id"].iloc[0])  # the ad that spent most that day
    ad_spend = _day_spend(harness, advertiser_id, ad_id)
    simulator.world.delete(ad_id, at=simulator.clock.now() + timedelta(hours=1))

    for advance in (timedelta(days=1), timedelta(days=8)):  # a re-pull inside the settle window, then one after it
        simulator.clock.advance(advance)
        hidden = _truth(simulator, advertiser_id, hide_deleted=True)
        served = _truth(simulator, advertiser_id, hide_deleted=False)
        assert hidden < served, "without the status filter TikTok hides the deleted ad's spend"
        assert harness.import_range(DAY, DAY).success
        assert _day_spend(harness, advertiser_id) == served, "the day keeps the deleted ad's spend"
        assert _day_spend(harness, advertiser_id, ad_id) >= ad_spend > 0

    deletions = harness.query("select count(*) as n from stats_revisions where ad_id = :ad and "
                              "new_spend is null", ad=ad_id)
    assert deletions["n"].iloc[0] == 0, "the deleted ad's rows were never logged as deletions"
    parents = harness.query("select campaign_id, adgroup_id from ad_stats_daily where ad_id = :ad", ad=ad_id)
    assert parents["campaign_id"].notna().all() and parents["adgroup_id"].notna().all(), "parents still known"
    history = harness.query("select is_deleted, secondary_status from ad_history where ad_id = :ad and "
                            "valid_to is null", ad=ad_id)
    assert history["is_deleted"].astype(bool).tolist() == [True]
    assert str(history["secondary_status"].iloc[0]).endswith("_DELETE")


def test_a_settled_day_that_stops_serving_a_row_keeps_it_and_warns(one_advertiser) -> None:
    simulator, harness, advertiser_id = one_advertiser
    old_day = date(2026, 11, 2)  # long past the settle window
    harness.import_range(old_day, old_day, entities=False)  # first pull: inserts, so not settled yet
    settling = harness.import_range(old_day, old_day, entities=False)  # unchanged after ageing out: settled
    assert _settled_check(settling).passed, "nothing vanished: the check passes"
    # A row TikTok no longer serves (we hold it, the answer lacks it): the warehouse's own copy of a real row.
    with harness.engine.begin() as connection:
        row = connection.execute(sa.text("select * from ad_stats_daily where advertiser_id = :a and stat_date = :d "
                                         "limit 1"), {"a": advertiser_id, "d": old_day.isoformat()}).mappings().one()
        connection.execute(sa.text("insert into ad_stats_daily (" + ", ".join(row) + ") values ("
                                   + ", ".join(f":{key}" for key in row) + ")"), {**row, "ad_id": "1799999999999999999"})
    spend_before = harness.query("select sum(spend) as s from ad_stats_daily where stat_date = :d",
                                 d=old_day.isoformat())["s"].iloc[0]

    result = harness.import_range(old_day, old_day, entities=False)

    assert result.success
    spend_after = harness.query("select sum(spend) as s from ad_stats_daily where stat_date = :d",
                                d=old_day.isoformat())["s"].iloc[0]
    assert round(float(spend_after), 2) == round(float(spend_before), 2), "a settled figure never drops"
    materialization = next(event.event_specific_data.materialization
                           for event in result.get_asset_materialization_events()
                           if event.event_specific_data.materialization.asset_key.path == ["ad_stats_daily"])
    assert materialization.metadata["rows_vanished_kept"].value == 1
    check = _settled_check(result)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert advertiser_id in check.description and str(old_day) in check.description
    assert check.metadata["rows_vanished_kept"].value == 1
    revisions = harness.query("select count(*) as n from stats_revisions where ad_id = '1799999999999999999'")
    assert revisions["n"].iloc[0] == 0, "a kept row is not a revision"


def _settled_check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    return next(evaluation for evaluation in result.get_asset_check_evaluations()
                if evaluation.check_name == SETTLED_ROWS_CHECK and evaluation.asset_key == dg.AssetKey("ad_stats_daily"))
