"""Metrics and report assets end to end: simulator over loopback -> spend import -> metrics -> reports (SQLite)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from tiktok_assets.metrics import store
from tiktok_assets.metrics.rollup import GRAINS, LEVELS
from tiktok_assets.metrics.store import read_metrics
from tiktok_assets.postbacks.events import parse_event
from tiktok_assets.postbacks.store import ensure_postback_tables, store_events
from tiktok_assets.simulator import SimClock, Simulator, World, serve
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.metrics.metrics_harness import MetricsHarness, check_evaluations, data_versions

START, END = date(2026, 11, 11), date(2026, 11, 13)
ORDER_DAY = date(2026, 11, 12)
# 20:00 UTC is noon in Los Angeles: the USD advertiser's local ORDER_DAY.
ORDER_TIME = "2026-11-12T20:00:00Z"
AD_ORDER_VALUE, CAMPAIGN_ORDER_VALUE, OTHER_CHANNEL_VALUE = 123.45, 80.00, 999.00
SUMMED = ["spend", "impressions", "clicks", "conversions", "installs", "purchase_value", "app_purchase_value",
          "tiktok_purchases", "tiktok_revenue"]
PARENT = {"ad": "adgroup", "adgroup": "campaign", "campaign": "advertiser"}
LEVEL_ID = {"ad": "ad_id", "adgroup": "adgroup_id", "campaign": "campaign_id", "advertiser": "advertiser_id"}


@dataclass
class Loaded:
    harness: MetricsHarness
    metrics_run: dg.ExecuteInProcessResult
    reports_run: dg.ExecuteInProcessResult
    usd_advertiser: str
    ordered_ad: str
    ordered_campaign: str


def _order(event_id: str, **fields: object) -> object:
    return parse_event({"event_id": event_id, "source": "web", "event_name": "Placed Order", "event_time": ORDER_TIME,
                        "page_url": "https://shop.example/thanks", "currency": "USD", "order_id": event_id, **fields})


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> Iterator[Loaded]:
    simulator = Simulator(world=World(seed=7), clock=SimClock(fixed=SIM_NOW), qps=None)
    with serve(simulator) as base_url:
        harness = MetricsHarness(base_url, f"sqlite:///{tmp_path_factory.mktemp('metrics') / 'w.sqlite'}")
        assert harness.import_range(START, END).success
        usd = next(a["advertiser_id"] for a in simulator.world.advertisers if a["currency"] == "USD")
        spent = harness.query(
            "select ad_id, campaign_id from ad_stats_daily where advertiser_id = :a and stat_date = :d "
            "and spend > 0 order by spend desc limit 1", a=usd, d=ORDER_DAY.isoformat())
        ad_id, campaign_id = spent["ad_id"].iloc[0], spent["campaign_id"].iloc[0]
        ensure_postback_tables(harness.engine)
        store_events(harness.engine, [
            _order("order-ad", cvg_source="tiktok", cvg_adid=ad_id, value=AD_ORDER_VALUE),
            _order("order-campaign", cvg_source="tiktok", cvg_cid=campaign_id, value=CAMPAIGN_ORDER_VALUE),
            _order("order-other-channel", utm_source="google", value=OTHER_CHANNEL_VALUE),
        ], received_at=datetime(2026, 11, 20, tzinfo=UTC))
        metrics_run = harness.materialize_metrics(START, END)
        reports_run = harness.materialize_reports()
        yield Loaded(harness, metrics_run, reports_run, usd, ad_id, campaign_id)


def _stored(loaded: Loaded, level: str, grain: str) -> pd.DataFrame:
    return read_metrics(loaded.harness.engine, level, grain)


def _app_campaign(harness: MetricsHarness, campaign_ids: pd.Series) -> np.ndarray:
    """Whether each campaign is an app campaign: TikTok's objective APP_PROMOTION, read from the entity history."""
    history = harness.query("select distinct campaign_id, objective_type from campaign_history")
    objective = dict(zip(history["campaign_id"], history["objective_type"], strict=True))
    return campaign_ids.map(objective).eq("APP_PROMOTION").to_numpy()


