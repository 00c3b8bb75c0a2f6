"""GMV Max (TikTok Shop) campaigns' daily rows, over HTTP against the simulator, written revision-aware.

Expected values come from the simulator's GMV Max book (``World.gmv_max``, its ground truth), never from the code
under test.
"""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import pandas as pd
import pytest

from tiktok_assets.defs import gmv_max as gmv_defs
from tiktok_assets.partitions import all_advertisers_range_tags
from tiktok_assets.spend.settle import SKIP_SETTLED_TAG
from tiktok_assets_tests.spend.harness import SpendHarness, materializations

TOKEN = "limited-token-gmv-max-00000000000000000"
KEY = [dg.AssetKey("gmv_max_stats_daily")]
START, END = date(2026, 11, 14), date(2026, 11, 18)
# Before the world's LIVE campaign was deleted (the simulator deletes it 300 days after its epoch, 2026-10-28).
BEFORE_DELETION = (date(2026, 10, 20), date(2026, 10, 23))


@pytest.fixture
def shop(loopback_simulator, warehouse_url, monkeypatch):
    """The advertiser with a TikTok Shop (and one without), both authorised."""
    simulator, base_url = loopback_simulator
    with_shop = next(a for a in simulator.world.advertiser_ids if simulator.world.gmv_max.stores(a))
    without = next(a for a in simulator.world.advertiser_ids if not simulator.world.gmv_max.stores(a))
    simulator.grant(TOKEN, [with_shop, without])
    monkeypatch.setattr(gmv_defs, "_utc_now", simulator.clock.now)
    harness = SpendHarness(base_url, warehouse_url, access_token=TOKEN)
    assert sorted(harness.discover()) == sorted([with_shop, without])
    return simulator, harness, with_shop, without


def _pull(harness: SpendHarness, advertisers: list[str], start: date, end: date, *, settle: bool = False
          ) -> dg.ExecuteInProcessResult:
    # A partition key range runs from the first to the last advertiser in order.
    tags = all_advertisers_range_tags(sorted(advertisers), start, end)
    if settle:
        tags[SKIP_SETTLED_TAG] = "true"
    result = harness.run(KEY, tags=tags)
    assert result.success
    return result


def _truth(simulator, advertiser_id: str, start: date, end: date) -> dict[tuple[str, str], tuple]:  # noqa: ANN001
    """(campaign, day) -> cost, gross_revenue, orders as TikTok serves them now, deleted campaigns included."""
    book = simulator.world.gmv_max
    store = next(store.store_id for store in book.stores(advertiser_id) if store.available)
    frame = book.served(advertiser_id, store, start, end, simulator.clock.now(), include_deleted=True)
    return {(row.campaign_id, str(row.stat_date)): (round(row.cost, 4), round(row.gross_revenue, 4), int(row.orders))
            for row in frame.itertuples()}


def _stored(harness: SpendHarness) -> dict[tuple[str, str], tuple]:
    stored = harness.query("select * from gmv_max_stats_daily")
    return {(row.campaign_id, str(pd.Timestamp(row.stat_date).date())): (
        round(float(row.cost), 4), round(float(row.gross_revenue), 4), int(row.orders)) for row in stored.itertuples()}


def test_gmv_max_rows_hold_tiktoks_cost_revenue_and_orders_per_campaign_and_day(shop) -> None:
    simulator, harness, with_shop, without = shop
    result = _pull(harness, [with_shop, without], START, END)

    truth = _truth(simulator, with_shop, START, END)
    assert truth and _stored(harness) == truth
    stored = harness.query("select * from gmv_max_stats_daily")
    assert set(stored["advertiser_id"]) == {with_shop}
    assert set(stored["currency"]) == {simulator.world.advertiser(with_shop).currency}
    assert set(stored["store_id"]) == {next(s.store_id for s in simulator.world.gmv_max.stores(with_shop) if s.available)}
    # TikTok's roi is gross_revenue / cost of the row (to its 2 decimals).
    assert ((stored["roi"] - stored["gross_revenue"] / stored["cost"]).abs() < 0.0051).all()
    # Every partition is materialized, the shop-less advertiser's too (with no rows), each with a data version.
    found = materializations(result, "gmv_max_stats_daily")
    assert len(found) == 2 * ((END - START).days + 1)
    assert all(event.tags.get("dagster/data_version") for event in found.values())
    assert {int(event.metadata["campaigns"].value) for key, event in found.items() if without in key} == {0}
    checks = {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}
    assert checks["gmv_max_schema_valid"].passed and checks["gmv_max_roi_consistent"].passed


