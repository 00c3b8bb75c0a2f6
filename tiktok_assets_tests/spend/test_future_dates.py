"""A run spanning every advertiser's today skips the dates that have not begun in an advertiser's zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tiktok_assets.spend.settle import local_today
from tiktok_assets_tests.spend.harness import SpendHarness, materialized_partitions


def test_dates_after_an_advertisers_local_today_are_neither_pulled_nor_materialized(loopback_simulator, tmp_path) -> None:
    simulator, base_url = loopback_simulator
    harness = SpendHarness(base_url, f"sqlite:///{tmp_path / 'w.sqlite'}")
    advertisers = harness.discover()
    zones = {advertiser_id: simulator.world.advertiser(advertiser_id).display_timezone for advertiser_id in advertisers}
    before = datetime.now(UTC)
    # Yesterday to tomorrow in UTC: tomorrow has begun nowhere west of UTC+1 hour or so.
    start, end = before.date() - timedelta(days=1), before.date() + timedelta(days=1)

    result = harness.import_range(start, end, entities=False)

    after = datetime.now(UTC)
    pulled = harness.query("select distinct advertiser_id, stat_date from partition_pulls")
    pulled_days = {(row.advertiser_id, str(row.stat_date)[:10]) for row in pulled.itertuples()}
    written = set(materialized_partitions(result, "ad_stats_daily"))
    skipped_somewhere = False
    for advertiser_id in advertisers:
        today_before, today_after = local_today(zones[advertiser_id], before), local_today(zones[advertiser_id], after)
        for offset in range(3):
            day = start + timedelta(days=offset)
            if today_before < day <= today_after:
                continue  # the day began during the run: either answer is right
            begun = day <= today_before
            skipped_somewhere |= not begun
            assert ((advertiser_id, day.isoformat()) in pulled_days) is begun, (advertiser_id, day, zones[advertiser_id])
            assert (f"{day.isoformat()}|{advertiser_id}" in written) is begun
    assert skipped_somewhere, f"no advertiser was behind UTC tomorrow: zones {sorted(set(zones.values()))}"