def _expected_tiktok_revenue(harness: MetricsHarness, rows: pd.DataFrame) -> np.ndarray:
    """The revenue TikTok attributes: in-app purchase value for app campaigns, web Complete Payment value otherwise."""
    app = _app_campaign(harness, rows["campaign_id"])
    return np.where(app, rows["app_purchase_value"].to_numpy(dtype=float), rows["purchase_value"].to_numpy(dtype=float))


@pytest.mark.parametrize("grain", GRAINS)
def test_every_stored_level_equals_the_sum_of_the_stored_level_below(loaded: Loaded, grain: str) -> None:
    time = ["stat_date"] if grain == "daily" else ["stat_date", "stat_hour_utc"]
    for child, parent in PARENT.items():
        keys = ["advertiser_id", *(["campaign_id"] if parent != "advertiser" else []),
                *(["adgroup_id"] if parent == "adgroup" else []), "currency", *time]
        rolled_up = _stored(loaded, child, grain).groupby(keys)[SUMMED].sum().sort_index()
        direct = _stored(loaded, parent, grain).set_index(keys)[SUMMED].sort_index()
        assert len(direct) > 0
        pd.testing.assert_index_equal(rolled_up.index, direct.index)
        np.testing.assert_allclose(rolled_up.to_numpy(dtype=float), direct.to_numpy(dtype=float), atol=1e-6,
                                   err_msg=f"{child} -> {parent} ({grain})")


@pytest.mark.parametrize("grain", GRAINS)
def test_ad_level_equals_the_stats_table(loaded: Loaded, grain: str) -> None:
    stats = loaded.harness.query(
        f"select advertiser_id, ad_id, stat_date, sum(spend) as spend, sum(clicks) as clicks, "
        f"sum(impressions) as impressions from ad_stats_{grain} group by advertiser_id, ad_id, stat_date")
    stored = loaded.harness.query(
        f"select advertiser_id, ad_id, stat_date, sum(spend) as spend, sum(clicks) as clicks, "
        f"sum(impressions) as impressions from ad_metrics_{grain} group by advertiser_id, ad_id, stat_date")
    joined = stats.merge(stored, on=["advertiser_id", "ad_id", "stat_date"], how="outer", indicator=True,
                         suffixes=("_stats", "_metrics"))
    assert (joined["_merge"] == "both").all(), "every ad-day of the stats has metrics and no more"
    assert len(joined["advertiser_id"].unique()) == len(loaded.harness.advertisers) >= 4
    np.testing.assert_allclose(joined["spend_stats"], joined["spend_metrics"], atol=1e-6)
    assert (joined["clicks_stats"] == joined["clicks_metrics"]).all()
    assert (joined["impressions_stats"] == joined["impressions_metrics"]).all()


def _by_hand(numerator: pd.Series, denominator: pd.Series, scale: float = 1.0) -> np.ndarray:
    top, bottom = numerator.to_numpy(dtype=float), denominator.to_numpy(dtype=float)
    return np.array([t / b * scale if b != 0 else np.nan for t, b in zip(top, bottom, strict=True)])


