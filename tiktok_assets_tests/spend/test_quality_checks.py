"""Data-quality checks over the warehouse: hourly vs daily, tracking-parameter coverage (freshness is Dagster's
FreshnessPolicy now: tiktok_assets_tests/automation/test_freshness.py)."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from tiktok_assets.defs.resources import WarehouseResource
from tiktok_assets.defs.spend import (
    hourly_matches_daily,
    tracking_parameter_coverage,
)
from tiktok_assets_tests.spend.harness import SpendHarness

TRACKING_KEYS = ("cvg_adid=", "ttclid=", "utm_source=")


def _imported(loopback_simulator, tmp_path) -> tuple[SpendHarness, WarehouseResource]:
    _simulator, base_url = loopback_simulator
    url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    harness = SpendHarness(base_url, url)
    # The checks look at the last 7 real days; the simulator serves these days in full.
    end = min(date.today() - timedelta(days=1), date(2026, 11, 19))
    harness.import_range(end - timedelta(days=2), end)
    return harness, WarehouseResource(url=url)


def test_hourly_daily_reconciliation_passes_then_names_a_tampered_day(loopback_simulator, tmp_path) -> None:
    harness, warehouse = _imported(loopback_simulator, tmp_path)
    assert hourly_matches_daily(warehouse=warehouse).passed
    with harness.engine.begin() as connection:
        row = connection.execute(sa.text("select advertiser_id, stat_date, stat_hour_utc, ad_id from ad_stats_hourly "
                                         "where spend > 1 limit 1")).one()
        connection.execute(sa.text("update ad_stats_hourly set spend = spend + 1 where advertiser_id = :a and "
                                   "stat_hour_utc = :h and ad_id = :ad"),
                           {"a": row.advertiser_id, "h": row.stat_hour_utc, "ad": row.ad_id})
    result = hourly_matches_daily(warehouse=warehouse)
    assert not result.passed
    assert result.metadata["advertiser_days_off"].value == 1
    assert row.advertiser_id in result.metadata["mismatches"].value


def test_tracking_coverage_names_exactly_the_untagged_ads_with_spend(loopback_simulator, tmp_path) -> None:
    simulator, _ = loopback_simulator
    harness, warehouse = _imported(loopback_simulator, tmp_path)
    result = tracking_parameter_coverage(warehouse=warehouse)
    with_spend = set(harness.query("select ad_id from ad_stats_daily where spend > 0")["ad_id"])
    untagged = {
        ad["ad_id"]
        for advertiser_id in simulator.world.advertiser_ids
        for ad in simulator.world.ads(advertiser_id, simulator.clock.now())
        if not any(key in (ad.get("landing_page_url") or "").lower() for key in TRACKING_KEYS)
    }
    expected = untagged & with_spend
    assert expected, "the simulated world has untagged ads that spend"
    assert not result.passed
    assert result.metadata["untracked_ads"].value == len(expected)
    assert set(result.metadata["untracked_ad_ids"].value) == expected
