"""The simulator: TikTok Business API v1.3 answers from a :class:`World`, in-process or over HTTP.

One core, :meth:`Simulator.handle`, serves both ways in: an httpx transport
(``sim.transport()``, no socket) and a raw ASGI app (``sim.asgi_app``, run by
uvicorn through :func:`tiktok_assets.simulator.server.serve`).

Faithful on purpose: errors are HTTP 200 with a non-zero body ``code`` (only
injected gateway faults use HTTP 5xx, with an HTML body); every envelope has
a ``request_id`` (unless ``Realism.omit_request_id``, as many real answers);
tokens are checked per advertiser; each token has its own
token-bucket rate limit answered with code 40100, and each advertiser can have
one too (``advertiser_qps``), answered with 40133 as TikTok's advertiser-level
QPS limit is. ``throttle_status=429`` answers throttling with HTTP 429 instead,
as a gateway in front of TikTok does.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import anyio
import httpx

from tiktok_assets.simulator.clock import SimClock
from tiktok_assets.simulator.endpoints import ROUTES, ApiError, Code, Request, encode_json
from tiktok_assets.simulator.events import EventStore
from tiktok_assets.simulator.faults import FaultInjector, FaultKind
from tiktok_assets.simulator.realism import Realism
from tiktok_assets.tiktok import codes
from tiktok_assets.simulator.world import World

log = logging.getLogger(__name__)

API_PREFIX = "/open_api/v1.3"
# A fake long-term token shaped like TikTok's (40 hex characters); authorised for every advertiser.
DEFAULT_ACCESS_TOKEN = "5e3f1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e"
BAD_TOKEN_MESSAGE = "Access token is incorrect or has been revoked."
RATE_LIMIT_MESSAGE = "Too many requests. Please retry in some time."
# TikTok's 40133 text, as recorded in airbytehq/airbyte source-tiktok-marketing's
# unit_tests/integration/test_reports_daily_window_splitting.py
# (tiktok_assets_tests/contract/FACTS.md section 3).
ADVERTISER_RATE_LIMIT_MESSAGE = ("Advertiser ({advertiser_id})'s QPS ({qps}) reaches QPS limit {limit} for current "
                                 "path, request is temporarily restricted.")
_HTML_ERRORS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Temporarily Unavailable"}


@dataclass(frozen=True)
class SimResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    fault: FaultKind | None = None
    """A transport-level fault (timeout, connection_reset) the way in must act out."""

    def json(self) -> Any:
        return json.loads(self.body)


class TokenBucket:
    """``qps`` requests a second with bursts up to ``burst``, on a monotonic clock."""

    def __init__(self, qps: float, burst: int, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.qps = qps
        self.capacity = float(burst)
        self._tokens = float(burst)
        self._monotonic = monotonic
        self._last = monotonic()

    def allow(self) -> bool:
        now = self._monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.qps)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


@dataclass
class _Counters:
    lock: threading.Lock = field(default_factory=threading.Lock)
    by_path: Counter[str] = field(default_factory=Counter)


class Simulator:
    """The TikTok Business API subset of DESIGN.md, answering from ``world`` at ``clock``'s time.

    ``tokens`` maps extra access tokens to the advertiser ids they may read
    (``DEFAULT_ACCESS_TOKEN`` may read all). ``qps``/``burst`` set each token's
    rate limit (``qps=None`` disables it). ``max_report_rows`` is the largest
    report (entities × days, × 24 hourly) answered before code 40067.
    ``app_secrets`` (app id -> secret) makes ``/oauth2/advertiser/get/`` check its ``app_id``/``secret``
    query parameters and answer a wrong pair with 40101, echoing the secret as TikTok does.
    ``advertiser_qps``/``advertiser_burst`` set a rate limit per advertiser (the
    ``advertiser_id`` parameter, or an Events API batch's ``event_source_id``),
    shared by every token, answered with code 40133. ``throttle_status`` is the
    HTTP status of throttle answers: 200 as TikTok, or 429 as a gateway.
    """

    def __init__(
        self,
        world: World | None = None,
        clock: SimClock | None = None,
        tokens: Mapping[str, Iterable[str]] | None = None,
        qps: float | None = 50.0,
        burst: int = 100,
        settle_days: int | None = None,
        *,
        max_report_rows: int | None = 500_000,
        timeout_seconds: float = 5.0,
        advertiser_qps: float | None = None,
        advertiser_burst: int = 10,
        throttle_status: int = 200,
        monotonic: Callable[[], float] = time.monotonic,
        realism: Realism = Realism(),
        app_secrets: Mapping[str, str] | None = None,
    ) -> None:
        if world is None:
            world = World(settle_days=7 if settle_days is None else settle_days)
        elif settle_days is not None and settle_days != world.settle_days:
            raise ValueError(
                f"Simulator(settle_days={settle_days}) disagrees with the world's settle_days={world.settle_days}: "
                "give settle_days to World(...) when passing a world"
            )
        if qps is not None and (qps <= 0 or burst < 1):
            raise ValueError(f"Simulator(qps={qps}, burst={burst}): qps must be positive and burst at least 1, "
                             "or qps=None to disable rate limiting")
        self.world = world
        self.clock = clock or SimClock()
        self.realism = realism
        """How loosely answers are shaped (see realism.py); replace it in a test to switch a knob."""
        self._app_secrets = dict(app_secrets) if app_secrets is not None else None
        if advertiser_qps is not None and (advertiser_qps <= 0 or advertiser_burst < 1):
            raise ValueError(f"Simulator(advertiser_qps={advertiser_qps}, advertiser_burst={advertiser_burst}): "
                             "advertiser_qps must be positive and advertiser_burst at least 1, or None")
        if throttle_status not in (200, 429):
            raise ValueError(f"Simulator(throttle_status={throttle_status}): 200 (TikTok) or 429 (a gateway)")
        self.qps = qps
        self.burst = burst
        self.advertiser_qps = advertiser_qps
        self.advertiser_burst = advertiser_burst
        self.throttle_status = throttle_status
        self.max_report_rows = max_report_rows
        self.events = EventStore(self.clock)
        self.faults = FaultInjector(timeout_seconds=timeout_seconds)
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._grants: dict[str, frozenset[str] | None] = {DEFAULT_ACCESS_TOKEN: None}
        for token, advertiser_ids in (tokens or {}).items():
            self.grant(token, advertiser_ids)
        self._buckets: dict[str, TokenBucket] = {}
        self._advertiser_buckets: dict[str, TokenBucket] = {}
        self._counters = _Counters()

    def __repr__(self) -> str:
        # Tokens are secrets even here: only say how many there are.
        return f"Simulator({self.world!r}, tokens={len(self._grants)}, qps={self.qps}, clock={self.clock!r})"

    # -- tokens and counters -------------------------------------------------------------------

    def grant(self, token: str, advertiser_ids: Iterable[str] | None) -> None:
        """Authorise ``token`` for these advertisers (None: all of them)."""
        if not token:
            raise ValueError("grant(token=...): the token must be a non-empty string")
        with self._lock:
            self._grants[token] = None if advertiser_ids is None else frozenset(map(str, advertiser_ids))

    def revoke(self, token: str) -> None:
        """Revoke a token: its next request gets code 40105."""
        with self._lock:
            self._grants.pop(token, None)

    @property
    def request_counts(self) -> Counter[str]:
        """Requests received per path (e.g. ``/open_api/v1.3/report/integrated/get/``), a copy."""
        with self._counters.lock:
            return Counter(self._counters.by_path)

    def reset_counts(self) -> None:
        with self._counters.lock:
            self._counters.by_path.clear()

    def _may_read(self, token: str) -> Callable[[str], bool]:
        with self._lock:
            granted = self._grants[token]
        return lambda advertiser_id: granted is None or advertiser_id in granted

    def _rate_limited(self, token: str) -> bool:
        if self.qps is None:
            return False
        with self._lock:
            bucket = self._buckets.get(token)
            if bucket is None:
                bucket = self._buckets[token] = TokenBucket(self.qps, self.burst, self._monotonic)
            return not bucket.allow()

    def _advertiser_rate_limited(self, query: Mapping[str, str], body: bytes) -> str | None:
        """The advertiser (or event source) whose limit this request breaks, if any."""
        if self.advertiser_qps is None:
            return None
        key = query.get("advertiser_id") or _event_source_id(body)
        if not key:
            return None
        with self._lock:
            bucket = self._advertiser_buckets.get(key)
            if bucket is None:
                bucket = TokenBucket(self.advertiser_qps, self.advertiser_burst, self._monotonic)
                self._advertiser_buckets[key] = bucket
            return None if bucket.allow() else key

    def _envelope(self, code: int, message: str, request_id: str, data: Any = None) -> SimResponse:
        return _envelope(code, message, request_id, data, realism=self.realism)

    def _throttled(self, code: int, message: str, request_id: str) -> SimResponse:
        response = self._envelope(code, message, request_id)
        if self.throttle_status == 200:
            return response
        return SimResponse(self.throttle_status, response.headers, response.body)

    # -- the core ------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str],
               body: bytes) -> SimResponse:
        """Answer one HTTP request."""
        route_path = _normalise_path(path)
        with self._counters.lock:
            self._counters.by_path[route_path] += 1
        request_id = self._request_id()
        fault = self.faults.take(route_path)
        if fault is not None and fault.http_status:
            return _html_error(fault.http_status, request_id, fault)
        if fault is FaultKind.CONNECTION_RESET:
            return SimResponse(0, {}, b"", fault)
        if fault is FaultKind.RATE_LIMIT:
            return self._throttled(Code.RATE_LIMITED, RATE_LIMIT_MESSAGE, request_id)
        if fault is FaultKind.ADVERTISER_RATE_LIMIT:
            return self._envelope(Code.ADVERTISER_RATE_LIMITED, self._advertiser_message(query.get("advertiser_id")),
                                  request_id)
        if fault is FaultKind.HTTP_429:
            return _too_many_requests(request_id)
        if fault is FaultKind.SERVER_ERROR:
            # TikTok's text, as airbytehq/airbyte's test_service_error_retry.py records it.
            return self._envelope(Code.INTERNAL, "System error.", request_id)
        route = ROUTES.get(route_path.removeprefix(API_PREFIX)) if route_path.startswith(API_PREFIX) else None
        if route is None:
            return SimResponse(404, {"content-type": "text/plain; charset=utf-8"}, b"404 page not found")
        if method.upper() != route.method:
            return SimResponse(405, {"content-type": "text/plain; charset=utf-8", "allow": route.method},
                               b"405 method not allowed")
        response = self._answer(route.endpoint, query, headers, body, request_id,
                                route_path.removeprefix(API_PREFIX))
        return _apply_response_fault(response, fault) if fault is not None else response

    def _answer(self, endpoint: Callable[[Request], dict[str, Any]], query: Mapping[str, str],
                headers: Mapping[str, str], body: bytes, request_id: str, route: str) -> SimResponse:
        lowered = {name.lower(): value for name, value in headers.items()}
        token = lowered.get("access-token") or query.get("access_token") or ""
        with self._lock:
            known = token in self._grants
        if not known:
            return self._envelope(Code.BAD_TOKEN, BAD_TOKEN_MESSAGE, request_id)
        if self._rate_limited(token):
            return self._throttled(Code.RATE_LIMITED, RATE_LIMIT_MESSAGE, request_id)
        limited = self._advertiser_rate_limited(query, body)
        if limited is not None:
            return self._throttled(Code.ADVERTISER_RATE_LIMITED, self._advertiser_message(limited), request_id)
        if route == "/oauth2/advertiser/get/" and self._app_secrets is not None:
            refused = self._app_credentials_refused(query, request_id)
            if refused is not None:
                return refused
        request = Request(query=query, body=body, now=self.clock.now(), world=self.world,
                          may_read=self._may_read(token), events=self.events, max_report_rows=self.max_report_rows,
                          realism=self.realism, route=route)
        try:
            data = endpoint(request)
        except ApiError as error:
            return self._envelope(error.code, error.message, request_id)
        except Exception as error:  # noqa: BLE001 - a simulator bug must surface as a server error, loudly
            log.exception("Simulator bug answering %s (request_id %s)", endpoint.__name__, request_id)
            return self._envelope(Code.INTERNAL, f"Simulator internal error: {type(error).__name__}: {error}",
                                  request_id)
        response = self._envelope(Code.OK, "ok" if self.realism.lowercase_ok else "OK", request_id, data)
        if request.response_headers:
            response = SimResponse(response.status, {**response.headers, **request.response_headers}, response.body)
        return response

    def _app_credentials_refused(self, query: Mapping[str, str], request_id: str) -> SimResponse | None:
        """40101 for an app id/secret pair this simulator does not know (only when ``app_secrets`` was given)."""
        app_id, secret = query.get("app_id", ""), query.get("secret", "")
        if not app_id or not secret:
            return self._envelope(Code.BAD_PARAMETER, f"{'app_id' if not app_id else 'secret'}: Missing data for "
                                  "required field.", request_id)
        if self._app_secrets.get(app_id) == secret:  # type: ignore[union-attr]
            return None
        # TikTok echoes what it was sent (issue 14 defect 8): the client must scrub it, so the simulator echoes too.
        return self._envelope(codes.INVALID_AUTH_PARAMETERS, f"Invalid app_id or secret. secret: {secret}",
                              request_id)

    def _advertiser_message(self, advertiser_id: str | None) -> str:
        limit = self.advertiser_qps or 10
        # The measured rate is not kept; one request over the limit is what breaking it takes.
        return ADVERTISER_RATE_LIMIT_MESSAGE.format(advertiser_id=advertiser_id or "unknown",
                                                    qps=int(limit) + 1, limit=int(limit))

    def _request_id(self) -> str:
        # TikTok request ids start with the UTC time of the request.
        return f"{self.clock.now():%Y%m%d%H%M%S}{secrets.token_hex(9).upper()}"

    # -- ways in -------------------------------------------------------------------------------

    def transport(self) -> httpx.BaseTransport:
        """An httpx transport that calls :meth:`handle` directly: no socket, no thread."""
        return SimulatorTransport(self)

    async def asgi_app(self, scope: dict[str, Any], receive: Callable[[], Any], send: Callable[[Any], Any]) -> None:
        """Raw ASGI 3 application (for uvicorn)."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", [])}
        response = await anyio.to_thread.run_sync(self.handle, scope["method"], scope["path"], query, headers,
                                                  bytes(body))
        if response.fault is FaultKind.TIMEOUT:
            # Stall past the client's timeout; stop early once the client gives up.
            with anyio.move_on_after(self.faults.timeout_seconds):
                while (await receive())["type"] != "http.disconnect":
                    pass
                return
        if response.fault is FaultKind.CONNECTION_RESET:
            # Promise a body and stop half-way: uvicorn then closes the connection.
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")]})
            await send({"type": "http.response.body", "body": b'{"code":', "more_body": True})
            return
        headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.headers.items()]
        headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})


