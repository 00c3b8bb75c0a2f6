"""Metric derivations, first-party attribution, schemas and report rendering: pure pandas, no Dagster import.

* :mod:`.derive` — sums per group (always per currency) and ratio-of-sums metrics.
* :mod:`.rollup` — ad / ad group / campaign / advertiser, hourly and daily, names as of the stat's time.
* :mod:`.attribution` — the shop's own orders matched to TikTok ads by click parameters.
* :mod:`.schemas` — pandera schemas of every derived table, for asset checks.
* :mod:`.render` — markdown tables, PNG trend charts and report tables for the Dagster UI.
"""

from tiktok_assets.metrics.attribution import attribute_first_party, match_orders
from tiktok_assets.metrics.derive import aggregate, totals, with_metrics
from tiktok_assets.metrics.entities import EntityHistory
from tiktok_assets.metrics.errors import MetricsError, MissingColumnsError, MissingCurrencyError, MixedCurrencyError
from tiktok_assets.metrics.rollup import metrics_at_level, metrics_for_levels, metrics_over_period

__all__ = [
    "EntityHistory",
    "MetricsError",
    "MissingColumnsError",
    "MissingCurrencyError",
    "MixedCurrencyError",
    "aggregate",
    "attribute_first_party",
    "match_orders",
    "metrics_at_level",
    "metrics_for_levels",
    "metrics_over_period",
    "totals",
    "with_metrics",
]