@pytest.mark.parametrize(("level", "grain"), [("campaign", "daily"), ("ad", "hourly"), ("advertiser", "hourly")])
def test_stored_metrics_are_ratios_of_the_stored_sums(loaded: Loaded, level: str, grain: str) -> None:
    rows = _stored(loaded, level, grain)
    expected = {
        "ctr": _by_hand(rows["clicks"], rows["impressions"]),
        "cpc": _by_hand(rows["spend"], rows["clicks"]),
        "cpm": _by_hand(rows["spend"], rows["impressions"], 1000),
        "cpa": _by_hand(rows["spend"], rows["conversions"]),
        "roas": _by_hand(rows["tiktok_revenue"], rows["spend"]),
        "ipm": _by_hand(rows["installs"], rows["impressions"], 1000),
        "cpi": _by_hand(rows["spend"], rows["installs"]),
        "click_to_install_rate": _by_hand(rows["installs"], rows["clicks"]),
        "conversion_rate": _by_hand(rows["conversions"], rows["clicks"]),
    }
    for metric, values in expected.items():
        # Sums were stored rounded to 6 decimals after the ratio was taken: compare relatively.
        np.testing.assert_allclose(rows[metric].to_numpy(dtype=float), values, rtol=1e-6, equal_nan=True,
                                   err_msg=metric)
    assert rows["cpi"].isna().any() and rows["cpi"].notna().any(), "web ads have no installs: CPI is null there"


@pytest.mark.parametrize("level", ["campaign", "ad"])
def test_app_campaigns_earn_their_in_app_revenue_and_web_campaigns_their_web_revenue(loaded: Loaded, level: str
                                                                                     ) -> None:
    rows = _stored(loaded, level, "daily")
    app = _app_campaign(loaded.harness, rows["campaign_id"])
    assert app.any() and (~app).any(), "the simulated world has app and web campaigns"
    np.testing.assert_allclose(rows["tiktok_revenue"].to_numpy(dtype=float),
                               _expected_tiktok_revenue(loaded.harness, rows), atol=1e-6)
    expected_purchases = np.where(app, rows["app_purchases"], rows["purchases"])
    assert (rows["tiktok_purchases"].to_numpy() == expected_purchases).all()
    # App ROAS is no longer 0: app campaigns with in-app revenue have it over their spend.
    earning = app & (rows["app_purchase_value"].to_numpy() > 0) & (rows["spend"].to_numpy() > 0)
    assert earning.any()
    np.testing.assert_allclose(rows["roas"].to_numpy()[earning],
                               rows["app_purchase_value"].to_numpy()[earning] / rows["spend"].to_numpy()[earning],
                               rtol=1e-6)


def test_names_are_those_of_the_entity_history(loaded: Loaded) -> None:
    campaigns = _stored(loaded, "campaign", "daily")
    history = loaded.harness.query("select campaign_id, campaign_name from campaign_history")
    # Snapshots were taken after these days, so the first version names them.
    first_names = history.drop_duplicates("campaign_id").set_index("campaign_id")["campaign_name"]
    assert campaigns["campaign_name"].notna().all()
    assert (campaigns["campaign_name"].to_numpy() == first_names.reindex(campaigns["campaign_id"]).to_numpy()).all()
    advertisers = loaded.harness.query("select advertiser_id, advertiser_name from advertisers")
    names = dict(zip(advertisers["advertiser_id"], advertisers["advertiser_name"], strict=True))
    stored = _stored(loaded, "advertiser", "hourly")
    assert (stored["advertiser_name"] == stored["advertiser_id"].map(names)).all()


def test_every_partition_reports_a_data_version_and_a_rerun_keeps_rows_and_versions(loaded: Loaded) -> None:
    versions = data_versions(loaded.metrics_run)
    partitions = len(loaded.harness.advertisers) * ((END - START).days + 1)
    for level in LEVELS:
        for grain in GRAINS:
            assert sum(asset == f"{level}_metrics_{grain}" for asset, _ in versions) == partitions
    counts = {table: loaded.harness.count(table) for table in ("ad_metrics_hourly", "campaign_metrics_daily")}
    rerun = loaded.harness.materialize_metrics(START, END)
    assert data_versions(rerun) == versions, "same stats, same content, same data versions"
    assert {table: loaded.harness.count(table) for table in counts} == counts, "a re-run replaces, never appends"
    evaluations = check_evaluations(rerun)
    assert len(evaluations) == 2 * len(LEVELS) * len(GRAINS)
    assert all(evaluation.passed for evaluation in evaluations.values())


