"""The reports are built from the stored daily metrics (issue 16, defect 4), with the numbers summing the stats gave.

Constructed ad-day stats go through what the metrics asset does (every level,
written to the metrics tables on SQLite and PostgreSQL); the reports' inputs
are then read back from those tables as the report assets read them. Expected
figures are worked out by hand from the stats rows below.
"""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest
import sqlalchemy as sa

from tiktok_assets.metrics.reports import read_report_inputs
from tiktok_assets.metrics import render
from tiktok_assets.metrics.rollup import LEVELS, metrics_for_levels
from tiktok_assets.metrics.store import REPORT_LEVELS, replace_metrics_partitions
from tiktok_assets.warehouse import create_schema, make_engine

DAY_1, DAY_2 = date(2026, 3, 1), date(2026, 3, 2)


def _stat(ad_id: str, campaign_id: str, day: date, **values: object) -> dict[str, object]:
    base = {"advertiser_id": "A", "campaign_id": campaign_id, "adgroup_id": f"{campaign_id}-g", "ad_id": ad_id,
            "stat_date": day, "currency": "USD", "spend": 0.0, "impressions": 0, "clicks": 0, "conversions": 0,
            "installs": 0, "purchases": 0, "purchase_value": 0.0, "app_purchases": 0, "app_purchase_value": 0.0}
    return {**base, **values}


STATS = pd.DataFrame([
    _stat("a1", "C1", DAY_1, spend=100.0, impressions=10_000, clicks=200, conversions=10, purchases=5,
          purchase_value=250.0),
    _stat("a2", "C1", DAY_1, spend=50.5, impressions=5_000, clicks=50, conversions=5, purchases=1,
          purchase_value=40.0),
    _stat("a1", "C1", DAY_2, spend=30.25, impressions=2_000, clicks=20, purchases=2, purchase_value=60.0),
    # An app campaign: its revenue is the in-app one (the web value is not TikTok's figure for it).
    _stat("b1", "C2", DAY_1, spend=80.0, impressions=4_000, clicks=100, installs=40, app_purchases=4,
          app_purchase_value=120.0, purchases=1, purchase_value=999.0),
])
RENAMED_AT = datetime(2026, 3, 2, 12, 0)
HISTORY = {
    "advertisers": pd.DataFrame({"advertiser_id": ["A"], "advertiser_name": ["Shop"], "currency": ["USD"],
                                 "timezone": ["UTC"], "display_timezone": [None]}),
    "campaign_history": pd.DataFrame({
        "campaign_id": ["C1", "C1", "C2"], "advertiser_id": ["A", "A", "A"],
        "campaign_name": ["Summer", "Summer sale", "App"],
        "objective_type": ["WEB_CONVERSIONS", "WEB_CONVERSIONS", "APP_PROMOTION"],
        "valid_from": pd.to_datetime(["2026-01-01", RENAMED_AT, "2026-01-01"]),
        "valid_to": [RENAMED_AT, None, None]}),
}


@pytest.fixture
def engine(warehouse_url: str) -> sa.Engine:
    engine = make_engine(warehouse_url)
    create_schema(engine)
    # What metrics_daily writes for these stats: every level, one transaction.
    frames = metrics_for_levels(STATS, LEVELS, ["daily"], HISTORY)
    replace_metrics_partitions(engine, "daily", "A", [DAY_1, DAY_2],
                               {level: frames[(level, "daily")] for level in LEVELS}, datetime(2026, 3, 3))
    return engine


def _row(frame: pd.DataFrame, **keys: object) -> pd.Series:
    rows = frame.loc[(frame[list(keys)] == pd.Series(keys)).all(axis=1)]
    assert len(rows) == 1, f"{keys}: {len(rows)} rows in\n{frame}"
    return rows.iloc[0]


def test_channels_and_app_rows_are_the_summed_stats_with_ratios_of_the_sums(engine: sa.Engine) -> None:
    inputs = read_report_inputs(engine, REPORT_LEVELS)
    assert inputs is not None and (inputs.start, inputs.end) == (date(2026, 2, 1), DAY_2)
    channels = render.channels_from_metrics(inputs.daily["campaign"], "campaign")
    summer = _row(channels, campaign_id="C1")
    # 100 + 50.5 + 30.25 spent; web revenue 250 + 40 + 60; 10 + 5 + 0 conversions.
    assert summer["spend"] == pytest.approx(180.75)
    assert summer["tiktok_purchases"] == 8
    assert summer["tiktok_revenue"] == pytest.approx(350.0)
    assert summer["roas"] == pytest.approx(350.0 / 180.75)
    assert summer["cpa"] == pytest.approx(180.75 / 15)
    assert summer["campaign_name"] == "Summer sale", "the name in force on the entity's latest day"
    assert (summer["period_start"], summer["period_end"]) == (DAY_1, DAY_2)
    assert _row(channels, campaign_id="C2")["roas"] == pytest.approx(120.0 / 80.0), "in-app revenue of an app campaign"
    assert list(channels["campaign_id"]) == ["C1", "C2"], "biggest spend first"

    app = _row(render.app_from_metrics(inputs.daily["campaign"], "campaign"), campaign_id="C2")
    assert (app["installs"], app["cpi"], app["ipm"], app["click_to_install_rate"]) == pytest.approx(
        (40, 80.0 / 40, 40 / 4_000 * 1000, 40 / 100))
    ads = render.channels_from_metrics(inputs.daily["ad"], "ad")
    assert _row(ads, ad_id="a1")["spend"] == pytest.approx(130.25)
    assert _row(ads, ad_id="a1")["cpa"] == pytest.approx(130.25 / 10)


def test_overview_rows_are_the_advertiser_days(engine: sa.Engine) -> None:
    inputs = read_report_inputs(engine)
    overview = render.overview_from_metrics(inputs.advertiser_daily())
    day = _row(overview, stat_date=DAY_1)
    assert day["spend"] == pytest.approx(230.5)
    assert day["roas"] == pytest.approx((250.0 + 40.0 + 120.0) / 230.5)
    assert day["ctr"] == pytest.approx(350 / 19_000)
    assert day["advertiser_name"] == "Shop"
    assert "first_party_revenue" not in overview.columns, "no first-party data: unknown, not zero"


@pytest.mark.parametrize("report", ["channels", "app"])
def test_reports_from_the_metrics_tables_equal_the_reports_from_the_stats(engine: sa.Engine, report: str) -> None:
    """Same figures as the reports computed straight from the stats (what the report assets did before)."""
    inputs = read_report_inputs(engine, REPORT_LEVELS)
    from_stats = {"channels": lambda level: render.channels_report(STATS, level, HISTORY),
                  "app": lambda level: render.app_report(STATS, level, HISTORY)}[report]
    from_metrics = {"channels": render.channels_from_metrics, "app": render.app_from_metrics}[report]
    for level in REPORT_LEVELS:
        expected, got = from_stats(level), from_metrics(inputs.daily[level], level)
        keys = list(expected.columns[:expected.columns.get_loc("currency") + 1])
        expected, got = (frame.sort_values(keys).reset_index(drop=True) for frame in (expected, got))
        pd.testing.assert_frame_equal(got[list(expected.columns)], expected, check_dtype=False, rtol=1e-9)
