"""The client, the report parser and the warehouse writes against real-shaped TikTok answers.

Every answer here is a recorded case (``responses/*.json``, each naming its
public source) served by :class:`ReplayTransport`; what a case means
(``expected``) was written from the source, not from our code. FACTS.md (in
this directory) holds the facts behind each assertion, with their sources.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, date, datetime

import pandas as pd
import pytest

from tiktok_assets.tiktok import codes
from tiktok_assets.tiktok.client import RetryPolicy, TikTokClient
from tiktok_assets.tiktok.codes import CodeKind
from tiktok_assets.tiktok.errors import (
    TikTokAuthenticationError,
    TikTokBadParameterError,
    TikTokError,
    TikTokPermissionError,
)
from tiktok_assets.tiktok.reports import REPORT_METRICS, parse_report_rows
from tiktok_assets_tests.contract.cases import Case, ReplayTransport, load_case

ADVERTISER = "7034512398765432101"
# A canary: it must never appear in an error, whatever TikTok echoes.
TOKEN = "act.contract-canary-5f0c1d2e3a4b"
DAYS = (date(2026, 11, 17), date(2026, 11, 18))
OUR_METRICS = list(REPORT_METRICS)


def replay(*names: str) -> tuple[TikTokClient, ReplayTransport]:
    transport = ReplayTransport([load_case(name) for name in names], token=TOKEN)
    client = TikTokClient(TOKEN, transport=transport, qps=None, sleep=lambda seconds: None, seed=1,
                          retry=RetryPolicy(max_attempts=4))
    return client, transport


def report_rows(case: Case, **kwargs) -> tuple[list[dict], ReplayTransport]:
    client, transport = replay(case.name)
    with client:
        rows = client.report(ADVERTISER, start=DAYS[0], end=DAYS[1], metrics=case.metrics, **kwargs)
    return rows, transport


def parsed(rows: list[dict]) -> pd.DataFrame:
    return parse_report_rows(rows, id_dimension="ad_id", time_dimension="stat_time_day", metrics=OUR_METRICS,
                             advertiser_id=ADVERTISER)


# -- report values as TikTok types them -------------------------------------------------------------


def test_mixed_strings_ints_floats_and_nulls_parse_to_the_recorded_sums():
    case = load_case("report_mixed_types")
    rows, _ = report_rows(case)
    frame = parsed(rows)
    expected = case.expected
    assert len(frame) == expected["rows"]
    assert frame["spend"].sum() == pytest.approx(expected["spend"])
    assert frame["purchase_value"].sum() == pytest.approx(expected["purchase_value"])
    assert frame["app_purchase_value"].sum() == pytest.approx(expected["app_purchase_value"])
    for column in ("impressions", "clicks", "conversions", "installs", "purchases", "app_purchases"):
        assert int(frame[column].sum()) == expected[column], column


def test_ids_served_as_json_numbers_above_2_53_stay_exact_strings():
    case = load_case("report_dash_numeric_ids")
    raw_ids = [row["dimensions"]["ad_id"] for row in case.rows()]
    # The case is only a test if a float parser would lose digits.
    assert all(isinstance(value, int) and int(float(value)) != value for value in raw_ids)
    rows, _ = report_rows(case)
    frame = parsed(rows)
    assert list(frame["ad_id"]) == case.expected["ad_ids"]


def test_dash_means_empty_counts_zero_and_reach_unknown():
    case = load_case("report_dash_numeric_ids")
    rows, _ = report_rows(case)
    frame = parsed(rows)
    assert frame["spend"].sum() == pytest.approx(case.expected["spend"])
    assert int(frame["conversions"].sum()) == case.expected["conversions"]
    assert int(frame["installs"].sum()) == case.expected["installs"]
    assert int(frame["reach"].isna().sum()) == case.expected["reach_missing"]


# -- paging ---------------------------------------------------------------------------------------------


def test_report_without_page_info_is_read_to_the_short_page():
    case = load_case("report_no_page_info_paged")
    rows, transport = report_rows(case)
    assert len(rows) == case.expected["rows"]
    assert [request.query["page"] for request in transport.requests] == ["1", "2", "3"]
    assert parsed(rows)["spend"].sum() == pytest.approx(case.expected["spend"])


def test_ad_listing_without_page_info_is_read_to_the_short_page():
    case = load_case("ads_no_page_info_paged")
    client, transport = replay(case.name)
    with client:
        ads = client.ads(ADVERTISER)
    assert len(ads) == case.expected["rows"]
    assert len({ad["ad_id"] for ad in ads}) == case.expected["rows"]
    assert len(transport.requests) == case.expected["requests"]


def test_empty_listing_with_total_page_1_is_one_request_and_no_rows():
    case = load_case("campaigns_empty")
    client, transport = replay(case.name)
    with client:
        assert client.campaigns(ADVERTISER) == []
    assert len(transport.requests) == case.expected["requests"]


def test_authorised_advertisers_without_page_info():
    case = load_case("oauth_advertisers")
    client, _ = replay(case.name)
    with client:
        assert len(client.authorised_advertisers()) == case.expected["rows"]


def test_advertiser_level_report_parses_with_advertiser_id():
    case = load_case("report_advertiser_level")
    client, transport = replay(case.name)
    with client:
        rows = client.report(ADVERTISER, start=DAYS[0], end=DAYS[1], metrics=case.metrics,
                             data_level="AUCTION_ADVERTISER")
    (request,) = transport.requests
    assert json.loads(request.query["dimensions"]) == ["advertiser_id", "stat_time_day"]
    frame = parse_report_rows(rows, id_dimension="advertiser_id", time_dimension="stat_time_day",
                              metrics=["spend"], advertiser_id=ADVERTISER)
    assert set(frame["advertiser_id"]) == {ADVERTISER}
    assert frame["spend"].sum() == pytest.approx(case.expected["spend"])


def test_lifetime_report_is_asked_without_dates_and_parses_without_a_time_dimension():
    case = load_case("report_lifetime_campaigns")
    client, transport = replay(case.name)
    with client:
        rows = client.lifetime_report(ADVERTISER, metrics=case.metrics, data_level="AUCTION_CAMPAIGN")
    (request,) = transport.requests
    assert request.query["query_lifetime"] == "true"
    assert "start_date" not in request.query and "end_date" not in request.query
    assert json.loads(request.query["dimensions"]) == ["campaign_id"]
    assert json.loads(request.query["filtering"])[0]["field_name"] == "campaign_status"
    frame = parse_report_rows(rows, id_dimension="campaign_id", time_dimension=None, metrics=case.metrics,
                              advertiser_id=ADVERTISER)
    assert "stat_time" not in frame and len(frame) == case.expected["rows"]
    assert frame["spend"].sum() == pytest.approx(case.expected["spend"])
    assert int(frame["impressions"].sum()) == case.expected["impressions"]
    assert frame["frequency"].tolist() == [float(row["metrics"]["frequency"]) for row in case.rows()]


def test_advertiser_totals_keep_cash_and_voucher_spend_and_reach():
    from tiktok_assets.spend.levels import fetch_level_daily
    from tiktok_assets.spend.pull import AdvertiserProfile

    case = load_case("report_advertiser_reach_frequency")
    profile = AdvertiserProfile.from_info(load_case("advertiser_info_zones").rows()[0])
    client, transport = replay(case.name)
    with client:
        frames = fetch_level_daily(client, profile, "advertiser", list(DAYS))
    assert "cash_spend" in json.loads(transport.requests[0].query["metrics"])
    whole = pd.concat(frames.values())
    assert len(whole) == case.expected["rows"]
    assert whole["spend"].sum() == pytest.approx(case.expected["spend"])
    assert whole["cash_spend"].sum() == pytest.approx(case.expected["cash_spend"])
    assert whole["voucher_spend"].sum() == pytest.approx(case.expected["voucher_spend"])
    assert whole["reach"].tolist() == [float(row["metrics"]["reach"]) for row in case.rows()]


def test_reservation_campaigns_in_the_default_listing_are_kept(engine):
    from tiktok_assets.warehouse import entities_as_of, write_entity_snapshot

    case = load_case("campaigns_official_example")
    client, _ = replay(case.name)
    with client:
        rows = client.campaigns(ADVERTISER)
    assert len(rows) == case.expected["rows"]
    reservation = [str(row["campaign_id"]) for row in rows if row.get("objective_type") == "RF_REACH"]
    assert reservation == case.expected["reservation_ids"]
    write_entity_snapshot(engine, "campaign", ADVERTISER, rows, SNAPSHOT_AT)
    stored = entities_as_of(engine, "campaign", SNAPSHOT_AT, ADVERTISER)
    assert sorted(stored["campaign_id"]) == sorted(str(row["campaign_id"]) for row in case.rows())
    assert not stored["is_deleted"].astype(bool).any()


# -- deleted entities and their stats are asked for ---------------------------------------------------

# TikTok's report filter per data level (FACTS.md 1: Airbyte manifest.yaml, TikTok docs 1738864850353154).
REPORT_STATUS_FILTER = {
    "AUCTION_AD": "ad_status",
    "AUCTION_ADGROUP": "adgroup_status",
    "AUCTION_CAMPAIGN": "campaign_status",
}


@pytest.mark.parametrize("data_level", [*REPORT_STATUS_FILTER, "AUCTION_ADVERTISER"])
def test_report_requests_ask_for_deleted_entities_with_tiktoks_filter(data_level):
    case = load_case("report_mixed_types")
    _, transport = report_rows(case, data_level=data_level)
    (request,) = transport.requests
    filtering = request.json_param("filtering")
    if data_level == "AUCTION_ADVERTISER":
        # The advertiser level has no status filter: it already counts every ad.
        assert filtering in (None, [])
    else:
        assert filtering == [{"field_name": REPORT_STATUS_FILTER[data_level], "filter_type": "IN",
                              "filter_value": '["STATUS_ALL"]'}]


@pytest.mark.parametrize(("case_name", "kind"), [("campaigns_deleted", "campaign"), ("adgroups_deleted", "adgroup"),
                                                 ("ads_deleted", "ad")])
def test_entity_listings_ask_for_deleted_entities(case_name, kind):
    client, transport = replay(case_name)
    with client:
        rows = getattr(client, f"{kind}s")(ADVERTISER)
    assert len(rows) == load_case(case_name).expected["rows"]
    filtering = transport.requests[0].json_param("filtering") or {}
    # Either documented form (FACTS.md 1): TikTok's SDK primary_status, or Airbyte's secondary_status.
    assert filtering.get("primary_status") == "STATUS_ALL" or \
        filtering.get("secondary_status") == f"{kind.upper()}_STATUS_ALL", filtering


# -- errors: each code to the right class, retried or not, secrets never shown ------------------------

ERROR_CASES = {
    "error_40001_no_permission": TikTokPermissionError,
    "error_40002_invalid_metric": TikTokBadParameterError,
    "error_40105_token_invalid": TikTokAuthenticationError,
}


@pytest.mark.parametrize("case_name", sorted(ERROR_CASES))
def test_refusals_raise_their_class_at_once_without_the_token(case_name):
    case = load_case(case_name)
    client, transport = replay(case_name)
    with client, pytest.raises(ERROR_CASES[case_name]) as raised:
        client.report(ADVERTISER, start=DAYS[0], end=DAYS[1], metrics=OUR_METRICS)
    assert len(transport.requests) == case.expected["attempts"], "a refusal must not be retried"
    error = raised.value
    assert error.code == case.first.body["code"]
    text = f"{error} {error!r} {error.args}"
    assert TOKEN not in text
    if "message_contains" in case.expected:
        assert case.expected["message_contains"] in str(error)


def test_app_secret_echoed_by_tiktok_stays_out_of_errors_and_logs(caplog):
    case = load_case("error_40101_secret_echo")
    secret = "app-secret-contract-canary-93ab"
    transport = ReplayTransport([case], token=TOKEN, secret=secret)
    client = TikTokClient(TOKEN, transport=transport, qps=None, sleep=lambda seconds: None, seed=1)
    with caplog.at_level(logging.DEBUG), client, pytest.raises(TikTokAuthenticationError) as raised:
        client.authorised_advertisers(app_id="7290011223344556677", secret=secret)
    assert len(transport.requests) == case.expected["attempts"]
    # TikTok needs the secret on this endpoint; it travels, but is shown nowhere.
    assert transport.requests[0].query.get("secret") == secret
    shown = f"{raised.value} {raised.value!r} {raised.value.args} {caplog.text}"
    assert secret not in shown
    assert TOKEN not in shown


@pytest.mark.parametrize("case_name", ["error_40100_app_rate_limit", "error_40133_advertiser_rate_limit"])
def test_throttles_are_retried_and_counted(case_name):
    case = load_case(case_name)
    client, transport = replay(case_name)
    with client:
        rows = client.report(ADVERTISER, start=DAYS[0], end=DAYS[1], metrics=OUR_METRICS)
        assert client.stats.throttled == 1
    assert len(rows) == case.expected["rows"]
    assert len(transport.requests) == case.expected["attempts"]


def test_server_error_envelope_is_retried():
    case = load_case("error_50000_system_error")
    client, transport = replay(case.name)
    with client:
        assert len(client.campaigns(ADVERTISER)) == case.expected["rows"]
    assert len(transport.requests) == case.expected["attempts"]


@pytest.mark.parametrize("case_name", ["http_502_html", "http_503_html"])
def test_html_gateway_errors_are_retried(case_name):
    case = load_case(case_name)
    client, transport = replay(case_name)
    with client:
        rows = client.report(ADVERTISER, start=DAYS[0], end=DAYS[1], metrics=OUR_METRICS)
    assert len(rows) == case.expected["rows"]
    assert len(transport.requests) == case.expected["attempts"]


def test_query_too_large_splits_the_date_range():
    case = load_case("error_40067_query_too_large")
    client, transport = replay(case.name)
    with client:
        rows = client.report(ADVERTISER, start=date(2026, 10, 20), end=date(2026, 11, 18), metrics=OUR_METRICS)
    assert len(rows) == case.expected["rows"]
    spans = [(request.query["start_date"], request.query["end_date"]) for request in transport.requests]
    assert spans == [("2026-10-20", "2026-11-18"), ("2026-10-20", "2026-11-03"), ("2026-11-04", "2026-11-18")]


def test_ads_throttle_header_is_never_taken_as_a_complete_report():
    # TikTok says "only the newest 20k ads" in a header of a code-0 answer (FACTS.md 2); its documented way
    # around is to ask again by id filters of at most 100 ids. Here the cut persists, so nothing may be returned.
    client, transport = replay("report_ads_throttle_header")
    with client, pytest.raises(TikTokError) as raised:
        client.report(ADVERTISER, start=DAYS[0], end=DAYS[1], metrics=OUR_METRICS)
    assert ADVERTISER in str(raised.value)
    id_filtered = [request for request in transport.requests if request.path.endswith("/report/integrated/get/")
                   and any(item.get("field_name") in ("ad_ids", "adgroup_ids", "campaign_ids")
                           for item in request.json_param("filtering") or [])]
    assert id_filtered, "the client should ask again by id filters before giving up"
    for request in id_filtered:
        for item in request.json_param("filtering"):
            if item["field_name"].endswith("_ids"):
                assert item["filter_type"] == "IN" and len(json.loads(item["filter_value"])) <= 100


# TikTok's SDK table (tiktok/tiktok-business-api-sdk .../tiktok_code.py) and the recordings in FACTS.md 3.
DOCUMENTED_KINDS = {
    40001: CodeKind.PERMISSION, 40002: CodeKind.BAD_PARAMETER, 40006: CodeKind.BAD_PARAMETER,
    40067: CodeKind.TOO_LARGE, 40016: CodeKind.THROTTLE, 40100: CodeKind.THROTTLE, 40132: CodeKind.THROTTLE,
    40133: CodeKind.THROTTLE, 61000: CodeKind.THROTTLE, 40101: CodeKind.AUTH, 40102: CodeKind.AUTH,
    40104: CodeKind.AUTH, 40105: CodeKind.AUTH, 40110: CodeKind.AUTH, 40200: CodeKind.SERVER,
    40201: CodeKind.SERVER, 40202: CodeKind.SERVER, 50000: CodeKind.SERVER, 50002: CodeKind.SERVER,
    51001: CodeKind.SERVER, 60001: CodeKind.SERVER,
}


@pytest.mark.parametrize("code", sorted(DOCUMENTED_KINDS))
def test_codes_table_matches_tiktoks_documented_kinds(code):
    assert codes.kind_of(code) is DOCUMENTED_KINDS[code]


# -- advertiser info: currency and zone, never guessed --------------------------------------------------


def test_advertiser_without_currency_or_zone_is_refused_by_name():
    from tiktok_assets.spend.errors import AdvertiserProfileError
    from tiktok_assets.spend.pull import AdvertiserProfile

    case = load_case("advertiser_info_no_currency")
    client, _ = replay(case.name)
    with client:
        (info,) = client.advertiser_info([ADVERTISER])
    with pytest.raises(AdvertiserProfileError) as raised:
        AdvertiserProfile.from_info(info)
    assert ADVERTISER in str(raised.value)
    assert case.expected["missing"] in str(raised.value)


def test_advertiser_zones_in_every_recorded_form_give_fixed_offsets():
    from tiktok_assets.spend.pull import AdvertiserProfile
    from tiktok_assets.spend.zones import zone_info

    case = load_case("advertiser_info_zones")
    client, _ = replay(case.name)
    with client:
        infos = client.advertiser_info(list(case.expected["utc_offset_minutes"]))
    for info in infos:
        profile = AdvertiserProfile.from_info(info)
        expected = case.expected["utc_offset_minutes"][profile.advertiser_id]
        # Winter and summer alike: TikTok accounts have no daylight saving time.
        for moment in (datetime(2026, 1, 15, 12), datetime(2026, 7, 15, 12)):
            offset = zone_info(profile.timezone).utcoffset(moment)
            assert offset.total_seconds() / 60 == expected, (profile.advertiser_id, info["timezone"], moment)


# -- warehouse: entity history and stats writes ----------------------------------------------------------


@pytest.fixture
def engine(tmp_path):
    from tiktok_assets.warehouse import create_schema, make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    create_schema(engine)
    yield engine
    engine.dispose()


SNAPSHOT_AT = datetime(2026, 11, 19, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("case_name", "kind"), [("campaigns_deleted", "campaign"), ("adgroups_deleted", "adgroup"),
                                                 ("ads_deleted", "ad")])
def test_deleted_entities_are_kept_with_their_status(engine, case_name, kind):
    from tiktok_assets.warehouse import entities_as_of, write_entity_snapshot

    case = load_case(case_name)
    client, _ = replay(case_name)
    with client:
        rows = getattr(client, f"{kind}s")(ADVERTISER)
    write_entity_snapshot(engine, kind, ADVERTISER, rows, SNAPSHOT_AT)
    stored = entities_as_of(engine, kind, SNAPSHOT_AT, ADVERTISER)
    id_column = f"{kind}_id"
    assert sorted(stored[id_column]) == sorted(str(row[id_column]) for row in case.rows())
    deleted = sorted(stored.loc[stored["is_deleted"].astype(bool), id_column])
    assert deleted == sorted(case.expected["deleted_ids"])
    recorded = {str(row[id_column]): row["secondary_status"] for row in case.rows()}
    assert dict(zip(stored[id_column], stored["secondary_status"], strict=True)) == recorded


@pytest.mark.parametrize("case_name", ["ads_without_modify_time", "ads_no_page_info_paged"])
def test_ads_without_modify_time_are_stored(engine, case_name):
    from tiktok_assets.warehouse import entities_as_of, write_entity_snapshot

    case = load_case(case_name)
    client, _ = replay(case_name)
    with client:
        ads = client.ads(ADVERTISER)
    write = write_entity_snapshot(engine, "ad", ADVERTISER, ads, SNAPSHOT_AT)
    assert write.opened == case.expected["rows"]
    stored = entities_as_of(engine, "ad", SNAPSHOT_AT, ADVERTISER)
    assert int(stored["modify_time"].isna().sum()) == case.expected["without_modify_time"]


@pytest.mark.parametrize("case_name", ["report_mixed_types", "report_dash_numeric_ids", "report_no_page_info_paged"])
def test_daily_stats_of_each_report_case_are_written_whole(engine, case_name):
    from tiktok_assets.spend.pull import AdvertiserProfile, ad_parents_frame, fetch_daily_stats
    from tiktok_assets.warehouse import read_stats, write_stats_partitions

    case = load_case(case_name)
    zones = load_case("advertiser_info_zones")
    profile = AdvertiserProfile.from_info(zones.rows()[0])
    assert profile.advertiser_id == ADVERTISER
    client, _ = replay(case_name)
    with client:
        frames = fetch_daily_stats(client, profile, list(DAYS), ad_parents_frame([]))
    writes = write_stats_partitions(engine, "ad_stats_daily", {(ADVERTISER, day): frame for day, frame in frames.items()},
                                    SNAPSHOT_AT)
    stored = read_stats(engine, "ad_stats_daily", ADVERTISER)
    served = case.rows()
    assert len(stored) == len(served)
    assert sum(write.rows_served for write in writes.values()) == len(served)
    assert sorted(stored["ad_id"]) == sorted(str(row["dimensions"]["ad_id"]) for row in served)
    assert float(stored["spend"].sum()) == pytest.approx(case.expected["spend"])
    assert set(stored["currency"]) == {"USD"}
    if "app_purchase_value" in case.expected:
        assert float(stored["app_purchase_value"].sum()) == pytest.approx(case.expected["app_purchase_value"])
        assert float(stored["purchase_value"].sum()) == pytest.approx(case.expected["purchase_value"])
        assert int(stored["app_purchases"].sum()) == case.expected["app_purchases"]


def test_every_case_names_its_source_and_is_valid_json():
    from tiktok_assets_tests.contract.cases import case_names

    names = case_names()
    assert len(names) >= 20
    for name in names:
        case = load_case(name)
        assert case.source.strip(), name
        for exchange in case.exchanges:
            assert (exchange.body is None) != (exchange.body_text is None), name
            if exchange.body is not None:
                json.dumps(exchange.body)
                assert "code" in exchange.body, name
            assert not math.isnan(exchange.status)


def test_a_settled_day_keeps_the_spend_of_an_ad_whose_rows_vanished(engine):
    # Defect 1 of issue 14 against real shapes: the second pull lacks a deleted ad's row (TikTok's default filter).
    from tiktok_assets.spend.pull import AdvertiserProfile, ad_parents_frame, fetch_daily_stats
    from tiktok_assets.warehouse import read_stats, write_stats_partitions

    later = load_case("report_mixed_types_ad_deleted")
    settled_day = date.fromisoformat(later.expected["settled_day"])
    profile = AdvertiserProfile.from_info(load_case("advertiser_info_zones").rows()[0])
    written = {}
    for name, pulled_at in (("report_mixed_types", SNAPSHOT_AT), (later.name, datetime(2026, 11, 25, 9, tzinfo=UTC))):
        client, _ = replay(name)
        with client:
            frames = fetch_daily_stats(client, profile, list(DAYS), ad_parents_frame([]))
        written = write_stats_partitions(engine, "ad_stats_daily",
                                         {(ADVERTISER, day): frame for day, frame in frames.items()}, pulled_at,
                                         settled=[(ADVERTISER, settled_day)])
    stored = read_stats(engine, "ad_stats_daily", ADVERTISER, settled_day, settled_day)
    assert later.expected["vanished_ad"] in set(stored["ad_id"])
    assert float(stored["spend"].sum()) == pytest.approx(later.expected["settled_day_spend"])
    (write,) = [write for key, write in written.items() if write.stat_date == settled_day]
    assert write.vanished_kept == 1



# -- user-chosen metrics -------------------------------------------------------------------------------------


def test_video_and_engagement_metrics_parse_to_long_rows_with_the_recorded_values():
    from tiktok_assets.spend.extra import parse_extra_rows

    case = load_case("report_video_engagement_metrics")
    rows, _ = report_rows(case)
    long = parse_extra_rows(rows, case.metrics, "USD", ADVERTISER)
    assert len(long) == case.expected["long_rows"]
    sums = long.groupby("metric")["value"].sum()
    for name, total in case.expected["sums"].items():
        assert sums[name] == pytest.approx(total), name
    assert set(long["stat_date"].astype(str)) == {"2026-11-17", "2026-11-18"}
