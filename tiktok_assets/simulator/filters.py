"""TikTok's status and buying-type filters: which entities and report rows a request may see.

TikTok hides deleted entities unless asked (tiktok_assets_tests/contract/FACTS.md section 1):

* entity listings take ``filtering={"primary_status": "STATUS_ALL"}`` (TikTok's SDK docs) or
  ``{"secondary_status": "AD_STATUS_ALL"}`` (Airbyte); the default is STATUS_NOT_DELETE;
* reports take ``filtering=[{"field_name": "ad_status", "filter_type": "IN", "filter_value": "[\\"STATUS_ALL\\"]"}]``
  (``adgroup_status``/``campaign_status`` likewise; ``filter_value`` is a *string* holding a JSON array); each
  level's own status defaults to STATUS_NOT_DELETE;
* listings also take ``buying_types`` (AUCTION, RESERVATION_RF, RESERVATION_TOP_VIEW; TopView alone), default
  AUCTION and RESERVATION_RF.

Parsing raises :class:`FilterError` with a message naming the bad part; endpoints answer it with 40002.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ALL, NOT_DELETE, DELETE = "STATUS_ALL", "STATUS_NOT_DELETE", "STATUS_DELETE"
# Which kinds of entity each status value lets through: (live, deleted).
_REACH = {ALL: (True, True), NOT_DELETE: (True, False), DELETE: (False, True)}
REPORT_STATUS_FIELDS = {"ad_status": "AD", "adgroup_status": "ADGROUP", "campaign_status": "CAMPAIGN"}
# Id filters narrow a report to some entities (at most 100 ids; tiktok_assets_tests/contract/FACTS.md section 2,
# bububa/tiktok-business
# api/report/integrated_get.go): the way around TikTok's 20,000-ad truncation.
REPORT_ID_FIELDS = {"ad_ids": "AD", "adgroup_ids": "ADGROUP", "campaign_ids": "CAMPAIGN"}
MAX_FILTER_IDS = 100
LEVEL_ORDER = ("AD", "ADGROUP", "CAMPAIGN", "ADVERTISER")
BUYING_TYPES = ("AUCTION", "RESERVATION_RF", "RESERVATION_TOP_VIEW")
DEFAULT_BUYING_TYPES = ("AUCTION", "RESERVATION_RF")
PREFIX = {"campaign": "CAMPAIGN", "adgroup": "ADGROUP", "ad": "AD"}


class FilterError(ValueError):
    """A filtering parameter TikTok would reject (code 40002); the message says what was wrong."""


# -- reports ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportFiltering:
    statuses: dict[str, tuple[bool, bool]] = field(default_factory=dict)
    """Per status level named: (live shown, deleted shown)."""
    ids: dict[str, frozenset[str]] = field(default_factory=dict)
    """Per level named by an id filter: the ids kept."""
    buying: frozenset[str] | None = None
    """The ``buying_type`` filter's values: RESERVATION_TOP_VIEW alone asks TopView rows (TikTok docs
    1740302848100353, "specify the value RESERVATION_TOP_VIEW for the buying_type filter")."""


def report_filtering(raw: str | None, level: str) -> ReportFiltering:
    """Report ``filtering`` (JSON text) -> the status and id filters it names, checked against ``level``."""
    if raw is None or raw == "":
        return ReportFiltering()
    try:
        items = json.loads(raw)
    except ValueError:
        raise FilterError("filtering: Not a valid list (send a JSON list of {\"field_name\", \"filter_type\", "
                          "\"filter_value\"} objects).") from None
    if not isinstance(items, list):
        raise FilterError("filtering: Not a valid list (send a JSON list of {\"field_name\", \"filter_type\", "
                          "\"filter_value\"} objects).")
    known = {**REPORT_STATUS_FIELDS, **REPORT_ID_FIELDS, "buying_type": "CAMPAIGN"}
    allowed = {name: field_level for name, field_level in known.items()
               if LEVEL_ORDER.index(field_level) >= LEVEL_ORDER.index(level)}
    found: dict[str, tuple[bool, bool]] = {}
    ids: dict[str, frozenset[str]] = {}
    buying: frozenset[str] | None = None
    for index, item in enumerate(items):
        where = f"filtering.{index}"
        if not isinstance(item, dict) or not {"field_name", "filter_type", "filter_value"} <= set(item):
            raise FilterError(f"{where}: each filter needs field_name, filter_type and filter_value.")
        field_name, filter_type = item["field_name"], item["filter_type"]
        if field_name not in known:
            raise FilterError(f"{where}.field_name: {field_name!r} is not a filter this API subset supports; "
                              f"use one of {', '.join(known)}.")
        if field_name not in allowed:
            raise FilterError(f"{where}.field_name: {field_name} cannot be used at data_level "
                              f"AUCTION_{level}.")
        if filter_type != "IN":
            raise FilterError(f"{where}.filter_type: {filter_type!r} is not valid for {field_name}; use IN.")
        values = _json_array(item["filter_value"], f"{where}.filter_value")
        if field_name == "buying_type":
            if not values or any(value not in BUYING_TYPES for value in values):
                raise FilterError(f"{where}.filter_value: buying_type takes {', '.join(BUYING_TYPES)}.")
            if "RESERVATION_TOP_VIEW" in values and len(set(values)) > 1:
                # As the listings' buying_types (UNCONFIRMED for reports): TopView is asked alone.
                raise FilterError(f"{where}.filter_value: RESERVATION_TOP_VIEW cannot be combined with other values.")
            buying = frozenset(values)
            continue
        if field_name in REPORT_ID_FIELDS:
            if len(values) > MAX_FILTER_IDS or not all(isinstance(value, (str, int)) and not isinstance(value, bool)
                                                       for value in values):
                raise FilterError(f"{where}.filter_value: {field_name} takes 1 to {MAX_FILTER_IDS} ids.")
            ids[allowed[field_name]] = frozenset(str(value) for value in values)
        else:
            found[allowed[field_name]] = _union(values, f"{where}.filter_value", (ALL, NOT_DELETE, DELETE))
    return ReportFiltering(found, ids, buying)


def report_visible(masks: Mapping[str, np.ndarray], filtering: ReportFiltering, level: str,
                   hide_deleted: bool, ancestors: Mapping[str, np.ndarray] | None = None) -> np.ndarray | None:
    """Per entity of ``level``: shown or not, from :meth:`World.deleted_masks` and the parsed filters.

    The level's own status defaults to STATUS_NOT_DELETE (or STATUS_ALL when ``hide_deleted`` is off); a
    parent's status restricts only when the request names it. Id filters keep the entities whose own or
    ancestor's id is listed (``ancestors``: :meth:`World.entity_ids`). None: everything is shown.
    """
    visible: np.ndarray | None = None
    for id_level, kept in filtering.ids.items():
        if ancestors is None:
            raise ValueError("report_visible: id filters need the entities' ancestors")
        shown = np.isin(ancestors[id_level].astype(str), np.array(sorted(kept), dtype=str))
        visible = shown if visible is None else visible & shown
    wanted = dict(filtering.statuses)
    if level in masks and level not in wanted:
        wanted[level] = _REACH[NOT_DELETE if hide_deleted else ALL]
    for status_level, (live, deleted) in wanted.items():
        if live and deleted:
            continue
        gone = masks[status_level]
        shown = gone if deleted else ~gone
        visible = shown if visible is None else visible & shown
    return visible


# -- entity listings ------------------------------------------------------------------------


def entity_filter(filtering: Mapping[str, Any], kind: str, hide_deleted: bool
                  ) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate over ``kind``'s rows (with ``secondary_status``) for an entity listing's ``filtering``."""
    prefix = PREFIX[kind]
    primary = filtering.get("primary_status")
    secondary = filtering.get("secondary_status")
    if primary is not None and primary not in (ALL, NOT_DELETE, DELETE, "STATUS_DELIVERY_OK", "STATUS_DISABLE"):
        raise FilterError(f"filtering.primary_status: {primary!r} is not supported; use one of STATUS_ALL, "
                          "STATUS_NOT_DELETE, STATUS_DELETE, STATUS_DELIVERY_OK, STATUS_DISABLE.")
    if secondary is not None and (not isinstance(secondary, str) or not secondary.startswith(f"{prefix}_STATUS_")):
        raise FilterError(f"filtering.secondary_status: {secondary!r} is not a {kind} status; "
                          f"use {prefix}_STATUS_ALL, {prefix}_STATUS_NOT_DELETE or another {prefix}_STATUS_... value.")
    default = NOT_DELETE if hide_deleted else ALL

    def keep(row: Mapping[str, Any]) -> bool:
        status = str(row.get("secondary_status", ""))
        deleted = status.endswith("_DELETE")
        if secondary is None or secondary in (f"{prefix}_STATUS_ALL", f"{prefix}_STATUS_NOT_DELETE"):
            # secondary_status *_ALL / *_NOT_DELETE are the same choice primary_status makes.
            chosen = primary or {f"{prefix}_STATUS_ALL": ALL, f"{prefix}_STATUS_NOT_DELETE": NOT_DELETE}.get(
                str(secondary), default)
        else:
            return status == secondary
        if chosen == "STATUS_DELIVERY_OK":
            return not deleted and row.get("operation_status") == "ENABLE"
        if chosen == "STATUS_DISABLE":
            return not deleted and row.get("operation_status") == "DISABLE"
        live, gone = _REACH[chosen]
        return gone if deleted else live

    return keep


