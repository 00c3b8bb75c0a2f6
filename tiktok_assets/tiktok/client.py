"""HTTP client for the TikTok Business API v1.3 (no Dagster import).

What it does for its callers: pages through results, splits date ranges to the
API's limits, turns body codes into typed errors, retries throttling, server
errors and timeouts with exponential backoff and full jitter, and keeps its own
request rate under a configurable QPS so TikTok rarely has to throttle us.

The access token lives in a private attribute, travels only in the
``Access-Token`` header, and is redacted from ``repr``; it (and the app
secret) is registered with :mod:`tiktok_assets.tiktok.scrub`, so an echo of it
in TikTok's messages or in httpx's request logs is scrubbed.

Reads are complete or fail: pages are read to ``page_info``'s totals (or, without
``page_info``, to a short page), deleted entities are asked for, and a report cut
to the newest 20,000 ads is asked again by id filters.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

import httpx

from tiktok_assets.tiktok.catalogue import check_metrics
from tiktok_assets.tiktok.codes import HTTP_TOO_MANY_REQUESTS
from tiktok_assets.tiktok.scrub import install_log_filter, register_secret
from tiktok_assets.tiktok.errors import (
    TikTokAdsThrottledError,
    TikTokError,
    TikTokHttpRateLimitError,
    TikTokPagingError,
    TikTokQueryTooLargeError,
    TikTokRetriesExhausted,
    TikTokTransportError,
    error_from_body,
)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://business-api.tiktok.com"
API_PREFIX = "/open_api/v1.3"
MAX_PAGE_SIZE = 1000
# TikTok's limits for one report request, by time dimension.
MAX_DAYS_PER_REQUEST = {"day": 30, "hour": 1}
# /advertiser/info/ takes at most 100 ids a request.
ADVERTISER_INFO_BATCH = 100
# Above 20,000 ads a report answers code 0 with the newest 20,000 only, saying so in this header alone
# (TikTok "Reporting FAQs", docs id 1738864850353154, "Data incompleteness").
ADS_THROTTLE_HEADER = "x-tt-ads-throttle"

DataLevel = Literal[
    "AUCTION_AD", "AUCTION_ADGROUP", "AUCTION_CAMPAIGN", "AUCTION_ADVERTISER",
    "RESERVATION_AD", "RESERVATION_ADGROUP", "RESERVATION_CAMPAIGN", "RESERVATION_ADVERTISER",
]
Granularity = Literal["day", "hour"]
ServiceType = Literal["AUCTION", "RESERVATION"]

# Reach & Frequency and TopView campaigns (service_type RESERVATION) are only in RESERVATION_* reports.
ID_DIMENSION: dict[str, str] = {
    f"{service}_{level}": f"{level.lower()}_id"
    for service in ("AUCTION", "RESERVATION")
    for level in ("AD", "ADGROUP", "CAMPAIGN", "ADVERTISER")
}
TIME_DIMENSION: dict[str, str] = {"day": "stat_time_day", "hour": "stat_time_hour"}

# TikTok leaves deleted entities out unless a status filter asks for them ("status filters default to
# non-deleted"): /campaign|adgroup|ad/get/ take filtering.primary_status, reports a <level>_status filter
# (tiktok/tiktok-business-api-sdk FilteringAdGet; airbyte source-tiktok-marketing include_deleted).
ALL_ENTITIES_FILTER: dict[str, str] = {"primary_status": "STATUS_ALL"}
_REPORT_STATUS_FIELD: dict[str, str] = {"AD": "ad_status", "ADGROUP": "adgroup_status", "CAMPAIGN": "campaign_status"}


# filtering.buying_types of the entity listings (tiktok_assets_tests/contract/FACTS.md section 6).
BUYING_TYPES = ("AUCTION", "RESERVATION_RF", "RESERVATION_TOP_VIEW")


def _checked_buying_types(buying_types: Sequence[str]) -> list[str]:
    if isinstance(buying_types, str):
        raise TypeError(f"buying_types must be a list of buying types, got the single string {buying_types!r}")
    chosen = list(dict.fromkeys(buying_types))
    unknown = [value for value in chosen if value not in BUYING_TYPES]
    if not chosen or unknown:
        raise ValueError(f"buying_types must be some of {', '.join(BUYING_TYPES)}, got {list(buying_types)!r}")
    if "RESERVATION_TOP_VIEW" in chosen and len(chosen) > 1:
        # TikTok: "RESERVATION_TOP_VIEW cannot be combined with other values".
        raise ValueError("buying_types: RESERVATION_TOP_VIEW is asked for alone; list TopView campaigns in a "
                         "call of their own")
    return chosen


# A report narrowed to ids takes at most 100 of them (tiktok_assets_tests/contract/FACTS.md section 2: bububa/tiktok-business api/report/integrated_get.go).
REPORT_ID_FILTER_MAX = 100
_ID_FILTER: dict[str, str] = {"AD": "ad_ids", "ADGROUP": "adgroup_ids", "CAMPAIGN": "campaign_ids"}


def _ids_filter(data_level: str, ids: Sequence[str]) -> dict[str, str]:
    return {"field_name": _ID_FILTER[data_level.partition("_")[2]], "filter_type": "IN",
            "filter_value": json.dumps(list(ids), separators=(",", ":"))}


def report_status_filtering(data_level: str) -> list[dict[str, str]] | None:
    """The report ``filtering`` that asks for deleted entities' rows too; None at advertiser level (no status)."""
    field_name = _REPORT_STATUS_FIELD.get(data_level.partition("_")[2])
    if field_name is None:
        return None
    # filter_value is itself JSON text inside the JSON filtering list, as TikTok documents it.
    return [{"field_name": field_name, "filter_type": "IN", "filter_value": '["STATUS_ALL"]'}]


