"""TikTok Business API v1.3 body codes: the one table of what each code means and what to do about it.

Sources (tiktok_assets_tests/contract/FACTS.md section 3): TikTok's own SDK table of numeric codes,
tiktok/tiktok-business-api-sdk ``python_sdk/business_api_client/tiktok_business/tiktok_code.py``
(its constant names are quoted in each meaning), TikTok API for Business v1.3
"Return codes" and "Rate limits" (business-api.tiktok.com/portal/docs?id=1740029171730433),
and for codes that table lacks (40067, 40133) the messages recorded in
airbytehq/airbyte ``source-tiktok-marketing/unit_tests/integration/test_reports_daily_window_splitting.py``.
The client classifies errors from this table, the simulator answers with its
numbers, and postback delivery uses it to tell throttling from token problems.
Pure: no HTTP, no Dagster.

HTTP 429 is not a body code (TikTok's own limits answer HTTP 200 with one of
the THROTTLE codes; that business-api.tiktok.com sends 429 at all is
unconfirmed), but gateways in front of an API do: the client treats it as a
throttle (:data:`HTTP_TOO_MANY_REQUESTS`), which costs nothing if it never comes.
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
APP_DAILY_LIMIT = 40016
QUERY_TOO_LARGE = 40067
APP_RATE_LIMIT = 40100
INVALID_AUTH_PARAMETERS = 40101
TOKEN_EXPIRED = 40102
TOKEN_EMPTY = 40104
TOKEN_INVALID = 40105
AUTH_CODE_INVALID = 40110
REQUEST_FREQUENCY_LIMITED = 40132
ADVERTISER_RATE_LIMIT = 40133
SERVER_TASK_ERROR = 40200
TASK_NOT_READY = 40201
WRITE_CONFLICT = 40202
RPC_VALIDATION_ERROR = 40700
INTERNAL_ERROR = 50000
SYSTEM_TIMEOUT = 50002
STATISTICS_ERROR = 51001
MAINTENANCE = 60001
TOO_MANY_REQUESTS_BL = 61000

HTTP_TOO_MANY_REQUESTS = 429

_T, _A, _P, _B, _L, _S = (CodeKind.THROTTLE, CodeKind.AUTH, CodeKind.PERMISSION, CodeKind.BAD_PARAMETER,
                          CodeKind.TOO_LARGE, CodeKind.SERVER)

CODES: dict[int, CodeInfo] = {
    info.code: info
    for info in (
        CodeInfo(NO_PERMISSION, _P, "PERMISSION_ERROR: no permission for the advertiser or resource "
                                    "(also answered for a deleted advertiser)"),
        CodeInfo(BAD_PARAMETER, _B, "PARAM_ERROR: a parameter is invalid; the message names it"),
        CodeInfo(BAD_PARAMETER_VALUE, _B, "VERSION_ERROR: invalid parameter"),
        CodeInfo(APP_DAILY_LIMIT, _T, "BIZ_FC_ERROR: business frequency control, too many requests"),
        CodeInfo(QUERY_TOO_LARGE, _L, "The query is too large: reduce metrics or the time range"),
        CodeInfo(APP_RATE_LIMIT, _T, "REQUEST_TOO_FREQUENT: the app's QPS/QPM/QPD limit was reached"),
        CodeInfo(INVALID_AUTH_PARAMETERS, _A, "INVALID_PARTNER: invalid app id or secret"),
        CodeInfo(TOKEN_EXPIRED, _A, "ACCESS_TOKEN_EXPIRE: the access token has expired"),
        CodeInfo(TOKEN_EMPTY, _A, "EMPTY_ACCESS_TOKEN: no access token was sent"),
        CodeInfo(TOKEN_INVALID, _A, "INVALID_ACCESS_TOKEN: the access token is incorrect or has been revoked"),
        CodeInfo(AUTH_CODE_INVALID, _A, "AUTH_CODE_ERROR: the authorisation code is invalid"),
        CodeInfo(REQUEST_FREQUENCY_LIMITED, _T, "REQUEST_FREQUENCY_LIMITED: too many requests"),
        CodeInfo(ADVERTISER_RATE_LIMIT, _T, "The advertiser's QPS reached its limit for this path"),
        CodeInfo(SERVER_TASK_ERROR, _S, "GENERAL_TASK_ERROR: retry later"),
        CodeInfo(TASK_NOT_READY, _S, "TASK_NOT_READY: retry later"),
        CodeInfo(WRITE_CONFLICT, _S, "WRITE_CONFLICT: retry later"),
        # The name says validation; nothing public shows what triggers it, so it is retried like a server error.
        CodeInfo(RPC_VALIDATION_ERROR, _S, "RPC_VALIDATION_ERROR: an internal call failed"),
        CodeInfo(INTERNAL_ERROR, _S, "SYS_ERROR: system error"),
        CodeInfo(SYSTEM_TIMEOUT, _S, "SYS_TIMEOUT: system timeout"),
        CodeInfo(STATISTICS_ERROR, _S, "STATISTICS_ERROR: the reporting backend failed"),
        CodeInfo(MAINTENANCE, _S, "MAINTENANCE: the API is under maintenance"),
        CodeInfo(TOO_MANY_REQUESTS_BL, _T, "TOO_MANY_REQUESTS_BL: too many requests"),
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
