"""The bad-input catalogue: every case ends in a clear error or a documented, tested handling, never a silent
wrong number. Grouped by where the bad input comes from: TikTok's answers, the warehouse write, configuration,
partitions and dates, first-party events."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import dagster as dg
import httpx
import numpy as np
import pandas as pd
import pytest

from tiktok_assets.tiktok.client import RetryPolicy, TikTokClient, date_chunks
from tiktok_assets.tiktok.errors import (
    TikTokAuthenticationError,
    TikTokBadParameterError,
    TikTokError,
    TikTokPermissionError,
)
from tiktok_assets.tiktok.reports import MONEY_COLUMNS, STAT_COLUMNS, ReportParseError, parse_report_rows
from tiktok_assets.warehouse import WarehouseConfigError, WarehouseInputError, make_engine, write_stats_partition
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.reliability.support import fast_client, query, small_simulator, sqlite_engine

DAILY = {"id_dimension": "ad_id", "time_dimension": "stat_time_day"}
METRICS = ("spend", "impressions", "clicks", "reach")


def _row(ad_id: str = "1", day: str = "2026-11-15 00:00:00", **metrics: str) -> dict:
    values = {"spend": "12.34", "impressions": "1000", "clicks": "25", "reach": "800", **metrics}
    return {"dimensions": {"ad_id": ad_id, "stat_time_day": day}, "metrics": values}


def _parse(rows: list[dict]) -> pd.DataFrame:
    return parse_report_rows(rows, metrics=METRICS, **DAILY)


# ---------------------------------------------------------------- TikTok's report rows


def test_report_row_without_its_id_dimension_is_refused() -> None:
    row = _row()
    del row["dimensions"]["ad_id"]
    with pytest.raises(ReportParseError, match="missing dimension 'ad_id'"):
        _parse([row])


def test_report_row_without_its_time_dimension_is_refused() -> None:
    row = _row()
    del row["dimensions"]["stat_time_day"]
    with pytest.raises(ReportParseError, match="missing dimension 'stat_time_day'"):
        _parse([row])


def test_report_time_in_another_format_is_refused_with_the_value() -> None:
    with pytest.raises(ReportParseError, match=r"'2026/11/15' is not a 'YYYY-MM-DD HH:MM:SS' time"):
        _parse([_row(day="2026/11/15")])


def test_report_row_without_a_metrics_object_is_refused() -> None:
    with pytest.raises(ReportParseError, match="no 'metrics' object"):
        _parse([{"dimensions": {"ad_id": "1", "stat_time_day": "2026-11-15 00:00:00"}, "metrics": None}])


def test_requested_metric_missing_from_a_row_is_refused_not_read_as_zero() -> None:
    # A row that lacks "spend" altogether is not a row with no spend ("-"): storing 0 would be a silent wrong number.
    row = _row()
    del row["metrics"]["spend"]
    with pytest.raises(ReportParseError, match="spend"):
        _parse([row])


@pytest.mark.parametrize(("metric", "value"), [("spend", "12,34"), ("clicks", "N/A"), ("impressions", "1e3x")])
def test_non_numeric_metric_strings_are_refused_naming_metric_and_value(metric: str, value: str) -> None:
    with pytest.raises(ReportParseError, match=rf"'{metric}' has a non-numeric value '{value}'"):
        _parse([_row(**{metric: value})])


def test_negative_spend_is_refused_naming_the_ad_and_time() -> None:
    with pytest.raises(ReportParseError, match=r"'spend' is negative \(-3.2\) for ad_id 7 at 2026-11-15"):
        _parse([_row(ad_id="7", spend="-3.20")])


@pytest.mark.parametrize(
    ("metric", "value"),
    [("spend", "Infinity"), ("spend", "inf"), ("spend", "-Infinity"), ("spend", "1e308"), ("spend", "1e12"),
     ("impressions", "Infinity"), ("impressions", "1e308"), ("clicks", "1000000000000"), ("reach", "inf"),
     ("spend", 1e308), ("clicks", float("inf")), ("impressions", 10**400)],
)
def test_non_finite_or_absurd_metric_is_refused_naming_advertiser_ad_day_and_metric(metric: str, value: object) -> None:
    # Python's float() reads all of these; stored, one of them summed a partition's spend to -9.2e12.
    rows = [_row(ad_id="41", day="2026-11-14 00:00:00"), _row(ad_id="42", day="2026-11-15 00:00:00", **{metric: value})]
    with pytest.raises(ReportParseError) as caught:
        parse_report_rows(rows, metrics=METRICS, advertiser_id="7000000000000000042", **DAILY)
    message = str(caught.value)
    for part in ("Advertiser 7000000000000000042", f"'{metric}'", "ad_id 42", "2026-11-15", repr(value)):
        assert part in message, (part, message)


@pytest.mark.parametrize("value", ["NaN", "nan"])
def test_nan_spelled_out_is_refused_unlike_a_dash(value: str) -> None:
    with pytest.raises(ReportParseError, match=rf"Advertiser A1: report metric 'spend' has a non-numeric value '{value}' "
                                               r"for ad_id 9 at 2026-11-15"):
        parse_report_rows([_row(ad_id="9", spend=value)], metrics=METRICS, advertiser_id="A1", **DAILY)


def test_large_but_possible_values_below_the_bound_are_kept_exactly() -> None:
    # A day's spend in dong or rupiah runs to billions: 999,999,999,999.99 VND is still accepted.
    frame = _parse([_row(spend="999999999999.99", impressions="999999999999")])
    assert frame.loc[0, "spend"] == 999999999999.99 and frame.loc[0, "impressions"] == 999_999_999_999


def test_infinite_spend_in_an_answer_fails_the_fetch_naming_the_advertiser() -> None:
    from tiktok_assets.spend.pull import DAILY_METRICS, AdvertiserProfile, ad_parents_frame, fetch_daily_stats

    class OnePage:
        """Serves one report page as TikTok would, with "Infinity" as one ad's spend."""

        def report_pages(self, advertiser_id: str, **_: object) -> list[list[dict]]:
            metrics = dict.fromkeys(DAILY_METRICS, "0")
            good = {"dimensions": {"ad_id": "1", "stat_time_day": "2026-11-15 00:00:00"}, "metrics": metrics}
            bad = {"dimensions": {"ad_id": "2", "stat_time_day": "2026-11-15 00:00:00"},
                   "metrics": {**metrics, "spend": "Infinity"}}
            return [[good, bad]]

    profile = AdvertiserProfile("7000000000000000001", "Shop", "USD", "America/Los_Angeles")
    with pytest.raises(ReportParseError, match=r"Advertiser 7000000000000000001: report metric 'spend' is not a finite "
                                               r"number: 'Infinity' for ad_id 2 at 2026-11-15"):
        fetch_daily_stats(OnePage(), profile, [date(2026, 11, 15)], ad_parents_frame([]))  # type: ignore[arg-type]


