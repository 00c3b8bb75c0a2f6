"""An advertiser whose /advertiser/info/ lacks its currency or time zone fails its own partitions, clearly, after
the other advertisers' partitions of the same run are written (defect 5: never USD, never UTC by default)."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pytest

from tiktok_assets.partitions import all_advertisers_range_tags
from tiktok_assets.simulator.realism import Realism
from tiktok_assets_tests.spend.harness import SpendHarness, materialized_partitions

DAY = date(2026, 11, 15)


@pytest.mark.parametrize(
    ("omitted", "field"),
    [({"currency": None}, "currency"), ({"timezone": None, "display_timezone": None}, "timezone")],
)
def test_missing_currency_or_zone_fails_that_advertiser_after_the_others_are_written(
        loopback_simulator, tmp_path, omitted: dict, field: str) -> None:
    simulator, base_url = loopback_simulator
    harness = SpendHarness(base_url, f"sqlite:///{tmp_path / 'w.sqlite'}")
    advertisers = harness.discover()
    broken = sorted(advertisers)[1]  # not the first, so advertisers on both sides of it are imported
    simulator.realism = Realism(advertiser_info={broken: omitted})

    result = harness.run([dg.AssetKey("ad_stats_daily")], tags=all_advertisers_range_tags(advertisers, DAY, DAY),
                         raise_on_error=False)

    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    message = str(failure.step_failure_data.error)
    assert f"Advertiser {broken}" in message and field in message and "TikTok Ads Manager" in message, message
    written = set(materialized_partitions(result, "ad_stats_daily"))
    others = sorted(set(advertisers) - {broken})
    assert written == {f"{DAY}|{advertiser_id}" for advertiser_id in others}
    stored = harness.query("select distinct advertiser_id from ad_stats_daily")
    assert set(stored["advertiser_id"]) == set(others), "the others' rows are written, none for the broken one"
    pulls = harness.query("select advertiser_id from partition_pulls")
    assert broken not in set(pulls["advertiser_id"]), "no pull is recorded for a partition that was not imported"


def test_a_fixed_offset_zone_written_out_is_imported(loopback_simulator, tmp_path) -> None:
    # Tokyo's account, its zone given as "GMT+9" instead of Etc/GMT-9: the same hours, the same UTC instants.
    simulator, base_url = loopback_simulator
    harness = SpendHarness(base_url, f"sqlite:///{tmp_path / 'w.sqlite'}")
    advertisers = harness.discover()
    tokyo = next(a["advertiser_id"] for a in simulator.world.advertisers if a["timezone"] == "Etc/GMT-9")
    harness.import_range(DAY, DAY, entities=False)
    before = harness.query("select ad_id, stat_hour_utc, spend from ad_stats_hourly where advertiser_id = :a "
                           "order by ad_id, stat_hour_utc", a=tokyo)
    simulator.realism = Realism(advertiser_info={tokyo: {"timezone": "GMT+9", "display_timezone": None}})
    again = harness.import_range(DAY, DAY, entities=False)
    assert again.success
    after = harness.query("select ad_id, stat_hour_utc, spend from ad_stats_hourly where advertiser_id = :a "
                          "order by ad_id, stat_hour_utc", a=tokyo)
    assert not before.empty and after.equals(before)
    assert tokyo in advertisers


def test_discovery_keeps_the_advertiser_and_says_what_is_missing(loopback_simulator, tmp_path) -> None:
    simulator, base_url = loopback_simulator
    broken = simulator.world.advertiser_ids[0]
    simulator.realism = Realism(advertiser_info={broken: {"currency": None}})
    harness = SpendHarness(base_url, f"sqlite:///{tmp_path / 'w.sqlite'}")
    result = harness.run([dg.AssetKey("tiktok_advertisers")])
    assert result.success, "discovery still adds the partition; the stats assets refuse it"
    assert broken in harness.instance.get_dynamic_partitions("tiktok_advertisers")
    metadata = result.asset_materializations_for_node("tiktok_advertisers")[0].metadata
    assert metadata["advertisers_without_currency_or_zone"].value == [broken]
    assert "has no currency" in metadata["advertiser_list"].value