class SimulatorTransport(httpx.BaseTransport):
    """httpx transport answering from a :class:`Simulator` in-process."""

    def __init__(self, simulator: Simulator) -> None:
        self._simulator = simulator

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        query = dict(request.url.params.multi_items())
        response = self._simulator.handle(request.method, request.url.path, query, dict(request.headers), body)
        if response.fault is FaultKind.TIMEOUT:
            raise httpx.ReadTimeout("Simulated timeout: the server processed the request but never answered",
                                    request=request)
        if response.fault is FaultKind.CONNECTION_RESET:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        return httpx.Response(response.status, headers=response.headers, content=response.body, request=request)


def _normalise_path(path: str) -> str:
    path = "/" + path.strip("/")
    return path if path == "/" else path + "/"


def _event_source_id(body: bytes) -> str | None:
    # Only asked when a per-advertiser limit is set: the Events API names its pixel or app, not an advertiser.
    if not body:
        return None
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    source = payload.get("event_source_id") if isinstance(payload, dict) else None
    return str(source) if source else None


def _envelope(code: int, message: str, request_id: str, data: Any = None, *,
              realism: Realism = Realism()) -> SimResponse:
    payload: dict[str, Any] = {"code": code, "message": message, "request_id": request_id,
                               "data": {} if data is None else data}
    if realism.omit_request_id:
        del payload["request_id"]
    return SimResponse(200, {"content-type": "application/json", "x-tt-logid": request_id},
                       encode_json(payload).encode())


