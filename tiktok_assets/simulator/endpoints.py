"""The API endpoints: parameter checks with TikTok's codes and messages, paging, formatting.

Each endpoint takes a :class:`Request` and returns the envelope's ``data`` or
raises :class:`ApiError` (code + message for the HTTP 200 error envelope).
Reports are formatted from :meth:`World.cached_report_frame`, the same frame
tests use as ground truth.
"""

from __future__ import annotations

import dataclasses
import json
import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from tiktok_assets.simulator import assets, breakdowns, engagement, filters
from tiktok_assets.simulator.entities import UPGRADED_SMART_PLUS, UPGRADED_SMART_PLUS_CREATIVE, zone_info
from tiktok_assets.simulator.catalogue import LOOSE_NUMBERS, NULL_WHEN_EMPTY, invalid_metrics, invalid_metrics_message
from tiktok_assets.simulator.events import EventStore, EventValidationError
from tiktok_assets.simulator.realism import ID_FIELDS, Realism
from tiktok_assets.simulator.world import (
    COUNT_METRICS,
    ID_DIMENSION,
    MONEY_METRICS,
    REPORT_METRICS,
    TIME_DIMENSION,
    World,
)
from tiktok_assets.tiktok import codes

MAX_PAGE_SIZE = 1000
# TikTok's default page size for entity and report endpoints.
DEFAULT_PAGE_SIZE = 10
MAX_DAYS = {"day": 30, "hour": 1}
SPAN_MESSAGES = {
    "day": "max time span is 30 days when use stat_time_day",
    "hour": "max time span is 1 day when use stat_time_hour",
}
LEVELS = ("AD", "ADGROUP", "CAMPAIGN", "ADVERTISER")
DATA_LEVELS = tuple(f"AUCTION_{level}" for level in LEVELS)
# Deprecated by TikTok (tiktok_assets_tests/contract/FACTS.md section 6) but still accepted, with
# service_type=RESERVATION.
RESERVATION_DATA_LEVELS = tuple(f"RESERVATION_{level}" for level in LEVELS)
SERVICE_TYPES = ("AUCTION", "RESERVATION")
# TikTok's header on a report cut to the newest 20,000 ads, worded as TikTok docs 1738864850353154 quote it
# (tiktok_assets_tests/contract/FACTS.md section 2); "20k" stays literal whatever the limit.
ADS_THROTTLE_HEADER = "x-tt-ads-throttle"
ADS_THROTTLE_TEXT = ("Number of ad ids is equal or more than 20k, only return the top 20k id's results, sorting by "
                     "create time desc order.")
# TikTok's answer when data_level and service_type do not belong together
# (tiktok_assets_tests/contract/FACTS.md section 6).
CONFLICT_MESSAGE = "Conflict occurs. The input params including metrics and dimensions have no relation."


class Code:
    """Body codes the simulator answers with: the numbers of the one table, ``tiktok_assets.tiktok.codes``."""

    OK = codes.OK
    NO_PERMISSION = codes.NO_PERMISSION
    BAD_PARAMETER = codes.BAD_PARAMETER
    QUERY_TOO_LARGE = codes.QUERY_TOO_LARGE
    RATE_LIMITED = codes.APP_RATE_LIMIT
    ADVERTISER_RATE_LIMITED = codes.ADVERTISER_RATE_LIMIT
    BAD_TOKEN = codes.TOKEN_INVALID
    TOKEN_EXPIRED = codes.TOKEN_EXPIRED
    INTERNAL = codes.INTERNAL_ERROR


class ApiError(Exception):
    def __init__(self, code: int, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


def bad_parameter(message: str) -> ApiError:
    return ApiError(Code.BAD_PARAMETER, message)


@dataclass(frozen=True)
class Request:
    """One authenticated call, as the endpoints see it."""

    query: Mapping[str, str]
    body: bytes
    now: datetime
    world: World
    may_read: Callable[[str], bool]
    """Whether the caller's token is authorised for an advertiser id."""
    events: EventStore
    max_report_rows: int | None
    realism: Realism = Realism()
    route: str = ""
    """The route path, e.g. "/ad/get/" (Realism.omit_page_info is per route)."""
    response_headers: dict[str, str] = field(default_factory=dict)
    """Headers an endpoint adds to its answer (X-Tt-Ads-Throttle)."""

    def advertiser_id(self) -> str:
        advertiser_id = self.query.get("advertiser_id", "").strip()
        if not advertiser_id:
            raise bad_parameter("advertiser_id: Missing data for required field.")
        self.require_permission(advertiser_id)
        return advertiser_id

    def require_permission(self, advertiser_id: str) -> None:
        if advertiser_id not in self.world.advertiser_ids or not self.may_read(advertiser_id):
            raise ApiError(
                Code.NO_PERMISSION,
                f"No permission to operate advertiser {advertiser_id}: the advertiser does not exist or has not "
                "authorised this access token.",
            )


# -- parameters ------------------------------------------------------------------------------


def json_parameter(query: Mapping[str, str], name: str, expected: type, *, required: bool = False) -> Any:
    raw = query.get(name)
    if raw is None or raw == "":
        if required:
            raise bad_parameter(f"{name}: Missing data for required field.")
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, expected):
        kind = "list" if expected is list else "JSON object"
        raise bad_parameter(f"{name}: Not a valid {kind} (send it as JSON, e.g. {name}=[\"...\"]).")
    return value