def test_first_party_revenue_sits_beside_tiktoks_with_the_discrepancy(loaded: Loaded) -> None:
    ads = read_metrics(loaded.harness.engine, "ad", "daily", loaded.usd_advertiser, ORDER_DAY, ORDER_DAY)
    ordered = ads[ads["ad_id"] == loaded.ordered_ad].iloc[0]
    assert ordered["first_party_orders"] == 1
    assert ordered["first_party_revenue"] == pytest.approx(AD_ORDER_VALUE)
    tiktok_revenue = _expected_tiktok_revenue(loaded.harness, ads[ads["ad_id"] == loaded.ordered_ad])[0]
    assert ordered["tiktok_revenue"] == pytest.approx(tiktok_revenue)
    assert ordered["first_party_roas"] == pytest.approx(AD_ORDER_VALUE / ordered["spend"])
    expected_discrepancy = (tiktok_revenue - AD_ORDER_VALUE) / AD_ORDER_VALUE
    assert ordered["revenue_discrepancy"] == pytest.approx(expected_discrepancy)
    others = ads[ads["ad_id"] != loaded.ordered_ad]
    assert (others["first_party_orders"] == 0).all() and (others["first_party_revenue"] == 0).all()
    assert others["revenue_discrepancy"].isna().all(), "no first-party revenue: the discrepancy is undefined"

    campaigns = read_metrics(loaded.harness.engine, "campaign", "daily", loaded.usd_advertiser, ORDER_DAY, ORDER_DAY)
    campaign = campaigns[campaigns["campaign_id"] == loaded.ordered_campaign].iloc[0]
    # The campaign counts its ad's order and the order matched to the campaign alone.
    assert campaign["first_party_orders"] == 2
    assert campaign["first_party_revenue"] == pytest.approx(AD_ORDER_VALUE + CAMPAIGN_ORDER_VALUE)
    advertiser = read_metrics(loaded.harness.engine, "advertiser", "daily", loaded.usd_advertiser, ORDER_DAY,
                              ORDER_DAY).iloc[0]
    # The other channel's order is not TikTok's.
    assert advertiser["first_party_revenue"] == pytest.approx(AD_ORDER_VALUE + CAMPAIGN_ORDER_VALUE)
    hourly = read_metrics(loaded.harness.engine, "ad", "hourly", loaded.usd_advertiser, ORDER_DAY, ORDER_DAY)
    ordered_hour = hourly[hourly["first_party_orders"] > 0]
    assert list(ordered_hour["stat_hour_utc"]) == [pd.Timestamp("2026-11-12 20:00")]
    assert list(ordered_hour["ad_id"]) == [loaded.ordered_ad]


def _materialization(run: dg.ExecuteInProcessResult, asset: str) -> dg.AssetMaterialization:
    (event,) = [event for event in run.get_asset_materialization_events()
                if event.event_specific_data.materialization.asset_key == dg.AssetKey(asset)]
    return event.event_specific_data.materialization


@pytest.mark.parametrize("report", ["overview_report", "channels_report", "app_report"])
def test_reports_show_a_markdown_table_and_an_inline_png_chart(loaded: Loaded, report: str) -> None:
    metadata = _materialization(loaded.reports_run, report).metadata
    table = metadata["report"].value
    assert table.startswith("| ") and "| ---" in table and table.count("\n") >= 3
    chart = re.fullmatch(r"!\[[^\]]*\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", metadata["chart"].value)
    assert chart is not None
    assert base64.b64decode(chart.group(1)).startswith(b"\x89PNG\r\n\x1a\n")
    assert metadata["rows"].value == loaded.harness.count(report) > 0
    assert "| Currency |" in metadata["totals_per_currency"].value
    usd_spend = loaded.harness.query(
        "select sum(spend) as spend from ad_stats_daily where advertiser_id = :a", a=loaded.usd_advertiser)
    assert metadata["spend_USD"].value == pytest.approx(float(usd_spend["spend"].iloc[0]), abs=0.01)
    evaluations = check_evaluations(loaded.reports_run)
    assert evaluations[(report, "report_schema_valid")].passed


