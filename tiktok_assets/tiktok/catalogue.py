"""TikTok's BASIC report metric names: what they are (kind), and whether rows add up (no Dagster import).

One catalogue for both sides: the client checks a user's choice of metrics
against it before any request (``check_metrics``: an unknown name fails with
the name, never as a 40002 after minutes of paging), and the simulator accepts
exactly these names, rejecting any other with TikTok's 40002.

Sources for the names: TikTok API for Business, "Reporting > Metrics" (basic
data, attribute, in-app event, page event and video metrics), and the names
public connectors request, which must therefore be valid:
airbytehq/airbyte ``airbyte-integrations/connectors/source-tiktok-marketing/
source_tiktok_marketing/manifest.yaml`` (its base report metrics and each
stream's ``report_metrics``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Literal

MetricKind = Literal["count", "money", "ratio", "text"]


@dataclass(frozen=True)
class MetricInfo:
    name: str
    kind: MetricKind
    additive: bool
    """Whether rows add up (over ads, hours); ratios, unit costs, reach and attributes do not."""


def _metrics(kind: MetricKind, additive: bool, names: str) -> dict[str, MetricInfo]:
    return {name: MetricInfo(name, kind, additive) for name in names.split()}


CATALOGUE: dict[str, MetricInfo] = {
    # Basic data.
    **_metrics("money", True, "spend cash_spend voucher_spend"),
    **_metrics("count", True, "impressions clicks"),
    **_metrics("money", False, "cpc cpm cost_per_1000_reached"),
    **_metrics("ratio", False, "ctr frequency"),
    **_metrics("count", False, "reach"),
    # Conversions and results (attributed to the click or impression day).
    **_metrics("count", True, "conversion real_time_conversion result real_time_result secondary_goal_result "
                              "app_install real_time_app_install"),
    **_metrics("money", False, "cost_per_conversion real_time_cost_per_conversion cost_per_result "
                               "real_time_cost_per_result cost_per_secondary_goal_result real_time_app_install_cost"),
    **_metrics("ratio", False, "conversion_rate real_time_conversion_rate result_rate real_time_result_rate "
                               "secondary_goal_result_rate"),
    # Page events (web): Complete Payment is the web purchase; its value is total_complete_payment_rate.
    **_metrics("count", True, "complete_payment total_pageview onsite_shopping vta_purchase vta_conversion "
                              "cta_purchase cta_conversion"),
    **_metrics("money", True, "total_complete_payment_rate total_onsite_shopping_value"),
    **_metrics("money", False, "value_per_complete_payment"),
    # In-app events: purchases in the app and their value.
    **_metrics("count", True, "purchase"),
    **_metrics("money", True, "total_purchase_value"),
    # Video and engagement.
    **_metrics("count", True, "video_play_actions video_watched_2s video_watched_6s video_views_p25 video_views_p50 "
                              "video_views_p75 video_views_p100 profile_visits likes comments shares follows "
                              "clicks_on_music_disc"),
    **_metrics("ratio", False, "average_video_play average_video_play_per_user"),
    # More events connectors ask for (tiktok_assets_tests/contract/FACTS.md item 8: Airbyte's report_metrics
    # and funnel legs, PostHog's fields).
    **_metrics("count", True, "registration sales_lead total_app_event_add_to_cart total_purchase engaged_view "
                              "engagements paid_engaged_view engaged_view_through_conversions "
                              "paid_engagement_engaged_view engaged_view_15s paid_engaged_view_15s "
                              "paid_engagement_engaged_view_15s web_event_add_to_cart page_content_view_events "
                              "onsite_on_web_cart onsite_on_web_detail total_view_content gross_impressions"),
    **_metrics("money", True, "total_sales_lead_value"),
    **_metrics("money", False, "cost_per_app_install cost_per_purchase cost_per_registration cost_per_sales_lead "
                               "cost_per_total_sales_lead cost_per_total_app_event_add_to_cart "
                               "cost_per_complete_payment value_per_total_purchase"),
    **_metrics("ratio", False, "profile_visits_rate purchase_rate registration_rate sales_lead_rate "
                               "complete_payment_rate complete_payment_roas total_active_pay_roas conversion_rate_v2 "
                               "real_time_conversion_rate_v2"),
    # Attributes: text about the row's entity, not numbers.
    **_metrics("text", False, "advertiser_name campaign_name campaign_id adgroup_name adgroup_id ad_name ad_text "
                              "objective_type placement_type placement promotion_type tt_app_id tt_app_name "
                              "mobile_app_id dpa_target_audience_type currency app_promotion_type billing_event "
                              "campaign_budget campaign_dedicate_type split_test"),
    # Upgraded Smart+ (TikTok docs 1740302848100353, FACTS.md section 14): the automation type and the row's ids.
    **_metrics("text", False, "campaign_automation_type ad_id ad_id_v2"),
}
# Advertiser-level only: at another level TikTok rejects them as invalid metric fields (airbytehq/airbyte issue 11375).
ADVERTISER_ONLY = frozenset({"cash_spend", "voucher_spend"})

class UnknownMetricError(ValueError):
    """A chosen metric TikTok does not document (or cannot serve at the level asked); the message names it."""

    def __init__(self, message: str, names: list[str]) -> None:
        super().__init__(message)
        self.names = names


def invalid_metrics(names: list[object], level: str) -> list[object]:
    """The names TikTok would reject at ``level`` ("AD"... "ADVERTISER"), in request order."""
    return [name for name in names if not isinstance(name, str) or name not in CATALOGUE
            or (name in ADVERTISER_ONLY and level != "ADVERTISER")]




def check_metrics(names: Sequence[object], *, level: str = "AD", numeric_only: bool = False,
                  where: str = "metrics") -> list[str]:
    """``names`` as a list without duplicates, or ``UnknownMetricError`` naming every bad one before any request.

    ``level`` is the report's level ("AD"... "ADVERTISER"): cash_spend and voucher_spend exist at the advertiser
    level only. ``numeric_only`` also refuses the attribute metrics (campaign_name, ad_text...): text about the
    row's entity, not a value that can be stored as a number or summed. ``where`` names the setting in the message.
    """
    wanted = list(dict.fromkeys(names))
    problems: list[str] = []
    bad: list[str] = []
    for name in wanted:
        if not isinstance(name, str) or name not in CATALOGUE:
            close = get_close_matches(str(name), list(CATALOGUE), n=1)
            problems.append(f"{name!r} is not a TikTok BASIC report metric" + (f" (did you mean {close[0]!r}?)"
                                                                               if close else ""))
        elif name in ADVERTISER_ONLY and level != "ADVERTISER":
            problems.append(f"{name!r} exists at the advertiser level only, not at {level} level")
        elif numeric_only and CATALOGUE[name].kind == "text":
            problems.append(f"{name!r} is an attribute (text about the entity), not a number")
        else:
            continue
        bad.append(str(name))
    if problems:
        raise UnknownMetricError(f"{where}: " + "; ".join(problems) + ". See TikTok's Reporting > Metrics page "
                                 "for the names; tiktok_assets.tiktok.catalogue lists the ones accepted.", bad)
    return [str(name) for name in wanted]
