"""Normalise and hash personal data the way TikTok's Events API matches it (no Dagster import).

TikTok's rules: email trimmed and lowercased, then SHA-256 hex; phone in
E.164 (``+14155550123``), then SHA-256 hex; external id trimmed and
lowercased, then SHA-256 hex. A value that already is 64 hex characters was
hashed upstream: it is lowercased and never hashed again, because TikTok
could not match a hash of a hash.

A value that cannot be normalised becomes ``None`` and its reason is counted;
the raw value is never returned, logged or put in a message.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any

import phonenumbers

DEFAULT_PHONE_REGION = "US"
# Parsing a phone costs ~25 µs, normalising and hashing an email or id ~3 µs;
# a customer's values recur across the events of a session and of a day, so
# each hasher keeps its outcome per raw value (a cache cleared when full).
CACHE_LIMIT = 500_000

_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
# name@domain.tld: one @, no blanks, a dot in the domain. "jane doe@example.com" and "jane@localhost" are typos
# or test data, and TikTok could never match their hash to a person.
_EMAIL = re.compile(r"[^@\s]+@[^@\s.][^@\s]*\.[^@\s]*[^@\s.]")
# "00" is the international prefix in most of the world (ITU-T E.164): 0044 20 7946 0958 is +44 20 7946 0958.
_INTERNATIONAL_00 = re.compile(r"\s*00\s*")
_E164 = phonenumbers.PhoneNumberFormat.E164
_UNSEEN = object()


class PiiRejection(StrEnum):
    """Why a value was dropped instead of hashed."""

    EMAIL_INVALID = "email_invalid"
    PHONE_UNPARSEABLE = "phone_unparseable"
    PHONE_INVALID = "phone_invalid"
    IP_INVALID = "ip_invalid"
    IDFA_INVALID = "idfa_invalid"
    IDFV_INVALID = "idfv_invalid"
    GAID_INVALID = "gaid_invalid"
    ATT_STATUS_INVALID = "att_status_invalid"


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def already_hashed(text: str) -> bool:
    return len(text) == 64 and _SHA256_HEX.fullmatch(text) is not None


def is_email(text: str) -> bool:
    """Whether ``text`` looks like an address TikTok could match (``name@domain.tld``, no blanks)."""
    return _EMAIL.fullmatch(text) is not None


def normalize_email(raw: str) -> str | PiiRejection:
    """Trimmed and lowercased, or the reason it cannot be (not ``name@domain.tld``)."""
    email = raw.strip().lower()
    return email if is_email(email) else PiiRejection.EMAIL_INVALID


def normalize_external_id(raw: str) -> str:
    return raw.strip().lower()


def normalize_phone(raw: str, default_region: str = DEFAULT_PHONE_REGION) -> str | PiiRejection:
    """E.164 text (``+14155550123``), or the reason it cannot be.

    Numbers without a ``+`` country code are read as numbers of ``default_region``;
    one starting with ``00`` that is no number there is read as ``+`` and the rest
    (``0044 20 7946 0958`` is ``+442079460958`` whatever the region: phonenumbers
    knows only the region's own international prefix, 011 in the US).
    """
    outcome = _e164(raw, default_region)
    if isinstance(outcome, PiiRejection) and (international := _INTERNATIONAL_00.match(raw)):
        retried = _e164("+" + raw[international.end():], default_region)
        if not isinstance(retried, PiiRejection):
            return retried
    return outcome


def _e164(raw: str, region: str) -> str | PiiRejection:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return PiiRejection.PHONE_UNPARSEABLE
    if not phonenumbers.is_valid_number(number):
        return PiiRejection.PHONE_INVALID
    return phonenumbers.format_number(number, _E164)


def validate_region(region: str) -> str:
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"phone default region {region!r} is not a region code phonenumbers knows; use a two-letter code such as 'US' or 'GB'")
    return region


def _digest(raw: str | None, normalize: Callable[[str], str | PiiRejection]) -> str | PiiRejection | None:
    """SHA-256 hex of the normalised value; None for a missing or blank one; kept (lowercased) if already a digest."""
    if raw is None:
        return None
    text = raw.strip()
    if not text:
        return None
    if already_hashed(text):
        return text.lower()
    normalized = normalize(text)
    return normalized if isinstance(normalized, PiiRejection) else sha256_hex(normalized)


class PiiHasher:
    """Hashes identity fields for TikTok and counts what it had to drop.

    ``rejections`` counts drops by :class:`PiiRejection`, one per value seen
    (a bad phone on ten events counts ten times, cached or not): it is the
    figure to report next to a delivery.
    """

    def __init__(self, default_region: str = DEFAULT_PHONE_REGION) -> None:
        self.default_region = validate_region(default_region)
        self.rejections: Counter[PiiRejection] = Counter()
        self._emails: dict[str, str | PiiRejection | None] = {}
        self._phones: dict[str, str | PiiRejection | None] = {}
        self._external_ids: dict[str, str | PiiRejection | None] = {}

    def __repr__(self) -> str:
        return f"PiiHasher(default_region={self.default_region!r}, rejections={dict(self.rejections)})"

    def email(self, raw: str | None) -> str | None:
        return None if raw is None else self._counted(raw, self._emails, normalize_email)

    def phone(self, raw: str | None) -> str | None:
        return None if raw is None else self._counted(raw, self._phones, self._normalize_phone)

    def external_id(self, raw: str | None) -> str | None:
        return None if raw is None else self._counted(raw, self._external_ids, normalize_external_id)

    def _normalize_phone(self, text: str) -> str | PiiRejection:
        return normalize_phone(text, self.default_region)

    def _counted(
        self, raw: str, cache: dict[str, str | PiiRejection | None], normalize: Callable[[str], str | PiiRejection],
    ) -> str | None:
        """The digest of ``raw``, worked out once per hasher; a rejection is counted on every call, cached or not."""
        outcome = cache.get(raw, _UNSEEN)
        if outcome is _UNSEEN:
            if len(cache) >= CACHE_LIMIT:
                cache.clear()
            outcome = cache[raw] = _digest(raw, normalize)
        if isinstance(outcome, PiiRejection):
            self.rejections[outcome] += 1
            return None
        return outcome

    # Column forms, for frames and bulk jobs: NaN and other non-text cells count as missing.

    def emails(self, values: Iterable[Any]) -> list[str | None]:
        email = self.email
        return [email(value) if isinstance(value, str) else None for value in values]

    def phones(self, values: Iterable[Any]) -> list[str | None]:
        phone = self.phone
        return [phone(value) if isinstance(value, str) else None for value in values]

    def external_ids(self, values: Iterable[Any]) -> list[str | None]:
        external_id = self.external_id
        return [external_id(value) if isinstance(value, str) else None for value in values]