@dataclass(frozen=True)
class EncodedJson:
    """A request body that is JSON already: sent as these bytes, not encoded again."""

    content: bytes


# What httpx's json= produces: compact, UTF-8, no NaN.
_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_JSON_CONTENT = {"Content-Type": "application/json"}


@dataclass
class RequestStats:
    """What the client did, for materialization metadata."""

    requests: int = 0
    pages: int = 0
    retries: int = 0
    throttled: int = 0
    splits: int = 0
    rows: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "pages": self.pages,
            "retries": self.retries,
            "throttled": self.throttled,
            "splits": self.splits,
            "rows": self.rows,
        }


class RateLimiter:
    """Token bucket shared by the client's threads: at most ``qps`` requests a second."""

    def __init__(self, qps: float | None, burst: int | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.qps = qps
        self.capacity = float(burst if burst is not None else max(1, int(qps or 1)))
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        if not self.qps:
            return
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.qps)
                self._last = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self.qps
            self._sleep(wait)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        # Full jitter (AWS architecture blog): spreads retries of parallel
        # workers so a throttled burst does not come back as one burst.
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


def date_chunks(start: date, end: date, max_days: int) -> list[tuple[date, date]]:
    """Split [start, end] (inclusive) into consecutive chunks of at most ``max_days`` days."""
    if end < start:
        raise ValueError(f"end date {end} is before start date {start}")
    chunks = []
    cursor = start
    while cursor <= end:
        chunk_end = min(end, cursor + timedelta(days=max_days - 1))
        chunks.append((cursor, chunk_end))
        cursor = chunk_end + timedelta(days=1)
    return chunks


