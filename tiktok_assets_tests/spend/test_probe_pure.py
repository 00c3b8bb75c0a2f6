"""spend.probe's pure parts: the per-day decision, the digest, the settings."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from tiktok_assets.spend.probe import (
    DayProbe,
    ProbeSettings,
    Why,
    day_probes,
    decide,
    parse_probe_settings,
    probe_dates,
)
from tiktok_assets.spend.settle import PullRecord

TODAY = date(2026, 3, 30)
ON = ProbeSettings(enabled=True, verify_every_days=0)


def _day(age: int) -> date:
    return TODAY - timedelta(days=age + 1)


def _pulled(age: int, pulled_age: int | None = None) -> PullRecord:
    """A pull of the day of ``age`` made when it was ``pulled_age`` old (default: today)."""
    day = _day(age)
    return PullRecord(day, day + timedelta(days=(pulled_age if pulled_age is not None else age) + 1), changed=False)


def _probe(digest: str) -> DayProbe:
    return DayProbe(digest, 0.0, 0)


def test_only_days_whose_stored_probe_equals_the_new_one_are_skipped() -> None:
    days = [_day(age) for age in (2, 3, 4)]
    latest = {day: _pulled(age) for day, age in zip(days, (2, 3, 4), strict=True)}
    stored = {days[0]: "a", days[1]: "b"}
    probed = {days[0]: _probe("a"), days[1]: _probe("B"), days[2]: _probe("c")}
    assert [(d.repull, d.why) for d in decide(days, TODAY, 7, latest, stored, probed, ON)] == [
        (True, Why.NO_PROBE), (True, Why.MOVED), (False, Why.UNCHANGED)]


def test_days_a_probe_may_not_decide_are_always_pulled_and_not_probed() -> None:
    cases = {
        _day(-1): (_pulled(-1), Why.INTRADAY),
        _day(1): (None, Why.NEVER_PULLED),
        _day(2): (_pulled(2, pulled_age=-1), Why.BASELINE),  # last pulled while the day ran
        _day(7): (_pulled(7), Why.SETTLING),
        _day(9): (_pulled(9), Why.SETTLING),
    }
    latest = {day: record for day, (record, _) in cases.items() if record is not None}
    everything_equal = {day: "same" for day in cases}
    probed = {day: _probe("same") for day in cases}
    decisions = decide(cases, TODAY, 7, latest, everything_equal, probed, ON)
    assert {d.stat_date: (d.repull, d.why) for d in decisions} == {day: (True, why) for day, (_, why) in cases.items()}
    assert probe_dates(cases, TODAY, 7, latest, ON) == []


def test_verify_ages_are_pulled_whatever_the_probe_says() -> None:
    days = [_day(age) for age in range(0, 14)]
    latest = {day: _pulled(age) for age, day in enumerate(days)}
    stored = {day: "x" for day in days}
    probed = {day: _probe("x") for day in days}
    decisions = decide(days, TODAY, 14, latest, stored, probed, ProbeSettings(verify_every_days=5))
    assert sorted(TODAY - d.stat_date - timedelta(days=1) for d in decisions if d.repull) == [
        timedelta(days=5), timedelta(days=10)]


def test_a_failed_probe_pulls_every_day_and_probing_off_pulls_every_day() -> None:
    days = [_day(age) for age in (1, 2)]
    latest = {day: _pulled(age) for day, age in zip(days, (1, 2), strict=True)}
    stored = {day: "x" for day in days}
    assert {(d.repull, d.why) for d in decide(days, TODAY, 7, latest, stored, None, ON)} == {(True, Why.PROBE_FAILED)}
    off = ProbeSettings(enabled=False)
    assert {(d.repull, d.why) for d in decide(days, TODAY, 7, latest, stored, {}, off)} == {(True, Why.PROBING_OFF)}
    assert probe_dates(days, TODAY, 7, latest, off) == []


def _frames(campaign_spend: dict[str, float], conversions: int = 3) -> dict[str, pd.DataFrame]:
    when = pd.Timestamp("2026-03-20")
    campaign = pd.DataFrame({"campaign_id": list(campaign_spend), "stat_time": when,
                             "spend": list(campaign_spend.values()), "conversions": conversions, "reach": float("nan")})
    advertiser = pd.DataFrame({"advertiser_id": ["1"], "stat_time": [when], "spend": [sum(campaign_spend.values())],
                               "conversions": [conversions * len(campaign_spend)], "reach": [float("nan")]})
    return {"AUCTION_ADVERTISER": advertiser, "AUCTION_CAMPAIGN": campaign}


def test_the_digest_moves_with_any_metric_of_any_campaign_but_not_with_float_noise() -> None:
    day, other = date(2026, 3, 20), date(2026, 3, 21)
    base = day_probes(_frames({"c1": 10.0, "c2": 5.0}), [day, other])
    assert base[day].advertiser_spend == 15.0 and base[day].campaigns == 2
    assert base[other] == day_probes({}, [other])[other], "a day without rows has the digest of nothing"
    assert day_probes(_frames({"c1": 10.0 + 1e-9, "c2": 5.0}), [day])[day].digest == base[day].digest
    assert day_probes(_frames({"c1": 10.0, "c2": 5.0}, conversions=4), [day])[day].digest != base[day].digest
    # Offsetting across campaigns: the advertiser total is equal, the campaign rows are not.
    assert day_probes(_frames({"c1": 12.0, "c2": 3.0}), [day])[day].digest != base[day].digest


def test_settings_are_read_from_text_and_bad_values_name_the_variable() -> None:
    assert parse_probe_settings("off", "0") == ProbeSettings(enabled=False, verify_every_days=0)
    assert parse_probe_settings(" ON ", " 7 ") == ProbeSettings(enabled=True, verify_every_days=7)
    with pytest.raises(ValueError, match="TIKTOK_REPULL_PROBE"):
        parse_probe_settings("maybe")
    with pytest.raises(ValueError, match="TIKTOK_PROBE_VERIFY_EVERY_DAYS"):
        parse_probe_settings("on", "weekly")
    with pytest.raises(ValueError, match="TIKTOK_PROBE_VERIFY_EVERY_DAYS"):
        parse_probe_settings("on", "29")