def test_fractional_count_is_refused() -> None:
    with pytest.raises(ReportParseError, match="'clicks' should be a whole number, got 2.5"):
        _parse([_row(clicks="2.5")])


def test_dash_means_no_delivery_for_counts_and_money_but_unknown_for_reach() -> None:
    frame = _parse([_row(spend="-", impressions="-", clicks="-", reach="-")])
    assert frame.loc[0, "spend"] == 0.0 and frame.loc[0, "impressions"] == 0 and frame.loc[0, "clicks"] == 0
    assert np.isnan(frame.loc[0, "reach"]), "reach is not additive: '-' stays unknown, never 0"


def test_new_unknown_metrics_in_an_answer_are_ignored_and_change_no_number() -> None:
    plain = _parse([_row()])
    extra = _row()
    extra["metrics"].update({"cost_per_1000_reached": "15.43", "spend_v2": "99999"})
    with_new = _parse([extra])
    assert list(with_new.columns) == list(plain.columns)
    pd.testing.assert_frame_equal(with_new, plain)
    assert with_new.loc[0, "spend"] == 12.34


def test_numeric_ids_are_stored_as_their_strings() -> None:
    # TikTok's ids are JSON strings; an int slipping through must not become "7.0" or lose digits.
    frame = _parse([_row(ad_id=7000027140677609457)])  # type: ignore[arg-type]
    assert frame.loc[0, "ad_id"] == "7000027140677609457"