class TikTokClient:
    """Synchronous client for the subset of the Business API this project uses."""

    def __init__(
        self,
        access_token: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        qps: float | None = 10.0,
        burst: int | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
    ) -> None:
        if not access_token or not access_token.strip():
            raise ValueError(
                "No TikTok access token given: set TIKTOK_ACCESS_TOKEN (or leave it unset to use the simulator)."
            )
        self.__token = access_token.strip()
        # Registered before any request: TikTok can echo it, and whatever logs it must not show it.
        register_secret(self.__token)
        install_log_filter()
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.stats = RequestStats()
        self._sleep = sleep
        self._rng = random.Random(seed)
        self._limiter = RateLimiter(qps, burst, sleep=sleep)
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=timeout,
            headers={"Access-Token": self.__token, "User-Agent": "tiktok_assets/0.1"},
        )

    def __repr__(self) -> str:
        return f"TikTokClient(base_url={self.base_url!r}, access_token='***')"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TikTokClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ------------------------------------------------------------------

    def _count(self, tally: RequestStats | None, **counts: int) -> None:
        self.stats.add(**counts)
        if tally is not None:
            tally.add(**counts)

    def _send_once(self, method: str, path: str, params: Mapping[str, Any] | None, body: Any,
                   advertiser_id: str | None, tally: RequestStats | None = None) -> dict[str, Any]:
        endpoint = f"{API_PREFIX}{path}"
        self._limiter.acquire()
        self._count(tally, requests=1)
        try:
            if method == "GET":
                response = self._http.get(endpoint, params=_encode_params(params or {}))
            elif isinstance(body, EncodedJson):
                response = self._http.post(endpoint, content=body.content, headers=_JSON_CONTENT)
            else:
                response = self._http.post(endpoint, json=body)
        except httpx.TimeoutException as exc:
            raise TikTokTransportError(f"Timed out calling {endpoint}: {type(exc).__name__}", endpoint=endpoint) from None
        except httpx.TransportError as exc:
            raise TikTokTransportError(f"Connection failed calling {endpoint}: {type(exc).__name__}", endpoint=endpoint) from None
        if response.status_code >= 500:
            raise TikTokTransportError(
                f"TikTok gateway answered HTTP {response.status_code} on {endpoint}",
                endpoint=endpoint,
                status_code=response.status_code,
            )
        if response.status_code == HTTP_TOO_MANY_REQUESTS:
            # TikTok's own limits answer HTTP 200 with a throttle code; a gateway in front of it says 429.
            raise TikTokHttpRateLimitError(
                f"TikTok answered HTTP 429 Too Many Requests on {endpoint}", endpoint=endpoint, status_code=429
            )
        if response.status_code != 200:
            # 4xx outside the body-code convention: a wrong base URL or path, not retryable.
            raise TikTokError(
                f"Unexpected HTTP {response.status_code} from {endpoint}: check TIKTOK_API_BASE_URL ({self.base_url})."
            )
        try:
            payload = json.loads(response.content)
        except ValueError:
            raise TikTokTransportError(
                f"Truncated or invalid JSON from {endpoint} ({len(response.content)} bytes)", endpoint=endpoint
            ) from None
        if not isinstance(payload, dict) or "code" not in payload:
            raise TikTokTransportError(f"Response from {endpoint} is not a TikTok envelope", endpoint=endpoint)
        if payload["code"] != 0:
            raise error_from_body(payload, endpoint=endpoint, advertiser_id=advertiser_id)
        throttled_ads = response.headers.get(ADS_THROTTLE_HEADER)
        if throttled_ads is not None:
            raise TikTokAdsThrottledError(
                f"TikTok served only part of {endpoint} for advertiser {advertiser_id} ({ADS_THROTTLE_HEADER}: "
                f"{throttled_ads}): the answer is not complete and was not taken.",
                endpoint=endpoint, advertiser_id=advertiser_id, header=throttled_ads,
            )
        return payload

    def request(self, method: Literal["GET", "POST"], path: str, *, params: Mapping[str, Any] | None = None,
                body: Any = None, advertiser_id: str | None = None, tally: RequestStats | None = None
                ) -> dict[str, Any]:
        """One API call with retries; returns the envelope of a ``code == 0`` answer.

        ``body`` is encoded as JSON, or sent as it is if it is :class:`EncodedJson`.
        ``tally`` counts this call's requests and retries too: ``self.stats`` is
        shared by every thread using the client, so its deltas are not one call's.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._send_once(method, path, params, body, advertiser_id, tally)
            except TikTokError as error:
                if not error.retryable:
                    raise
                if error.throttled:
                    self._count(tally, throttled=1)
                if attempt >= self.retry.max_attempts:
                    raise TikTokRetriesExhausted(f"{API_PREFIX}{path}", attempt, error) from None
                delay = self.retry.delay(attempt, self._rng)
                self._count(tally, retries=1)
                log.warning("TikTok %s%s: %s; retry %d/%d in %.2fs", API_PREFIX, path, error, attempt,
                            self.retry.max_attempts - 1, delay)
                self._sleep(delay)

    def all_pages(self, path: str, params: Mapping[str, Any], *, advertiser_id: str | None = None,
                  page_size: int = MAX_PAGE_SIZE, max_restarts: int = 3) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for page_list in self._paged_consistent(path, params, advertiser_id, page_size, max_restarts):
            rows.extend(page_list)
        return rows

    def _paged_consistent(self, path: str, params: Mapping[str, Any], advertiser_id: str | None,
                          page_size: int, max_restarts: int) -> Iterator[list[dict[str, Any]]]:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        for _restart in range(max_restarts + 1):
            pages = self._read_all_pages(path, params, advertiser_id, page_size)
            if pages is not None:
                yield from pages
                return
        raise TikTokPagingError(
            f"Paging {API_PREFIX}{path} for advertiser {advertiser_id} stayed inconsistent after "
            f"{max_restarts} restarts (page_info changed, pages came back empty or repeated, or fewer rows "
            "came than page_info promised); nothing of it is returned as complete: try again later."
        )

    def _read_all_pages(self, path: str, params: Mapping[str, Any], advertiser_id: str | None,
                        page_size: int) -> list[list[dict[str, Any]]] | None:
        """Read every page, or None when paging must restart.

        With ``page_info``, the read ends at ``total_page`` and must hold
        ``total_number`` rows. Real answers can come without it (issue 14:
        2,500 rows served, 1,000 taken): then the read goes on until a page
        shorter than ``page_size``, the only end such an answer shows.
        """
        pages: list[list[dict[str, Any]]] = []
        served = 0
        page = 1
        expected: tuple[int | None, int | None] | None = None
        while True:
            payload = self.request("GET", path, params={**params, "page": page, "page_size": page_size},
                                   advertiser_id=advertiser_id)
            data = payload.get("data") or {}
            page_list = data.get("list") or []
            totals = _page_totals(data.get("page_info"))
            self.stats.add(pages=1, rows=len(page_list))
            if expected is None:
                expected = totals
            elif expected != totals:
                log.warning("TikTok %s%s: page_info changed mid-paging (%s -> %s); restarting from page 1",
                            API_PREFIX, path, _shown(expected), _shown(totals))
                self.stats.add(retries=1)
                return None
            total_page, total_number = totals
            if total_page is None and total_number is None:
                # No page_info: a full page may have more behind it. A server that ignores `page` would
                # serve page 1 forever; the same first row twice is that, not more data.
                if pages and page_list and pages[-1] and page_list[0] == pages[-1][0]:
                    log.warning("TikTok %s%s: page %d repeats page %d without page_info; restarting",
                                API_PREFIX, path, page, page - 1)
                    self.stats.add(retries=1)
                    return None
                pages.append(page_list)
                if len(page_list) < page_size:
                    return pages
                page += 1
                continue
            last_page = total_page if total_page is not None else -(-(total_number or 0) // page_size)
            if not page_list and page < last_page:
                log.warning("TikTok %s%s: empty page %d of %d; restarting from page 1", API_PREFIX, path,
                            page, last_page)
                self.stats.add(retries=1)
                return None
            pages.append(page_list)
            served += len(page_list)
            if page >= last_page:
                if total_number is not None and served != total_number:
                    log.warning("TikTok %s%s: %d rows served but total_number says %d; restarting",
                                API_PREFIX, path, served, total_number)
                    self.stats.add(retries=1)
                    return None
                return pages
            page += 1

    # -- endpoints ------------------------------------------------------------------

    def authorised_advertisers(self, app_id: str | None = None, secret: str | None = None) -> list[dict[str, Any]]:
        """Advertisers the token may read (``/oauth2/advertiser/get/``)."""
        params: dict[str, Any] = {}
        if app_id:
            params["app_id"] = app_id
        if secret:
            # It travels in the query string, which httpx logs at INFO: scrubbed from logs and errors from now on.
            register_secret(secret)
            params["secret"] = secret
        payload = self.request("GET", "/oauth2/advertiser/get/", params=params)
        return list((payload.get("data") or {}).get("list") or [])

    def advertiser_info(self, advertiser_ids: Sequence[str]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        ids = list(advertiser_ids)
        for start in range(0, len(ids), ADVERTISER_INFO_BATCH):
            batch = ids[start : start + ADVERTISER_INFO_BATCH]
            payload = self.request("GET", "/advertiser/info/", params={"advertiser_ids": batch},
                                   advertiser_id=",".join(batch))
            rows.extend((payload.get("data") or {}).get("list") or [])
        return rows

    def campaigns(self, advertiser_id: str, *, include_deleted: bool = True,
                  buying_types: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Campaigns (``/campaign/get/``); ``buying_types`` narrows to TikTok's buying types (its default
        is AUCTION and RESERVATION_RF; TopView only as ``["RESERVATION_TOP_VIEW"]`` alone)."""
        return self._entities("/campaign/get/", advertiser_id, include_deleted, buying_types)

    def adgroups(self, advertiser_id: str, *, include_deleted: bool = True,
                 buying_types: Sequence[str] | None = None) -> list[dict[str, Any]]:
        return self._entities("/adgroup/get/", advertiser_id, include_deleted, buying_types)

    def ads(self, advertiser_id: str, *, include_deleted: bool = True,
            buying_types: Sequence[str] | None = None) -> list[dict[str, Any]]:
        return self._entities("/ad/get/", advertiser_id, include_deleted, buying_types)

    def _entities(self, path: str, advertiser_id: str, include_deleted: bool,
                  buying_types: Sequence[str] | None) -> list[dict[str, Any]]:
        # Deleted ones too by default: their spend stays in reports, so their names and parents must stay known.
        params: dict[str, Any] = {"advertiser_id": advertiser_id}
        filtering: dict[str, Any] = dict(ALL_ENTITIES_FILTER) if include_deleted else {}
        if buying_types is not None:
            filtering["buying_types"] = _checked_buying_types(buying_types)
        if filtering:
            params["filtering"] = filtering
        return self.all_pages(path, params, advertiser_id=advertiser_id)

    def every_buying_type(self, kind: Literal["campaign", "adgroup", "ad"], advertiser_id: str
                          ) -> list[dict[str, Any]]:
        """Every campaign (ad group, ad), TopView ones too, each campaign row with its ``buying_type``.

        TikTok's default ``buying_types`` is AUCTION and RESERVATION_RF, and RESERVATION_TOP_VIEW can only
        be asked alone (TikTok docs 1739315828649986): a default listing never shows TopView entities, so
        they are listed in a second call. A reservation campaign of the first call is R&F (or Pulse).
        """
        listing = {"campaign": self.campaigns, "adgroup": self.adgroups, "ad": self.ads}[kind]
        rows = listing(advertiser_id)
        seen = {str(row[f"{kind}_id"]) for row in rows}
        topview = [row for row in listing(advertiser_id, buying_types=["RESERVATION_TOP_VIEW"])
                   if str(row[f"{kind}_id"]) not in seen]
        if kind != "campaign":
            return rows + topview
        return ([{**row, "buying_type": "RESERVATION_RF" if row.get("objective_type") == "RF_REACH" else "AUCTION"}
                 for row in rows] + [{**row, "buying_type": "RESERVATION_TOP_VIEW"} for row in topview])

    def gmv_max_stores(self, advertiser_id: str) -> list[dict[str, Any]]:
        """The advertiser's TikTok Shops (``/gmv_max/store/list/``, rows under ``store_list``, no paging), with
        ``is_gmv_max_available`` (only those can be reported on: TikTok docs 1824721673497601)."""
        payload = self.request("GET", "/gmv_max/store/list/", params={"advertiser_id": advertiser_id},
                               advertiser_id=advertiser_id)
        return list((payload.get("data") or {}).get("store_list") or [])

    def gmv_max_report(self, advertiser_id: str, store_id: str, *, start: date, end: date, metrics: Sequence[str],
                       dimensions: Sequence[str] = ("campaign_id", "stat_time_day"),
                       promotion_types: Sequence[str] = ("PRODUCT",), include_deleted: bool = True
                       ) -> list[dict[str, Any]]:
        """Rows of ``/gmv_max/report/get/`` for one shop (``store_ids`` takes one), every page, in 30-day slices.

        ``filtering`` is a JSON object there, not the integrated report's list; deleted campaigns are left
        out unless ``campaign_statuses`` asks STATUS_ALL (TikTok docs 1824721673497601), so it does by default.
        """
        filtering: dict[str, Any] = {"gmv_max_promotion_types": list(promotion_types)}
        if include_deleted:
            filtering["campaign_statuses"] = ["STATUS_ALL"]
        rows: list[dict[str, Any]] = []
        max_days = MAX_DAYS_PER_REQUEST["day"] if "stat_time_day" in dimensions else 365
        for chunk_start, chunk_end in date_chunks(start, end, max_days):
            params = {"advertiser_id": advertiser_id, "store_ids": [store_id], "dimensions": list(dimensions),
                      "metrics": list(metrics), "start_date": chunk_start.isoformat(),
                      "end_date": chunk_end.isoformat(), "filtering": filtering}
            rows.extend(self.all_pages("/gmv_max/report/get/", params, advertiser_id=advertiser_id))
        return rows

    def report_pages(
        self,
        advertiser_id: str,
        *,
        start: date,
        end: date,
        metrics: Sequence[str],
        data_level: DataLevel = "AUCTION_AD",
        granularity: Granularity = "day",
        page_size: int = MAX_PAGE_SIZE,
        service_type: ServiceType = "AUCTION",
        include_deleted: bool = True,
        ids: Sequence[str] | None = None,
        ids_per_request: int = REPORT_ID_FILTER_MAX,
        audience: Sequence[str] = (),
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield pages of BASIC report rows for [start, end], split to TikTok's span limits.

        Each yielded page is complete for its chunk: a chunk is fully read (and
        re-read from page 1 if paging turned inconsistent) before any of it is
        yielded. A 40067 "query too large" halves the chunk and tries again.
        ``include_deleted`` (the default) asks for deleted entities' rows too:
        without it TikTok leaves them out and their spend seems to vanish.
        ``service_type="RESERVATION"`` reads Reach & Frequency / TopView
        buying, with the ``RESERVATION_*`` data levels. ``ids`` narrows the
        report to these entities of the level (``ad_ids`` at ad level...), asked
        ``ids_per_request`` at a time (TikTok takes at most 100); an empty list
        asks nothing. ``audience`` (e.g.
        ``["age", "gender"]``) asks for an AUDIENCE report broken down by those
        dimensions instead (daily only: TikTok serves no hourly audience data).
        """
        if audience and granularity != "day":
            raise ValueError(f"AUDIENCE reports are daily only; got granularity {granularity!r}")
        if data_level not in ID_DIMENSION:
            raise ValueError(f"data_level must be one of {sorted(ID_DIMENSION)}, got {data_level!r}")
        # A name TikTok does not document fails here, naming it, not as a 40002 after the first pages.
        metrics = check_metrics(metrics, level=data_level.partition("_")[2])
        if service_type not in ("AUCTION", "RESERVATION"):
            raise ValueError(f"service_type must be 'AUCTION' or 'RESERVATION', got {service_type!r}")
        if not data_level.startswith(f"{service_type}_"):
            raise ValueError(f"data_level {data_level!r} does not go with service_type {service_type!r}: "
                             f"use a {service_type}_* level")
        filtering = report_status_filtering(data_level) if include_deleted else None
        if granularity not in TIME_DIMENSION:
            raise ValueError(f"granularity must be 'day' or 'hour', got {granularity!r}")
        if ids is not None and _ID_FILTER.get(data_level.partition("_")[2]) is None:
            raise ValueError(f"ids cannot narrow data_level {data_level!r}: it has no id filter")
        if not 1 <= ids_per_request <= REPORT_ID_FILTER_MAX:
            raise ValueError(f"ids_per_request must be 1 to {REPORT_ID_FILTER_MAX} (TikTok's limit), "
                             f"got {ids_per_request}")
        batches: list[tuple[str, ...] | None] = [None]
        if ids is not None:
            if isinstance(ids, str):
                raise TypeError(f"ids must be a list of ids, got the single string {ids!r}")
            wanted = list(dict.fromkeys(str(entity_id) for entity_id in ids))
            batches = [tuple(wanted[at : at + ids_per_request]) for at in range(0, len(wanted), ids_per_request)]
        # (first day, last day, ids the request is narrowed to or None for all of the level's entities)
        pending: list[tuple[date, date, tuple[str, ...] | None]] = [
            (chunk_start, chunk_end, batch)
            for chunk_start, chunk_end in reversed(date_chunks(start, end, MAX_DAYS_PER_REQUEST[granularity]))
            for batch in reversed(batches)
        ]
        entity_ids: list[str] | None = None
        while pending:
            chunk_start, chunk_end, ids = pending.pop()
            params = {
                "advertiser_id": advertiser_id,
                "service_type": service_type,
                "report_type": "AUDIENCE" if audience else "BASIC",
                "data_level": data_level,
                "dimensions": [ID_DIMENSION[data_level], TIME_DIMENSION[granularity], *audience],
                "metrics": list(metrics),
                "start_date": chunk_start.isoformat(),
                "end_date": chunk_end.isoformat(),
            }
            chunk_filtering = list(filtering or ())
            if ids is not None:
                chunk_filtering.append(_ids_filter(data_level, ids))
            if chunk_filtering:
                params["filtering"] = chunk_filtering
            try:
                pages = list(self._paged_consistent("/report/integrated/get/", params, advertiser_id, page_size,
                                                    max_restarts=3))
            except TikTokQueryTooLargeError:
                if chunk_start == chunk_end:
                    raise
                middle = chunk_start + (chunk_end - chunk_start) // 2
                self.stats.add(splits=1)
                pending.append((middle + timedelta(days=1), chunk_end, ids))
                pending.append((chunk_start, middle, ids))
                continue
            except TikTokAdsThrottledError:
                # Only the newest 20,000 ads came: ask again by id filters of at most 100, as TikTok advises.
                if ids is not None or _ID_FILTER.get(data_level.partition("_")[2]) is None:
                    raise
                if entity_ids is None:
                    entity_ids = self._level_ids(advertiser_id, data_level, include_deleted)
                batches = [tuple(entity_ids[at : at + REPORT_ID_FILTER_MAX])
                           for at in range(0, len(entity_ids), REPORT_ID_FILTER_MAX)]
                self.stats.add(splits=len(batches))
                log.warning("TikTok report for advertiser %s, %s to %s, was cut to the newest 20,000 ads; "
                            "asking again in %d requests by id", advertiser_id, chunk_start, chunk_end, len(batches))
                pending.extend((chunk_start, chunk_end, batch) for batch in reversed(batches))
                continue
            yield from pages

    def _level_ids(self, advertiser_id: str, data_level: str, include_deleted: bool) -> list[str]:
        level = data_level.partition("_")[2]
        listing = {"AD": self.ads, "ADGROUP": self.adgroups, "CAMPAIGN": self.campaigns}[level]
        id_field = ID_DIMENSION[data_level]
        return sorted({str(row[id_field]) for row in listing(advertiser_id, include_deleted=include_deleted)})

    def report(self, advertiser_id: str, **kwargs: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for page in self.report_pages(advertiser_id, **kwargs):
            rows.extend(page)
        return rows

    def lifetime_report(self, advertiser_id: str, *, metrics: Sequence[str], data_level: DataLevel = "AUCTION_AD",
                        include_deleted: bool = True, page_size: int = MAX_PAGE_SIZE) -> list[dict[str, Any]]:
        """Every entity's lifetime totals at ``data_level``: a BASIC report with ``query_lifetime=true``.

        TikTok ignores start_date/end_date then ("If query_lifetime = True, the start_date and end_date
        parameters will be ignored", tiktok/tiktok-business-api-sdk ReportingApi.md), and the rows carry the id
        dimension alone (airbyte source-tiktok-marketing manifest, *_reports_lifetime streams), so none are sent.
        """
        if data_level not in ID_DIMENSION or not data_level.startswith("AUCTION_"):
            raise ValueError(f"data_level must be an AUCTION_* level of {sorted(ID_DIMENSION)}, got {data_level!r}")
        params: dict[str, Any] = {
            "advertiser_id": advertiser_id, "service_type": "AUCTION", "report_type": "BASIC",
            "data_level": data_level, "dimensions": [ID_DIMENSION[data_level]], "metrics": list(metrics),
            "query_lifetime": "true",
        }
        filtering = list(report_status_filtering(data_level) or ()) if include_deleted else []
        if filtering:
            params["filtering"] = filtering
        try:
            return self.all_pages("/report/integrated/get/", params, advertiser_id=advertiser_id, page_size=page_size)
        except TikTokAdsThrottledError:
            # Only the newest 20,000 ads came: ask again by id filters of at most 100, as report_pages does.
            if _ID_FILTER.get(data_level.partition("_")[2]) is None:
                raise
        entity_ids = self._level_ids(advertiser_id, data_level, include_deleted)
        batches = [entity_ids[at : at + REPORT_ID_FILTER_MAX] for at in range(0, len(entity_ids), REPORT_ID_FILTER_MAX)]
        self.stats.add(splits=len(batches))
        log.warning("TikTok lifetime report for advertiser %s was cut to the newest 20,000 ads; asking again in %d "
                    "requests by id", advertiser_id, len(batches))
        rows: list[dict[str, Any]] = []
        for batch in batches:
            narrowed = {**params, "filtering": [*filtering, _ids_filter(data_level, batch)]}
            rows.extend(self.all_pages("/report/integrated/get/", narrowed, advertiser_id=advertiser_id,
                                       page_size=page_size))
        return rows

    def track_encoded_events(self, body: Mapping[str, Any], data: Sequence[str], *,
                             tally: RequestStats | None = None) -> dict[str, Any]:
        """POST one Events API batch (``/event/track/``) of data items that are JSON text already (the outbox
        stores them so); returns the envelope on success.

        The items are joined into ``body``'s ``data`` as they are, neither parsed
        nor re-encoded: the request carries exactly the stored bytes. ``body``
        holds the rest of the request (``event_source``...); a ``data`` key in it
        is replaced. Throttling and server errors are retried here; a rejection
        (40002...) raises :class:`TikTokBadParameterError` with TikTok's message
        so the caller can dead-letter the batch.
        """
        if len(data) > MAX_PAGE_SIZE:
            raise ValueError(f"An Events API batch holds at most {MAX_PAGE_SIZE} events, got {len(data)}")
        return self.request("POST", "/event/track/", body=encoded_track_body(body, data), tally=tally)


def encoded_track_body(body: Mapping[str, Any], data: Sequence[str]) -> EncodedJson:
    """``body`` with ``data`` (JSON texts of objects) as its ``data`` list, encoded as httpx would encode it."""
    for item in data:
        # One misplaced byte in one stored item would make TikTok refuse the whole batch: fail here, loudly.
        if not (item.startswith("{") and item.endswith("}")):
            raise ValueError(f"Events API data items must be JSON objects, got {item[:40]!r}...")
    head = _encode_json({key: value for key, value in body.items() if key != "data"})
    separator = "," if len(head) > 2 else ""
    return EncodedJson(f'{head[:-1]}{separator}"data":[{",".join(data)}]}}'.encode())


def _encode_params(params: Mapping[str, Any]) -> dict[str, str]:
    # TikTok wants list and dict parameters as JSON text in the query string.
    encoded: dict[str, str] = {}
    for key, value in params.items():
        if isinstance(value, (list, tuple, dict)):
            encoded[key] = json.dumps(list(value) if isinstance(value, tuple) else value, separators=(",", ":"))
        else:
            encoded[key] = str(value)
    return encoded


def _page_totals(info: Any) -> tuple[int | None, int | None]:
    """(total_page, total_number) of a ``page_info``; None for what it does not say (or no page_info at all)."""
    if not isinstance(info, Mapping):
        return None, None
    total_page, total_number = info.get("total_page"), info.get("total_number")
    return (None if total_page is None else int(total_page),
            None if total_number is None else int(total_number))


def _shown(totals: tuple[int | None, int | None]) -> str:
    total_page, total_number = totals
    if total_page is None and total_number is None:
        return "no page_info"
    return f"total_page={total_page}, total_number={total_number}"