def test_overview_report_equals_the_advertiser_metrics_and_channels_cover_every_level(loaded: Loaded) -> None:
    overview = loaded.harness.query(
        "select advertiser_id, stat_date, currency, spend, clicks, roas, first_party_revenue from overview_report "
        "order by advertiser_id, stat_date, currency")
    metrics = loaded.harness.query(
        "select advertiser_id, stat_date, currency, spend, clicks, roas, first_party_revenue "
        "from advertiser_metrics_daily order by advertiser_id, stat_date, currency")
    pd.testing.assert_frame_equal(overview, metrics, check_dtype=False)
    channels = loaded.harness.query("select level, count(*) as n, sum(spend) as spend from channels_report "
                                    "group by level order by level")
    assert list(channels["level"]) == ["ad", "adgroup", "campaign"]
    assert channels["spend"].round(2).nunique() == 1, "each level holds the same spend"
    first_party = loaded.harness.query(
        "select first_party_revenue from channels_report where level = 'campaign' and campaign_id = :c",
        c=loaded.ordered_campaign)
    assert first_party["first_party_revenue"].iloc[0] == pytest.approx(AD_ORDER_VALUE + CAMPAIGN_ORDER_VALUE)


# ---------------------------------------------------------------- one advertiser, one day


@pytest.fixture
def one_day(loopback_simulator, tmp_path) -> MetricsHarness:
    simulator, base_url = loopback_simulator
    advertiser_id = next(a["advertiser_id"] for a in simulator.world.advertisers if a["currency"] == "EUR")
    simulator.grant("one-advertiser", [advertiser_id])
    harness = MetricsHarness(base_url, f"sqlite:///{tmp_path / 'w.sqlite'}", access_token="one-advertiser")
    assert harness.import_range(START, START).success
    return harness


def test_schema_check_fails_loudly_on_impossible_stats(one_day: MetricsHarness) -> None:
    with one_day.engine.begin() as connection:
        # More clicks than impressions: what a broken pull could store.
        connection.exec_driver_sql(
            "update ad_stats_daily set clicks = impressions + 5 where ad_id = "
            "(select ad_id from ad_stats_daily order by impressions desc limit 1)")
    result = one_day.materialize_metrics(START, START, raise_on_error=False)
    assert not result.success, "the blocking ERROR check stops the run"
    evaluations = check_evaluations(result)
    failed = {key for key, evaluation in evaluations.items() if not evaluation.passed}
    assert ("ad_metrics_daily", "metrics_schema_valid") in failed
    assert evaluations[("ad_metrics_daily", "metrics_schema_valid")].severity == dg.AssetCheckSeverity.ERROR
    assert "clicks" in evaluations[("ad_metrics_daily", "metrics_schema_valid")].metadata["failures"].value
    assert ("ad_metrics_hourly", "metrics_schema_valid") not in failed, "hourly stats were not touched"


def test_without_a_first_party_table_first_party_columns_are_null_and_tiktoks_are_filled(
        one_day: MetricsHarness, monkeypatch) -> None:
    # A code location without the postbacks domain: no first_party_events table to read.
    monkeypatch.setattr(store, "first_party_events_table", lambda engine: None)
    assert one_day.materialize_metrics(START, START).success
    rows = read_metrics(one_day.engine, "campaign", "daily")
    assert len(rows) > 0
    assert rows["first_party_orders"].isna().all() and rows["first_party_revenue"].isna().all()
    assert rows["first_party_roas"].isna().all()
    np.testing.assert_allclose(rows["tiktok_revenue"], _expected_tiktok_revenue(one_day, rows))
    np.testing.assert_allclose(rows["tiktok_roas"], rows["roas"], equal_nan=True)