# ---------------------------------------------------------------- malformed answers (a fake server: the simulator
# never answers like this)


def _client_on(handler, attempts: int = 3) -> tuple[TikTokClient, list[httpx.Request]]:  # noqa: ANN001
    seen: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    client = TikTokClient("tok", "http://tiktok.test", qps=None, transport=httpx.MockTransport(recording),
                          retry=RetryPolicy(max_attempts=attempts, base_delay=0.0001, max_delay=0.0002))
    return client, seen


def test_answer_that_is_json_but_not_an_envelope_is_a_transport_error_and_retried() -> None:
    client, seen = _client_on(lambda _request: httpx.Response(200, json={"list": []}))
    with pytest.raises(TikTokError, match="not a TikTok envelope"):
        client.campaigns("1")
    assert len(seen) == 3, "retried like any garbled answer, then given up"


def test_http_404_from_a_wrong_base_url_is_not_retried_and_names_the_setting() -> None:
    client, seen = _client_on(lambda _request: httpx.Response(404, text="404 page not found"))
    with pytest.raises(TikTokError, match="TIKTOK_API_BASE_URL"):
        client.campaigns("1")
    assert len(seen) == 1


def test_bad_parameter_code_is_raised_with_tiktoks_message_and_not_retried() -> None:
    body = {"code": 40002, "message": "max time span is 30 days when use stat_time_day", "request_id": "r1"}
    client, seen = _client_on(lambda _request: httpx.Response(200, json=body))
    with pytest.raises(TikTokBadParameterError, match="max time span is 30 days") as caught:
        client.report("1", start=date(2026, 11, 1), end=date(2026, 11, 2), metrics=["spend"])
    assert caught.value.parameter == "start_date/end_date"
    assert len(seen) == 1


def test_truncated_json_is_retried_then_reported_with_its_size() -> None:
    client, seen = _client_on(lambda _request: httpx.Response(200, content=b'{"code": 0, "data": {"li'))
    with pytest.raises(TikTokError, match=r"Truncated or invalid JSON .* \(24 bytes\)"):
        client.campaigns("1")
    assert len(seen) == 3


# ---------------------------------------------------------------- tokens, advertisers and configuration


def test_wrong_token_fails_at_once_with_authentication_failed_and_what_to_do() -> None:
    sim = small_simulator()
    with fast_client(sim, token="not-a-token-we-know") as client, pytest.raises(TikTokAuthenticationError) as caught:
        client.advertiser_info(sim.world.advertiser_ids)
    assert "Authentication failed" in str(caught.value) and "TIKTOK_ACCESS_TOKEN" in str(caught.value)
    assert sum(sim.request_counts.values()) == 1, "an auth failure is never retried"


def test_unknown_advertiser_id_in_a_report_is_a_permission_error_naming_it() -> None:
    sim = small_simulator()
    allowed, other = sim.world.advertiser_ids
    sim.grant("tok-only-first", [allowed])
    with fast_client(sim, token="tok-only-first") as client, pytest.raises(TikTokPermissionError) as caught:
        client.report(other, start=date(2026, 11, 15), end=date(2026, 11, 15), metrics=["spend"])
    assert f"Advertiser {other}" in str(caught.value) and "TIKTOK_ADVERTISER_IDS" in str(caught.value)


