"""The synthetic world as ground truth: determinism, revisions, roll-ups, time zones, entities over time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from tiktok_assets.simulator import World

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
ADDITIVE = ["spend", "impressions", "clicks", "conversion", "app_install", "complete_payment",
            "total_complete_payment_rate", "purchase", "total_purchase_value"]
MONEY = ["spend", "total_complete_payment_rate", "total_purchase_value"]


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=7)


def _ids(world: World) -> dict[str, str]:
    by_currency = {str(info["currency"]): str(info["advertiser_id"]) for info in world.advertisers}
    return by_currency


def _minor(frame: pd.DataFrame, decimals: int = 2) -> pd.DataFrame:
    """Money in integer minor units so comparisons are exact to the cent."""
    out = frame.copy()
    for column in MONEY:
        out[column] = np.rint(out[column] * 10**decimals).astype("int64")
    return out


def _local_now(moment_local: datetime) -> datetime:
    return moment_local.astimezone(UTC)


# -- advertisers ----------------------------------------------------------------------------


def test_advertisers_cover_the_required_markets(world: World) -> None:
    expected = {
        "USD": ("America/Los_Angeles", "Etc/GMT+8"),
        "EUR": ("Europe/Berlin", "Etc/GMT-1"),
        "JPY": ("Asia/Tokyo", "Etc/GMT-9"),
        "GBP": ("Europe/London", "Etc/GMT"),
    }
    seen = {info["currency"]: (info["display_timezone"], info["timezone"]) for info in world.advertisers}
    assert seen == expected
    for info in world.advertisers:
        assert isinstance(info["advertiser_id"], str) and len(info["advertiser_id"]) == 19
        assert info["advertiser_id"].isdigit()


def test_same_seed_same_world_other_seed_other_world() -> None:
    start, end = date(2026, 11, 1), date(2026, 11, 10)
    first, again, other = World(seed=7), World(seed=7), World(seed=8)
    frame = first.report_frame(first.advertiser_ids[0], "AUCTION_AD", "day", start, end, NOW)
    pd.testing.assert_frame_equal(frame, again.report_frame(again.advertiser_ids[0], "AUCTION_AD", "day", start, end, NOW))
    assert first.advertiser_ids != other.advertiser_ids
    other_frame = other.report_frame(other.advertiser_ids[0], "AUCTION_AD", "day", start, end, NOW)
    assert other_frame["spend"].sum() != frame["spend"].sum()


def test_sized_world_has_exactly_the_requested_ads() -> None:
    big = World.sized(n_ads=1000, n_advertisers=2, seed=3)
    assert big.n_ads == 1000
    far_future = datetime(2030, 1, 1, tzinfo=UTC)
    assert sum(len(big.ads(advertiser_id, far_future)) for advertiser_id in big.advertiser_ids) == 1000
    assert len(big.advertiser_ids) == 2


# -- stats shape and invariants --------------------------------------------------------------


def test_metric_invariants_and_no_rows_without_delivery(world: World) -> None:
    for advertiser_id in world.advertiser_ids:
        frame = world.report_frame(advertiser_id, "AUCTION_AD", "day", date(2026, 10, 20), date(2026, 11, 19), NOW)
        assert len(frame) > 0
        assert (frame["impressions"] > 0).all()
        assert (frame["clicks"] <= frame["impressions"]).all()
        assert (frame["conversion"] <= frame["clicks"]).all()
        assert (frame["complete_payment"] <= frame["conversion"]).all()
        assert (frame["app_install"] <= frame["clicks"]).all()
        assert (frame["reach"] <= frame["impressions"]).all() and (frame["reach"] >= 1).all()
        # ratios are ratios of the row's own sums (percent for CTR)
        expected_ctr = (frame["clicks"] / frame["impressions"] * 100).round(2)
        assert np.allclose(frame["ctr"], expected_ctr)
        zero_clicks = frame["clicks"] == 0
        assert frame.loc[zero_clicks, "cpc"].isna().all()


def test_installs_only_for_app_campaigns_and_value_only_for_web(world: World) -> None:
    for advertiser_id in world.advertiser_ids:
        objective = {c["campaign_id"]: c["objective_type"] for c in world.campaigns(advertiser_id, NOW)}
        campaign_of = {a["ad_id"]: objective[a["campaign_id"]] for a in world.ads(advertiser_id, NOW)}
        frame = world.report_frame(advertiser_id, "AUCTION_AD", "day", date(2026, 10, 1), date(2026, 10, 30), NOW)
        kind = frame["ad_id"].map(campaign_of)
        assert set(kind) == {"WEB_CONVERSIONS", "APP_PROMOTION"}
        web, app = frame[kind == "WEB_CONVERSIONS"], frame[kind == "APP_PROMOTION"]
        assert (web["app_install"] == 0).all() and web["total_complete_payment_rate"].sum() > 0
        assert app["app_install"].sum() > 0 and (app["total_complete_payment_rate"] == 0).all()


def test_money_uses_the_currency_decimals(world: World) -> None:
    ids = _ids(world)
    yen = world.report_frame(ids["JPY"], "AUCTION_AD", "day", date(2026, 11, 1), date(2026, 11, 10), NOW)
    assert (yen["spend"] == yen["spend"].round(0)).all()
    dollars = world.report_frame(ids["USD"], "AUCTION_AD", "day", date(2026, 11, 1), date(2026, 11, 10), NOW)
    assert (dollars["spend"] == dollars["spend"].round(2)).all()
    assert (dollars["spend"] != dollars["spend"].round(0)).any()


def test_gbp_advertiser_has_daily_but_no_hourly_data(world: World) -> None:
    gbp = _ids(world)["GBP"]
    day = date(2026, 11, 10)
    assert len(world.report_frame(gbp, "AUCTION_AD", "day", day, day, NOW)) > 0
    hourly = world.report_frame(gbp, "AUCTION_AD", "hour", day, day, NOW)
    assert hourly.empty
    assert list(hourly.columns[:2]) == ["ad_id", "stat_time"]


def test_night_hours_are_quieter_than_evening(world: World) -> None:
    usd = _ids(world)["USD"]
    frame = world.report_frame(usd, "AUCTION_ADVERTISER", "hour", date(2026, 11, 10), date(2026, 11, 10), NOW)
    by_hour = frame.set_index(frame["stat_time"].dt.hour)["impressions"]
    assert by_hour.loc[3] * 5 < by_hour.loc[20]


# -- revisions -------------------------------------------------------------------------------


def test_same_day_changes_before_settling_and_not_after(world: World) -> None:
    usd = _ids(world)["USD"]
    day = date(2026, 11, 15)  # LA is UTC-8: at NOW (04:30 local on the 20th) the 15th is 4 days old

    def pull(now: datetime) -> pd.DataFrame:
        return world.report_frame(usd, "AUCTION_AD", "day", day, day, now)

    assert world.age_of(usd, day, NOW) == 4
    young, older = pull(NOW), pull(NOW + timedelta(days=1))
    assert not young.equals(older)
    assert older["conversion"].sum() > young["conversion"].sum()
    settled_at = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 00:00 LA time on the 23rd: 7 whole days after the 15th
    assert world.age_of(usd, day, settled_at) == 7 and world.is_final(usd, day, settled_at)
    pd.testing.assert_frame_equal(pull(settled_at), pull(settled_at + timedelta(days=40)))
    just_before = settled_at - timedelta(minutes=1)
    assert not pull(just_before).equals(pull(settled_at))


def test_two_pulls_on_the_same_simulated_day_are_identical(world: World) -> None:
    eur = _ids(world)["EUR"]
    berlin = ZoneInfo("Europe/Berlin")
    day = date(2026, 11, 17)
    early = _local_now(datetime(2026, 11, 19, 0, 5, tzinfo=berlin))
    late = _local_now(datetime(2026, 11, 19, 23, 55, tzinfo=berlin))
    next_day = _local_now(datetime(2026, 11, 20, 0, 5, tzinfo=berlin))
    first = world.report_frame(eur, "AUCTION_AD", "hour", day, day, early)
    pd.testing.assert_frame_equal(first, world.report_frame(eur, "AUCTION_AD", "hour", day, day, late))
    assert not first.equals(world.report_frame(eur, "AUCTION_AD", "hour", day, day, next_day))


def test_late_conversions_rise_and_corrections_fall_to_final() -> None:
    world = World(seed=11, settle_days=5)
    usd = world.advertiser_ids[0]
    la = ZoneInfo("America/Los_Angeles")
    day = date(2026, 9, 10)
    pulls = []
    for age in range(-1, 9):
        # 23:59 local time, `age + 1` days after `day`
        now = _local_now(datetime.combine(day + timedelta(days=age + 1), datetime.min.time(), tzinfo=la)
                         + timedelta(hours=23, minutes=59))
        assert world.age_of(usd, day, now) == age
        pulls.append(world.report_frame(usd, "AUCTION_AD", "day", day, day, now).set_index("ad_id"))
    final = pulls[-1]
    for earlier, later in zip(pulls[1:], pulls[2:], strict=False):
        common = earlier.index.intersection(later.index)
        for metric in ("conversion", "complete_payment"):
            assert (earlier.loc[common, metric] <= later.loc[common, metric]).all()
    # age 0 (the day after): late conversions missing, some spend still to be corrected down
    young = pulls[1]
    assert young["conversion"].sum() < final["conversion"].sum()
    assert (young["spend"] >= final["spend"].reindex(young.index)).all()
    assert (young["spend"] > final["spend"].reindex(young.index)).any()
    # invalid-traffic corrections are over after two days; conversions settle at settle_days (5)
    pd.testing.assert_series_equal(pulls[3]["spend"], final["spend"])
    assert not pulls[5]["conversion"].equals(final["conversion"])
    pd.testing.assert_frame_equal(pulls[6], final)


def test_settle_days_zero_serves_final_values_at_once() -> None:
    world = World(seed=7, settle_days=0)
    usd = world.advertiser_ids[0]
    day = date(2026, 11, 18)
    now_young, now_old = NOW, NOW + timedelta(days=60)
    pd.testing.assert_frame_equal(world.report_frame(usd, "AUCTION_AD", "day", day, day, now_young),
                                  world.report_frame(usd, "AUCTION_AD", "day", day, day, now_old))


def test_today_serves_only_hours_that_ended(world: World) -> None:
    ids = _ids(world)
    # NOW is 04:30 in Los Angeles (UTC-8) and 21:30 in Tokyo (UTC+9) on 2026-11-20.
    for currency, last_hour in (("USD", 3), ("JPY", 20)):
        hourly = world.report_frame(ids[currency], "AUCTION_ADVERTISER", "hour", date(2026, 11, 20),
                                    date(2026, 11, 20), NOW)
        assert hourly["stat_time"].dt.hour.max() == last_hour
        daily = world.report_frame(ids[currency], "AUCTION_ADVERTISER", "day", date(2026, 11, 20),
                                   date(2026, 11, 20), NOW)
        assert daily["impressions"].iloc[0] == hourly["impressions"].sum()
    # a day that has not started anywhere is empty
    assert world.report_frame(ids["USD"], "AUCTION_AD", "day", date(2026, 11, 22), date(2026, 11, 25), NOW).empty


# -- hourly vs daily, levels, DST ---------------------------------------------------------------

DAYS_TO_CHECK = [
    date(2026, 3, 8),    # US spring forward
    date(2026, 3, 29),   # EU spring forward
    date(2026, 10, 25),  # EU fall back
    date(2026, 11, 1),   # US fall back
    date(2026, 11, 16),  # still being revised at NOW
    date(2026, 11, 19),  # yesterday in every zone
    date(2026, 11, 20),  # partial today
]


@pytest.mark.parametrize("day", DAYS_TO_CHECK, ids=str)
def test_hourly_rows_add_up_to_daily_rows_exactly(world: World, day: date) -> None:
    for currency in ("USD", "EUR", "JPY"):
        advertiser_id = _ids(world)[currency]
        decimals = world.advertiser(advertiser_id).currency_decimals
        daily = _minor(world.report_frame(advertiser_id, "AUCTION_AD", "day", day, day, NOW), decimals)
        hourly = _minor(world.report_frame(advertiser_id, "AUCTION_AD", "hour", day, day, NOW), decimals)
        assert (hourly["stat_time"].dt.date == day).all()
        summed = hourly.groupby("ad_id")[ADDITIVE].sum().sort_index()
        pd.testing.assert_frame_equal(summed, daily.set_index("ad_id")[ADDITIVE].sort_index(), check_names=False)


def test_report_hours_follow_the_fixed_offset_without_dst(world: World) -> None:
    # TikTok ad accounts have no DST: an account in California is UTC-8 all year and reports are dated so
    # (tiktok_assets_tests/contract/FACTS.md section 5, ads.tiktok.com/help/article/time-zone). This test used
    # to expect DST days of 23 and 25 hours (display_timezone), which encoded a wrong assumption.
    usd = _ids(world)["USD"]

    def hours(day: date, now: datetime = NOW) -> pd.Series:
        frame = world.report_frame(usd, "AUCTION_ADVERTISER", "hour", day, day, now)
        return frame.set_index(frame["stat_time"].dt.hour)["impressions"]

    for day in (date(2026, 3, 8), date(2026, 11, 1)):  # the US DST changes: ordinary days for the account
        assert list(hours(day).index) == list(range(24))
    fall = hours(date(2026, 11, 1))
    assert fall.loc[1] < fall.loc[0]  # no doubled 01:00 row
    # In July, 12:30 UTC is 04:30 at UTC-8 (05:30 in Los Angeles' summer time): hour 03 is the last one ended.
    summer_now = datetime(2026, 7, 15, 12, 30, tzinfo=UTC)
    assert hours(date(2026, 7, 15), summer_now).index.max() == 3
    assert world.advertiser(usd).report_timezone == "Etc/GMT+8"


@pytest.mark.parametrize("granularity", ["day", "hour"])
def test_levels_are_exact_sums_of_their_ads(world: World, granularity: str) -> None:
    for currency in ("USD", "JPY"):
        advertiser_id = _ids(world)[currency]
        decimals = world.advertiser(advertiser_id).currency_decimals
        start = date(2026, 11, 1)
        end = start if granularity == "hour" else date(2026, 11, 20)
        ads = _minor(world.report_frame(advertiser_id, "AUCTION_AD", granularity, start, end, NOW), decimals)  # type: ignore[arg-type]
        parents = pd.DataFrame(world.ads(advertiser_id, NOW))[["ad_id", "adgroup_id", "campaign_id"]]
        ads = ads.merge(parents, on="ad_id", how="left").assign(advertiser_id=advertiser_id)
        assert ads["campaign_id"].notna().all()
        # The advertiser level is the whole account: reservation (R&F) ads add in (tiktok_assets_tests/contract/FACTS.md section 6).
        reserved = _minor(world.report_frame(advertiser_id, "AUCTION_AD", granularity, start, end, NOW,  # type: ignore[arg-type]
                                             service_type="RESERVATION"), decimals).assign(advertiser_id=advertiser_id)
        for level, column in (("AUCTION_ADGROUP", "adgroup_id"), ("AUCTION_CAMPAIGN", "campaign_id"),
                              ("AUCTION_ADVERTISER", "advertiser_id")):
            rolled = _minor(world.report_frame(advertiser_id, level, granularity, start, end, NOW), decimals)  # type: ignore[arg-type]
            members = pd.concat([ads, reserved]) if level == "AUCTION_ADVERTISER" else ads
            expected = members.groupby([column, "stat_time"])[ADDITIVE].sum().sort_index()
            pd.testing.assert_frame_equal(rolled.set_index([column, "stat_time"])[ADDITIVE].sort_index(), expected)
            # ratios at a level come from the level's sums, never an average of ad ratios
            assert np.allclose(rolled["ctr"], (rolled["clicks"] / rolled["impressions"] * 100).round(2))


def test_rows_are_ordered_by_time_then_id(world: World) -> None:
    usd = _ids(world)["USD"]
    frame = world.report_frame(usd, "AUCTION_AD", "day", date(2026, 11, 1), date(2026, 11, 19), NOW)
    ordered = frame.sort_values(["stat_time", "ad_id"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(frame, ordered)


def test_report_frame_is_a_copy(world: World) -> None:
    usd = _ids(world)["USD"]
    frame = world.report_frame(usd, "AUCTION_AD", "day", date(2026, 11, 1), date(2026, 11, 2), NOW)
    frame["spend"] = -1.0
    again = world.report_frame(usd, "AUCTION_AD", "day", date(2026, 11, 1), date(2026, 11, 2), NOW)
    assert (again["spend"] >= 0).all()


def test_bad_arguments_name_the_problem(world: World) -> None:
    usd = _ids(world)["USD"]
    with pytest.raises(ValueError, match="before start date"):
        world.report_frame(usd, "AUCTION_AD", "day", date(2026, 11, 2), date(2026, 11, 1), NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        world.report_frame(usd, "AUCTION_AD", "day", date(2026, 11, 1), date(2026, 11, 1), datetime(2026, 11, 20))
    with pytest.raises(ValueError, match="AUCTION_AD"):
        world.report_frame(usd, "KEYWORD", "day", date(2026, 11, 1), date(2026, 11, 1), NOW)
    with pytest.raises(KeyError, match="123"):
        world.campaigns("123", NOW)


# -- entities over time -----------------------------------------------------------------------


def test_ads_created_later_do_not_exist_yet_and_have_no_earlier_stats(world: World) -> None:
    usd = _ids(world)["USD"]
    later = datetime(2027, 4, 10, tzinfo=UTC)
    known_now = {ad["ad_id"] for ad in world.ads(usd, NOW)}
    newcomers = [ad for ad in world.ads(usd, later) if ad["ad_id"] not in known_now]
    assert newcomers, "the seed-7 world should launch an ad between NOW and April 2027"
    for ad in newcomers:
        created = datetime.strptime(ad["create_time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        assert NOW < created <= later
        created_local = created.astimezone(ZoneInfo("America/Los_Angeles")).date()
        frame = world.report_frame(usd, "AUCTION_AD", "day", created_local - timedelta(days=20),
                                   created_local + timedelta(days=5), later)
        rows = frame[frame["ad_id"] == ad["ad_id"]]
        assert len(rows) > 0
        assert (rows["stat_time"].dt.date >= created_local).all()


def test_paused_ads_and_campaigns_have_no_rows_on_paused_days(world: World) -> None:
    checked = 0
    for advertiser_id in world.advertiser_ids:
        zone = world.advertiser(advertiser_id).zone
        final_now = NOW + timedelta(days=30)
        frame = world.report_frame(advertiser_id, "AUCTION_AD", "day", date(2026, 10, 15), date(2026, 11, 19),
                                   final_now)
        delivered = set(zip(frame["ad_id"], frame["stat_time"].dt.date, strict=True))
        for offset in range(1, 36):
            now = NOW - timedelta(days=offset)
            local_day = now.astimezone(zone).date()
            paused_campaigns = {c["campaign_id"] for c in world.campaigns(advertiser_id, now)
                                if c["operation_status"] == "DISABLE"}
            for ad in world.ads(advertiser_id, now):
                if ad["secondary_status"].endswith("_DELETE"):
                    continue  # deleted on some day: it delivered that day until the deletion hour
                if ad["operation_status"] == "DISABLE" or ad["campaign_id"] in paused_campaigns:
                    checked += 1
                    assert (ad["ad_id"], local_day) not in delivered
    assert checked > 10


def test_renames_update_names_and_modify_time(world: World) -> None:
    renamed = 0
    without_modify_time: set[str] = set()
    for advertiser_id in world.advertiser_ids:
        before = {ad["ad_id"]: ad for ad in world.ads(advertiser_id, NOW - timedelta(days=60))}
        after = {ad["ad_id"]: ad for ad in world.ads(advertiser_id, NOW)}
        for ad_id, old in before.items():
            new = after[ad_id]
            assert new["create_time"] == old["create_time"]
            if "modify_time" not in new:
                assert "modify_time" not in old
                without_modify_time.add(ad_id)
                continue
            assert old["create_time"] <= old["modify_time"] <= new["modify_time"] <= NOW.strftime("%Y-%m-%d %H:%M:%S")
            if new["ad_name"] != old["ad_name"]:
                renamed += 1
                assert new["modify_time"] > (NOW - timedelta(days=60)).strftime("%Y-%m-%d %H:%M:%S")
    assert renamed > 0
    assert without_modify_time


def test_landing_pages_mix_tracking_styles(world: World) -> None:
    urls = [ad["landing_page_url"] for advertiser_id in world.advertiser_ids for ad in world.ads(advertiser_id, NOW)]
    converge = [u for u in urls if u and "cvg_adid=__CID__" in u and "utm_source=tiktok" in u and "ttclid=" in u]
    utm_only = [u for u in urls if u and "utm_source=tiktok" in u and "cvg_" not in u]
    plain = [u for u in urls if u and "?" not in u]
    assert converge and utm_only and plain
    assert None in urls  # app ads without a landing page
    assert all(u is None or u.startswith("https://") for u in urls)
