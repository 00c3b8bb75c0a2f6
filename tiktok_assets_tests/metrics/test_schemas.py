"""pandera schemas accept what the derivations produce and reject broken rows."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from tiktok_assets.metrics.attribution import attribute_first_party
from tiktok_assets.metrics.render import app_report, channels_report, overview_report
from tiktok_assets.metrics.rollup import GRAINS, LEVELS, metrics_for_levels
from tiktok_assets.metrics.schemas import (
    METRICS_SCHEMAS,
    validate,
    validate_first_party,
    validate_metrics,
    validate_metrics_plausibility,
    validate_report,
)
from tiktok_assets_tests.metrics.synthetic import random_hourly_stats


@pytest.fixture(scope="module")
def campaign_daily() -> pd.DataFrame:
    return metrics_for_levels(random_hourly_stats(11), ["campaign"], ["daily"])[("campaign", "daily")]


def test_every_derived_table_passes_its_schema() -> None:
    stats = random_hourly_stats(12)
    for (level, grain), frame in metrics_for_levels(stats, LEVELS, GRAINS).items():
        ok, failures = validate_metrics(frame, level, grain)
        assert ok, f"{level}/{grain}: {failures.head().to_dict('records')}"
        assert failures.empty
    daily = stats.drop(columns=["stat_hour_utc", "stat_hour_local", "spread"])
    assert validate_report(overview_report(daily), "overview")[0]
    assert validate_report(channels_report(daily, "ad"), "channels", "ad")[0]
    assert validate_report(channels_report(daily, "adgroup", by_day=True), "channels", "adgroup", by_day=True)[0]
    assert validate_report(app_report(daily, "campaign"), "app", "campaign")[0]


def _failed_checks(ok_failures: tuple[bool, pd.DataFrame]) -> set[str]:
    ok, failures = ok_failures
    assert not ok
    return set(failures["check"].astype(str))


def test_negative_spend_is_rejected(campaign_daily: pd.DataFrame) -> None:
    broken = campaign_daily.copy()
    broken.loc[0, "spend"] = -1.0
    _, failures = validate_metrics(broken, "campaign", "daily")
    assert (failures["column"] == "spend").any()
    assert -1.0 in failures["failure_case"].tolist()


def test_ctr_above_one_and_more_clicks_than_impressions_are_rejected(campaign_daily: pd.DataFrame) -> None:
    broken = campaign_daily.copy()
    broken.loc[0, ["clicks", "impressions", "ctr"]] = [20, 10, 2.0]
    checks = _failed_checks(validate_metrics(broken, "campaign", "daily"))
    assert "in_range(0, 1)" in checks
    assert "clicks exceed impressions" in checks


def test_bad_currency_null_key_and_duplicate_keys_are_rejected(campaign_daily: pd.DataFrame) -> None:
    broken = campaign_daily.copy()
    broken.loc[0, "currency"] = "usd"
    broken.loc[1, "campaign_id"] = None
    broken = pd.concat([broken, broken.iloc[[2]]], ignore_index=True)
    ok, failures = validate_metrics(broken, "campaign", "daily")
    assert not ok
    assert "str_matches('^[A-Z]{3}$')" in set(failures["check"])
    assert ((failures["column"] == "campaign_id") & (failures["check"] == "not_nullable")).any()
    assert (failures["check"] == "multiple_fields_uniqueness").any()


def test_more_installs_than_clicks_is_a_warning_not_an_error(campaign_daily: pd.DataFrame) -> None:
    # View-through installs: 5 installs from 2 clicks.
    suspicious = campaign_daily.copy()
    suspicious.loc[0, ["clicks", "installs", "click_to_install_rate"]] = [2, 5, 2.5]
    assert validate_metrics(suspicious, "campaign", "daily")[0]
    ok, failures = validate_metrics_plausibility(suspicious)
    assert not ok and failures["failure_case"].tolist() == [2.5]
    negative = suspicious.copy()
    negative.loc[0, "conversion_rate"] = -0.1
    assert not validate_metrics(negative, "campaign", "daily")[0]


def test_first_party_schema_checks_ids_against_the_level() -> None:
    ads = pd.DataFrame({"ad_id": ["1"], "adgroup_id": ["2"], "campaign_id": ["3"], "advertiser_id": ["A"],
                        "valid_from": [pd.Timestamp("2026-01-01")], "valid_to": [None]})
    events = pd.DataFrame({
        "event_id": ["e1", "e2"], "event_name": ["Placed Order"] * 2, "value": [5.0, 6.0], "currency": ["USD"] * 2,
        "event_time": pd.to_datetime(["2026-03-01 10:00", "2026-03-01 11:00"], utc=True),
        "cvg_adid": ["1", None], "ttclid": [None, "x"],
    })
    first_party = attribute_first_party(events, {"ad_history": ads})
    assert validate_first_party(first_party)[0]
    broken = first_party.copy()
    broken.loc[broken["attribution_level"] == "advertiser", "ad_id"] = "1"  # an ad id on an advertiser-level row
    assert any(check.startswith("ad_id must be set exactly for ad-level rows")
               for check in _failed_checks(validate_first_party(broken)))
    negative = first_party.assign(first_party_revenue=-first_party["first_party_revenue"])
    assert not validate_first_party(negative)[0]


def test_schemas_exist_for_every_level_and_grain_and_validate_returns_empty_on_success() -> None:
    assert set(METRICS_SCHEMAS) == {(level, grain) for level in LEVELS for grain in GRAINS}
    frame = pd.DataFrame({
        "advertiser_id": ["A"], "advertiser_name": [None], "currency": ["JPY"], "stat_date": [date(2026, 3, 1)],
        "spend": [100.0], "impressions": [10], "clicks": [1], "conversions": [0], "installs": [0], "purchases": [0],
        "purchase_value": [0.0], "app_purchases": [0], "app_purchase_value": [0.0], "tiktok_purchases": [0],
        "tiktok_revenue": [0.0], "ctr": [0.1], "cpc": [100.0], "cpm": [10_000.0], "cpa": [np.nan], "roas": [0.0],
        "ipm": [0.0], "cpi": [np.nan], "click_to_install_rate": [0.0], "conversion_rate": [0.0],
    })
    ok, failures = validate(METRICS_SCHEMAS[("advertiser", "daily")], frame)
    assert ok and failures.empty and "check" in failures.columns
