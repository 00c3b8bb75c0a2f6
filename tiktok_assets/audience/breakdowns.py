"""The AUDIENCE breakdowns we import: dimensions, levels and TikTok's latency for each (no Dagster import).

Sources (tiktok_assets_tests/contract/FACTS.md section 11):

* Dimension combinations and levels: Airbyte source-tiktok-marketing's manifest streams
  ``{campaigns,ad_group,ads,advertisers}_audience_reports{,_by_country,_by_platform}_daily`` ask for
  ``[id, stat_time_day, gender, age]``, ``[id, stat_time_day, country_code]``, ``[id, stat_time_day, platform]``
  at every level, and ``ads_audience_reports_by_province_daily`` ``[ad_id, stat_time_day, province_id]`` at ad
  level only. ``placement`` is an AUDIENCE targeting dimension in TikTok's "Data latency for reports" page
  (Doc ID 1738864894606337); at which levels TikTok serves it is UNCONFIRMED (we ask at every level).
* Metrics: TikTok's "Supported metrics for a dimension in audience reports" (Doc ID 1762404685488130) lists
  ``spend``, ``impressions``, ``clicks``, ``conversion`` (and ratios, video and engagement metrics) but no purchase,
  install or value metric; Airbyte's audience streams ask for spend, cpc, cpm, impressions, clicks, ctr and, below
  the advertiser level, conversion. Reach is a UV metric, not additive over cells: left out.
* Latency: "Data latency for reports": audience metric data with ``age``, ``gender``, ``platform``,
  ``province_id`` is Offline Data, "usually a latency of 16 hours"; non-UV metrics with ``country_code`` or
  ``placement`` 30 minutes; ``behavior_id``/``purchase_intention`` 24 hours. The "Audience reports" page
  (Doc ID 1738864928947201) says "10-12 hours of processing latency for audience data". We take the larger
  documented figure per breakdown, and 12 hours for country and placement (the general audience figure, over
  the 30 minutes of their row, since the two pages disagree).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

LEVELS = ("campaign", "adgroup", "ad")
DATA_LEVEL = {"campaign": "AUCTION_CAMPAIGN", "adgroup": "AUCTION_ADGROUP", "ad": "AUCTION_AD"}
ID_DIMENSION = {"campaign": "campaign_id", "adgroup": "adgroup_id", "ad": "ad_id"}
# TikTok's names of what we request, and the plain names the table keeps (as the BASIC import names them).
AUDIENCE_METRICS: dict[str, str] = {"spend": "spend", "impressions": "impressions", "clicks": "clicks",
                                    "conversion": "conversions"}
MONEY_METRICS = ("spend",)
COUNT_METRICS = ("impressions", "clicks", "conversions")
STORED_METRICS = (*MONEY_METRICS, *COUNT_METRICS)


@dataclass(frozen=True)
class Breakdown:
    name: str
    """The table's ``breakdown`` value, e.g. ``age_gender``."""
    dimensions: tuple[str, ...]
    """TikTok's AUDIENCE dimensions, in the order they fill ``breakdown_value`` and ``breakdown_value_2``."""
    levels: tuple[str, ...]
    latency: timedelta
    """How long after a day ends TikTok's figures for it are complete (its documented data latency)."""
    description: str

    @property
    def asset_name(self) -> str:
        return f"audience_{self.name}_daily"


BREAKDOWNS: dict[str, Breakdown] = {
    breakdown.name: breakdown
    for breakdown in (
        Breakdown("age_gender", ("age", "gender"), LEVELS, timedelta(hours=16),
                  "age bucket (AGE_13_17 ... AGE_55_100) × gender (MALE, FEMALE, NONE)"),
        Breakdown("country", ("country_code",), LEVELS, timedelta(hours=12), "country (ISO 3166 alpha-2)"),
        Breakdown("platform", ("platform",), LEVELS, timedelta(hours=16), "operating system / device platform"),
        Breakdown("placement", ("placement",), LEVELS, timedelta(hours=12),
                  "placement (TikTok, Pangle, Global App Bundle)"),
        Breakdown("province", ("province_id",), ("ad",), timedelta(hours=16),
                  "province / subregion location id (ad level only, as Airbyte asks; TikTok filters some ids out)"),
    )
}
