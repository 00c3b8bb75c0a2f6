"""TikTok-attributed revenue per campaign type: web Complete Payment or in-app purchases (no Dagster import).

TikTok reports two kinds of purchase, from two different event sources, and
the warehouse keeps both (``tiktok_assets.warehouse.tables``):

* web: ``complete_payment`` / ``total_complete_payment_rate`` — Complete
  Payment events from the pixel or the Events API (``purchases``,
  ``purchase_value``);
* in-app: ``purchase`` / ``total_purchase_value`` — purchase events from the
  app's SDK or its MMP (``app_purchases``, ``app_purchase_value``).

(TikTok's metric definitions, with sources: ``tiktok_assets_tests/contract/FACTS.md`` §4.)

**The rule.** A row's TikTok-attributed purchases and revenue
(``tiktok_purchases``, ``tiktok_revenue``, which ROAS divides by spend) are:

1. the in-app ones for an **app campaign**: its ``objective_type`` is
   ``APP_PROMOTION`` (the app objective of API v1.3, app install and app
   retargeting alike: those are its ``app_promotion_type``) or the deprecated
   ``APP_INSTALL`` that older campaigns still carry (``APP_OBJECTIVES``;
   bububa/tiktok-business ``enum/objective_type.go``, TikTok's objective enum);
2. the web ones for **any other known campaign** (``WEB_CONVERSIONS``,
   ``PRODUCT_SALES``, traffic, reach, ...);
3. web **plus** in-app for a campaign whose type is **unknown**: no campaign
   history for its id (metrics computed before the first entity snapshot, an
   ad whose parents nobody knows), or the deprecated ``CONVERSIONS``
   objective, which covered "website or app" alike (``AMBIGUOUS_OBJECTIVES``).
   The two come from different events (pixel vs SDK; TikTok "reports each
   conversion event separately per channel", Airbyte's
   ``test_conversion_metrics.py``), so adding them counts no purchase twice,
   and neither kind is lost for want of a label.

The objective is read from the campaign's latest version: TikTok does not let
a campaign's objective change. First-party revenue (the shop's own orders) is
never mixed in here: it stays in ``first_party_revenue``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from tiktok_assets.metrics.entities import EntityHistory, as_id, latest_versions

TIKTOK_PURCHASES = "tiktok_purchases"
TIKTOK_REVENUE = "tiktok_revenue"
WEB_COLUMNS = {TIKTOK_PURCHASES: "purchases", TIKTOK_REVENUE: "purchase_value"}
APP_COLUMNS = {TIKTOK_PURCHASES: "app_purchases", TIKTOK_REVENUE: "app_purchase_value"}
SOURCE_COLUMNS = (*WEB_COLUMNS.values(), *APP_COLUMNS.values())

APP_OBJECTIVES = frozenset({"APP_PROMOTION", "APP_INSTALL"})
AMBIGUOUS_OBJECTIVES = frozenset({"CONVERSIONS"})

# Campaign kind codes, one int8 per row.
WEB, APP, UNKNOWN = 0, 1, -1


def campaign_kind(objective_type: object) -> int:
    """APP, WEB or UNKNOWN (no objective known) for one campaign's ``objective_type``."""
    if objective_type is None or (isinstance(objective_type, float) and objective_type != objective_type):
        return UNKNOWN
    text = str(objective_type).strip().upper()
    if not text or text in AMBIGUOUS_OBJECTIVES:
        return UNKNOWN
    return APP if text in APP_OBJECTIVES else WEB


def campaign_kinds(history: EntityHistory) -> dict[str, int]:
    """campaign_id -> APP / WEB / UNKNOWN from each campaign's latest version in ``history``."""
    campaigns = history.campaigns
    if campaigns is None or campaigns.empty or "objective_type" not in campaigns.columns:
        return {}
    latest = latest_versions(campaigns, "campaign_id")
    return {campaign_id: campaign_kind(objective) for campaign_id, objective in
            zip(as_id(latest["campaign_id"]), latest["objective_type"], strict=True)}


def row_kinds(codes: np.ndarray, campaign_ids: pd.Index, kinds: Mapping[str, int]) -> np.ndarray:
    """The kind of each row from its factorised campaign id (``codes`` into ``campaign_ids``; past the end: null)."""
    by_campaign = np.array([kinds.get(str(campaign_id), UNKNOWN) for campaign_id in campaign_ids] + [UNKNOWN],
                           dtype=np.int8)
    return by_campaign[np.minimum(codes, len(campaign_ids))]


def attributed(columns: Mapping[str, np.ndarray], kinds: np.ndarray | None) -> dict[str, np.ndarray]:
    """Per-row ``tiktok_purchases`` and ``tiktok_revenue`` (float64) from the four source columns and row kinds.

    ``columns`` holds the source columns as float64 with nulls as 0; ``kinds``
    None means no campaign type is known (rule 3 for every row).
    """
    result = {}
    for name in (TIKTOK_PURCHASES, TIKTOK_REVENUE):
        web, app = columns[WEB_COLUMNS[name]], columns[APP_COLUMNS[name]]
        if kinds is None:
            result[name] = web + app
        else:
            result[name] = np.where(kinds == APP, app, np.where(kinds == WEB, web, web + app))
    return result
