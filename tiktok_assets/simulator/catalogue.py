"""The simulator's side of TikTok's metric catalogue: how real answers type the values.

The names, kinds and additivity are ``tiktok_assets.tiktok.catalogue`` (one catalogue for the client and the
simulator); a report accepts every catalogued name and rejects any other with TikTok's 40002.
"""

from __future__ import annotations

from tiktok_assets.tiktok.catalogue import ADVERTISER_ONLY, CATALOGUE, MetricInfo, invalid_metrics

__all__ = ["ADVERTISER_ONLY", "CATALOGUE", "LOOSE_NUMBERS", "MetricInfo", "NULL_WHEN_EMPTY", "invalid_metrics",
           "invalid_metrics_message"]

# How the recorded real-shaped rows carry some metrics as JSON numbers rather than strings (airbytehq/airbyte
# source-tiktok-marketing unit_tests/resource/http/response/ads_reports_hourly.json,
# tiktok_assets_tests/contract/FACTS.md section 7): engagement,
# video and in-app event metrics. Basic data (spend, impressions, clicks, conversion, reach, ...) and the web page
# events stay strings there. Realism.integer_counts serves these as numbers.
LOOSE_NUMBERS: dict[str, str] = {
    **{name: "integer" for name in (
        "app_install real_time_app_install purchase total_purchase registration total_app_event_add_to_cart "
        "likes comments shares follows profile_visits clicks_on_music_disc video_play_actions video_watched_2s "
        "video_watched_6s video_views_p25 video_views_p50 video_views_p75 video_views_p100 engaged_view "
        "engagements paid_engaged_view").split()},
    **{name: "number" for name in (
        "average_video_play average_video_play_per_user profile_visits_rate cost_per_purchase cost_per_app_install "
        "real_time_app_install_cost cost_per_registration cost_per_total_app_event_add_to_cart "
        "value_per_total_purchase purchase_rate registration_rate").split()},
}
# Empty in the recording as JSON null, not "-": goals and attributes an ad may not have.
NULL_WHEN_EMPTY = frozenset({"secondary_goal_result", "cost_per_secondary_goal_result", "secondary_goal_result_rate",
                             "dpa_target_audience_type"})


def invalid_metrics_message(names: list[object]) -> str:
    """TikTok's 40002 message for them, as a real answer has it (airbytehq/airbyte issue 11375), trailing space too."""
    return ("Please correct the information in invalid metric fields and try again. "
            f"Invalid metric fields: {[str(name) for name in names]!r}. ")
