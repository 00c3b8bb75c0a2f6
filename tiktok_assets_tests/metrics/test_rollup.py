"""Rollups: every level adds up, names as of the stat's time, unknown parents, first-party composition."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from tiktok_assets.metrics.attribution import attribute_first_party
from tiktok_assets.metrics.entities import UNKNOWN_PARENT_ID, EntityHistory
from tiktok_assets.metrics.errors import MissingColumnsError
from tiktok_assets.metrics.rollup import (
    GRAIN_KEY,
    LEVEL_KEYS,
    LEVELS,
    metrics_at_level,
    metrics_for_levels,
    metrics_over_period,
)
from tiktok_assets_tests.metrics.synthetic import random_hourly_stats

COUNTS = ["impressions", "clicks", "conversions", "installs", "purchases", "app_purchases"]
MONEY = ["spend", "purchase_value", "app_purchase_value"]
PARENT = {"ad": "adgroup", "adgroup": "campaign", "campaign": "advertiser"}


def _sums(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    # An independent implementation: plain pandas groupby.
    return frame.groupby(keys, dropna=False)[COUNTS + MONEY].sum().sort_index()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("grain", ["hourly", "daily"])
def test_every_level_equals_the_sum_of_its_parts(seed: int, grain: str) -> None:
    stats = random_hourly_stats(seed)
    results = metrics_for_levels(stats, LEVELS, [grain])
    time = GRAIN_KEY[grain]
    for child, parent in PARENT.items():
        parent_keys = [*LEVEL_KEYS[parent], "currency", time]
        rolled_up = _sums(results[(child, grain)], parent_keys)
        direct = _sums(results[(parent, grain)], parent_keys)
        pd.testing.assert_frame_equal(rolled_up[COUNTS], direct[COUNTS])
        np.testing.assert_allclose(rolled_up[MONEY].to_numpy(), direct[MONEY].to_numpy(), rtol=1e-12)
    # And the top equals the raw stats, summed by pandas.
    top_keys = ["advertiser_id", "currency", time]
    top, raw = _sums(results[("advertiser", grain)], top_keys), _sums(stats, top_keys)
    pd.testing.assert_frame_equal(top[COUNTS], raw[COUNTS])
    np.testing.assert_allclose(top[MONEY].to_numpy(), raw[MONEY].to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("seed", [3, 4])
def test_ad_level_matches_pandas_groupby_and_metrics_are_recomputable(seed: int) -> None:
    stats = random_hourly_stats(seed)
    assert stats["campaign_id"].isna().any()  # some orphan rows, and no history to find their parents
    daily = metrics_at_level(stats, "ad", "daily")
    keys = [*LEVEL_KEYS["ad"], "currency", "stat_date"]
    expected = stats.fillna({"campaign_id": UNKNOWN_PARENT_ID, "adgroup_id": UNKNOWN_PARENT_ID})
    pd.testing.assert_frame_equal(_sums(daily, keys)[COUNTS], _sums(expected, keys)[COUNTS])
    assert daily.duplicated(keys).sum() == 0
    positive = daily["impressions"] > 0
    shown = daily[positive]
    np.testing.assert_allclose(shown["ctr"], shown["clicks"] / shown["impressions"])
    assert daily.loc[~positive, "ctr"].isna().all()
    with_installs = daily["installs"] > 0
    np.testing.assert_allclose(daily.loc[with_installs, "cpi"],
                               daily.loc[with_installs, "spend"] / daily.loc[with_installs, "installs"])


def test_single_level_call_equals_the_shared_one() -> None:
    stats = random_hourly_stats(5)
    shared = metrics_for_levels(stats, ["campaign"], ["hourly", "daily"])
    for grain in ("hourly", "daily"):
        pd.testing.assert_frame_equal(metrics_at_level(stats, "campaign", grain), shared[("campaign", grain)])


def test_daily_from_hourly_equals_hourly_summed_by_local_date() -> None:
    stats = random_hourly_stats(6)
    hourly = metrics_at_level(stats, "campaign", "hourly")
    daily = metrics_at_level(stats, "campaign", "daily")
    keys = [*LEVEL_KEYS["campaign"], "currency", "stat_date"]
    pd.testing.assert_frame_equal(_sums(hourly, keys)[COUNTS], _sums(daily, keys)[COUNTS])
    assert {"stat_hour_local", "stat_date", "spread"} <= set(hourly.columns)


def _stat(ad_id: str, **values: object) -> dict[str, object]:
    base = {"advertiser_id": "A", "campaign_id": "C1", "adgroup_id": "G1", "ad_id": ad_id, "currency": "USD",
            "spend": 1.0, "impressions": 10, "clicks": 1, "conversions": 0, "installs": 0, "purchases": 0,
            "purchase_value": 0.0, "app_purchases": 0, "app_purchase_value": 0.0}
    return {**base, **values}


ADVERTISERS = pd.DataFrame({"advertiser_id": ["A"], "advertiser_name": ["Shop"], "currency": ["USD"],
                            "timezone": ["Etc/GMT+8"], "display_timezone": ["America/Los_Angeles"]})
# Campaign C1 was "Spring" until 2026-03-10 15:00 UTC, then renamed "Spring Sale".
CAMPAIGNS = pd.DataFrame({
    "campaign_id": ["C1", "C1"], "advertiser_id": ["A", "A"], "campaign_name": ["Spring", "Spring Sale"],
    "valid_from": pd.to_datetime(["2026-03-01 00:00", "2026-03-10 15:00"]),
    "valid_to": [pd.Timestamp("2026-03-10 15:00"), None],
})


def test_hourly_names_are_the_ones_in_force_at_the_hour() -> None:
    stats = pd.DataFrame([
        _stat("a1", stat_hour_utc=pd.Timestamp("2026-03-10 14:00"), stat_date=date(2026, 3, 10)),
        _stat("a1", stat_hour_utc=pd.Timestamp("2026-03-10 15:00"), stat_date=date(2026, 3, 10)),
    ])
    history = {"campaign_history": CAMPAIGNS, "advertisers": ADVERTISERS}
    hourly = metrics_at_level(stats, "campaign", "hourly", history).set_index("stat_hour_utc")
    # 14:00 < 15:00 rename: old name; 15:00 ≤ t: new name (valid_from ≤ t < valid_to).
    assert hourly.loc[pd.Timestamp("2026-03-10 14:00"), "campaign_name"] == "Spring"
    assert hourly.loc[pd.Timestamp("2026-03-10 15:00"), "campaign_name"] == "Spring Sale"
    assert set(hourly["advertiser_name"]) == {"Shop"}


def test_daily_names_are_the_ones_in_force_when_the_local_day_closed() -> None:
    stats = pd.DataFrame([
        _stat("a1", stat_date=date(2026, 3, 9)),
        _stat("a1", stat_date=date(2026, 3, 10)),
    ])
    history = EntityHistory(advertisers=ADVERTISERS, campaigns=CAMPAIGNS)
    daily = metrics_at_level(stats, "campaign", "daily", history).set_index("stat_date")
    # Los Angeles is on PDT (UTC−7) after 2026-03-08: local 3/9 ends 2026-03-10 06:59:59 UTC,
    # before the 15:00 UTC rename; local 3/10 ends 2026-03-11 06:59:59 UTC, after it.
    assert daily.loc[date(2026, 3, 9), "campaign_name"] == "Spring"
    assert daily.loc[date(2026, 3, 10), "campaign_name"] == "Spring Sale"


def test_names_before_the_first_snapshot_and_of_unknown_entities() -> None:
    stats = pd.DataFrame([
        _stat("a1", stat_date=date(2026, 2, 1)),  # a backfilled day before the history starts
        _stat("a9", campaign_id="C9", stat_date=date(2026, 3, 9)),  # a campaign the history never saw
    ])
    daily = metrics_at_level(stats, "campaign", "daily", {"campaign_history": CAMPAIGNS}).set_index("campaign_id")
    assert daily.loc["C1", "campaign_name"] == "Spring"  # the first known version reaches back
    assert daily.loc["C9", "campaign_name"] is None
    assert daily["advertiser_name"].isna().all()  # no advertisers table given


def test_unknown_parents_come_from_the_ad_history_or_stay_in_an_unknown_group() -> None:
    ads = pd.DataFrame({"ad_id": ["a2"], "adgroup_id": ["G2"], "campaign_id": ["C1"], "advertiser_id": ["A"],
                        "ad_name": ["second"], "valid_from": [pd.Timestamp("2026-01-01")], "valid_to": [None]})
    stats = pd.DataFrame([
        _stat("a1", stat_date=date(2026, 3, 9), spend=2.0),
        _stat("a2", campaign_id=None, adgroup_id=None, stat_date=date(2026, 3, 9), spend=3.0),  # deleted, known
        _stat("a3", campaign_id=None, adgroup_id=None, stat_date=date(2026, 3, 9), spend=4.0),  # never seen
    ])
    history = {"ad_history": ads}
    adgroups = metrics_at_level(stats, "adgroup", "daily", history).set_index("adgroup_id")
    assert adgroups.loc["G2", "spend"] == 3.0 and adgroups.loc["G2", "campaign_id"] == "C1"
    assert adgroups.loc[UNKNOWN_PARENT_ID, "spend"] == 4.0
    campaigns = metrics_at_level(stats, "campaign", "daily", history).set_index("campaign_id")
    assert campaigns.loc["C1", "spend"] == 5.0  # 2 + 3
    assert campaigns.loc[UNKNOWN_PARENT_ID, "spend"] == 4.0
    advertiser = metrics_at_level(stats, "advertiser", "daily", history)
    assert advertiser["spend"].sum() == 9.0  # nothing vanished
    ad_level = metrics_at_level(stats, "ad", "daily", history).set_index("ad_id")
    assert ad_level.loc["a2", "ad_name"] == "second"
    assert not ad_level[["campaign_id", "adgroup_id"]].isna().any().any()


def _order(event_id: str, value: float, **params: object) -> dict[str, object]:
    base = {"event_id": event_id, "source": "web", "event_name": "Placed Order",
            "event_time": pd.Timestamp("2026-03-09 20:00", tz="UTC"), "order_id": f"o-{event_id}",
            "customer_id": "cust", "value": value, "currency": "USD", "is_new_customer": False}
    return {**base, **params}


def _composition_fixture() -> tuple[pd.DataFrame, pd.DataFrame, dict[str, pd.DataFrame]]:
    ads = pd.DataFrame({
        "ad_id": ["a1", "a2", "a3"], "adgroup_id": ["G1", "G1", "G2"], "campaign_id": ["C1", "C1", "C1"],
        "advertiser_id": ["A", "A", "A"], "ad_name": ["one", "two", "three"],
        "valid_from": pd.to_datetime(["2026-01-01"] * 3), "valid_to": [None] * 3,
    })
    history = {"ad_history": ads, "campaign_history": CAMPAIGNS, "advertisers": ADVERTISERS}
    stats = pd.DataFrame([
        _stat("a1", adgroup_id="G1", stat_date=date(2026, 3, 9), spend=10.0, purchase_value=30.0),
        _stat("a2", adgroup_id="G1", stat_date=date(2026, 3, 9), spend=20.0, purchase_value=0.0),
        _stat("a3", adgroup_id="G2", stat_date=date(2026, 3, 9), spend=10.0, purchase_value=5.0),
    ])
    events = pd.DataFrame([
        _order("e1", 50.0, cvg_source="tiktok", cvg_adid="a1"),  # ad a1
        _order("e2", 25.0, cvg_source="tiktok", cvg_adid="a3"),  # ad a3 (ad group G2)
        _order("e3", 20.0, cvg_source="tiktok", cvg_cid="C1"),  # campaign C1 only
        _order("e4", 5.0, ttclid="E.C.P.x"),  # advertiser A only
        _order("e5", 8.0, currency="EUR", cvg_adid="a2"),  # ad a2, paid in euros
    ])
    return stats, events, history


def test_first_party_levels_compose_without_double_counting() -> None:
    stats, events, history = _composition_fixture()
    first_party = attribute_first_party(events, history)
    results = metrics_for_levels(stats, LEVELS, ["daily"], history, first_party)

    def revenue(level: str, currency: str = "USD") -> pd.Series:
        frame = results[(level, "daily")]
        frame = frame[frame["currency"] == currency]
        return frame.set_index(LEVEL_KEYS[level][-1])["first_party_revenue"]

    # Ad level: only ad-matched orders. a1 50, a3 25; a2's order was in EUR.
    assert revenue("ad").to_dict() == {"a1": 50.0, "a2": 0.0, "a3": 25.0}
    # Ad groups are sums of their ads (no order is matched at ad-group level).
    assert revenue("adgroup").to_dict() == {"G1": 50.0, "G2": 25.0}
    # Campaign = its ads' 50 + 25 + campaign-only 20 = 95.
    assert revenue("campaign").to_dict() == {"C1": 95.0}
    # Advertiser = its campaigns' 95 + advertiser-only 5 = 100.
    assert revenue("advertiser").to_dict() == {"A": 100.0}
    # The euro order keeps its own currency row all the way up, with no spend.
    euro_ad = revenue("ad", "EUR")
    assert euro_ad.to_dict() == {"a2": 8.0}
    assert revenue("advertiser", "EUR").to_dict() == {"A": 8.0}
    euro_row = results[("advertiser", "daily")].set_index("currency").loc["EUR"]
    assert euro_row["spend"] == 0.0 and np.isnan(euro_row["first_party_roas"])
    # Orders: ad a1 1, campaign 3 (e1, e2, e3), advertiser 4 in USD.
    campaign_row = results[("campaign", "daily")].set_index("currency").loc["USD"]
    assert campaign_row["first_party_orders"] == 3
    assert campaign_row["first_party_roas"] == pytest.approx(95.0 / 40.0)  # spend 10 + 20 + 10
    assert campaign_row["tiktok_roas"] == pytest.approx(35.0 / 40.0)  # purchase value 30 + 0 + 5
    # Spend is untouched by first-party rows at every level.
    for level in LEVELS:
        assert results[(level, "daily")]["spend"].sum() == 40.0


def test_an_order_for_an_ad_without_stats_that_day_has_zero_spend_not_null() -> None:
    # Every row its own ad-level group (one stats row, one order for another ad): the grouper's
    # copy shortcut used to copy the order row's missing spend as NaN, which the NOT NULL metrics
    # table refused (the demo's metrics_daily failed on 3 Dec 2026).
    stats, events, history = _composition_fixture()
    stats = stats[stats["ad_id"] == "a1"]
    first_party = attribute_first_party(events[events["event_id"] == "e2"], history)  # ad a3: no stats row
    ads = metrics_for_levels(stats, ["ad"], ["daily"], history, first_party)[("ad", "daily")].set_index("ad_id")
    assert ads.loc["a3", "spend"] == 0.0 and ads.loc["a3", "first_party_revenue"] == 25.0
    assert ads.loc["a1", "spend"] == 10.0
    assert not ads[["spend", "impressions", "clicks"]].isna().any().any()


def test_hourly_first_party_joins_hourly_stats() -> None:
    stats, events, history = _composition_fixture()
    # Order e1 happened 2026-03-09 20:00 UTC = 13:00 PDT: its hour row.
    stats = stats.assign(stat_hour_utc=pd.Timestamp("2026-03-09 20:00"),
                         stat_hour_local=pd.Timestamp("2026-03-09 13:00"))
    first_party = attribute_first_party(events, history, grain="hourly")
    hourly = metrics_at_level(stats, "campaign", "hourly", history, first_party)
    usd = hourly[hourly["currency"] == "USD"]
    assert len(usd) == 1
    assert usd["first_party_revenue"].iloc[0] == 95.0
    assert usd["stat_hour_local"].iloc[0] == pd.Timestamp("2026-03-09 13:00")
    with pytest.raises(MissingColumnsError, match="grain='hourly'"):
        metrics_at_level(stats, "campaign", "hourly", history, attribute_first_party(events, history))


def test_hourly_needs_hourly_stats() -> None:
    stats, _, _ = _composition_fixture()
    with pytest.raises(MissingColumnsError, match="stat_hour_utc"):
        metrics_at_level(stats, "ad", "hourly")


def test_unknown_level_or_grain_is_refused() -> None:
    stats, _, _ = _composition_fixture()
    with pytest.raises(ValueError, match="level must be among"):
        metrics_at_level(stats, "creative", "daily")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="grain must be among"):
        metrics_at_level(stats, "ad", "weekly")  # type: ignore[arg-type]


def test_metrics_over_period_sums_all_days_with_names_at_the_end() -> None:
    stats = pd.DataFrame([
        _stat("a1", stat_date=date(2026, 3, 9), spend=2.0, clicks=1, impressions=10),
        _stat("a1", stat_date=date(2026, 3, 10), spend=3.0, clicks=4, impressions=90),
    ])
    period = metrics_over_period(stats, "campaign", {"campaign_history": CAMPAIGNS, "advertisers": ADVERTISERS})
    row = period.iloc[0]
    assert len(period) == 1
    assert row["spend"] == 5.0 and row["ctr"] == pytest.approx(5 / 100)  # (1 + 4) / (10 + 90)
    assert (row["period_start"], row["period_end"]) == (date(2026, 3, 9), date(2026, 3, 10))
    assert row["campaign_name"] == "Spring Sale"


def test_aware_hours_and_datetime_dates_from_the_warehouse_still_join() -> None:
    stats, events, history = _composition_fixture()
    aware = CAMPAIGNS.assign(valid_from=CAMPAIGNS["valid_from"].dt.tz_localize("UTC"))
    history = {**history, "campaign_history": aware}
    # A Postgres timestamptz column arrives tz-aware; order e1 is at 20:00 UTC.
    hourly_stats = stats.assign(stat_hour_utc=pd.Timestamp("2026-03-09 20:00", tz="UTC"),
                                stat_hour_local=pd.Timestamp("2026-03-09 13:00"))
    hourly = metrics_at_level(hourly_stats, "campaign", "hourly", history,
                              attribute_first_party(events, history, grain="hourly"))
    usd = hourly[hourly["currency"] == "USD"].iloc[0]
    assert usd["first_party_revenue"] == 95.0 and usd["spend"] == 40.0
    assert usd["campaign_name"] == "Spring"  # 20:00 on 3/9 is before the 3/10 rename
    # A date column read with parse_dates arrives as datetime64.
    daily_stats = stats.assign(stat_date=pd.Timestamp("2026-03-09"))
    daily = metrics_at_level(daily_stats, "campaign", "daily", history, attribute_first_party(events, history))
    assert len(daily[daily["currency"] == "USD"]) == 1
    assert daily.loc[daily["currency"] == "USD", "first_party_revenue"].iloc[0] == 95.0
