"""Reservation buying (defect 7): spend TikTok counts for an advertiser but not in the ad rows we import is
reported per advertiser and day, naming the reservation campaigns; the check passes when there is none."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from tiktok_assets.defs.resources import TikTokApiResource, WarehouseResource
from tiktok_assets.defs.spend import advertiser_spend_covered_by_ad_import
from tiktok_assets_tests.spend.harness import SpendHarness

# The check looks at the last 7 days of data held; the simulator serves these days in full.
END = min(date.today() - timedelta(days=1), date(2026, 11, 19))
START = END - timedelta(days=2)
TOKEN = "limited-token-reservation-0000000000000"


def _check(base_url: str, url: str, token: str | None = None):  # noqa: ANN202
    api = TikTokApiResource(base_url=base_url, access_token=token, qps=1000.0, backoff_seconds=0.001)
    return advertiser_spend_covered_by_ad_import(tiktok_api=api, warehouse=WarehouseResource(url=url))


def _reservation_truth(simulator, advertiser_id: str) -> dict[str, float]:
    """Per day, the spend of the advertiser's reservation campaigns, from the simulator's own ground truth."""
    frame = simulator.world.report_frame(advertiser_id, "AUCTION_CAMPAIGN", "day", START, END, simulator.clock.now(),
                                         service_type="RESERVATION")
    per_day = frame.groupby(frame["stat_time"].dt.date)["spend"].sum()
    return {str(day): round(float(spend), 2) for day, spend in per_day.items() if round(float(spend), 2) > 0}


def test_reservation_spend_is_named_with_its_campaigns_and_gap_per_day(loopback_simulator, tmp_path) -> None:
    simulator, base_url = loopback_simulator
    url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    harness = SpendHarness(base_url, url)
    assert harness.import_range(START, END, entities=False).success

    result = _check(base_url, url)

    expected = {advertiser_id: _reservation_truth(simulator, advertiser_id)
                for advertiser_id in simulator.world.advertiser_ids}
    expected = {advertiser_id: days for advertiser_id, days in expected.items() if days}
    assert expected, "the simulated world has reservation campaigns that spend"
    assert not result.passed and result.severity.value == "WARN"
    gaps = result.metadata["gap_per_day"].value
    assert {advertiser_id: {day: round(gap, 2) for day, gap in days.items()} for advertiser_id, days in gaps.items()} \
        == expected
    named = result.metadata["reservation_campaigns"].value
    assert {advertiser_id: sorted(ids) for advertiser_id, ids in named.items()} == {
        advertiser_id: sorted(simulator.world.reservation_campaign_ids(advertiser_id)) for advertiser_id in expected}
    for advertiser_id in expected:
        assert advertiser_id in result.description
        for campaign_id in simulator.world.reservation_campaign_ids(advertiser_id):
            assert campaign_id in result.description


def test_the_check_passes_when_every_advertiser_spend_is_imported(loopback_simulator, tmp_path) -> None:
    simulator, base_url = loopback_simulator
    without = next(advertiser_id for advertiser_id in simulator.world.advertiser_ids
                   if not simulator.world.reservation_campaign_ids(advertiser_id))
    simulator.grant(TOKEN, [without])
    url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    harness = SpendHarness(base_url, url, access_token=TOKEN)
    assert harness.discover() == [without]
    assert harness.import_range(START, END, entities=False).success
    imported = harness.query("select sum(spend) as s from ad_stats_daily")["s"].iloc[0]
    assert pd.notna(imported) and imported > 0

    result = _check(base_url, url, TOKEN)

    assert result.passed, result.description
    assert result.metadata["advertiser_days_with_gap"].value == 0


def test_a_gap_counts_from_one_minor_unit_of_the_advertisers_currency() -> None:
    from tiktok_assets.spend.reservation import spend_gaps

    day = date(2026, 11, 15)
    imported = pd.DataFrame({"advertiser_id": ["US", "US2", "JP", "JP2", "NONE"], "stat_date": [day] * 5,
                             "imported_spend": [100.0, 100.0, 5000.0, 5000.0, 0.0]})
    totals = pd.DataFrame({"advertiser_id": ["US", "US2", "JP", "JP2"], "stat_date": [day] * 4,
                           # 0.004 USD of float noise; 1 cent; 0.4 yen of noise; 1 yen. NONE: no advertiser row.
                           "advertiser_spend": [100.004, 100.01, 5000.4, 5001.0]})
    gaps = spend_gaps(totals, imported, {"US": "USD", "US2": "USD", "JP": "JPY", "JP2": "JPY", "NONE": "USD"})
    assert gaps[["advertiser_id", "gap"]].values.tolist() == [["JP2", 1.0], ["US2", 0.01]]