def _too_many_requests(request_id: str) -> SimResponse:
    # What a gateway in front of the API answers when it throttles: HTTP 429, a plain body, no Retry-After.
    return SimResponse(429, {"content-type": "text/plain; charset=utf-8", "x-tt-logid": request_id},
                       b"429 Too Many Requests", FaultKind.HTTP_429)


def _html_error(status: int, request_id: str, fault: FaultKind) -> SimResponse:
    title = f"{status} {_HTML_ERRORS.get(status, 'Error')}"
    body = (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
            f"<hr><center>TLB</center>\r\n</body>\r\n</html>\r\n")
    return SimResponse(status, {"content-type": "text/html", "x-tt-logid": request_id}, body.encode(), fault)


def _apply_response_fault(response: SimResponse, fault: FaultKind) -> SimResponse:
    if fault is FaultKind.TIMEOUT:
        return SimResponse(response.status, response.headers, response.body, fault)
    if fault is FaultKind.TRUNCATED:
        return SimResponse(response.status, response.headers, response.body[: len(response.body) // 2], fault)
    if fault in (FaultKind.TOTAL_PAGE_CHANGE, FaultKind.EMPTY_PAGE) and response.status == 200:
        payload = json.loads(response.body)
        data = payload.get("data")
        if isinstance(data, dict) and isinstance(data.get("page_info"), dict):
            if fault is FaultKind.TOTAL_PAGE_CHANGE:
                data["page_info"]["total_page"] += 1
            else:
                # page_info stays as it was: it still promises the rows this page lost.
                data["list"] = []
            body = json.dumps(payload, separators=(",", ":")).encode()
            return SimResponse(response.status, response.headers, body, fault)
    return response
