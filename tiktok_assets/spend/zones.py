"""Advertiser time zones as TikTok writes them, read without guessing (no Dagster import).

``/advertiser/info/`` describes one account setting twice: ``timezone`` as a
GMT offset in the tz database's ``Etc/GMT±H`` form (``Etc/GMT+8`` for UTC-8;
POSIX inverts the sign) and ``display_timezone`` as a named zone
(``America/Los_Angeles``). Answers and connectors also show offsets written out
(``UTC+05:45``, ``GMT+8``, ``GMT-03:30``). All of these parse here:

* an IANA name (``Asia/Kathmandu``, ``Etc/GMT+8``, ``UTC``) is kept as it is;
* ``UTC±H[H][:MM]`` / ``GMT±H[H][:MM]`` (also ``±HHMM``) is that offset east of UTC;
* ``Etc/GMT±H[:MM]`` outside the tz database (``Etc/GMT-5:45``) is read with the
  POSIX sign, as the database's own ``Etc/GMT±H`` zones are: ``Etc/GMT-5:45`` is UTC+05:45.

Anything else is refused with the text it was given: an hour read in the
wrong zone moves spend between days, so we never fall back to UTC.

**Which zone the report's ``stat_time_day``/``stat_time_hour`` follow**
(decided from TikTok's own pages, tiktok_assets_tests/contract/FACTS.md section 5): the account's
``timezone`` as a *fixed* offset, never a zone with daylight saving time.

* "TikTok Ads Manager does not support time zones that use quarter hour
  deviations and daylight savings time. Your time zone affects the time your
  data is displayed, including in reports" (ads.tiktok.com/help/article/time-zone);
* "The ad account's UTC time zone will not adjust per DST. For example, an ad
  account created in California will use UTC-8 time zone for the entire year"
  (ads.tiktok.com/help/article/daylight-saving-time-scheduling-live-shopping-ads);
* ``timezone`` is "the ad account's time zone as an offset from GMT, or the
  tz-database name Region/City" (examples ``Etc/GMT``, ``Europe/London``) and
  ``display_timezone`` the "tz-database name of the account's time zone"
  (TikTok's advertiser/info field docs, as bububa/tiktok-business
  model/advertiser/advertiser.go carries them).

So the report zone is ``timezone``'s offset; when it is a Region/City name we
take that zone's *standard* offset (UTC-8 for ``America/Los_Angeles`` in July
too). ``display_timezone`` names the same account setting, so its standard
offset is used only when ``timezone`` is absent; with neither, nothing is
assumed (``report_zone`` raises). ``display_timezone`` with its DST is never
used to read report hours: that would move every summer hour by one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# The fields of /advertiser/info/ the report zone is read from, best first (see the module docstring).
REPORT_ZONE_FIELDS = ("timezone", "display_timezone")

# UTC-12:00 (Baker Island) to UTC+14:00 (Kiribati) are the offsets in use anywhere.
_MOST_WEST = timedelta(hours=-12)
_MOST_EAST = timedelta(hours=14)
_OFFSET = re.compile(r"^(?:UTC|GMT)\s*(?:(?P<sign>[+-])\s*(?P<hours>\d{1,2})(?::?(?P<minutes>\d{2}))?)?$", re.IGNORECASE)
_POSIX_OFFSET = re.compile(r"^Etc/GMT(?P<sign>[+-])(?P<hours>\d{1,2})(?::?(?P<minutes>\d{2}))?$")


class ZoneError(ValueError):
    """A time zone text that is neither an IANA name nor a UTC/GMT offset; ``field`` names the
    ``/advertiser/info/`` field when ``report_zone`` raised it."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def canonical_zone(text: str) -> str:
    """The zone ``text`` names, as a string ``zone_info`` resolves: IANA names as given, offsets as ``UTC±HH:MM``.

    Raises ``ZoneError`` naming ``text`` when it is empty or not a zone.
    """
    if not isinstance(text, str) or not text.strip():
        raise ZoneError(f"time zone {text!r} is empty")
    text = text.strip()
    offset = _parse_offset(text)
    if offset is not None:
        return _offset_name(offset)
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ZoneError(
            f"time zone {text!r} is neither an IANA name (e.g. 'America/Los_Angeles', 'Etc/GMT+8') nor an offset "
            "such as 'UTC+05:45' or 'GMT-3'"
        ) from None
    return text


@lru_cache(maxsize=256)
def zone_info(zone: str) -> tzinfo:
    """The ``tzinfo`` of a zone text (any form ``canonical_zone`` accepts), for zoneinfo, datetime and pandas."""
    name = canonical_zone(zone)
    offset = _parse_offset(name)
    if offset is not None:
        return timezone(offset, name) if offset else timezone.utc
    return ZoneInfo(name)


def report_zone(fields: Mapping[str, object], at: datetime | None = None) -> tuple[str, str]:
    """(zone, field): the fixed-offset zone TikTok dates this account's reports in, as ``UTC±HH:MM`` (or
    ``UTC``), and the ``/advertiser/info/`` field it came from.

    The first of ``REPORT_ZONE_FIELDS`` that is filled in is read; one that is
    present but unreadable raises ``ZoneError`` (the next is never read to
    paper over it), and so does a row with neither. A Region/City name gives
    its standard offset at ``at`` (default now).
    """
    for field in REPORT_ZONE_FIELDS:
        value = fields.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        try:
            return fixed_offset_zone(str(value), at), field
        except ZoneError as exc:
            raise ZoneError(f"{field} {value!r}, which we cannot read ({exc})", field) from None
    raise ZoneError(f"no time zone ({' nor '.join(REPORT_ZONE_FIELDS)})", REPORT_ZONE_FIELDS[0])


def fixed_offset_zone(text: str, at: datetime | None = None) -> str:
    """``text``'s standard offset from UTC as ``UTC±HH:MM`` (``UTC`` for zero): daylight saving time removed."""
    tz = zone_info(text)
    moment = (at or datetime.now(UTC)).astimezone(tz)
    offset = (moment.utcoffset() or timedelta(0)) - (moment.dst() or timedelta(0))
    return _offset_name(offset)


def _parse_offset(text: str) -> timedelta | None:
    """The UTC offset ``text`` spells out, or None when it is not an offset (it may still be an IANA name)."""
    match = _OFFSET.match(text)
    posix = False
    if match is None:
        match = _POSIX_OFFSET.match(text)
        if match is None:
            return None
        if match["minutes"] is None:
            # Etc/GMT+8 and its siblings are real tz database zones: leave them to ZoneInfo,
            # which reads them the POSIX way (Etc/GMT+8 is UTC-8).
            return None
        posix = True
    if match["sign"] is None:
        return timedelta(0)
    hours, minutes = int(match["hours"]), int(match["minutes"] or 0)
    if minutes >= 60:
        raise ZoneError(f"time zone {text!r}: {minutes} is not a number of minutes")
    east = (match["sign"] == "+") != posix
    offset = timedelta(hours=hours, minutes=minutes) * (1 if east else -1)
    if not _MOST_WEST <= offset <= _MOST_EAST:
        raise ZoneError(f"time zone {text!r}: no place uses an offset of {_offset_name(offset)} "
                        "(offsets run from UTC-12:00 to UTC+14:00)")
    return offset


def _offset_name(offset: timedelta) -> str:
    if not offset:
        return "UTC"
    sign = "+" if offset > timedelta(0) else "-"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"