def test_unknown_advertiser_partition_fails_the_stats_run_clearly_and_writes_nothing(tmp_path) -> None:
    from tiktok_assets.simulator import serve
    from tiktok_assets_tests.reliability.dagster_support import FastHarness

    sim = small_simulator()
    with serve(sim) as base_url:
        harness = FastHarness(base_url, f"sqlite:///{tmp_path / 'w.sqlite'}")
        harness.instance.add_dynamic_partitions("tiktok_advertisers", ["7999999999999999999"])
        result = harness.import_stats(date(2026, 11, 15), date(2026, 11, 15), raise_on_error=False)
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    message = str(failure.step_failure_data.error)
    assert "Advertiser 7999999999999999999 not found or not authorised" in message, message
    assert "TIKTOK_ADVERTISER_IDS" in message
    assert harness.count("ad_stats_daily") == 0 and harness.count("partition_pulls") == 0


def test_selected_advertiser_that_the_token_cannot_read_fails_discovery_naming_it() -> None:
    from tiktok_assets.defs.resources import TikTokApiResource
    from tiktok_assets.defs.spend import discover_advertisers

    sim = small_simulator()
    api = TikTokApiResource(advertiser_ids=f"{sim.world.advertiser_ids[0]}, 7123")
    with fast_client(sim) as client, pytest.raises(dg.Failure, match="7123 in TIKTOK_ADVERTISER_IDS are not authorised"):
        discover_advertisers(client, api)


@pytest.mark.parametrize("token", ["", "   "])
def test_missing_or_blank_token_is_refused_before_any_request(token: str) -> None:
    with pytest.raises(ValueError, match="No TikTok access token given: set TIKTOK_ACCESS_TOKEN"):
        TikTokClient(token, "http://tiktok.test")


def test_warehouse_url_of_an_unsupported_database_names_the_setting() -> None:
    with pytest.raises(WarehouseConfigError, match="TIKTOK_WAREHOUSE_URL"):
        make_engine("mysql://user:secret@db/warehouse")


def test_revision_alert_share_that_is_not_a_number_names_the_variable(monkeypatch) -> None:
    from tiktok_assets.defs.resources import warehouse_from_env

    monkeypatch.setenv("TIKTOK_REVISION_ALERT_SHARE", "five percent")
    with pytest.raises(ValueError, match="TIKTOK_REVISION_ALERT_SHARE"):
        warehouse_from_env().alert_share()


def test_settle_days_that_is_not_a_whole_number_names_the_variable(monkeypatch) -> None:
    # Bound as EnvVar.int: outside a run its text reaches the parser, which names the variable (int() would not).
    from tiktok_assets.defs.resources import warehouse_from_env

    monkeypatch.setenv("TIKTOK_SETTLE_DAYS", "a week")
    with pytest.raises(ValueError, match="TIKTOK_SETTLE_DAYS must be a whole number"):
        warehouse_from_env().settle_window_days()


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("TIKTOK_POSTBACK_MAX_REJECTION_RATE", "two percent", "TIKTOK_POSTBACK_MAX_REJECTION_RATE='two percent' is not a number"),
    ("TIKTOK_POSTBACK_MAX_UNDELIVERED_HOURS", "-1", "TIKTOK_POSTBACK_MAX_UNDELIVERED_HOURS='-1' must be a finite number"),
    ("TIKTOK_POSTBACK_MAP_WORKERS", "0", "TIKTOK_POSTBACK_MAP_WORKERS='0' is not a whole number of at least 1"),
    ("TIKTOK_POSTBACK_MAP_WORKERS", "four", "TIKTOK_POSTBACK_MAP_WORKERS='four' is not a whole number of at least 1"),
])
def test_a_wrong_postback_setting_names_its_variable(monkeypatch, variable: str, value: str, message: str) -> None:
    from tiktok_assets.defs.resources import postbacks_from_env

    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=re.escape(message)):
        postbacks_from_env().settings()


def test_unknown_tiktok_event_in_the_mapping_is_refused_with_a_suggestion() -> None:
    from tiktok_assets.postbacks.errors import MappingConfigError
    from tiktok_assets.postbacks.mapping import load_mapping

    config = {"mappings": [{"source": "web", "event": "Placed Order", "tiktok": ["Purchsae"]}]}
    with pytest.raises(MappingConfigError, match=r"mappings\[0\]\.tiktok\[0\].*'Purchsae' is not a TikTok standard event") as caught:
        load_mapping(config, pixel_id="P", app_id="A")
    assert "Purchase" in str(caught.value)


