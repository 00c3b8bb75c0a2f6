"""Advertiser currencies and time zones as /advertiser/info/ gives them: every form parses, nothing is guessed."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pandas as pd
import pytest

from tiktok_assets.spend.errors import AdvertiserProfileError
from tiktok_assets.spend.pull import AdvertiserProfile, local_day_hours, local_to_utc
from tiktok_assets.spend.settle import local_today
from tiktok_assets.spend.zones import ZoneError, canonical_zone

MIDNIGHT = pd.Series(pd.to_datetime(["2026-11-20 00:00:00"]))


@pytest.mark.parametrize(
    ("zone", "utc_of_local_midnight"),
    [
        # Worked out by hand: local midnight minus the offset east of UTC.
        ("UTC+05:45", "2026-11-19 18:15:00"),  # Nepal
        ("GMT+8", "2026-11-19 16:00:00"),
        ("GMT-03:30", "2026-11-20 03:30:00"),  # Newfoundland standard time
        ("Etc/GMT+8", "2026-11-20 08:00:00"),  # POSIX sign: Etc/GMT+8 is UTC-8
        ("Etc/GMT-9", "2026-11-19 15:00:00"),  # and Etc/GMT-9 is UTC+9
        ("Etc/GMT-5:45", "2026-11-19 18:15:00"),  # not in the tz database, read the POSIX way too
        ("UTC", "2026-11-20 00:00:00"),
        ("GMT", "2026-11-20 00:00:00"),
        ("Asia/Kathmandu", "2026-11-19 18:15:00"),
        ("America/Los_Angeles", "2026-11-20 08:00:00"),  # PST in November
    ],
)
def test_every_zone_form_tiktok_writes_parses_to_the_right_instant(zone: str, utc_of_local_midnight: str) -> None:
    canonical = canonical_zone(zone)
    assert local_to_utc(MIDNIGHT, canonical).tolist() == [pd.Timestamp(utc_of_local_midnight)]
    assert local_to_utc(MIDNIGHT, zone).tolist() == [pd.Timestamp(utc_of_local_midnight)]


def test_fixed_offset_zones_have_24_hours_and_their_own_today() -> None:
    assert len(local_day_hours(date(2026, 11, 1), "UTC+05:45")) == 24
    # 18:20 UTC on the 20th is 00:05 on the 21st in Nepal, 10:20 on the 20th at UTC-8.
    instant = datetime(2026, 11, 20, 18, 20, tzinfo=UTC)
    assert local_today("UTC+05:45", instant) == date(2026, 11, 21)
    assert local_today("GMT-8", instant) == date(2026, 11, 20)


@pytest.mark.parametrize("zone", ["", "  ", "Mars/Olympus", "UTC+15", "GMT+5:75", "PST8PDT-ish", "+05:45"])
def test_unreadable_zones_are_refused_naming_the_text(zone: str) -> None:
    with pytest.raises(ZoneError, match=re.escape(repr(zone.strip())) if zone.strip() else "empty"):
        canonical_zone(zone)


def _info(**fields: object) -> dict:
    return {"advertiser_id": "7000000000000000001", "name": "Shop", **fields}


JULY_MIDNIGHT = pd.Series(pd.to_datetime(["2026-07-15 00:00:00"]))


@pytest.mark.parametrize(
    ("fields", "zone", "field", "utc_of_july_midnight"),
    [
        # Shape 1, as TikTok documents it: the offset in `timezone`, the named zone in `display_timezone`.
        # Reports follow the fixed offset: UTC-8 all year, so local midnight is 08:00 UTC in July too (not 07:00).
        ({"timezone": "Etc/GMT+8", "display_timezone": "America/Los_Angeles"}, "UTC-08:00", "timezone",
         "2026-07-15 08:00:00"),
        # Shape 2: an offset written out.
        ({"timezone": "UTC+05:45"}, "UTC+05:45", "timezone", "2026-07-14 18:15:00"),
        ({"timezone": "GMT+8", "display_timezone": "Asia/Shanghai"}, "UTC+08:00", "timezone", "2026-07-14 16:00:00"),
        # `timezone` as a Region/City name: its standard offset (London is UTC+0 in reports, BST never applies).
        ({"timezone": "Europe/London", "display_timezone": "Europe/London"}, "UTC", "timezone", "2026-07-15 00:00:00"),
        # Only `display_timezone`: the same account setting, read as its standard offset (Berlin: UTC+1, not +2).
        ({"display_timezone": "Europe/Berlin"}, "UTC+01:00", "display_timezone", "2026-07-14 23:00:00"),
        ({"timezone": "", "display_timezone": "Australia/Sydney"}, "UTC+10:00", "display_timezone",
         "2026-07-14 14:00:00"),
    ],
)
def test_report_hours_follow_the_fixed_offset_of_timezone_in_both_shapes(fields: dict, zone: str, field: str,
                                                                         utc_of_july_midnight: str) -> None:
    profile = AdvertiserProfile.from_info(_info(currency="USD", **fields))
    assert (profile.timezone, profile.timezone_field) == (zone, field)
    assert local_to_utc(JULY_MIDNIGHT, profile.timezone).tolist() == [pd.Timestamp(utc_of_july_midnight)]
    # No DST in a TikTok account: the autumn-change day has 24 hours like any other.
    assert len(local_day_hours(date(2026, 11, 1), profile.timezone)) == 24


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"timezone": "Etc/GMT+8", "display_timezone": "America/Los_Angeles"}, "currency", "has no currency"),
        ({"currency": "", "display_timezone": "America/Los_Angeles"}, "currency", "has no currency"),
        ({"currency": "dollars", "display_timezone": "America/Los_Angeles"}, "currency", "'dollars'"),
        ({"currency": "USD"}, "timezone", "has no time zone"),
        ({"currency": "USD", "timezone": "", "display_timezone": None}, "timezone", "has no time zone"),
        ({"currency": "USD", "timezone": "Pacific Time", "display_timezone": "America/Los_Angeles"}, "timezone",
         "'Pacific Time'"),
        ({"currency": "USD", "display_timezone": "Mars/Olympus"}, "display_timezone", "'Mars/Olympus'"),
    ],
)
def test_missing_or_unreadable_currency_or_zone_fails_naming_advertiser_field_and_fix(fields: dict, field: str,
                                                                                      words: str) -> None:
    with pytest.raises(AdvertiserProfileError) as caught:
        AdvertiserProfile.from_info(_info(**fields))
    assert caught.value.advertiser_id == "7000000000000000001" and caught.value.field == field
    message = str(caught.value)
    assert "Advertiser 7000000000000000001" in message and words in message, message
    assert "TikTok Ads Manager" in message and "re-run" in message
