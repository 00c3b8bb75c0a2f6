"""Hashing against SHA-256 vectors computed independently, E.164 normalisation, no double hashing."""

from __future__ import annotations

import hashlib

import pytest

from tiktok_assets.postbacks import pii
from tiktok_assets.postbacks.pii import PiiHasher, PiiRejection, normalize_phone, sha256_hex

# Published vectors (FIPS 180-2 / NIST examples).
SHA256_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
SHA256_ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_sha256_matches_published_vectors():
    assert sha256_hex("") == SHA256_EMPTY
    assert sha256_hex("abc") == SHA256_ABC


def test_email_is_trimmed_and_lowercased_before_hashing():
    expected = hashlib.sha256(b"john.doe@example.com").hexdigest()
    hasher = PiiHasher()
    assert hasher.email("  John.Doe@Example.COM \t") == expected
    assert hasher.email("john.doe@example.com") == expected


def test_external_id_is_trimmed_and_lowercased_before_hashing():
    # " ABC " normalises to "abc", whose SHA-256 is the published FIPS vector.
    assert PiiHasher().external_id(" ABC ") == SHA256_ABC
    assert PiiHasher().external_id("Cus-42") == hashlib.sha256(b"cus-42").hexdigest()


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("(415) 555-0123", "US", "+14155550123"),
        ("415.555.0123", "US", "+14155550123"),
        ("+1 415-555-0123", "US", "+14155550123"),
        ("+14155550123", "GB", "+14155550123"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("0151 23456789", "DE", "+4915123456789"),
        ("011 49 151 23456789", "US", "+4915123456789"),
        # "00" is the international prefix of most of the world (ITU-T E.164 Annex; the UK, France, Germany...):
        # a shop's customers write it whatever the shop's own region (issue 15, defect 4).
        ("0044 20 7946 0958", "US", "+442079460958"),
        ("00 33 1 23 45 67 89", "US", "+33123456789"),
        ("0033 6 12 34 56 78", "CA", "+33612345678"),
        ("0044 20 7946 0958", "GB", "+442079460958"),
    ],
)
def test_phone_becomes_e164_then_sha256(raw, region, e164):
    assert normalize_phone(raw, region) == e164
    assert PiiHasher(default_region=region).phone(raw) == hashlib.sha256(e164.encode()).hexdigest()


@pytest.mark.parametrize("raw", ["jane doe@example.com", "jane@localhost", "@example.com", "jane@", "jane@@example.com"])
def test_emails_that_are_not_addresses_are_dropped_and_counted(raw):
    hasher = PiiHasher()
    assert hasher.email(raw) is None
    assert hasher.rejections == {PiiRejection.EMAIL_INVALID: 1}


def test_invalid_phones_become_none_with_counted_reasons_and_no_raw_value():
    hasher = PiiHasher()
    assert hasher.phone("+1 123 456 7890") is None  # US area codes never start with 1
    assert hasher.phone("+1 123 456 7890") is None
    assert hasher.phone("call me maybe") is None
    assert hasher.email("no-at-sign.example.com") is None
    assert hasher.rejections == {PiiRejection.PHONE_INVALID: 2, PiiRejection.PHONE_UNPARSEABLE: 1, PiiRejection.EMAIL_INVALID: 1}
    assert "123 456" not in repr(hasher) and "call me" not in repr(hasher)


# A session's events repeat one customer's values, good and bad, with blanks in between.
REPEATED_VALUES = [
    ("email", "Ana@Example.com"), ("email", "no-at-sign.example.com"), ("phone", "+1 123 456 7890"), ("email", "  "),
    ("phone", "(415) 555-0123"), ("phone", "call me maybe"), ("external_id", "CUS-1"), ("phone", "  "),
] * 3


def outcomes(hasher: PiiHasher, values: list[tuple[str, str]]) -> list[str | None]:
    return [getattr(hasher, kind)(raw) for kind, raw in values]


def test_a_hasher_seeing_values_again_answers_the_same_and_counts_each_rejection_again():
    hasher = PiiHasher()
    seen = outcomes(hasher, REPEATED_VALUES)
    # One hasher per value: nothing it could have kept from an earlier call.
    assert seen == [getattr(PiiHasher(), kind)(raw) for kind, raw in REPEATED_VALUES]
    assert seen[:8] == [sha256_hex("ana@example.com"), None, None, None, sha256_hex("+14155550123"), None, sha256_hex("cus-1"), None]
    assert hasher.rejections == {PiiRejection.EMAIL_INVALID: 3, PiiRejection.PHONE_INVALID: 3, PiiRejection.PHONE_UNPARSEABLE: 3}


def test_a_full_cache_starts_over_without_changing_answers_or_counts(monkeypatch):
    monkeypatch.setattr(pii, "CACHE_LIMIT", 2)
    hasher = PiiHasher()
    assert outcomes(hasher, REPEATED_VALUES) == outcomes(PiiHasher(), REPEATED_VALUES[:8]) * 3
    assert all(len(cache) <= 2 for cache in (hasher._emails, hasher._phones, hasher._external_ids))
    assert hasher.rejections == {PiiRejection.EMAIL_INVALID: 3, PiiRejection.PHONE_INVALID: 3, PiiRejection.PHONE_UNPARSEABLE: 3}


def test_values_already_hashed_are_lowercased_not_hashed_again():
    digest = hashlib.sha256(b"jane@example.com").hexdigest()
    hasher = PiiHasher()
    for method in (hasher.email, hasher.phone, hasher.external_id):
        assert method(digest.upper()) == digest
        assert method(f"  {digest} ") == digest


def test_missing_and_blank_values_are_none_without_a_rejection():
    hasher = PiiHasher()
    assert hasher.email(None) is None and hasher.email("   ") is None
    assert hasher.phone(None) is None and hasher.phone("  ") is None
    assert hasher.external_id(None) is None and hasher.external_id("") is None
    assert not hasher.rejections


def test_column_forms_treat_nan_as_missing():
    hasher = PiiHasher()
    assert hasher.emails(["A@B.co", float("nan"), None]) == [hashlib.sha256(b"a@b.co").hexdigest(), None, None]
    assert hasher.phones(["(415) 555-0123", float("nan")]) == [hashlib.sha256(b"+14155550123").hexdigest(), None]
    assert hasher.external_ids(["X1", None]) == [hashlib.sha256(b"x1").hexdigest(), None]


def test_unknown_default_region_is_refused_with_advice():
    with pytest.raises(ValueError, match="two-letter code"):
        PiiHasher(default_region="USA")
