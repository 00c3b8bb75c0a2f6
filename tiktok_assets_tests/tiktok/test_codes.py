"""The one table of TikTok body codes: each documented code has the kind DESIGN.md's facts give it."""

from __future__ import annotations

import pytest

from tiktok_assets.tiktok import codes
from tiktok_assets.tiktok.codes import CodeKind

# Re-typed from DESIGN.md "TikTok Business API facts" and tiktok_assets_tests/contract/FACTS.md section 3 (TikTok's SDK table
# tiktok/tiktok-business-api-sdk python_sdk/business_api_client/tiktok_business/tiktok_code.py; 40133 from
# airbytehq/airbyte source-tiktok-marketing test_reports_daily_window_splitting.py).
DOCUMENTED = [
    (40100, CodeKind.THROTTLE), (40016, CodeKind.THROTTLE), (40133, CodeKind.THROTTLE), (40132, CodeKind.THROTTLE),
    (61000, CodeKind.THROTTLE), (40104, CodeKind.AUTH), (40006, CodeKind.BAD_PARAMETER),
    (40101, CodeKind.AUTH), (40102, CodeKind.AUTH), (40105, CodeKind.AUTH), (40110, CodeKind.AUTH),
    (40001, CodeKind.PERMISSION),
    (40002, CodeKind.BAD_PARAMETER),
    (40067, CodeKind.TOO_LARGE),
    (40200, CodeKind.SERVER), (40201, CodeKind.SERVER), (40202, CodeKind.SERVER), (40700, CodeKind.SERVER),
    (50000, CodeKind.SERVER), (50002, CodeKind.SERVER), (51001, CodeKind.SERVER), (60001, CodeKind.SERVER),
]


@pytest.mark.parametrize(("code", "kind"), DOCUMENTED)
def test_documented_code_has_its_kind_and_a_meaning(code: int, kind: CodeKind) -> None:
    assert codes.kind_of(code) is kind
    assert codes.CODES[code].code == code
    assert codes.CODES[code].meaning.strip()


def test_unknown_codes_and_ok_have_no_kind() -> None:
    assert codes.kind_of(0) is None
    assert codes.kind_of(41234) is None


def test_throttle_codes_are_exactly_the_documented_ones() -> None:
    assert codes.THROTTLE_CODES == {40100, 40016, 40132, 40133, 61000}
