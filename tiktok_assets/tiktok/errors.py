"""Typed errors for the TikTok Business API.

TikTok answers almost every failure with HTTP 200 and a non-zero body ``code``;
only gateway failures use real HTTP 5xx. These classes turn codes into errors
that say what went wrong and what to do next. Messages never contain a secret:
the token travels in a header, and what TikTok echoes back (its ``message``
can quote the token or the app secret) is scrubbed by ``tiktok/scrub.py``
before any error holds it.
"""

from __future__ import annotations

from collections.abc import Mapping

from tiktok_assets.tiktok import codes
from tiktok_assets.tiktok.codes import CodeKind
from tiktok_assets.tiktok.scrub import scrub


class TikTokError(Exception):
    """Base class of every error raised by the TikTok client."""

    retryable: bool = False
    throttled: bool = False
    """TikTok (or its gateway) said too many requests: retried with backoff and counted as throttling."""

    def __init__(self, message: str = "") -> None:
        super().__init__(scrub(message))


class TikTokApiError(TikTokError):
    """TikTok answered with a non-zero body code."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        endpoint: str,
        request_id: str | None = None,
        advertiser_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        message = scrub(message)
        self.code = code
        self.tiktok_message = message
        self.endpoint = endpoint
        self.request_id = request_id
        self.advertiser_id = advertiser_id
        where = f" for advertiser {advertiser_id}" if advertiser_id else ""
        text = detail or f"TikTok API error {code} on {endpoint}{where}: {message}"
        if request_id:
            text += f" (request_id {request_id})"
        super().__init__(text)


class TikTokAuthenticationError(TikTokApiError):
    """The access token is wrong, expired or revoked. Never retried."""


class TikTokPermissionError(TikTokApiError):
    """The token does not own the advertiser. Never retried."""


class TikTokBadParameterError(TikTokApiError):
    """A request parameter was rejected; ``parameter`` names it when TikTok says."""

    def __init__(self, *args: object, parameter: str | None = None, **kwargs: object) -> None:
        self.parameter = parameter
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


class TikTokQueryTooLargeError(TikTokApiError):
    """TikTok refused the query as too large: split it and ask again."""


class TikTokRateLimitError(TikTokApiError):
    """A THROTTLE code of tiktok/codes.py: app-level (40100, 40016) or advertiser-level (40133) QPS."""

    retryable = True
    throttled = True


class TikTokServerError(TikTokApiError):
    retryable = True


class TikTokTransportError(TikTokError):
    """No usable answer: timeout, reset connection, HTTP 5xx or a truncated body."""

    retryable = True

    def __init__(self, message: str, *, endpoint: str, status_code: int | None = None) -> None:
        self.endpoint = endpoint
        self.status_code = status_code
        super().__init__(message)


class TikTokHttpRateLimitError(TikTokTransportError):
    """HTTP 429 from the gateway in front of TikTok: a throttle like the body codes, retried with backoff."""

    throttled = True


class TikTokAdsThrottledError(TikTokError):
    """A code-0 report holding only the newest 20,000 ads, said only by the ``X-Tt-Ads-Throttle`` header
    (TikTok "Reporting FAQs", Data incompleteness): never complete, so never taken; ask by id filters instead."""

    def __init__(self, message: str, *, endpoint: str, advertiser_id: str | None, header: str) -> None:
        self.endpoint = endpoint
        self.advertiser_id = advertiser_id
        self.header = header
        super().__init__(message)


class TikTokPagingError(TikTokError):
    """Paging stayed inconsistent (page_info kept changing, pages came back empty or repeated, or fewer rows
    came than page_info promised): nothing of the read is returned."""

    retryable = True


class TikTokRetriesExhausted(TikTokError):
    """A retryable failure persisted through every retry."""

    def __init__(self, endpoint: str, attempts: int, last_error: TikTokError) -> None:
        self.endpoint = endpoint
        self.attempts = attempts
        self.last_error = last_error
        super().__init__(
            f"TikTok request to {endpoint} failed after {attempts} attempts; last error: {last_error}. "
            "TikTok may be throttling or degraded: retry later or lower the client's qps."
        )


def _parameter_from_message(message: str) -> str | None:
    # TikTok messages name the field first, e.g. "page_size: Must be ..." or
    # "Batch.0.properties.contents.0.content_id: Not a valid string".
    head, sep, _ = message.partition(":")
    if sep and head and " " not in head.strip():
        return head.strip()
    for known in ("start_date", "end_date", "page_size", "metrics", "dimensions", "data_level", "advertiser_id"):
        if known in message:
            return known
    if "time span" in message:
        return "start_date/end_date"
    return None


def error_from_body(
    body: Mapping[str, object], *, endpoint: str, advertiser_id: str | None = None
) -> TikTokApiError:
    """Map a non-zero TikTok response envelope to the matching typed error."""
    code = int(body.get("code", -1))  # type: ignore[arg-type]
    message = scrub(str(body.get("message", "")).strip())
    request_id = body.get("request_id")
    request_id = str(request_id) if request_id else None
    common = {"endpoint": endpoint, "request_id": request_id, "advertiser_id": advertiser_id}
    kind = codes.kind_of(code)
    if kind is CodeKind.AUTH:
        return TikTokAuthenticationError(
            code,
            message,
            detail=(
                f"Authentication failed: TikTok code {code} ({message}; TikTok documents it as "
                f"{codes.meaning_of(code)!r}). The access token (or the app id and secret) is wrong, "
                "expired or revoked: generate a new long-term token in TikTok for Business and set "
                "TIKTOK_ACCESS_TOKEN."
            ),
            **common,  # type: ignore[arg-type]
        )
    if kind is CodeKind.PERMISSION:
        who = f"Advertiser {advertiser_id}" if advertiser_id else "The requested advertiser"
        return TikTokPermissionError(
            code,
            message,
            detail=(
                f"{who} not found or not authorised for this access token (TikTok code {code}: "
                f"{message}). Check TIKTOK_ADVERTISER_IDS or re-authorise the account."
            ),
            **common,  # type: ignore[arg-type]
        )
    if kind is CodeKind.BAD_PARAMETER:
        parameter = _parameter_from_message(message)
        named = f" parameter {parameter!r}" if parameter else " a parameter"
        return TikTokBadParameterError(
            code,
            message,
            parameter=parameter,
            detail=f"TikTok rejected{named} on {endpoint} (code {code}): {message}",
            **common,  # type: ignore[arg-type]
        )
    if kind is CodeKind.TOO_LARGE:
        return TikTokQueryTooLargeError(code, message, **common)  # type: ignore[arg-type]
    if kind is CodeKind.THROTTLE:
        return TikTokRateLimitError(code, message, **common)  # type: ignore[arg-type]
    if kind is CodeKind.SERVER:
        return TikTokServerError(code, message, **common)  # type: ignore[arg-type]
    return TikTokApiError(code, message, **common)  # type: ignore[arg-type]
