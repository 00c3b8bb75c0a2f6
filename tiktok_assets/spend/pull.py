"""Pull ad-level daily and hourly stats for one advertiser and shape them per partition.

A partition is (advertiser, local date). TikTok dates report rows in the
advertiser's time zone; we keep that local date as the partition key and store
each hour's UTC instant beside it so hours from advertisers in different zones
line up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from tiktok_assets.spend.errors import AdvertiserProfileError
from tiktok_assets.spend.zones import REPORT_ZONE_FIELDS, ZoneError, report_zone, zone_info
from tiktok_assets.tiktok.client import TikTokClient
from tiktok_assets.tiktok.reports import COUNT_COLUMNS, MONEY_COLUMNS, STAT_COLUMNS, parse_report_rows

DAILY_METRICS = (
    "spend",
    "impressions",
    "clicks",
    "conversion",
    "app_install",
    "complete_payment",
    "total_complete_payment_rate",
    "purchase",
    "total_purchase_value",
    "reach",
)
# Reach is not additive over hours, so TikTok serves "-" for it hourly: don't ask.
HOURLY_METRICS = tuple(metric for metric in DAILY_METRICS if metric != "reach")

# ISO 4217 currencies without minor units: money is spread in whole units.
ZERO_DECIMAL_CURRENCIES = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
# ISO 4217 currencies with three decimals (fils, baisa, millimes, dirhams): a cent would round 1.005 KWD to 1.00.
THREE_DECIMAL_CURRENCIES = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})

DAILY_COLUMNS = ["advertiser_id", "ad_id", "stat_date", "campaign_id", "adgroup_id", "currency", *STAT_COLUMNS, "reach"]
HOURLY_COLUMNS = [
    "advertiser_id",
    "ad_id",
    "stat_hour_utc",
    "stat_hour_local",
    "stat_date",
    "campaign_id",
    "adgroup_id",
    "currency",
    *STAT_COLUMNS,
    "spread",
]


_CURRENCY = re.compile(r"^[A-Z]{3}$")
_CURRENCY_FIX = ("Set the account's currency in TikTok Ads Manager (Account settings > Account info) or check that "
                 "the access token may read the account's details, then re-run these partitions.")
# TikTok sets an account's zone when it is created and never changes it (ads.tiktok.com/help/article/time-zone).
_ZONE_FIX = ("Check that the access token may read the account's details (its time zone is set in TikTok Ads Manager "
             "when the account is created and cannot be changed there); if TikTok really serves none, ask TikTok "
             "support, then re-run these partitions.")


@dataclass(frozen=True)
class AdvertiserProfile:
    advertiser_id: str
    name: str
    currency: str
    timezone: str
    """The zone TikTok dates this advertiser's reports in: a fixed offset such as ``UTC-08:00``
    (``zones.report_zone``); any zone ``zones.zone_info`` reads works for the functions here."""
    timezone_field: str = REPORT_ZONE_FIELDS[0]
    """The ``/advertiser/info/`` field the zone was read from."""

    @classmethod
    def from_info(cls, info: dict) -> AdvertiserProfile:
        """The profile of one ``/advertiser/info/`` row; ``AdvertiserProfileError`` when currency or zone is
        missing or unreadable (never USD or UTC by default)."""
        advertiser_id = str(info.get("advertiser_id") or "").strip()
        if not advertiser_id:
            raise AdvertiserProfileError("(unknown)", "advertiser_id", "answered a row without advertiser_id",
                                         "Report it to TikTok support with the request id.")
        currency = info.get("currency")
        if currency is None or not str(currency).strip():
            raise AdvertiserProfileError(advertiser_id, "currency", "has no currency", _CURRENCY_FIX)
        if not _CURRENCY.match(str(currency).strip()):
            raise AdvertiserProfileError(advertiser_id, "currency",
                                         f"has currency {currency!r}, not an ISO 4217 code such as 'USD'", _CURRENCY_FIX)
        zone, field = _report_zone(advertiser_id, info)
        return cls(
            advertiser_id=advertiser_id,
            name=str(info.get("name") or info.get("advertiser_name") or advertiser_id),
            currency=str(currency).strip(),
            timezone=zone,
            timezone_field=field,
        )


def _report_zone(advertiser_id: str, info: dict) -> tuple[str, str]:
    try:
        return report_zone(info)
    except ZoneError as exc:
        raise AdvertiserProfileError(advertiser_id, exc.field or REPORT_ZONE_FIELDS[0], f"has {exc}", _ZONE_FIX
                                     ) from None


def profiles_from_infos(infos: Iterable[dict]) -> tuple[dict[str, AdvertiserProfile], dict[str, AdvertiserProfileError]]:
    """Profiles by advertiser id, and the errors of the rows that cannot give one (those advertisers are not
    imported; the others are)."""
    profiles: dict[str, AdvertiserProfile] = {}
    errors: dict[str, AdvertiserProfileError] = {}
    for info in infos:
        try:
            profile = AdvertiserProfile.from_info(info)
        except AdvertiserProfileError as error:
            errors[error.advertiser_id] = error
        else:
            profiles[profile.advertiser_id] = profile
    return profiles, errors


def currency_decimals(currency: str) -> int:
    """ISO 4217 minor units of ``currency``: 0 (JPY), 3 (KWD) or, for every other code, 2."""
    code = currency.upper()
    if code in ZERO_DECIMAL_CURRENCIES:
        return 0
    return 3 if code in THREE_DECIMAL_CURRENCIES else 2


def contiguous_ranges(dates: Iterable[date]) -> list[tuple[date, date]]:
    """Group dates into inclusive runs of consecutive days."""
    ordered = sorted(set(dates))
    ranges: list[tuple[date, date]] = []
    for day in ordered:
        if ranges and day == ranges[-1][1] + timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def ad_parents_frame(ads: Sequence[dict]) -> pd.DataFrame:
    """ad_id -> adgroup_id, campaign_id, from /ad/get/ rows (read with ``include_deleted=True``, so deleted ads'
    stats keep their ad group and campaign)."""
    return pd.DataFrame(
        {
            "ad_id": [str(ad["ad_id"]) for ad in ads],
            "adgroup_id": [str(ad.get("adgroup_id")) if ad.get("adgroup_id") else None for ad in ads],
            "campaign_id": [str(ad.get("campaign_id")) if ad.get("campaign_id") else None for ad in ads],
        },
        columns=["ad_id", "adgroup_id", "campaign_id"],
    ).drop_duplicates("ad_id")


def _with_parents(frame: pd.DataFrame, parents: pd.DataFrame) -> pd.DataFrame:
    # ``parents`` holds deleted ads too (asked for with include_deleted); an
    # ad missing from it anyway keeps its rows with unknown parents rather
    # than dropping spend.
    return frame.merge(parents, on="ad_id", how="left")


def fetch_daily_stats(
    client: TikTokClient, advertiser: AdvertiserProfile, dates: Sequence[date], parents: pd.DataFrame
) -> dict[date, pd.DataFrame]:
    """Ad-level daily rows for each requested date (an empty frame where nothing was served)."""
    rows = [
        row
        for start, end in contiguous_ranges(dates)
        # include_deleted: TikTok leaves deleted ads' rows out unless asked, and
        # their spend would then seem to vanish from past days.
        for page in client.report_pages(
            advertiser.advertiser_id, start=start, end=end, metrics=DAILY_METRICS, granularity="day",
            include_deleted=True,
        )
        for row in page
    ]
    # One parse for all pages: the per-call cost of building a frame is as large as a page's data.
    frame = _concat([parse_report_rows(rows, id_dimension="ad_id", time_dimension="stat_time_day",
                                       metrics=DAILY_METRICS, advertiser_id=advertiser.advertiser_id)]
                    if rows else [], "ad_id")
    frame["stat_date"] = frame["stat_time"].dt.date
    frame["advertiser_id"] = advertiser.advertiser_id
    frame["currency"] = advertiser.currency
    frame = _with_parents(frame.drop(columns="stat_time"), parents)[DAILY_COLUMNS]
    return _split_by_date(frame, dates)


def fetch_hourly_stats(
    client: TikTokClient, advertiser: AdvertiserProfile, dates: Sequence[date], parents: pd.DataFrame,
    now_utc: datetime | None = None,
) -> dict[date, pd.DataFrame]:
    """Ad-level hourly rows per date; days TikTok serves no hours for are spread from daily.

    Some advertisers (and some levels) have no hourly breakdown: TikTok answers
    the hourly report with an empty list while the daily report has spend. Such
    a day's daily figures are spread uniformly over its local hours and flagged
    ``spread`` so nobody mistakes them for a real hourly shape; a day not over
    at ``now_utc`` (default: now) only over the hours that have begun.
    """
    result: dict[date, pd.DataFrame] = {}
    needs_spread: list[date] = []
    for day in sorted(set(dates)):
        rows = [
            row
            for page in client.report_pages(
                advertiser.advertiser_id, start=day, end=day, metrics=HOURLY_METRICS, granularity="hour",
                include_deleted=True,
            )
            for row in page
        ]
        frame = _concat([parse_report_rows(rows, id_dimension="ad_id", time_dimension="stat_time_hour",
                                           metrics=HOURLY_METRICS, advertiser_id=advertiser.advertiser_id)]
                        if rows else [], "ad_id")
        if frame.empty:
            needs_spread.append(day)
            continue
        result[day] = _hourly_frame(frame, advertiser, parents, spread=False)
    if needs_spread:
        daily = fetch_daily_stats(client, advertiser, needs_spread, parents)
        for day in needs_spread:
            result[day] = spread_daily_over_hours(daily[day], advertiser, now_utc=now_utc)
    return result


def fetch_hourly_stats_of_ads(
    client: TikTokClient, advertiser: AdvertiserProfile, day: date, ad_ids: Sequence[str], parents: pd.DataFrame,
    *, per_request: int,
) -> pd.DataFrame:
    """Ad-level hourly rows of one date for these ads only (``ad_ids`` filters of ``per_request`` ids)."""
    rows = [
        row
        for page in client.report_pages(
            advertiser.advertiser_id, start=day, end=day, metrics=HOURLY_METRICS, granularity="hour",
            include_deleted=True, ids=ad_ids, ids_per_request=per_request,
        )
        for row in page
    ]
    if not rows:
        return pd.DataFrame(columns=HOURLY_COLUMNS)
    frame = parse_report_rows(rows, id_dimension="ad_id", time_dimension="stat_time_hour", metrics=HOURLY_METRICS,
                              advertiser_id=advertiser.advertiser_id)
    return _hourly_frame(frame, advertiser, parents, spread=False)


def _hourly_frame(frame: pd.DataFrame, advertiser: AdvertiserProfile, parents: pd.DataFrame, *, spread: bool
                  ) -> pd.DataFrame:
    local = frame["stat_time"]
    frame = frame.assign(
        stat_hour_local=local,
        stat_hour_utc=local_to_utc(local, advertiser.timezone),
        stat_date=local.dt.date,
        advertiser_id=advertiser.advertiser_id,
        currency=advertiser.currency,
        spread=spread,
    )
    return _with_parents(frame.drop(columns="stat_time"), parents)[HOURLY_COLUMNS]


def local_to_utc(local: pd.Series, zone: str) -> pd.Series:
    """Naive local wall times to naive UTC instants.

    On the autumn DST change TikTok folds the repeated local hour into one row;
    we give it the first (summer-time) instant. Spring-forward hours do not
    exist locally, so TikTok serves none and nothing needs shifting.
    """
    if local.empty:
        return pd.Series([], dtype="datetime64[ns]")
    localized = pd.DatetimeIndex(local).tz_localize(
        zone_info(zone), ambiguous=np.ones(len(local), dtype=bool), nonexistent="shift_forward"
    )
    return pd.Series(localized.tz_convert("UTC").tz_localize(None), index=local.index)


def local_day_hours(day: date, zone: str) -> pd.DatetimeIndex:
    """The aware local start of every hour of ``day`` (23, 24 or 25 on DST days)."""
    tz = zone_info(zone)
    start = pd.Timestamp(day).tz_localize(tz)
    end = pd.Timestamp(day + timedelta(days=1)).tz_localize(tz)
    return pd.date_range(start.tz_convert("UTC"), end.tz_convert("UTC"), freq="h", inclusive="left").tz_convert(tz)


def spread_evenly(totals: np.ndarray, parts: int, decimals: int) -> np.ndarray:
    """Split each total into ``parts`` shares that add back exactly.

    Works in minor units (cents, or whole units for integers) and hands the
    remainder out one unit at a time to the first hours, so a daily 10.00
    over 24 hours is 0.42 × 16 + 0.41 × 8, not 24 × 0.4166… that sums to 9.99.
    """
    scale = 10**decimals
    minor = np.rint(np.asarray(totals, dtype="float64") * scale).astype("int64")
    base, remainder = np.divmod(minor, parts)
    shares = np.repeat(base[:, None], parts, axis=1) + (np.arange(parts)[None, :] < remainder[:, None])
    return shares / scale if decimals else shares


def begun_day_hours(day: date, zone: str, now_utc: datetime) -> pd.DatetimeIndex:
    """The hours of ``day`` (``local_day_hours``) that have begun by ``now_utc``: all of them once the day is over.

    The hour in progress counts: the daily total TikTok serves mid-hour already holds its spend so far.
    """
    hours = local_day_hours(day, zone)
    now = pd.Timestamp(now_utc if now_utc.tzinfo else now_utc.replace(tzinfo=UTC))
    return hours[hours < now]


def spread_daily_over_hours(daily: pd.DataFrame, advertiser: AdvertiserProfile, *, now_utc: datetime | None = None
                            ) -> pd.DataFrame:
    """Uniform hourly rows from daily rows of one local date, flagged ``spread``.

    A day that is not over at ``now_utc`` (default: now) is spread over the
    hours that have begun only, in the advertiser's report zone: a total that
    grows through the day must not put spend in hours that have not happened.
    Each later pull spreads the larger total again over more hours.
    """
    if daily.empty:
        return pd.DataFrame(columns=HOURLY_COLUMNS)
    now = now_utc or datetime.now(UTC)
    days = daily["stat_date"].unique()
    frames = []
    for day in days:
        rows = daily[daily["stat_date"] == day]
        # A day that has not begun has no figures to spread; should TikTok serve some anyway, the
        # first hour holds them rather than losing them.
        hours = begun_day_hours(day, advertiser.timezone, now)
        if hours.empty:
            hours = local_day_hours(day, advertiser.timezone)[:1]
        n_hours, n_rows = len(hours), len(rows)
        columns: dict[str, object] = {
            "advertiser_id": np.repeat(rows["advertiser_id"].to_numpy(), n_hours),
            "ad_id": np.repeat(rows["ad_id"].to_numpy(), n_hours),
            "stat_hour_utc": np.tile(hours.tz_convert("UTC").tz_localize(None).to_numpy(), n_rows),
            "stat_hour_local": np.tile(hours.tz_localize(None).to_numpy(), n_rows),
            "stat_date": day,
            "campaign_id": np.repeat(rows["campaign_id"].to_numpy(), n_hours),
            "adgroup_id": np.repeat(rows["adgroup_id"].to_numpy(), n_hours),
            "currency": np.repeat(rows["currency"].to_numpy(), n_hours),
            "spread": True,
        }
        money_decimals = currency_decimals(advertiser.currency)
        for name in STAT_COLUMNS:
            decimals = money_decimals if name in MONEY_COLUMNS else 0
            columns[name] = spread_evenly(rows[name].to_numpy(), n_hours, decimals).reshape(-1)
        frames.append(pd.DataFrame(columns))
    frame = pd.concat(frames, ignore_index=True)
    for name in COUNT_COLUMNS:
        frame[name] = frame[name].astype("int64")
    return frame[HOURLY_COLUMNS]


def _concat(pieces: list[pd.DataFrame], id_dimension: str) -> pd.DataFrame:
    if pieces:
        return pd.concat(pieces, ignore_index=True)
    empty = parse_report_rows([], id_dimension=id_dimension, time_dimension="stat_time_day", metrics=DAILY_METRICS)
    return empty


def _split_by_date(frame: pd.DataFrame, dates: Sequence[date]) -> dict[date, pd.DataFrame]:
    grouped = {day: part.reset_index(drop=True) for day, part in frame.groupby("stat_date", sort=False)}
    return {day: grouped.get(day, frame.iloc[0:0]) for day in sorted(set(dates))}