def int_parameter(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_parameter(f"{name}: Not a valid integer.") from None
    if not low <= value <= high:
        raise bad_parameter(f"{name}: Must be greater than or equal to {low} and less than or equal to {high}.")
    return value


def date_parameter(query: Mapping[str, str], name: str) -> date:
    raw = query.get(name)
    if not raw:
        raise bad_parameter(f"{name}: Missing data for required field.")
    try:
        return datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        raise bad_parameter(f"{name}: Not a valid date, use YYYY-MM-DD.") from None


def paging(query: Mapping[str, str]) -> tuple[int, int]:
    page = int_parameter(query, "page", 1, 1, 10**9)
    page_size = int_parameter(query, "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    return page, page_size


def page_info(page: int, page_size: int, total: int) -> dict[str, int]:
    # An empty listing still has one (empty) page: total_page 1, total_number 0
    # (tiktok_assets_tests/contract/FACTS.md section 2).
    return {"page": page, "page_size": page_size, "total_number": total,
            "total_page": max(1, math.ceil(total / page_size))}


def paged(request: Request, page_list: Any, page: int, page_size: int, total: int) -> dict[str, Any]:
    """``data`` of a paged answer; without ``page_info`` on the routes ``Realism.omit_page_info`` names."""
    if request.route in request.realism.omit_page_info:
        return {"list": page_list}
    return {"list": page_list, "page_info": page_info(page, page_size, total)}


def paged_list(request: Request, rows: Sequence[Any], page: int, page_size: int) -> dict[str, Any]:
    start = (page - 1) * page_size
    return paged(request, list(rows[start : start + page_size]), page, page_size, len(rows))


def _numeric_ids(row: dict[str, Any]) -> dict[str, Any]:
    return {key: int(value) if key in ID_FIELDS and isinstance(value, str) else value for key, value in row.items()}


# -- entity endpoints ------------------------------------------------------------------------


def authorised_advertisers(request: Request) -> dict[str, Any]:
    rows = [
        {"advertiser_id": info["advertiser_id"], "advertiser_name": info["name"]}
        for info in request.world.advertisers
        if request.may_read(str(info["advertiser_id"]))
    ]
    return {"list": rows}


def advertiser_info(request: Request) -> dict[str, Any]:
    ids = json_parameter(request.query, "advertiser_ids", list, required=True)
    if not ids or not all(isinstance(item, (str, int)) and not isinstance(item, bool) for item in ids):
        raise bad_parameter("advertiser_ids: Must be a non-empty list of advertiser id strings.")
    if len(ids) > 100:
        raise bad_parameter("advertiser_ids: Length must be between 1 and 100.")
    fields = json_parameter(request.query, "fields", list)
    rows = []
    for advertiser_id in map(str, ids):
        request.require_permission(advertiser_id)
        info = request.world.advertiser(advertiser_id).info()
        # Realism.advertiser_info replaces fields of one advertiser's row; None leaves the key out.
        for key, value in request.realism.advertiser_info.get(advertiser_id, {}).items():
            if value is None:
                info.pop(key, None)
            else:
                info[key] = value
        rows.append(_only(info, fields))
    if request.realism.numeric_ids:
        rows = [_numeric_ids(row) for row in rows]
    return {"list": rows}


def _only(row: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    return row if not fields else {key: value for key, value in row.items() if key in fields}


def _entity_endpoint(kind: str) -> Callable[[Request], dict[str, Any]]:
    id_filters = {"campaign": ("campaign_ids",), "adgroup": ("campaign_ids", "adgroup_ids"),
                  "ad": ("campaign_ids", "adgroup_ids", "ad_ids")}[kind]

    def endpoint(request: Request) -> dict[str, Any]:
        advertiser_id = request.advertiser_id()
        page, page_size = paging(request.query)
        fields = json_parameter(request.query, "fields", list)
        filtering = json_parameter(request.query, "filtering", dict) or {}
        world = request.world
        try:
            keep = filters.entity_filter(filtering, kind, request.realism.hide_deleted)
            buying = filters.buying_types(filtering)
        except filters.FilterError as error:
            raise bad_parameter(str(error)) from None
        rows = [row for row in getattr(world, f"{kind}s")(advertiser_id, request.now) if keep(row)]
        # TopView campaigns are only listed when asked alone (filters.buying_types enforces that).
        buying_of = world.buying_types(advertiser_id)
        rows = [row for row in rows if buying_of.get(str(row["campaign_id"]), "AUCTION") in buying]
        for name in id_filters:
            wanted = filtering.get(name)
            if wanted is not None:
                if not isinstance(wanted, list):
                    raise bad_parameter(f"filtering.{name}: Not a valid list.")
                wanted_ids = {str(item) for item in wanted}
                rows = [row for row in rows if row[name.removesuffix("s")] in wanted_ids]
        rows = [_only(row, fields) for row in rows]
        if request.realism.numeric_ids:
            rows = [_numeric_ids(row) for row in rows]
        return paged_list(request, rows, page, page_size)

    endpoint.__name__ = f"{kind}_get"
    return endpoint


campaign_get = _entity_endpoint("campaign")
adgroup_get = _entity_endpoint("adgroup")
ad_get = _entity_endpoint("ad")


# -- creative assets -------------------------------------------------------------------------


def _asset_listing(key: str, rows_of: Callable[[int, Any, datetime], list[dict[str, object]]]
                   ) -> Callable[[Request], dict[str, Any]]:
    # The recorded answers (contract cases creative_assets_music / creative_assets_portfolios) carry
    # the rows under their own key and no page_info: a client pages with page/page_size until a short
    # page, as Airbyte's PageIncrement does, so we honour page/page_size and send no page_info.
    def endpoint(request: Request) -> dict[str, Any]:
        advertiser_id = request.advertiser_id()
        page, page_size = paging(request.query)
        rows = rows_of(request.world.seed, request.world.advertiser(advertiser_id), request.now)
        start = (page - 1) * page_size
        return {key: rows[start : start + page_size]}

    endpoint.__name__ = key
    return endpoint


music_get = _asset_listing("musics", assets.music_library)
portfolio_list = _asset_listing("creative_portfolios", assets.portfolios)


# -- reports ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportQuery:
    advertiser_id: str
    service_type: str
    data_level: str
    level: str
    id_dimension: str
    granularity: str
    metrics: tuple[str, ...]
    start: date
    end: date
    page: int
    page_size: int
    filtering: filters.ReportFiltering
    report_type: str = "BASIC"
    breakdown: tuple[str, ...] = ()
    """Dimensions beyond the id and time ones (AUDIENCE's age, gender..., BASIC's country_code)."""
    lifetime: bool = False


REPORT_TYPES = ("BASIC", "AUDIENCE")
AD_ID_V2 = "ad_id_v2"


def parse_report_query(request: Request) -> ReportQuery:
    query = request.query
    service_type = query.get("service_type") or "AUCTION"
    if service_type not in SERVICE_TYPES:
        raise bad_parameter(f"service_type: Must be one of: {', '.join(SERVICE_TYPES)}.")
    report_type = query.get("report_type")
    if not report_type:
        raise bad_parameter("report_type: Missing data for required field.")
    if report_type not in REPORT_TYPES:
        raise bad_parameter(f"report_type: Must be one of: {', '.join(REPORT_TYPES)}.")
    # Airbyte's audience lifetime stream sends lifetime=true (not query_lifetime) and no time dimension, and its
    # recorded answer has rows without one (advertisers_audience_reports_lifetime.json): both spellings are served.
    lifetime = any((query.get(name) or "false").lower() == "true" for name in ("query_lifetime", "lifetime"))
    data_level = query.get("data_level")
    if not data_level:
        raise bad_parameter("data_level: Missing data for required field.")
    if data_level not in DATA_LEVELS + RESERVATION_DATA_LEVELS:
        raise bad_parameter(f"data_level: Must be one of: {', '.join(DATA_LEVELS + RESERVATION_DATA_LEVELS)}.")
    if data_level.startswith("RESERVATION_") != (service_type == "RESERVATION"):
        raise bad_parameter(CONFLICT_MESSAGE)
    level = data_level.split("_", 1)[1]
    id_dimension = ID_DIMENSION[level]
    dimensions = json_parameter(query, "dimensions", list, required=True)
    # At ad level, ad_id_v2 keys rows by ad where ad_id keys an Upgraded Smart+ campaign's rows by creative
    # (TikTok docs 1740302848100353, tiktok_assets_tests/contract/FACTS.md section 14).
    if level == "AD" and AD_ID_V2 in dimensions and id_dimension not in dimensions:
        id_dimension = AD_ID_V2
    time_dimensions = [name for name in dimensions if name in TIME_DIMENSION.values()]
    extra = [name for name in dimensions if name != id_dimension and name not in TIME_DIMENSION.values()]
    allowed = breakdowns.AUDIENCE_DIMENSIONS if report_type == "AUDIENCE" else breakdowns.BASIC_EXTRA_DIMENSIONS
    wanted_times = 0 if lifetime else 1
    if (id_dimension not in dimensions or len(time_dimensions) != wanted_times or len(set(dimensions)) != len(dimensions)
            or any(name not in allowed for name in extra) or len(extra) > 2
            or (report_type == "AUDIENCE" and not extra)
            or (report_type == "AUDIENCE" and time_dimensions[:1] == ["stat_time_hour"])
            or (id_dimension == AD_ID_V2 and (extra or lifetime))):
        time_hint = "no time dimension with query_lifetime=true" if lifetime else "stat_time_day or stat_time_hour"
        raise bad_parameter(
            f"dimensions: Invalid dimensions {dimensions} for {report_type} at {data_level}: use \"{id_dimension}\", "
            f"{time_hint}" + (f", and up to 2 of {', '.join(allowed)}." if allowed else ".")
        )
    granularity = "day" if lifetime or time_dimensions[0] == "stat_time_day" else "hour"
    metrics = json_parameter(query, "metrics", list, required=True)
    if not metrics:
        raise bad_parameter("metrics: Length must be at least 1.")
    invalid = invalid_metrics(metrics, level)
    if invalid:
        raise bad_parameter(invalid_metrics_message(invalid))
    start = date_parameter(query, "start_date") if not lifetime else date.min
    end = date_parameter(query, "end_date") if not lifetime else date.min
    if end < start:
        raise bad_parameter("end_date: end_date must be later than or equal to start_date.")
    if lifetime:
        start = end = date.min  # Lifetime: every day the entity has, start_date/end_date are not used.
    elif (end - start).days + 1 > MAX_DAYS[granularity]:
        raise bad_parameter(SPAN_MESSAGES[granularity])
    page, page_size = paging(query)
    try:
        filtering = filters.report_filtering(query.get("filtering"), level)
    except filters.FilterError as error:
        raise bad_parameter(str(error)) from None
    advertiser_id = request.advertiser_id()
    return ReportQuery(advertiser_id, service_type, data_level, level, id_dimension, granularity,
                       tuple(dict.fromkeys(metrics)), start, end, page, page_size, filtering,
                       report_type, tuple(extra), lifetime)


def report_integrated_get(request: Request) -> dict[str, Any]:
    report = parse_report_query(request)
    world = request.world
    if request.max_report_rows is not None and not report.lifetime:
        bound = world.count_report_rows_upper_bound(report.advertiser_id, report.data_level, report.granularity,  # type: ignore[arg-type]
                                                    report.start, report.end, service_type=report.service_type)
        if bound > request.max_report_rows:
            raise ApiError(Code.QUERY_TOO_LARGE,
                           "The amount of data queried is too large. Please narrow the time range or the scope "
                           "of the query and try again.")
    # TopView rows come with the buying_type filter (TikTok docs 1740302848100353): here they are the
    # reservation book's rows of the TopView campaigns; without it, AUCTION_* rows hold no reservation ad.
    topview = report.filtering.buying == frozenset({"RESERVATION_TOP_VIEW"})
    service_type = "RESERVATION" if topview else report.service_type
    if topview:
        report = dataclasses.replace(report, service_type=service_type)
    masks = world.deleted_masks(report.advertiser_id, report.level, request.now, service_type=service_type)
    ancestors = (world.entity_ids(report.advertiser_id, report.level, service_type=service_type)
                 if report.filtering.ids or topview else None)
    visible = filters.report_visible(masks, report.filtering, report.level, request.realism.hide_deleted, ancestors)
    if topview:
        topview_ids = [campaign for campaign, kind in world.buying_types(report.advertiser_id).items()
                       if kind == "RESERVATION_TOP_VIEW"]
        keep = np.isin(ancestors["CAMPAIGN"].astype(str), topview_ids)  # type: ignore[index]
        visible = keep if visible is None else visible & keep
    decimals = world.advertiser(report.advertiser_id).currency_decimals
    if report.lifetime:
        frame = _lifetime_frame(request, report, visible, decimals)
    else:
        # The engagement counts cost a pass over every ad-hour: computed only for reports that ask for one.
        # Lifetime and breakdown reports serve them as "-" (not modelled there).
        extras = not report.breakdown and bool(_EXTRA_INPUTS.intersection(report.metrics))
        frame = world.cached_report_frame(report.advertiser_id, report.data_level, report.granularity,  # type: ignore[arg-type]
                                          report.start, report.end, request.now, service_type=service_type,
                                          visible=visible, extras=extras)
    if report.breakdown:
        frame = breakdowns.split(frame, report.id_dimension, report.breakdown, decimals)
    if report.id_dimension == AD_ID_V2:
        frame = _by_ad_v2(frame, world.ad_ids_v2(report.advertiser_id), decimals)
    limit = request.realism.ads_throttle_limit
    if limit is not None and report.level == "AD" and report.id_dimension == "ad_id":
        frame = _newest_ads(request, report, frame, limit)
    first = (report.page - 1) * report.page_size
    page_rows = frame.iloc[first : first + report.page_size]
    attributes = _attributes(request, report, page_rows)
    time_dimension = None if report.lifetime else TIME_DIMENSION[report.granularity]
    rows = report_rows_json(page_rows, report.id_dimension, time_dimension, report.metrics,
                            decimals, request.realism, attributes, report.breakdown)
    return paged(request, rows, report.page, report.page_size, len(frame))


def _lifetime_frame(request: Request, report: ReportQuery, visible: np.ndarray | None, decimals: int) -> pd.DataFrame:
    """Lifetime rows: the daily frames from the world's epoch to today (the advertiser's date), per entity."""
    world = request.world
    today = request.now.astimezone(zone_info(world.advertiser(report.advertiser_id).market.timezone)).date()
    first = min(world.epoch, today)
    frames = []
    while first <= today:
        last = min(today, first + timedelta(days=MAX_DAYS["day"] - 1))
        frames.append(world.cached_report_frame(report.advertiser_id, report.data_level, "day", first, last,
                                                request.now, service_type=report.service_type, visible=visible))
        first = last + timedelta(days=1)
    return breakdowns.lifetime(frames, report.id_dimension, decimals)


# Additive columns of the report frame; the ratios are recomputed from them.
_ADDITIVE = ("spend", "impressions", "clicks", "conversion", "app_install", "complete_payment",
             "total_complete_payment_rate", "purchase", "total_purchase_value")


def _by_ad_v2(frame: pd.DataFrame, v2_of: Mapping[str, str], decimals: int) -> pd.DataFrame:
    """Ad-level rows keyed by ``ad_id_v2``: an Upgraded Smart+ ad's creatives summed, a manual ad as it is.

    Reach is people and cannot be summed over creatives: a summed row serves "-" (how TikTok dedupes an
    Upgraded Smart+ ad's reach is UNCONFIRMED).
    """
    if frame.empty:
        return frame.rename(columns={"ad_id": AD_ID_V2})
    keyed = frame.assign(**{AD_ID_V2: frame["ad_id"].astype(str).map(v2_of)})
    grouped = keyed.groupby([AD_ID_V2, "stat_time"], sort=False)
    summed = grouped[list(_ADDITIVE)].sum().reset_index()
    creatives = grouped.size().to_numpy()
    summed["reach"] = np.where(creatives == 1, grouped["reach"].first().to_numpy(), np.nan)
    impressions, clicks, spend = summed["impressions"], summed["clicks"], summed["spend"]
    with np.errstate(divide="ignore", invalid="ignore"):
        summed["ctr"] = np.where(impressions > 0, np.round(clicks / impressions * 100.0, 2), np.nan)
        summed["cpc"] = np.where(clicks > 0, np.round(spend / clicks, decimals), np.nan)
        summed["cpm"] = np.where(impressions > 0, np.round(spend / impressions * 1000.0, decimals), np.nan)
    summed["spend"] = np.round(summed["spend"], decimals)
    return summed[[AD_ID_V2, "stat_time", *(name for name in frame.columns if name not in ("ad_id", "stat_time"))]]


def _newest_ads(request: Request, report: ReportQuery, frame: pd.DataFrame, limit: int) -> pd.DataFrame:
    """TikTok's truncation: at ``limit`` ads or more, only the newest ``limit`` ads' rows, and the header says so."""
    served = frame["ad_id"].unique()
    if len(served) < limit:
        return frame
    created = {str(ad["ad_id"]): str(ad["create_time"]) for ad in request.world.ads(report.advertiser_id, request.now)}
    newest = sorted(served, key=lambda ad_id: (created.get(str(ad_id), ""), str(ad_id)), reverse=True)[:limit]
    request.response_headers[ADS_THROTTLE_HEADER] = ADS_THROTTLE_TEXT
    return frame[frame["ad_id"].isin(newest)]


# -- report formatting ----------------------------------------------------------------------

# Metrics the world does not keep but TikTok derives from ones it does: (numerator, denominator, scale, kind).
DERIVED: dict[str, tuple[str, str, float, str]] = {
    "cost_per_conversion": ("spend", "conversion", 1.0, "money"),
    "conversion_rate": ("conversion", "clicks", 100.0, "ratio"),
    "cost_per_app_install": ("spend", "app_install", 1.0, "money"),
    "cost_per_purchase": ("spend", "purchase", 1.0, "money"),
    "cost_per_complete_payment": ("spend", "complete_payment", 1.0, "money"),
    "value_per_complete_payment": ("total_complete_payment_rate", "complete_payment", 1.0, "money"),
    "frequency": ("impressions", "reach", 1.0, "ratio"),
    "cost_per_1000_reached": ("spend", "reach", 1000.0, "money"),
    # Rates of the engagement counts (engagement.py), from the row's own sums; the percent scale of the
    # *_rate ones is our assumption (UNCONFIRMED: the recording's values do not follow from its counts).
    "profile_visits_rate": ("profile_visits", "impressions", 100.0, "ratio"),
    "registration_rate": ("registration", "clicks", 100.0, "ratio"),
    "sales_lead_rate": ("sales_lead", "clicks", 100.0, "ratio"),
    "cost_per_registration": ("spend", "registration", 1.0, "money"),
    "cost_per_sales_lead": ("spend", "sales_lead", 1.0, "money"),
    "cost_per_total_app_event_add_to_cart": ("spend", "total_app_event_add_to_cart", 1.0, "money"),
}
# Metrics that need the engagement columns: the counts and the rates built on them.
_EXTRA_INPUTS = frozenset(engagement.EXTRA_COUNTS) | {
    metric for metric, (top, bottom, _scale, _kind) in DERIVED.items()
    if top in engagement.EXTRA_COUNTS or bottom in engagement.EXTRA_COUNTS}
# Account-level copies: all spend here is cash.
ALIASES = {"cash_spend": "spend"}
# Attribute metrics served from the entities: per metric, the levels it exists at and the entity row key.
ATTRIBUTES: dict[str, tuple[tuple[str, ...], str, str]] = {
    "campaign_name": (("AD", "ADGROUP", "CAMPAIGN"), "campaign", "campaign_name"),
    "campaign_id": (("AD", "ADGROUP"), "campaign", "campaign_id"),
    "objective_type": (("AD", "ADGROUP", "CAMPAIGN"), "campaign", "objective_type"),
    "adgroup_name": (("AD", "ADGROUP"), "adgroup", "adgroup_name"),
    "adgroup_id": (("AD",), "adgroup", "adgroup_id"),
    "ad_name": (("AD",), "ad", "ad_name"),
    "advertiser_name": (("AD", "ADGROUP", "CAMPAIGN", "ADVERTISER"), "advertiser", "name"),
    "currency": (("AD", "ADGROUP", "CAMPAIGN", "ADVERTISER"), "advertiser", "currency"),
}
_KIND_OF_LEVEL = {"AD": "ad", "ADGROUP": "adgroup", "CAMPAIGN": "campaign", "ADVERTISER": "advertiser"}


def _attributes(request: Request, report: ReportQuery, page_rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """JSON tokens of the attribute metrics asked for, per page row (only the few the world knows)."""
    out = _automation_attributes(request, report, page_rows)
    wanted = [metric for metric in report.metrics if metric in ATTRIBUTES and report.level in ATTRIBUTES[metric][0]]
    if not wanted or page_rows.empty:
        return out
    world, now, advertiser_id = request.world, request.now, report.advertiser_id
    info = world.advertiser(advertiser_id).info()
    own = _KIND_OF_LEVEL[report.level]
    # The row's own entity and its parents, from the listings (deleted ones included: their rows may be served).
    kinds = ("ad", "adgroup", "campaign")
    listings = {kind: getattr(world, f"{kind}s")(advertiser_id, now)
                for kind in kinds[kinds.index(own):]} if own in kinds else {}
    own_key = AD_ID_V2 if report.id_dimension == AD_ID_V2 else f"{own}_id"
    own_rows = {str(row[own_key]): row for row in listings.get(own, ())}
    ids = page_rows[report.id_dimension].astype(str)
    empty = "null" if request.realism.null_metrics else '"-"'
    for metric in wanted:
        _, source, key = ATTRIBUTES[metric]
        if source == "advertiser":
            out[metric] = np.full(len(ids), json.dumps(info[key]), dtype=object)
            continue
        by_id = {str(row[f"{source}_id"]): row[key] for row in listings[source]}
        numeric = request.realism.numeric_ids and key in ID_FIELDS
        lookup = {entity_id: (str(by_id[parent]) if numeric else json.dumps(str(by_id[parent])))
                  for entity_id, row in own_rows.items()
                  if (parent := str(row[f"{source}_id"])) in by_id}
        out[metric] = ids.map(lookup).fillna(empty).to_numpy(dtype=object)
    return out


def _automation_attributes(request: Request, report: ReportQuery, page_rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """``campaign_automation_type`` per row, and the row's own id echoed as a metric (``ad_id``, ``ad_id_v2``).

    TikTok's example answers (docs 1740302848100353): an Upgraded Smart+ campaign's rows read
    UPGRADED_SMART_PLUS by ``ad_id_v2`` (and at campaign / ad group level, our assumption) and
    UPGRADED_SMART_PLUS_CREATIVE by ``ad_id`` (its creatives); a manual campaign's read MANUAL.
    """
    out: dict[str, np.ndarray] = {}
    if page_rows.empty:
        return out
    ids = page_rows[report.id_dimension].astype(str)
    for echoed in ("ad_id", AD_ID_V2):
        if echoed in report.metrics and echoed == report.id_dimension:
            out[echoed] = np.array([json.dumps(value) for value in ids], dtype=object)
    if "campaign_automation_type" not in report.metrics:
        return out
    world, advertiser_id = request.world, report.advertiser_id
    types = world.automation_types(advertiser_id)
    if report.level == "ADVERTISER":
        out["campaign_automation_type"] = np.full(len(ids), '"-"', dtype=object)
        return out
    if report.level == "CAMPAIGN":
        campaign_of = {campaign_id: campaign_id for campaign_id in types}
    else:
        kind = "ad" if report.level == "AD" else "adgroup"
        key = report.id_dimension if report.level == "AD" else "adgroup_id"
        campaign_of = {str(row[key]): str(row["campaign_id"])
                       for row in getattr(world, f"{kind}s")(advertiser_id, request.now)}
    creative = report.id_dimension == "ad_id"
    tokens = {}
    for entity_id, campaign_id in campaign_of.items():
        value = types.get(campaign_id, "MANUAL")
        if creative and value == UPGRADED_SMART_PLUS:
            value = UPGRADED_SMART_PLUS_CREATIVE
        tokens[entity_id] = json.dumps(value)
    out["campaign_automation_type"] = ids.map(tokens).fillna('"-"').to_numpy(dtype=object)
    return out


def _fixed_point(values: np.ndarray, places: int) -> np.ndarray:
    """Non-negative numbers as text with ``places`` decimals; "-" (TikTok's empty) for NaN.

    Vectorised with numpy's string ufuncs: a 1000-row page is formatted in
    C, not in a Python loop per value. Frame values are already rounded to
    ``places``, so scaling back to integers is exact.
    """
    missing = np.isnan(values)
    scaled = np.rint(np.where(missing, 0.0, values) * 10**places).astype(np.int64)
    whole, fraction = np.divmod(scaled, 10**places)
    text = whole.astype(str)
    if places:
        text = np.strings.add(np.strings.add(text, "."), np.strings.zfill(fraction.astype(str), places))
    return np.where(missing, "-", text)


def _format_column(values: np.ndarray, metric: str, decimals: int) -> np.ndarray:
    if metric in COUNT_METRICS:
        return values.astype(np.int64).astype(str)
    if metric == "ctr":
        return _fixed_point(values, 2)
    if metric == "reach":
        return _fixed_point(values, 0)
    if metric in MONEY_METRICS:
        return _fixed_point(values, decimals)
    raise ValueError(f"No format for metric {metric!r}")


def _derived(frame: pd.DataFrame, metric: str, decimals: int) -> np.ndarray:
    numerator, denominator, scale, kind = DERIVED[metric]
    top = frame[numerator].to_numpy(dtype=np.float64)
    bottom = frame[denominator].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(bottom > 0, top / bottom * scale, np.nan)
    places = decimals if kind == "money" else 2
    return _fixed_point(np.round(ratio, places), places)


def _plausible(frame: pd.DataFrame, metric: str, kind: str) -> np.ndarray:
    # A value for a metric the world does not model, as JSON text: stable per metric and row, about the right size.
    impressions = frame["impressions"].to_numpy(dtype=np.int64)
    salt = zlib.crc32(metric.encode()) % 97 + 3
    if kind == "integer":
        return (impressions * salt // 10_000).astype(str)
    return np.char.mod("%.2f", 1.0 + (impressions * salt % 300) / 100.0)


def _column(frame: pd.DataFrame, metric: str, decimals: int, realism: Realism,
            attributes: Mapping[str, np.ndarray]) -> tuple[list[str], bool]:
    """One metric's values for the page: (texts, whether the template must quote them)."""
    if metric in attributes:
        return attributes[metric].tolist(), False
    loose = LOOSE_NUMBERS.get(metric) if realism.integer_counts else None
    source = ALIASES.get(metric, metric)
    if source in REPORT_METRICS:
        if loose is not None and source in COUNT_METRICS:
            return frame[source].to_numpy().astype(np.int64).astype(str).tolist(), False
        text = _format_column(frame[source].to_numpy(), source, decimals)
    elif metric == "voucher_spend":
        text = _fixed_point(np.zeros(len(frame)), decimals)
    elif metric in engagement.EXTRA_COUNTS and metric in frame.columns:
        counts = frame[metric].to_numpy().astype(np.int64).astype(str)
        if loose is not None:
            return counts.tolist(), False
        text = counts
    elif metric in DERIVED and set(DERIVED[metric][:2]) <= set(frame.columns):
        text = _derived(frame, metric, decimals)
    elif loose is not None:
        return _plausible(frame, metric, loose).tolist(), False
    else:
        # Catalogued but not modelled: TikTok's empty, which the client must take as "no value".
        empty_null = realism.null_metrics or (realism.integer_counts and metric in NULL_WHEN_EMPTY)
        return (["null"] * len(frame), False) if empty_null else (["-"] * len(frame), True)
    if loose is not None:
        # Numbers as real answers carry them; an empty one stays TikTok's "-" (or null).
        return np.where(text == "-", "null" if realism.null_metrics else '"-"', text).tolist(), False
    if realism.null_metrics:
        quoted = np.strings.add(np.strings.add('"', text), '"')
        return np.where(text == "-", "null", quoted).tolist(), False
    return text.tolist(), True


class RawJson(str):
    """Text that is already JSON: :func:`encode_json` splices it in as is."""


def encode_json(value: Any) -> str:
    """Compact JSON like ``json.dumps(..., separators=(",", ":"))``, splicing :class:`RawJson` values in dicts."""
    if isinstance(value, RawJson):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(key))}:{encode_json(item)}" for key, item in value.items()) + "}"
    return json.dumps(value, separators=(",", ":"))


def report_rows_json(frame: pd.DataFrame, id_dimension: str, time_dimension: str | None, metrics: Sequence[str],
                     decimals: int, realism: Realism = Realism(),
                     attributes: Mapping[str, np.ndarray] | None = None,
                     breakdown: Sequence[str] = ()) -> RawJson:
    """The page's ``data.list`` as TikTok serves it, already encoded:
    ``[{"dimensions": {"ad_id": "17...", "stat_time_day": "2026-11-20 00:00:00"}, "metrics": {"spend": "12.34"}}]``.

    By default ids and metric values are strings ("-" for empty); ``realism``
    switches ids to numbers, counts to integers, empties to null. Values are
    formatted column-wise with numpy string ufuncs and rows filled into one
    template, because pages of 1000 rows are the benchmark's hot path; every
    piece is digits, ".", "-", ":" or a space, or JSON-encoded text, so
    nothing else needs escaping.
    """
    if frame.empty:
        return RawJson("[]")
    ids = frame[id_dimension].to_numpy().astype(str)
    if not np.all(np.strings.isdigit(ids)):
        raise ValueError(f"{id_dimension} values must be digit strings to be served unescaped")
    dimension_columns = [ids.tolist()]
    dimension_part = f'"{id_dimension}":' + ('{}' if realism.numeric_ids else '"{}"')
    if time_dimension is not None:
        stamps = np.datetime_as_string(frame["stat_time"].to_numpy(dtype="datetime64[s]"), unit="s")
        dimension_columns.append(np.strings.replace(stamps, "T", " ").tolist())
        dimension_part += f',"{time_dimension}":"{{}}"'
    for name in breakdown:
        # Breakdown values come from breakdowns.AUDIENCE_VALUES: letters, digits and "_" only, no escaping needed.
        dimension_columns.append(frame[name].tolist())
        dimension_part += f',"{name}":"{{}}"'
    columns = [_column(frame, metric, decimals, realism, attributes or {}) for metric in metrics]
    metric_part = ",".join(f'"{metric}":"{{}}"' if quoted else f'"{metric}":{{}}'
                           for metric, (_, quoted) in zip(metrics, columns, strict=True))
    template = f'{{{{"dimensions":{{{{{dimension_part}}}}},"metrics":{{{{{metric_part}}}}}}}}}'
    return RawJson("[" + ",".join(map(template.format, *dimension_columns,
                                      *(values for values, _ in columns))) + "]")


# -- GMV Max (TikTok Shop) ------------------------------------------------------------------


def gmv_max_store_list(request: Request) -> dict[str, Any]:
    # As Airbyte's recorded answer (contract case gmv_max_store_list): rows under store_list, no page_info.
    advertiser_id = request.advertiser_id()
    return {"store_list": [{"store_id": store.store_id, "is_gmv_max_available": store.available}
                           for store in request.world.gmv_max.stores(advertiser_id)]}


# TikTok docs 1824721673497601: metrics of Product and LIVE GMV Max campaigns (the sorting-field tables).
GMV_MAX_MONEY = ("cost", "net_cost", "gross_revenue", "cost_per_order")
GMV_MAX_METRICS = frozenset({*GMV_MAX_MONEY, "orders", "roi", "currency", "product_impressions", "product_clicks",
                             "product_click_rate", "ad_click_rate", "ad_conversion_rate", "live_views",
                             "cost_per_live_view", "10_second_live_views", "cost_per_10_second_live_view",
                             "live_follows", "ad_video_view_rate_2s", "ad_video_view_rate_6s",
                             "ad_video_view_rate_p25", "ad_video_view_rate_p50", "ad_video_view_rate_p75",
                             "ad_video_view_rate_p100"})
GMV_MAX_ID_DIMENSIONS = ("campaign_id", "advertiser_id")


def gmv_max_report_get(request: Request) -> dict[str, Any]:
    query = request.query
    store_ids = json_parameter(query, "store_ids", list, required=True)
    if len(store_ids) != 1:
        raise bad_parameter("store_ids: Length must be 1.")
    store_id = str(store_ids[0])
    dimensions = json_parameter(query, "dimensions", list, required=True)
    ids = [name for name in dimensions if name in GMV_MAX_ID_DIMENSIONS]
    times = [name for name in dimensions if name in TIME_DIMENSION.values()]
    if len(ids) != 1 or len(set(dimensions)) != len(dimensions) or set(dimensions) - {*ids, "stat_time_day"}:
        # The documented dimensions also include stat_time_hour, item_group_id, item_id, room_id, duration:
        # not modelled here (a difference from the real API, README).
        raise bad_parameter(f"dimensions: Invalid dimensions {dimensions}: this simulator serves campaign_id or "
                            "advertiser_id, optionally with stat_time_day.")
    metrics = json_parameter(query, "metrics", list, required=True)
    invalid = [name for name in metrics if name not in GMV_MAX_METRICS]
    if not metrics or invalid:
        raise bad_parameter(invalid_metrics_message(invalid or ["(none)"]))
    start, end = date_parameter(query, "start_date"), date_parameter(query, "end_date")
    if end < start:
        raise bad_parameter("end_date: end_date must be later than or equal to start_date.")
    if (end - start).days + 1 > (MAX_DAYS["day"] if times else 365):
        raise bad_parameter(SPAN_MESSAGES["day"] if times else "max time span is 365 days")
    raw = query.get("filtering")
    filtering = json_parameter(query, "filtering", dict) if raw and not raw.lstrip().startswith("[") else None
    if raw and filtering is None:
        # A list of {field_name...} (the integrated report's shape) is refused: this endpoint takes an object.
        raise bad_parameter("filtering: Field must be set to object.")
    filtering = filtering or {}
    promotion_types = filtering.get("gmv_max_promotion_types") or ["PRODUCT", "LIVE"]
    statuses = filtering.get("campaign_statuses") or ["STATUS_DELIVERY_OK", "STATUS_DISABLE", "STATUS_NOT_DELIVERY"]
    campaign_ids = filtering.get("campaign_ids")
    page, page_size = paging(query)
    advertiser_id = request.advertiser_id()
    book = request.world.gmv_max
    if store_id not in {store.store_id for store in book.stores(advertiser_id) if store.available}:
        raise bad_parameter(f"store_ids: store {store_id} is not available for GMV Max under advertiser "
                            f"{advertiser_id}; list stores with /gmv_max/store/list/.")
    frame = book.served(advertiser_id, store_id, start, end, request.now,
                        include_deleted="STATUS_ALL" in statuses or "STATUS_DELETE" in statuses,
                        promotion_types=promotion_types,
                        campaign_ids=None if campaign_ids is None else [str(item) for item in campaign_ids])
    id_dimension = ids[0]
    keys = [id_dimension, *(["stat_date"] if times else [])]
    if id_dimension == "advertiser_id":
        frame = frame.assign(advertiser_id=advertiser_id)
    summed = (frame.groupby(keys, sort=True)[["cost", "net_cost", "gross_revenue", "orders", "product_impressions",
                                              "product_clicks"]].sum().reset_index()
              if not frame.empty else frame.assign(**{id_dimension: []})[keys])
    advertiser = request.world.advertiser(advertiser_id)
    decimals = advertiser.currency_decimals
    rows = []
    for record in summed.to_dict("records"):
        dims = {id_dimension: str(record[id_dimension])}
        if times:
            dims["stat_time_day"] = f"{record['stat_date'].isoformat()} 00:00:00"
        rows.append({"dimensions": dims,
                     "metrics": {name: _gmv_max_value(name, record, decimals, advertiser.currency)
                                 for name in metrics}})
    first = (page - 1) * page_size
    return paged(request, rows[first : first + page_size], page, page_size, len(rows))


def _gmv_max_value(name: str, record: Mapping[str, Any], decimals: int, currency: str) -> str:
    if name == "currency":
        return currency
    cost, revenue = float(record["cost"]), float(record["gross_revenue"])
    orders, impressions, clicks = int(record["orders"]), int(record["product_impressions"]), int(record["product_clicks"])
    if name in ("cost", "net_cost", "gross_revenue"):
        return f"{float(record[name]):.{decimals}f}"
    if name == "orders":
        return str(orders)
    # Ratios TikTok serves as "0.00" when the denominator is 0 (its documented example row).
    ratio = {"cost_per_order": (cost, orders, 1.0, decimals), "roi": (revenue, cost, 1.0, 2),
             "product_click_rate": (clicks, impressions, 100.0, 2),
             "ad_conversion_rate": (orders, clicks, 100.0, 2)}.get(name)
    if ratio is not None:
        top, bottom, scale, places = ratio
        return f"{(top / bottom * scale if bottom else 0.0):.{places}f}"
    if name == "product_impressions":
        return str(impressions)
    if name == "product_clicks":
        return str(clicks)
    return "-"


# -- events ----------------------------------------------------------------------------------


def event_track(request: Request) -> dict[str, Any]:
    try:
        request.events.track_json(request.body)
    except EventValidationError as error:
        raise bad_parameter(str(error)) from None
    return {}


@dataclass(frozen=True)
class Route:
    method: str
    endpoint: Callable[[Request], dict[str, Any]]


ROUTES: dict[str, Route] = {
    "/oauth2/advertiser/get/": Route("GET", authorised_advertisers),
    "/advertiser/info/": Route("GET", advertiser_info),
    "/campaign/get/": Route("GET", campaign_get),
    "/adgroup/get/": Route("GET", adgroup_get),
    "/ad/get/": Route("GET", ad_get),
    "/report/integrated/get/": Route("GET", report_integrated_get),
    "/event/track/": Route("POST", event_track),
    "/file/music/get/": Route("GET", music_get),
    "/creative/portfolio/list/": Route("GET", portfolio_list),
    "/gmv_max/store/list/": Route("GET", gmv_max_store_list),
    "/gmv_max/report/get/": Route("GET", gmv_max_report_get),
}
