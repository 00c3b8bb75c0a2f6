"""Tracking parameters read from ad landing URLs."""

from __future__ import annotations

import json

import pytest

from tiktok_assets.warehouse.landing_url import parse_landing_page_url


@pytest.mark.parametrize("url", [None, "", "   ", float("nan")])
def test_no_url_means_no_tracking(url: object) -> None:
    parsed = parse_landing_page_url(url)
    assert parsed["has_tracking"] is False and parsed["has_ttclid"] is False
    assert parsed["tracking_parameters"] is None and parsed["utm_source"] is None


def test_a_url_without_query_has_empty_parameters() -> None:
    parsed = parse_landing_page_url("https://shop.example/products/1#reviews")
    assert parsed["tracking_parameters"] == "{}" and parsed["has_tracking"] is False


def test_cvg_parameters_keep_tiktok_macros_verbatim() -> None:
    parsed = parse_landing_page_url(
        "https://shop.example/p?cvg_source=tiktok&cvg_adid=__CID__&cvg_cid=__CAMPAIGN_ID__&ref=ad"
    )
    assert (parsed["cvg_source"], parsed["cvg_adid"], parsed["cvg_cid"]) == ("tiktok", "__CID__", "__CAMPAIGN_ID__")
    assert parsed["has_tracking"] is True
    assert json.loads(parsed["tracking_parameters"]) == {
        "cvg_source": "tiktok", "cvg_adid": "__CID__", "cvg_cid": "__CAMPAIGN_ID__", "ref": "ad",
    }


def test_encoded_values_are_decoded_once() -> None:
    parsed = parse_landing_page_url(
        "https://shop.example/?utm_source=tik%20tok&utm_campaign=black+friday&utm_term=50%25%20off"
        "&cvg_adid=%5F%5FCID%5F%5F&utm_content=a%2520b"
    )
    assert parsed["utm_source"] == "tik tok"
    assert parsed["utm_campaign"] == "black friday"
    assert parsed["utm_term"] == "50% off"
    assert parsed["cvg_adid"] == "__CID__"
    assert parsed["utm_content"] == "a%20b"  # double-encoded stays encoded once


def test_query_inside_a_hash_route_counts_and_the_real_query_wins() -> None:
    parsed = parse_landing_page_url("https://shop.example/?utm_source=real#/product/1?utm_source=hash&utm_medium=paid")
    assert (parsed["utm_source"], parsed["utm_medium"]) == ("real", "paid")


def test_names_are_case_insensitive_and_the_first_value_wins() -> None:
    parsed = parse_landing_page_url("https://shop.example/?UTM_Source=TikTok&utm_source=other")
    assert parsed["utm_source"] == "TikTok"
    assert json.loads(parsed["tracking_parameters"]) == {"UTM_Source": "TikTok", "utm_source": "other"}


@pytest.mark.parametrize(
    ("query", "has_ttclid", "has_tracking"),
    [
        ("ttclid=__CALLBACK_PARAM__", True, True),
        ("ttclid=", False, False),  # an empty click id ties nothing to TikTok
        ("utm_source=tiktok", False, True),
        ("utm_medium=paid&utm_campaign=x", False, False),
        ("cvg_source=tiktok", False, False),  # names TikTok but no ad
        ("cvg_adid=123", False, True),
    ],
)
def test_has_tracking_rule(query: str, has_ttclid: bool, has_tracking: bool) -> None:
    parsed = parse_landing_page_url(f"https://shop.example/landing?{query}")
    assert (parsed["has_ttclid"], parsed["has_tracking"]) == (has_ttclid, has_tracking)


def test_malformed_hosts_do_not_stop_parameter_parsing() -> None:
    parsed = parse_landing_page_url("http://[not-an-ipv6/p?utm_source=tiktok")
    assert parsed["utm_source"] == "tiktok" and parsed["has_tracking"] is True
