"""Tracking parameters of an ad's landing page URL (pure, no database).

Advertisers tag TikTok landing URLs so first-party orders can be credited to
the ad: UTM tags, ``cvg_*`` parameters such as
``cvg_source=tiktok&cvg_adid=__CID__&cvg_cid=__CAMPAIGN_ID__`` (TikTok
replaces the ``__MACRO__`` at click time, so the stored URL keeps the macro),
and ``ttclid`` (TikTok's click id, usually ``ttclid=__CALLBACK_PARAM__``).

Rules:

* Parameters come from the query string. Single-page shops often put them
  after a hash route (``https://shop.example/#/p/1?utm_source=tiktok``), so a
  query inside the fragment counts too; the real query string wins a tie.
* Names are matched case-insensitively (``UTM_Source`` is ``utm_source``);
  values are percent-decoded once and otherwise kept verbatim, macros included.
  A repeated parameter keeps its first value.
* ``has_ttclid``: a ``ttclid`` parameter with a non-empty value.
* ``has_tracking``: the URL carries at least one identifier that can tie an
  order to TikTok: a non-empty ``cvg_adid``, ``ttclid`` or ``utm_source``.
  ``utm_source`` alone is enough because many shops attribute by source;
  ``cvg_source`` without ``cvg_adid`` names no ad, so it is not.
* ``tracking_parameters`` is a JSON object of every query parameter (original
  names, first values), ``"{}"`` for a URL without any, NULL without a URL.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

TRACKED_FIELDS = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "cvg_source",
    "cvg_adid",
    "cvg_cid",
)


def parse_landing_page_url(url: str | None) -> dict[str, object]:
    """The ad_history tracking columns for ``url``: utm_*, cvg_*, has_ttclid, tracking_parameters, has_tracking."""
    if not isinstance(url, str) or not url.strip():
        return {**dict.fromkeys(TRACKED_FIELDS), "has_ttclid": False, "tracking_parameters": None, "has_tracking": False}
    parameters = query_parameters(url.strip())
    by_name = {}
    for name, value in parameters.items():
        by_name.setdefault(name.lower(), value)
    fields: dict[str, object] = {name: by_name.get(name) or None for name in TRACKED_FIELDS}
    has_ttclid = bool(by_name.get("ttclid"))
    fields["has_ttclid"] = has_ttclid
    fields["tracking_parameters"] = json.dumps(parameters, ensure_ascii=False, sort_keys=True)
    fields["has_tracking"] = bool(fields["cvg_adid"] or has_ttclid or fields["utm_source"])
    return fields


def query_parameters(url: str) -> dict[str, str]:
    """Every query parameter of ``url`` (first value of each), including a query inside the fragment."""
    # Split by hand rather than urlsplit: it raises on odd netlocs ("http://[bad")
    # and a landing URL is worth reading whatever its host looks like.
    before_fragment, _, fragment = url.partition("#")
    query = before_fragment.partition("?")[2]
    fragment_query = fragment.partition("?")[2]
    parameters: dict[str, str] = {}
    for part in (query, fragment_query):
        for name, value in parse_qsl(part, keep_blank_values=True):
            if name and name not in parameters:
                parameters[name] = value.strip()
    return parameters
