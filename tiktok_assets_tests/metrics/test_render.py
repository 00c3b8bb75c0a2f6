"""Markdown tables, PNG charts and the competitor-shaped reports."""

from __future__ import annotations

import base64
from datetime import date

import numpy as np
import pandas as pd
import pytest

from tiktok_assets.metrics.attribution import attribute_first_party
from tiktok_assets.metrics.render import (
    PNG_SIGNATURE,
    app_report,
    channels_report,
    format_value,
    markdown_table,
    overview_report,
    png_markdown,
    trend_chart_png,
)


def _stat(advertiser_id: str, campaign_id: str, ad_id: str, day: date, currency: str = "USD", **values: object
          ) -> dict[str, object]:
    base = {"advertiser_id": advertiser_id, "campaign_id": campaign_id, "adgroup_id": f"{campaign_id}-g",
            "ad_id": ad_id, "stat_date": day, "currency": currency, "spend": 0.0, "impressions": 0, "clicks": 0,
            "conversions": 0, "installs": 0, "purchases": 0, "purchase_value": 0.0, "app_purchases": 0,
            "app_purchase_value": 0.0}
    return {**base, **values}


STATS = pd.DataFrame([
    _stat("A", "C1", "a1", date(2026, 3, 1), spend=1234.5, impressions=200_000, clicks=3_000, conversions=50,
          installs=120, purchases=40, purchase_value=4938.0),
    _stat("A", "C2", "a2", date(2026, 3, 1), spend=100.0, impressions=10_000, clicks=100, conversions=0,
          installs=0, purchases=0, purchase_value=0.0),
    _stat("A", "C1", "a1", date(2026, 3, 2), spend=200.0, impressions=20_000, clicks=400, conversions=10,
          installs=40, purchases=5, purchase_value=300.0),
    _stat("B", "C3", "b1", date(2026, 3, 1), currency="JPY", spend=50_000.0, impressions=40_000, clicks=800,
          conversions=20, installs=100, purchases=10, purchase_value=80_000.0),
])
HISTORY = {
    "advertisers": pd.DataFrame({"advertiser_id": ["A", "B"], "advertiser_name": ["Shop | US", "Shop JP"],
                                 "currency": ["USD", "JPY"], "timezone": ["UTC", "Asia/Tokyo"],
                                 "display_timezone": [None, None]}),
    "campaign_history": pd.DataFrame({"campaign_id": ["C1", "C2", "C3"], "advertiser_id": ["A", "A", "B"],
                                      "campaign_name": ["Summer", "Brand", "Launch"],
                                      "valid_from": pd.to_datetime(["2026-01-01"] * 3), "valid_to": [None] * 3}),
}


def test_markdown_formats_money_rates_multiples_and_counts() -> None:
    overview = overview_report(STATS, HISTORY)
    table = markdown_table(overview)
    lines = table.splitlines()
    assert lines[0].startswith("| Advertiser ID | Advertiser | Date | Currency | Ad spend | ROAS (TikTok) | CTR |")
    assert lines[1].startswith("| --- | --- | --- | --- | ---: |")
    # A on 2026-03-01: spend 1,234.50 + 100 = 1,334.50 USD; clicks 3,100 of 210,000
    # impressions = 1.48 %; ROAS 4,938 / 1,334.5 = 3.70×; CPA 1,334.5 / 50 = 26.69 USD;
    # CPC 1,334.5 / 3,100 = 0.43 USD; CPM 1,334.5 / 210,000 × 1000 = 6.35 USD.
    first_day = next(line for line in lines if "2026-03-01" in line and "| A |" in line)
    for expected in ("1,334.50 USD", "3.70×", "1.48%", "26.69 USD", "0.43 USD", "6.35 USD", "3,100", "210,000"):
        assert expected in first_day, expected
    # The pipe in the advertiser name is escaped, not a new cell.
    assert "Shop \\| US" in first_day
    # B spends yen: 50,000.00 JPY, CPC 50,000 / 800 = 62.50 JPY.
    yen = next(line for line in lines if "| B |" in line)
    assert "50,000.00 JPY" in yen and "62.50 JPY" in yen


def test_markdown_dashes_nulls_and_truncates() -> None:
    frame = pd.DataFrame({"currency": ["USD"] * 25, "cpa": [np.nan] + [2.0] * 24, "clicks": range(25)})
    table = markdown_table(frame, ["cpa", "clicks"], max_rows=3)
    rows = table.splitlines()
    assert rows[2] == "| — | 0 |"
    assert rows[3] == "| 2.00 USD | 1 |"
    assert "22 more rows (showing 3 of 25)" in table
    assert markdown_table(frame.iloc[:0]) == "_No rows._"
    with pytest.raises(KeyError, match="roas"):
        markdown_table(frame, ["roas"])


