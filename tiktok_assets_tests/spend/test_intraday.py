"""Issue 16, defect 1: today's partial day is not a revision. The hourly sync's re-pulls of a day that has not ended
in the advertiser's report zone are intraday progress: no stats_revisions rows, no revision-check warning; revision
history and revision_drift start at the first pull after the day closed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pandas as pd
import pytest

from tiktok_assets.defs.resources import WarehouseResource
from tiktok_assets.defs.spend import SPEND_REVISION_CHECK, revision_drift
from tiktok_assets.spend.settle import local_today
from tiktok_assets.spend.zones import report_zone
from tiktok_assets.warehouse import make_engine, partition_drift, upsert_advertisers, write_stats_partition
from tiktok_assets.warehouse.tables import frame_columns, stats_table
from tiktok_assets_tests.spend.harness import SpendHarness, materialized_partitions

TOKEN = "limited-token-intraday-00000000000000000"


@pytest.fixture
def realtime_one_advertiser(tmp_path) -> Iterator[tuple[object, SpendHarness, str, str]]:
    """The simulator on the real clock (the stats assets judge "today" by it), the US advertiser only."""
    from tiktok_assets.simulator import SimClock, Simulator, World, serve

    simulator = Simulator(world=World(seed=7), clock=SimClock(), qps=None)
    with serve(simulator) as base_url:
        spec = next(a for a in simulator.world.advertisers if a["display_timezone"] == "America/Los_Angeles")
        simulator.grant(TOKEN, [spec["advertiser_id"]])
        harness = SpendHarness(base_url, f"sqlite:///{tmp_path / 'w.sqlite'}", access_token=TOKEN)
        assert harness.discover() == [spec["advertiser_id"]]
        zone, _field = report_zone(spec)
        yield simulator, harness, spec["advertiser_id"], zone


def _revision_check(result: dg.ExecuteInProcessResult, asset: str) -> dg.AssetCheckEvaluation:
    return next(evaluation for evaluation in result.get_asset_check_evaluations()
                if evaluation.check_name == SPEND_REVISION_CHECK and evaluation.asset_key == dg.AssetKey(asset))


def test_re_pulls_of_today_are_progress_not_revisions(realtime_one_advertiser) -> None:
    simulator, harness, advertiser_id, zone = realtime_one_advertiser
    today = local_today(zone, datetime.now(UTC))

    harness.import_range(today, today, entities=False)
    simulator.clock.advance(timedelta(hours=3))  # TikTok now serves three more hours of today
    second = harness.import_range(today, today, entities=False)

    assert second.success
    pulls = harness.query("select table_name, spend_before, spend_after, changed from partition_pulls "
                          "where advertiser_id = :a order by pull_id", a=advertiser_id)
    daily = pulls[pulls["table_name"] == "ad_stats_daily"]
    assert len(daily) == 2 and bool(daily["changed"].iloc[1]), "the day grew between the pulls"
    assert float(daily["spend_after"].iloc[1]) > float(daily["spend_after"].iloc[0])
    revisions = harness.query("select count(*) as n from stats_revisions where advertiser_id = :a", a=advertiser_id)
    assert revisions["n"].iloc[0] == 0, "intraday growth is no revision"
    for asset in ("ad_stats_daily", "ad_stats_hourly"):
        assert _revision_check(second, asset).passed, asset
        (partition,) = materialized_partitions(second, asset)
        event = next(e.event_specific_data.materialization for e in second.get_asset_materialization_events()
                     if e.event_specific_data.materialization.asset_key == dg.AssetKey(asset))
        assert event.metadata["intraday"].value is True, partition
    intraday = harness.query("select intraday from partition_pulls where advertiser_id = :a", a=advertiser_id)
    assert intraday["intraday"].astype(bool).all(), "partition_pulls records the pulls as intraday"


def _frame(advertiser_id: str, day: date, spend: float) -> pd.DataFrame:
    row = {column: 0 for column in frame_columns(stats_table("ad_stats_daily"))}
    row |= {"advertiser_id": advertiser_id, "ad_id": "1", "stat_date": day, "campaign_id": "c", "adgroup_id": "g",
            "currency": "USD", "spend": spend, "impressions": 100, "reach": None}
    return pd.DataFrame([row])


def test_revision_history_and_drift_start_at_the_first_pull_after_the_day_closed(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    engine = make_engine(url)
    WarehouseResource(url=url).get_engine()  # the schema
    advertiser_id, day = "A1", date(2026, 11, 1)
    upsert_advertisers(engine, [{"advertiser_id": advertiser_id, "currency": "USD", "timezone": "Etc/GMT+8"}],
                       datetime(2026, 11, 1, 9))
    during = [datetime(2026, 11, 1, 12), datetime(2026, 11, 1, 18)]  # UTC: 04:00 and 10:00 of the 1st in UTC-8
    for pulled_at, spend in zip(during, (2.0, 5.0), strict=True):
        write_stats_partition(engine, "ad_stats_daily", advertiser_id, day, _frame(advertiser_id, day, spend),
                              pulled_at, intraday=True)
    # The day closed at 08:00 UTC on the 2nd: the next pull is the baseline, and its difference from the
    # day so far is no revision either.
    baseline = write_stats_partition(engine, "ad_stats_daily", advertiser_id, day, _frame(advertiser_id, day, 10.0),
                                     datetime(2026, 11, 2, 9))
    assert baseline.changed
    with engine.connect() as connection:
        assert connection.exec_driver_sql("select count(*) from stats_revisions").scalar() == 0
    revised = write_stats_partition(engine, "ad_stats_daily", advertiser_id, day, _frame(advertiser_id, day, 10.5),
                                    datetime(2026, 11, 3, 9))
    assert revised.changed
    with engine.connect() as connection:
        logged = connection.exec_driver_sql("select change_kind, old_spend, new_spend from stats_revisions").all()
    assert [(kind, float(old), float(new)) for kind, old, new in logged] == [("update", 10.0, 10.5)]

    drift = partition_drift(engine, "ad_stats_daily")
    assert drift[["first_spend", "current_spend", "spend_change"]].values.tolist() == [[10.0, 10.5, 0.5]]
    assert drift["pulls"].tolist() == [2], "the intraday pulls are not part of the drift"

    dg.materialize([revision_drift], resources={"warehouse": WarehouseResource(url=url)})
    with engine.connect() as connection:
        stored = connection.exec_driver_sql("select first_spend, current_spend from revision_drift").all()
    assert [tuple(map(float, row)) for row in stored] == [(10.0, 10.5)]