def test_unknown_content_id_mode_is_refused_listing_the_modes() -> None:
    from tiktok_assets.postbacks.errors import MappingConfigError
    from tiktok_assets.postbacks.mapping import load_mapping

    with pytest.raises(MappingConfigError, match="content_id_mode.*'barcode'.*variant_id"):
        load_mapping({"content_id_mode": "barcode"}, pixel_id="P", app_id="A")


def test_mapped_web_events_without_a_pixel_id_are_refused() -> None:
    from tiktok_assets.postbacks.errors import MappingConfigError
    from tiktok_assets.postbacks.mapping import load_mapping

    with pytest.raises(MappingConfigError, match="destinations.web.pixel_id"):
        load_mapping(None, app_id="A")


# ---------------------------------------------------------------- warehouse writes, dates and partitions


def _daily_frame(advertiser_id: str = "A", day: date = date(2026, 11, 15), rows: int = 2) -> pd.DataFrame:
    # Every stats column the warehouse has (STAT_COLUMNS), zero unless set below.
    zeros = {name: [0.0 if name in MONEY_COLUMNS else 0] * rows for name in STAT_COLUMNS}
    return pd.DataFrame({
        "advertiser_id": [advertiser_id] * rows, "ad_id": [str(index) for index in range(rows)],
        "stat_date": [day] * rows, "campaign_id": ["c"] * rows, "adgroup_id": ["g"] * rows, "currency": ["USD"] * rows,
        **zeros, "spend": [1.5] * rows, "impressions": [100] * rows, "clicks": [3] * rows, "conversions": [1] * rows,
        "reach": [90.0] * rows,
    })


@pytest.mark.parametrize(("column", "value"), [("spend", float("inf")), ("purchase_value", 1e308),
                                             ("app_purchase_value", 2e12)])
def test_the_stats_schema_fails_a_non_finite_or_absurd_value_that_got_past_parsing(column: str, value: float) -> None:
    from tiktok_assets.spend.schemas import schema_failures

    frame = _daily_frame()
    assert schema_failures("ad_stats_daily", frame).empty
    frame.loc[1, column] = value
    failures = schema_failures("ad_stats_daily", frame)
    assert column in set(failures["column"]), failures


def test_advertiser_info_without_currency_is_refused_never_read_as_usd() -> None:
    from tiktok_assets.spend.errors import AdvertiserProfileError
    from tiktok_assets.spend.pull import AdvertiserProfile

    with pytest.raises(AdvertiserProfileError, match=r"Advertiser 7000000000000000001: /advertiser/info/ has no currency"):
        AdvertiserProfile.from_info({"advertiser_id": "7000000000000000001", "timezone": "Etc/GMT+8"})


def test_duplicate_rows_for_one_ad_and_day_are_refused_and_nothing_is_written(tmp_path) -> None:
    engine = sqlite_engine(tmp_path / "w.sqlite")
    frame = _daily_frame()
    duplicated = pd.concat([frame, frame.iloc[[0]]], ignore_index=True)
    with pytest.raises(WarehouseInputError, match="duplicate key .*ad_id 0"):
        write_stats_partition(engine, "ad_stats_daily", "A", date(2026, 11, 15), duplicated, SIM_NOW)
    assert query(engine, "select count(*) as n from ad_stats_daily")["n"].iloc[0] == 0
    assert query(engine, "select count(*) as n from partition_pulls")["n"].iloc[0] == 0


def test_row_of_another_advertiser_in_a_partition_is_refused(tmp_path) -> None:
    engine = sqlite_engine(tmp_path / "w.sqlite")
    with pytest.raises(WarehouseInputError, match="advertiser_id of the row is not the partition's advertiser"):
        write_stats_partition(engine, "ad_stats_daily", "B", date(2026, 11, 15), _daily_frame("A"), SIM_NOW)