def test_a_deleted_gmv_max_campaign_keeps_its_days(shop) -> None:
    simulator, harness, with_shop, _ = shop
    live = next(c for c in simulator.world.gmv_max.campaigns(with_shop) if c.promotion_type == "LIVE")
    assert simulator.world.gmv_max.deleted(live, simulator.clock.now()), "the test wants a deleted campaign"
    _pull(harness, [with_shop], *BEFORE_DELETION)
    stored = harness.query("select * from gmv_max_stats_daily")
    # TikTok hides deleted GMV Max campaigns unless campaign_statuses asks STATUS_ALL: the client asks.
    assert live.campaign_id in set(stored["campaign_id"])
    assert set(stored["promotion_type"]) == {"PRODUCT", "LIVE"}
    assert _stored(harness) == _truth(simulator, with_shop, *BEFORE_DELETION)


def test_re_pulls_log_revenue_revisions_and_keep_unchanged_partitions_versions(shop) -> None:
    simulator, harness, with_shop, _ = shop
    first = _pull(harness, [with_shop], START, END)
    versions = {key: event.tags["dagster/data_version"]
                for key, event in materializations(first, "gmv_max_stats_daily").items()}
    again = _pull(harness, [with_shop], START, END)
    assert {key: event.tags["dagster/data_version"]
            for key, event in materializations(again, "gmv_max_stats_daily").items()} == versions
    assert harness.count("gmv_max_revisions") == 0

    simulator.clock.advance(timedelta(days=2))
    later = _pull(harness, [with_shop], START, END)
    assert _stored(harness) == _truth(simulator, with_shop, START, END)
    revisions = harness.query("select * from gmv_max_revisions")
    assert not revisions.empty and set(revisions["change_kind"]) == {"update"}
    # Late orders: revenue rose, cost stayed (the day was over at both pulls).
    assert (revisions["new_gross_revenue"] >= revisions["old_gross_revenue"]).all()
    assert (revisions["new_cost"] == revisions["old_cost"]).all()
    moved = {str(pd.Timestamp(day).date()) for day in revisions["stat_date"]}
    changed = {key for key, event in materializations(later, "gmv_max_stats_daily").items()
               if event.tags["dagster/data_version"] != versions[key]}
    assert {key.split("|")[0] for key in changed} == moved


def test_the_settle_run_skips_settled_gmv_max_days(shop) -> None:
    simulator, harness, with_shop, _ = shop
    _pull(harness, [with_shop], START, END)
    simulator.clock.advance(timedelta(days=20))
    _pull(harness, [with_shop], START, END)  # past the settle window: the final figures arrive
    _pull(harness, [with_shop], START, END)  # and a pull that changes nothing settles the days
    settled = _pull(harness, [with_shop], START, END, settle=True)
    assert materializations(settled, "gmv_max_stats_daily") == {}


def test_the_commerce_day_adds_gmv_max_spend_and_revenue_but_keeps_it_out_of_cpc(shop, monkeypatch) -> None:
    from tiktok_assets.defs import spend as spend_defs
    from tiktok_assets.metrics.rollup import LEVELS

    simulator, harness, with_shop, _ = shop
    day = date(2026, 11, 17)
    monkeypatch.setattr(spend_defs, "_utc_now", simulator.clock.now)
    assert harness.import_range(day, day).success
    tags = all_advertisers_range_tags(sorted(harness.instance.get_dynamic_partitions("tiktok_advertisers")), day,
                                      day)
    assert harness.run([dg.AssetKey(f"{level}_metrics_daily") for level in LEVELS], tags=tags).success
    _pull(harness, [with_shop], day, day)
    assert harness.run([dg.AssetKey("advertiser_commerce_daily")],
                       tags=all_advertisers_range_tags([with_shop], day, day)).success

    world = simulator.world
    ads = world.report_frame(with_shop, "AUCTION_AD", "day", day, day, simulator.clock.now())
    gmv = _truth(simulator, with_shop, day, day)
    (row,) = harness.query("select * from advertiser_commerce_daily").itertuples()
    ad_spend, clicks, impressions = float(ads["spend"].sum()), int(ads["clicks"].sum()), int(ads["impressions"].sum())
    gmv_cost, gmv_revenue = sum(value[0] for value in gmv.values()), sum(value[1] for value in gmv.values())
    assert gmv_cost > 0
    assert float(row.spend) == pytest.approx(ad_spend + gmv_cost)
    assert float(row.gmv_max_cost) == pytest.approx(gmv_cost)
    assert float(row.cpc) == pytest.approx(ad_spend / clicks)
    assert float(row.cpm) == pytest.approx(ad_spend / impressions * 1000)
    assert float(row.gmv_max_roi) == pytest.approx(gmv_revenue / gmv_cost)
    # TikTok-attributed revenue: the ads' web or in-app value by campaign type, plus GMV Max gross revenue.
    web_or_app = float(ads["total_complete_payment_rate"].sum() + ads["total_purchase_value"].sum())
    assert float(row.tiktok_revenue) == pytest.approx(web_or_app + gmv_revenue)