def buying_types(filtering: Mapping[str, Any]) -> frozenset[str]:
    raw = filtering.get("buying_types")
    if raw is None:
        return frozenset(DEFAULT_BUYING_TYPES)
    if not isinstance(raw, list) or not raw or not all(isinstance(value, str) for value in raw):
        raise FilterError("filtering.buying_types: Not a valid list of buying types.")
    unknown = [value for value in raw if value not in BUYING_TYPES]
    if unknown:
        raise FilterError(f"filtering.buying_types: {', '.join(unknown)} not valid; use {', '.join(BUYING_TYPES)}.")
    if "RESERVATION_TOP_VIEW" in raw and len(set(raw)) > 1:
        raise FilterError("filtering.buying_types: RESERVATION_TOP_VIEW cannot be combined with other values.")
    return frozenset(raw)


# -- shared ---------------------------------------------------------------------------------


def _json_array(value: Any, where: str) -> list[Any]:
    # TikTok documents a string holding a JSON array; a plain JSON list is taken too.
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise FilterError(f"{where}: Not a valid JSON array string (e.g. \"[\\\"STATUS_ALL\\\"]\").") from None
    if not isinstance(value, list) or not value:
        raise FilterError(f"{where}: Not a valid JSON array string (e.g. \"[\\\"STATUS_ALL\\\"]\").")
    return value


def _union(values: list[Any], where: str, choices: tuple[str, ...]) -> tuple[bool, bool]:
    live = deleted = False
    for value in values:
        if value not in choices:
            raise FilterError(f"{where}: {value!r} is not supported; use {', '.join(choices)}.")
        reach_live, reach_deleted = _REACH[value]
        live, deleted = live or reach_live, deleted or reach_deleted
    return live, deleted