def test_row_of_another_day_in_a_partition_is_refused(tmp_path) -> None:
    engine = sqlite_engine(tmp_path / "w.sqlite")
    with pytest.raises(WarehouseInputError, match="stat_date of the row is not the partition's date"):
        write_stats_partition(engine, "ad_stats_daily", "A", date(2026, 11, 16), _daily_frame("A"), SIM_NOW)


def test_negative_metric_reaching_the_warehouse_is_refused(tmp_path) -> None:
    engine = sqlite_engine(tmp_path / "w.sqlite")
    frame = _daily_frame()
    frame.loc[1, "clicks"] = -1
    with pytest.raises(WarehouseInputError, match="'clicks' is negative"):
        write_stats_partition(engine, "ad_stats_daily", "A", date(2026, 11, 15), frame, SIM_NOW)


def test_partition_date_given_as_text_is_refused(tmp_path) -> None:
    engine = sqlite_engine(tmp_path / "w.sqlite")
    with pytest.raises(WarehouseInputError, match=r"a partition is \(advertiser_id: str, stat_date: date\)"):
        write_stats_partition(engine, "ad_stats_daily", "A", "2026-11-15", _daily_frame(), SIM_NOW)  # type: ignore[arg-type]


def test_date_range_ending_before_it_starts_is_refused_naming_both_dates() -> None:
    with pytest.raises(ValueError, match="end date 2026-11-01 is before start date 2026-11-05"):
        date_chunks(date(2026, 11, 5), date(2026, 11, 1), 30)


def test_impossible_partition_date_names_the_partition_key() -> None:
    from tiktok_assets.partitions import split_advertiser_date_key

    with pytest.raises(ValueError, match="2026-13-01"):
        split_advertiser_date_key("2026-13-01|7000027140677609457")


def test_partition_outside_the_partitions_definition_is_refused_by_dagster_before_any_request(tmp_path) -> None:
    from tiktok_assets_tests.reliability.dagster_support import FastHarness

    sim = small_simulator()
    harness = FastHarness("http://127.0.0.1:9", f"sqlite:///{tmp_path / 'w.sqlite'}")
    harness.instance.add_dynamic_partitions("tiktok_advertisers", [sim.world.advertiser_ids[0]])
    with pytest.raises(dg.DagsterUnknownPartitionError, match="2026-13-01"):
        harness.run([dg.AssetKey("ad_stats_daily")], partition_key=f"2026-13-01|{sim.world.advertiser_ids[0]}")
    assert not harness.instance.get_runs(), "refused before a run was even created"


# ---------------------------------------------------------------- first-party events


def _event(**fields: object) -> dict:
    record = {"event_id": "e1", "source": "web", "event_name": "Placed Order", "event_time": "2026-11-20T11:10:00Z",
              "page_url": "https://shop.example.com/checkout", "value": "50", "currency": "USD"}
    record.update(fields)
    return {key: value for key, value in record.items() if value is not None}


@pytest.mark.parametrize(
    ("fields", "field", "problem"),
    [
        ({"currency": "DOLLARS"}, "currency", "'DOLLARS' is not an ISO 4217 currency"),
        ({"currency": None}, "currency", "is required when value is set"),
        ({"value": "-5"}, "value", "must not be negative"),
        ({"value": "fifty"}, "value", "must be a number"),
        ({"event_time": "2026-11-20T11:10:00"}, "event_time", "has no time zone"),
        ({"event_time": 1795000000000}, "event_time", "looks like unix milliseconds"),
        ({"event_time": "yesterday"}, "event_time", "is not ISO 8601"),
        ({"page_url": None}, "page_url", "is required for web events"),
        ({"coupon": "X"}, "coupon", "unknown field"),
    ],
)
def test_malformed_first_party_event_is_refused_naming_field_and_event(fields: dict, field: str, problem: str) -> None:
    from tiktok_assets.postbacks.errors import EventValidationError
    from tiktok_assets.postbacks.events import parse_event

    with pytest.raises(EventValidationError) as caught:
        parse_event(_event(**fields))
    assert caught.value.field == field and caught.value.event_id == "e1"
    assert problem in str(caught.value)


