"""First-party attribution: each rule, precedence, scope, dates in the advertiser's zone, currencies."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from tiktok_assets.metrics.attribution import attribute_first_party, match_orders, rows_counted_at
from tiktok_assets.metrics.errors import MissingColumnsError

ADS = pd.DataFrame({
    "ad_id": ["1701", "1702"], "adgroup_id": ["1601", "1602"], "campaign_id": ["1501", "1502"],
    "advertiser_id": ["7001", "7001"], "ad_name": ["video A", "video B"],
    "valid_from": pd.to_datetime(["2026-01-01", "2026-01-01"]), "valid_to": [None, None],
})
CAMPAIGNS = pd.DataFrame({
    "campaign_id": ["1501", "1502", "1502", "1503", "2501"],
    "advertiser_id": ["7001", "7001", "7001", "7001", "7002"],
    # 1502 was renamed; 1503 and 2501 share a name (ambiguous).
    "campaign_name": ["Summer Sale", "Retargeting", "Retargeting Q3", "Brand", "Brand"],
    "valid_from": pd.to_datetime(["2026-01-01", "2026-01-01", "2026-02-01", "2026-01-01", "2026-01-01"]),
    "valid_to": [None, pd.Timestamp("2026-02-01"), None, None, None],
})
ONE_ADVERTISER = pd.DataFrame({"advertiser_id": ["7001"], "advertiser_name": ["Shop US"], "currency": ["USD"],
                               "timezone": ["Etc/GMT+8"], "display_timezone": ["America/Los_Angeles"]})
TWO_ADVERTISERS = pd.concat([ONE_ADVERTISER, pd.DataFrame({
    "advertiser_id": ["7002"], "advertiser_name": ["Shop IN"], "currency": ["INR"], "timezone": ["Asia/Kolkata"],
    "display_timezone": ["Asia/Kolkata"]})], ignore_index=True)


def _history(advertisers: pd.DataFrame = ONE_ADVERTISER) -> dict[str, pd.DataFrame]:
    return {"ad_history": ADS, "campaign_history": CAMPAIGNS, "advertisers": advertisers}


def _event(event_id: str, *, name: str = "Placed Order", time: str = "2026-03-09 20:00", value: float = 10.0,
           currency: str | None = "USD", order_id: str | None = None, **params: object) -> dict[str, object]:
    return {"event_id": event_id, "source": "web", "event_name": name, "event_time": pd.Timestamp(time, tz="UTC"),
            "order_id": order_id if order_id is not None else f"o-{event_id}", "customer_id": "c1", "value": value,
            "currency": currency, "is_new_customer": True, **params}


def _matched(events: list[dict[str, object]], advertisers: pd.DataFrame = ONE_ADVERTISER) -> pd.DataFrame:
    return match_orders(pd.DataFrame(events), _history(advertisers)).set_index("event_id")


def test_rule_1_cvg_adid_matches_an_ad() -> None:
    row = _matched([_event("e1", cvg_source="tiktok", cvg_adid="1702", cvg_cid="1501")]).loc["e1"]
    # cvg_adid wins over cvg_cid; the parents come from the ad, not from cvg_cid.
    assert row["attribution_level"] == "ad"
    assert (row["ad_id"], row["adgroup_id"], row["campaign_id"], row["advertiser_id"]) == (
        "1702", "1602", "1502", "7001")


def test_rule_2_cvg_cid_matches_a_campaign_when_the_ad_is_unknown() -> None:
    # "__CID__" is the literal macro TikTok failed to fill in.
    row = _matched([_event("e1", cvg_source="tiktok", cvg_adid="__CID__", cvg_cid="1501")]).loc["e1"]
    assert row["attribution_level"] == "campaign"
    assert (row["campaign_id"], row["advertiser_id"]) == ("1501", "7001")
    assert row["ad_id"] is None and row["adgroup_id"] is None


def test_rule_3_utm_campaign_matches_a_name_past_or_present_or_an_id() -> None:
    matched = _matched([
        _event("by_name", utm_source="TikTok", utm_campaign="summer sale"),  # case-insensitive
        _event("by_old_name", utm_source="tiktok", utm_campaign="Retargeting"),  # the name before the rename
        _event("by_id", utm_source="tiktok", utm_campaign="1502"),
        _event("other_source", utm_source="google", utm_campaign="Summer Sale"),
    ])
    assert matched.loc["by_name", ["attribution_level", "campaign_id"]].tolist() == ["campaign", "1501"]
    assert matched.loc["by_old_name", ["attribution_level", "campaign_id"]].tolist() == ["campaign", "1502"]
    assert matched.loc["by_id", ["attribution_level", "campaign_id"]].tolist() == ["campaign", "1502"]
    # Same campaign name, but the click came from Google: not TikTok's.
    assert matched.loc["other_source", "attribution_level"] == "not_tiktok"


def test_rule_3_ambiguous_name_falls_through_to_the_advertiser_rule() -> None:
    # "Brand" names campaigns of two advertisers: no campaign, and two advertisers in scope.
    matched = _matched([_event("e1", utm_source="tiktok", utm_campaign="Brand")], TWO_ADVERTISERS)
    assert matched.loc["e1", "attribution_level"] == "unattributed"
    assert matched.loc["e1", "campaign_id"] is None


def test_rule_4_ttclid_goes_to_the_only_advertiser_in_scope() -> None:
    matched = _matched([
        _event("ttclid", ttclid="E.C.P.abc"),
        _event("utm_only", utm_source="tiktok", utm_campaign="unknown campaign"),
        _event("nothing"),
    ])
    assert matched.loc["ttclid", ["attribution_level", "advertiser_id"]].tolist() == ["advertiser", "7001"]
    assert matched.loc["utm_only", ["attribution_level", "advertiser_id"]].tolist() == ["advertiser", "7001"]
    assert matched.loc["nothing", "attribution_level"] == "not_tiktok"
    assert matched.loc["nothing", "advertiser_id"] is None


def test_rule_4_with_several_advertisers_is_unattributed() -> None:
    matched = _matched([_event("e1", ttclid="E.C.P.abc")], TWO_ADVERTISERS)
    assert matched.loc["e1", "attribution_level"] == "unattributed"
    assert matched.loc["e1", "advertiser_id"] is None
    assert attribute_first_party(pd.DataFrame([_event("e1", ttclid="x")]), _history(TWO_ADVERTISERS)).empty


def test_ids_from_another_network_are_not_matched() -> None:
    # A Meta ad id that happens to equal a TikTok ad id.
    matched = _matched([_event("e1", cvg_source="facebook", cvg_adid="1701", cvg_cid="1501")])
    assert matched.loc["e1", "attribution_level"] == "not_tiktok"


def test_only_orders_count_and_duplicates_count_once() -> None:
    events = pd.DataFrame([
        _event("view", name="Viewed Product", cvg_adid="1701"),
        _event("e1", cvg_adid="1701", value=30.0, time="2026-03-09 18:00"),
        _event("e1", cvg_adid="1701", value=30.0, time="2026-03-09 18:05"),  # collector retry: same event_id
        _event("e2", cvg_adid="1701", value=30.0, order_id="o-e1", time="2026-03-09 18:10"),  # same order, server-side
        _event("app", name="Purchase", cvg_adid="1701", value=12.0),
    ])
    first_party = attribute_first_party(events, _history())
    assert len(first_party) == 1
    assert first_party["first_party_orders"].iloc[0] == 2  # e1 once + the app purchase
    assert first_party["first_party_revenue"].iloc[0] == 42.0  # 30 + 12


def test_stat_date_is_the_advertisers_local_date() -> None:
    # The account's timezone is Etc/GMT+8: UTC−8 all year, as TikTok dates its reports (no DST, even though
    # display_timezone is Los Angeles, which is on PDT by then). 2026-03-10 07:30 UTC is 2026-03-09 23:30 there.
    row = _matched([_event("e1", cvg_adid="1701", time="2026-03-10 07:30")]).loc["e1"]
    assert row["stat_date"] == date(2026, 3, 9)
    assert row["stat_hour_local"] == pd.Timestamp("2026-03-09 23:00")
    assert row["stat_hour_utc"] == pd.Timestamp("2026-03-10 07:00")


def test_half_hour_zones_get_the_local_hours_utc_start() -> None:
    # India is UTC+5:30: an order at 10:10 UTC is 15:40 local, in the local hour 15:00,
    # which TikTok's hourly rows start at 09:30 UTC.
    advertisers = pd.DataFrame({"advertiser_id": ["7001"], "advertiser_name": ["Shop IN"], "currency": ["INR"],
                                "timezone": ["Asia/Kolkata"], "display_timezone": [None]})
    row = _matched([_event("e1", cvg_adid="1701", time="2026-03-09 10:10", currency="INR")], advertisers).loc["e1"]
    assert row["stat_hour_local"] == pd.Timestamp("2026-03-09 15:00")
    assert row["stat_hour_utc"] == pd.Timestamp("2026-03-09 09:30")


def test_other_currencies_keep_their_own_rows_and_missing_currency_is_the_advertisers() -> None:
    events = pd.DataFrame([
        _event("usd", cvg_adid="1701", value=10.0, currency="USD"),
        _event("eur", cvg_adid="1701", value=9.0, currency="eur"),
        _event("none", cvg_adid="1701", value=1.0, currency=None),
    ])
    first_party = attribute_first_party(events, _history()).set_index("currency")
    assert sorted(first_party.index) == ["EUR", "USD"]
    assert first_party.loc["USD", "first_party_revenue"] == 11.0  # 10 + the order without currency
    assert first_party.loc["EUR", "first_party_revenue"] == 9.0  # never converted


def test_output_keys_by_level_and_rows_counted_at_each_level() -> None:
    events = pd.DataFrame([
        _event("ad", cvg_adid="1701", value=4.0),
        _event("campaign", cvg_cid="1501", value=2.0),
        _event("advertiser", ttclid="x", value=1.0),
    ])
    first_party = attribute_first_party(events, _history()).set_index("attribution_level")
    assert first_party.loc["ad", ["campaign_id", "adgroup_id", "ad_id"]].tolist() == ["1501", "1601", "1701"]
    assert first_party.loc["campaign", ["campaign_id", "adgroup_id", "ad_id"]].tolist() == ["1501", None, None]
    assert first_party.loc["advertiser", ["campaign_id", "adgroup_id", "ad_id"]].tolist() == [None, None, None]
    frame = first_party.reset_index()
    assert rows_counted_at(frame, "ad")["first_party_revenue"].sum() == 4.0
    assert rows_counted_at(frame, "adgroup")["first_party_revenue"].sum() == 4.0
    assert rows_counted_at(frame, "campaign")["first_party_revenue"].sum() == 6.0  # 4 + 2
    assert rows_counted_at(frame, "advertiser")["first_party_revenue"].sum() == 7.0  # 4 + 2 + 1


def test_missing_event_columns_are_named() -> None:
    with pytest.raises(MissingColumnsError, match="event_time"):
        match_orders(pd.DataFrame({"event_id": ["e1"], "event_name": ["Placed Order"]}), _history())


def test_advertiser_zones_are_the_fixed_offsets_reports_use_never_dst_or_a_guess() -> None:
    from tiktok_assets.metrics.entities import EntityHistory

    advertisers = pd.DataFrame({
        "advertiser_id": ["7001", "7002", "7003", "7004"],
        # Etc/GMT+8 is UTC−8 (POSIX sign); a Region/City timezone counts as its standard offset; an offset string
        # parses; with timezone missing, display_timezone is read (its standard offset too).
        "timezone": ["Etc/GMT+8", "Europe/Berlin", "UTC+05:45", None],
        "display_timezone": ["America/Los_Angeles", "Europe/Berlin", None, "America/New_York"],
    })
    zones = EntityHistory(advertisers=advertisers).advertiser_zones()
    assert zones == {"7001": "UTC-08:00", "7002": "UTC+01:00", "7003": "UTC+05:45", "7004": "UTC-05:00"}


def test_an_advertiser_without_a_readable_zone_is_refused_not_read_as_utc() -> None:
    from tiktok_assets.metrics.errors import MissingZoneError

    zoneless = ONE_ADVERTISER.assign(timezone=[None], display_timezone=["Mars/Olympus"])
    with pytest.raises(MissingZoneError, match="7001"):
        attribute_first_party(pd.DataFrame([_event("e1", cvg_adid="1701")]), _history(zoneless))
