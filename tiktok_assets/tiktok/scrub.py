"""The one scrubber: every registered secret, and its URL-encoded forms, removed from text (no Dagster import).

Secrets reach text three ways: TikTok echoes a token or the app secret in an
error ``message`` (which the client puts in its errors), httpx logs request
URLs at INFO (``/oauth2/advertiser/get/`` carries ``secret`` in the query), and
library errors quote requests. So the client registers every secret it is
given (access tokens, the app secret, Events API tokens) and scrubs wherever
it raises or logs, and :class:`SecretsFilter` scrubs the ``httpx``/``httpcore``
log records before any handler sees them.

The registry is process-wide on purpose: a secret registered by one client
must be scrubbed from whatever else logs it.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

REDACTED = "[REDACTED]"
# Shorter values are not secrets worth the risk of scrubbing ordinary words (TikTok's tokens are 40 characters).
MIN_SECRET_LENGTH = 8
# httpcore logs under children (httpcore.http11, httpcore.connection...): a filter on a parent logger does not
# see records of its children, so each is named.
HTTP_LOGGERS = ("httpx", "httpcore", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy",
                "httpcore.socks")

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def forms_of(secret: str) -> set[str]:
    """The ways ``secret`` can appear in text: as it is, URL-encoded (both ways), JSON-escaped."""
    return {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}


def register_secret(*secrets: str | None) -> None:
    """Scrub these values (and their encoded forms) from now on; empty and very short values are ignored."""
    global _pattern
    wanted = {value for value in secrets if value and len(value) >= MIN_SECRET_LENGTH}
    if wanted <= _secrets:
        return
    with _lock:
        _secrets.update(wanted)
        forms = {form for value in _secrets for form in forms_of(value)}
        # Longest first: a secret that contains another is removed whole.
        _pattern = re.compile("|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True)))


def registered_count() -> int:
    return len(_secrets)


def scrub(text: str, extra: Iterable[str | None] = ()) -> str:
    """``text`` without any registered secret (nor any of ``extra``), each replaced by ``[REDACTED]``."""
    pattern = _pattern
    if pattern is not None and text:
        text = pattern.sub(REDACTED, text)
    for value in extra:
        if value and len(value) >= MIN_SECRET_LENGTH:
            for form in sorted(forms_of(value), key=len, reverse=True):
                text = text.replace(form, REDACTED)
    return text


class SecretsFilter(logging.Filter):
    """Scrubs a record's formatted message (and exception text) of registered secrets; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _pattern is None:
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record must not raise at the caller, nor leak when reported
            record.msg, record.args = scrub(f"{record.msg} {record.args!r}"), None
            return True
        scrubbed = scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info and record.exc_info[1] is not None:
            # Formatters render the exception from exc_info: keep the text, scrubbed, and drop the live object.
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = scrub(text), None
        elif record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True


_FILTER = SecretsFilter()
_installed = False


def install_log_filter(names: Iterable[str] = HTTP_LOGGERS) -> None:
    """Put the secrets filter on the HTTP libraries' loggers (idempotent)."""
    global _installed
    if _installed and tuple(names) == HTTP_LOGGERS:
        return
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    if tuple(names) == HTTP_LOGGERS:
        _installed = True