@pytest.mark.parametrize("fields", [{"email": "ana.silva(at)example"}, {"phone": "call me maybe"}, {"phone": "555-01"}])
def test_a_bad_identity_value_is_left_out_and_counted_not_the_event_refused(fields: dict) -> None:
    # Issue 15, defect 4: an order with a mistyped email is still an order (tests/postbacks/test_events.py).
    from collections import Counter

    from tiktok_assets.postbacks.events import parse_event

    dropped: Counter[str] = Counter()
    event = parse_event(_event(**fields), dropped=dropped)
    (name,) = fields
    assert getattr(event.identity, name) is None and sum(dropped.values()) == 1


def test_event_file_with_bad_lines_keeps_the_good_ones_and_counts_each_reject(tmp_path) -> None:
    from tiktok_assets.postbacks.events import read_jsonl

    lines = [_event(event_id="ok-1"), _event(event_id="bad-1", currency="DOLLARS"), "{not json",
             _event(event_id="ok-2")]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    loaded = read_jsonl(path)
    assert [event.event_id for event in loaded.events] == ["ok-1", "ok-2"]
    assert [reject.line for reject in loaded.rejects] == [2, 3]
    assert "currency" in loaded.rejects[0].reason


def _deliver_one(record: dict, tmp_path) -> tuple[object, object, object]:  # noqa: ANN001
    """Store, map, enqueue and deliver one event at the simulator's 'now'; returns (sim, report, engine)."""
    from tiktok_assets.postbacks.delivery import deliver
    from tiktok_assets.postbacks.events import parse_event
    from tiktok_assets.postbacks.mapping import load_mapping
    from tiktok_assets.postbacks.outbox import map_and_enqueue
    from tiktok_assets.postbacks.store import ensure_postback_tables, store_events

    sim = small_simulator()
    engine = sqlite_engine(tmp_path / "w.sqlite")
    ensure_postback_tables(engine)
    event = parse_event(record)
    store_events(engine, [event], received_at=SIM_NOW)
    window = (event.event_time - timedelta(minutes=1), event.event_time + timedelta(minutes=1))
    map_and_enqueue(engine, *window, load_mapping(pixel_id="CPIXEL1", app_id="7200000000000000001"), now=SIM_NOW)
    with fast_client(sim) as client:
        report = deliver(engine, client, clock=lambda: SIM_NOW)
    return sim, report, engine


def test_event_older_than_tiktok_accepts_is_dead_lettered_without_being_sent(tmp_path) -> None:
    old = (SIM_NOW - timedelta(days=8)).isoformat()
    sim, report, engine = _deliver_one(_event(event_time=old), tmp_path)
    assert report.not_sent["too_old"] == 1 and report.accepted == 0
    assert len(sim.events) == 0 and sim.request_counts["/open_api/v1.3/event/track/"] == 0
    dead = query(engine, "select reason from postback_dead_letters")
    assert list(dead["reason"]) == ["too_old"]


def test_event_in_the_future_is_rejected_by_tiktok_and_dead_lettered_with_its_message(tmp_path) -> None:
    future = (SIM_NOW + timedelta(hours=2)).isoformat()
    sim, report, engine = _deliver_one(_event(event_time=future), tmp_path)
    assert report.rejected == 1 and report.accepted == 0 and len(sim.events) == 0
    dead = query(engine, "select reason, message from postback_dead_letters")
    assert list(dead["reason"]) == ["rejected"]
    assert "future" in dead["message"].iloc[0]


def test_unparseable_phone_is_dropped_from_the_payload_and_counted_never_sent_raw() -> None:
    from tiktok_assets.postbacks.pii import PiiHasher, PiiRejection

    hasher = PiiHasher("US")
    assert hasher.phone("+1 (555) 000-0000") is None  # shaped like a phone, but no such US number
    assert hasher.rejections[PiiRejection.PHONE_INVALID] == 1
