"""How closely the simulator copies the real API's looser habits (INTERFACES.md, issue 14).

The defaults are what TikTok does by default, so a client that passes against
``Realism()`` has met TikTok's default behaviour; the other knobs switch on
shapes real answers are known to take sometimes (recorded in public
connectors' test suites; see tiktok_assets_tests/contract/), so a client can
be run against each of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

ROUTES_WITH_PAGE_INFO = frozenset({"/campaign/get/", "/adgroup/get/", "/ad/get/", "/report/integrated/get/"})


@dataclass(frozen=True)
class Realism:
    hide_deleted: bool = True
    """As TikTok: deleted campaigns, ad groups and ads (and their report rows) only when a status filter asks."""
    omit_page_info: frozenset[str] = field(default_factory=frozenset)
    """Route paths such as "/ad/get/" or "/report/integrated/get/" answered without ``data.page_info``."""
    integer_counts: bool = False
    """Count metrics (impressions, clicks...) as JSON integers instead of strings, as some real answers carry them."""
    null_metrics: bool = False
    """Empty metrics as JSON null instead of "-"."""
    numeric_ids: bool = False
    """Ids (report dimensions and entity rows) as JSON numbers: above 2**53, so a float parser loses digits."""
    lowercase_ok: bool = False
    """Success message "ok" instead of "OK"."""
    omit_request_id: bool = False
    """Envelopes without ``request_id``."""
    ads_throttle_limit: int | None = None
    """TikTok's 20,000-ad truncation, at this many ads (None: off): an AUCTION_AD report whose rows cover at least
    this many ads answers code 0 with only the newest ``limit`` of them (by create_time) and the header
    ``X-Tt-Ads-Throttle``. Id filters that narrow the report below the limit make it whole again."""
    advertiser_info: Mapping[str, Mapping[str, object | None]] = field(default_factory=dict)
    """Per advertiser id, ``/advertiser/info/`` fields replaced (None: the key is left out, as when TikTok omits
    ``currency`` or ``timezone``). Reports keep dating rows in the world's zone."""

    def __post_init__(self) -> None:
        unknown = set(self.omit_page_info) - ROUTES_WITH_PAGE_INFO
        if unknown:
            raise ValueError(f"Realism(omit_page_info=...): {', '.join(sorted(unknown))} never carry page_info; "
                             f"use some of {', '.join(sorted(ROUTES_WITH_PAGE_INFO))}")
        if self.ads_throttle_limit is not None and self.ads_throttle_limit < 1:
            raise ValueError(f"Realism(ads_throttle_limit={self.ads_throttle_limit}): at least 1, or None")
        # A plain set or list is accepted, and frozen so the dataclass stays hashable.
        object.__setattr__(self, "omit_page_info", frozenset(self.omit_page_info))


ID_FIELDS = frozenset({"advertiser_id", "campaign_id", "adgroup_id", "ad_id"})