def test_format_value_rules() -> None:
    assert format_value("ctr", 0.012345) == "1.23%"
    assert format_value("revenue_discrepancy", 0.25) == "+25.00%"
    assert format_value("revenue_discrepancy", -0.5) == "-50.00%"
    assert format_value("roas", 2.5) == "2.50×"
    assert format_value("spend", 1234567.891, "EUR") == "1,234,567.89 EUR"
    assert format_value("impressions", 1234567) == "1,234,567"
    assert format_value("ipm", 2.9703) == "2.97"
    assert format_value("stat_hour_utc", pd.Timestamp("2026-03-01 13:00")) == "2026-03-01 13:00"
    assert format_value("cpi", None) == "—"


def test_trend_chart_is_a_png_with_one_panel_per_currency() -> None:
    png = trend_chart_png(STATS)
    assert png.startswith(PNG_SIGNATURE)
    one_currency = trend_chart_png(STATS[STATS["currency"] == "USD"])
    # Two currencies → two stacked panels → a taller image (PNG height: bytes 20–24 of the IHDR chunk).
    assert int.from_bytes(png[20:24], "big") > int.from_bytes(one_currency[20:24], "big")
    assert trend_chart_png(STATS.iloc[:0]).startswith(PNG_SIGNATURE)


def test_png_markdown_inlines_the_image() -> None:
    png = trend_chart_png(STATS)
    markdown = png_markdown(png, alt="Spend")
    assert markdown.startswith("![Spend](data:image/png;base64,")
    assert base64.b64decode(markdown.split(",", 1)[1].rstrip(")")) == png
    with pytest.raises(ValueError, match="PNG"):
        png_markdown(b"GIF89a")


def test_channels_report_sums_the_period_and_shows_both_revenues() -> None:
    ads = pd.DataFrame({"ad_id": ["a1", "a2"], "adgroup_id": ["C1-g", "C2-g"], "campaign_id": ["C1", "C2"],
                        "advertiser_id": ["A", "A"], "valid_from": pd.to_datetime(["2026-01-01"] * 2),
                        "valid_to": [None, None]})
    events = pd.DataFrame({"event_id": ["e1"], "event_name": ["Placed Order"], "value": [1000.0],
                           "currency": ["USD"], "event_time": pd.to_datetime(["2026-03-02 12:00"], utc=True),
                           "cvg_adid": ["a1"]})
    history = {**HISTORY, "ad_history": ads, "advertisers": HISTORY["advertisers"].iloc[:1]}
    first_party = attribute_first_party(events, history)
    report = channels_report(STATS[STATS["advertiser_id"] == "A"], "campaign", history, first_party)
    assert list(report["campaign_id"]) == ["C1", "C2"]  # biggest spend first
    summer = report.iloc[0]
    # C1 over both days: spend 1,234.5 + 200 = 1,434.5; purchases 45; TikTok revenue 5,238.
    assert summer["spend"] == pytest.approx(1434.5)
    assert summer["purchases"] == 45
    assert summer["roas"] == pytest.approx(5238 / 1434.5)
    assert summer["cpa"] == pytest.approx(1434.5 / 60)  # 50 + 10 conversions
    assert summer["first_party_revenue"] == 1000.0
    assert summer["first_party_roas"] == pytest.approx(1000 / 1434.5)
    assert summer["campaign_name"] == "Summer"
    assert (summer["period_start"], summer["period_end"]) == (date(2026, 3, 1), date(2026, 3, 2))
    assert "Revenue (first-party)" in markdown_table(report)


def test_app_report_install_metrics() -> None:
    report = app_report(STATS, "campaign", HISTORY)
    assert list(report["campaign_id"]) == ["C1", "C3", "C2"]  # most installs first: 160, 100, 0
    summer = report.iloc[0]
    # C1: installs 120 + 40 = 160; spend 1,434.5; impressions 220,000; clicks 3,400.
    assert summer["cpi"] == pytest.approx(1434.5 / 160)
    assert summer["ipm"] == pytest.approx(160 / 220_000 * 1000)
    assert summer["click_to_install_rate"] == pytest.approx(160 / 3400)
    brand = report.set_index("campaign_id").loc["C2"]
    assert np.isnan(brand["cpi"]) and brand["ipm"] == 0.0
    with pytest.raises(ValueError, match="overview_report"):
        app_report(STATS, "advertiser")  # type: ignore[arg-type]
