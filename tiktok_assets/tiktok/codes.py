"""TikTok Business API v1.3 body codes: the one table of what each code means and what to do about it.

Source: TikTok API for Business documentation, v1.3, Appendix "Return codes"
(business-api.tiktok.com/portal/docs, "Return codes"), and its "Rate limits"
page for 40100/40016/40133. The client classifies errors from this table, the
simulator answers with its numbers, and postback delivery uses it to tell
throttling from token problems. Pure: no HTTP, no Dagster.

HTTP 429 is not a body code (TikTok's own limits answer HTTP 200 with one of
the THROTTLE codes), but gateways in front of the API do send it; the client
treats it as a throttle (:data:`HTTP_TOO_MANY_REQUESTS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CodeKind(StrEnum):
    THROTTLE = "throttle"
    """Too many requests: retry with backoff (TikTok sends no Retry-After)."""
    AUTH = "auth"
    """The access token (or app id/secret) is wrong, expired or revoked: a person must act, never retried."""
    PERMISSION = "permission"
    """The token may not read that advertiser (or resource): never retried."""
    BAD_PARAMETER = "bad_parameter"
    """TikTok rejected a parameter; its message names it. Never retried as it is."""
    TOO_LARGE = "too_large"
    """The query asks for too much at once: split it and ask again."""
    SERVER = "server"
    """TikTok's side failed: retry with backoff."""


@dataclass(frozen=True)
class CodeInfo:
    code: int
    kind: CodeKind
    meaning: str
    """TikTok's documented meaning, in short."""


OK = 0
NO_PERMISSION = 40001
BAD_PARAMETER = 40002
BAD_PARAMETER_VALUE = 40006
QUERY_TOO_LARGE = 40067
APP_DAILY_LIMIT = 40016
APP_RATE_LIMIT = 40100
INVALID_AUTH_PARAMETERS = 40101
TOKEN_EXPIRED = 40102
TOKEN_EMPTY = 40104
TOKEN_INVALID = 40105
AUTH_CODE_INVALID = 40110
ADVERTISER_RATE_LIMIT = 40133
SERVER_BUSY = 40200
SERVER_TASK_ERROR = 40201
SERVER_WRITE_ERROR = 40202
SERVER_UPSTREAM_ERROR = 40700
INTERNAL_ERROR = 50000
SERVICE_ERROR = 50002
SERVICE_UNAVAILABLE = 51001
UPSTREAM_TIMEOUT = 60001

HTTP_TOO_MANY_REQUESTS = 429

_T, _A, _P, _B, _L, _S = (CodeKind.THROTTLE, CodeKind.AUTH, CodeKind.PERMISSION, CodeKind.BAD_PARAMETER,
                          CodeKind.TOO_LARGE, CodeKind.SERVER)

CODES: dict[int, CodeInfo] = {
    info.code: info
    for info in (
        CodeInfo(NO_PERMISSION, _P, "No permission to operate the advertiser or resource"),
        CodeInfo(BAD_PARAMETER, _B, "Parameter error; the message names the field"),
        CodeInfo(BAD_PARAMETER_VALUE, _B, "Parameter value not supported"),
        CodeInfo(QUERY_TOO_LARGE, _L, "Query too large: narrow the date range or the ids"),
        CodeInfo(APP_DAILY_LIMIT, _T, "Too many requests: the app's call limit was reached"),
        CodeInfo(APP_RATE_LIMIT, _T, "Too many requests: the app's QPS/QPM limit was exceeded"),
        CodeInfo(INVALID_AUTH_PARAMETERS, _A, "Invalid authorisation parameters (app id or secret)"),
        CodeInfo(TOKEN_EXPIRED, _A, "Access token expired"),
        CodeInfo(TOKEN_EMPTY, _A, "Access token is empty"),
        CodeInfo(TOKEN_INVALID, _A, "Access token is incorrect or has been revoked"),
        CodeInfo(AUTH_CODE_INVALID, _A, "Authorisation code or token invalid"),
        CodeInfo(ADVERTISER_RATE_LIMIT, _T, "Too many requests for this advertiser: advertiser-level QPS exceeded"),
        CodeInfo(SERVER_BUSY, _S, "Internal service busy: retry later"),
        CodeInfo(SERVER_TASK_ERROR, _S, "Internal service error: retry later"),
        CodeInfo(SERVER_WRITE_ERROR, _S, "Internal service error: retry later"),
        CodeInfo(SERVER_UPSTREAM_ERROR, _S, "Upstream service error: retry later"),
        CodeInfo(INTERNAL_ERROR, _S, "System error"),
        CodeInfo(SERVICE_ERROR, _S, "Service error"),
        CodeInfo(SERVICE_UNAVAILABLE, _S, "Service temporarily unavailable"),
        CodeInfo(UPSTREAM_TIMEOUT, _S, "Upstream timeout"),
    )
}

THROTTLE_CODES = frozenset(code for code, info in CODES.items() if info.kind is CodeKind.THROTTLE)
RETRYABLE_KINDS = frozenset({CodeKind.THROTTLE, CodeKind.SERVER})


def kind_of(code: int) -> CodeKind | None:
    """The kind of a TikTok body code, or None for a code the table does not know (and 0)."""
    info = CODES.get(code)
    return info.kind if info is not None else None


def meaning_of(code: int) -> str | None:
    info = CODES.get(code)
    return info.meaning if info is not None else None
