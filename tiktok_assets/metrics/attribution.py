"""First-party attribution: the shop's own orders matched to TikTok ads by click parameters (no Dagster import).

An order carries the tracking parameters its session landed with. Rules, first
match wins:

1. ``cvg_adid`` equals a known ad_id → **ad** level (its ad group, campaign,
   advertiser from the ad history);
2. else ``cvg_cid`` equals a known campaign_id → **campaign** level;
3. else ``utm_source`` is tiktok and ``utm_campaign`` equals a campaign's id or
   one of its names, past or present (case-insensitive; URLs keep the name the
   ad was created with) → **campaign** level; a name shared by several
   campaigns is ambiguous and falls through;
4. else a TikTok click without an identifiable campaign (``ttclid``, or
   ``utm_source``/``cvg_source`` tiktok) → **advertiser** level when exactly
   one advertiser is in scope, otherwise ``unattributed``.

Rules 1 and 2 ignore ids whose ``cvg_source`` names another network
(``cvg_source=facebook&cvg_adid=…``): ad ids of different networks are all
long numbers and may collide.

Levels compose additively. Each order is counted once, at the finest level it
was matched at, so:

* ad level holds only ad-matched orders;
* a campaign's first-party revenue = its ads' + its campaign-only orders;
* an advertiser's = its campaigns' + its advertiser-only orders.

The rollup (:mod:`tiktok_assets.metrics.rollup`) applies exactly this: at each
level it counts the rows whose id for that level is known
(:func:`rows_counted_at`), so every level adds up to the one above it plus
that level's own orders, and nothing is counted twice.

Dates are the advertiser's local dates, like TikTok's reports, so an order and
the spend of the same local day share a row. An order in a currency other than
the advertiser's keeps its own currency row and is never converted; an order
without a currency is taken to be in its advertiser's currency (shops that sell
in one currency omit it).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from enum import StrEnum
from typing import Literal

import numpy as np
import pandas as pd

from tiktok_assets.metrics.derive import FIRST_PARTY_ORDERS, FIRST_PARTY_REVENUE
from tiktok_assets.metrics.entities import (
    UNKNOWN_PARENT_ID,
    EntityHistory,
    as_id,
    latest_versions,
    lookup,
    row_zones,
    utc_to_local,
)
from tiktok_assets.metrics.errors import MissingColumnsError
from tiktok_assets.spend.pull import local_to_utc


class Attribution(StrEnum):
    """Where an order was matched. The first three are levels of the first-party tables."""

    AD = "ad"
    CAMPAIGN = "campaign"
    ADVERTISER = "advertiser"
    # A TikTok click, but several advertisers are in scope and nothing says which.
    UNATTRIBUTED = "unattributed"
    # No TikTok parameter at all: another channel's order.
    NOT_TIKTOK = "not_tiktok"


ATTRIBUTED_LEVELS = (Attribution.AD, Attribution.CAMPAIGN, Attribution.ADVERTISER)

# Web "Placed Order", app "Purchase", and the Events API's old "CompletePayment".
# Recurring subscription orders are left out: no ad click brought them.
DEFAULT_ORDER_EVENTS = frozenset({"Placed Order", "Purchase", "CompletePayment"})

TIKTOK_SOURCE = "tiktok"
ID_COLUMNS = ("advertiser_id", "campaign_id", "adgroup_id", "ad_id")
DAILY_KEYS = (*ID_COLUMNS, "stat_date", "currency", "attribution_level")
HOURLY_KEYS = (*ID_COLUMNS, "stat_date", "stat_hour_utc", "stat_hour_local", "currency", "attribution_level")
LEVEL_ID_COLUMN = {"ad": "ad_id", "adgroup": "adgroup_id", "campaign": "campaign_id", "advertiser": "advertiser_id"}

_REQUIRED_EVENT_COLUMNS = ("event_id", "event_name", "event_time", "value", "currency")
# Compared case-insensitively; cvg_adid/cvg_cid are ids and compared as they are.
_TEXT_PARAMETERS = ("utm_source", "utm_campaign", "cvg_source", "ttclid")
ORDER_COLUMNS = (
    "event_id", "order_id", "source", "event_name", "event_time", "customer_id", "value", "currency",
    "attribution_level", *ID_COLUMNS, "stat_date", "stat_hour_utc", "stat_hour_local",
)


def match_orders(
    events: pd.DataFrame,
    entity_history: EntityHistory | Mapping[str, pd.DataFrame | None],
    *,
    order_event_names: Collection[str] = DEFAULT_ORDER_EVENTS,
) -> pd.DataFrame:
    """One row per order with where it was attributed (``attribution_level``) and the local date/hour.

    Keeps unattributed and non-TikTok orders (with null ids) so callers can
    count them; :func:`attribute_first_party` drops them.
    """
    missing = [column for column in _REQUIRED_EVENT_COLUMNS if column not in events.columns]
    if missing:
        raise MissingColumnsError("first_party_events", missing, "pass the first_party_events table")
    history = EntityHistory.coerce(entity_history)
    orders = _unique_orders(events, order_event_names)
    level, ids = _match(orders, history)
    advertiser_ids = pd.Series(ids["advertiser_id"], dtype=object)
    event_utc = pd.to_datetime(orders["event_time"], utc=True).dt.tz_localize(None).reset_index(drop=True)
    event_local = utc_to_local(event_utc, advertiser_ids, history.advertiser_zones())
    hour_local = event_local.dt.floor("h")
    currency = orders["currency"].reset_index(drop=True).astype("string").str.strip().str.upper().replace("", pd.NA)
    advertiser_currency = pd.Series(lookup(history.advertiser_values("currency"), advertiser_ids), dtype=object)
    currency = currency.astype(object).where(currency.notna(), advertiser_currency)
    currency = currency.where(currency.notna(), None)

    result = pd.DataFrame(
        {
            "event_id": orders["event_id"].to_numpy(),
            "order_id": _optional(orders, "order_id"),
            "source": _optional(orders, "source"),
            "event_name": orders["event_name"].to_numpy(),
            "event_time": event_utc.to_numpy(),
            "customer_id": _optional(orders, "customer_id"),
            "value": pd.to_numeric(orders["value"], errors="coerce").to_numpy(dtype=np.float64),
            "currency": currency.to_numpy(dtype=object),
            "attribution_level": level,
            **ids,
            "stat_date": event_local.dt.date.to_numpy(dtype=object),
            "stat_hour_utc": _local_hours_to_utc(hour_local, advertiser_ids, history.advertiser_zones()),
            "stat_hour_local": hour_local.to_numpy(),
        },
        columns=list(ORDER_COLUMNS),
    )
    return result


def attribute_first_party(
    events: pd.DataFrame,
    entity_history: EntityHistory | Mapping[str, pd.DataFrame | None],
    *,
    grain: Literal["daily", "hourly"] = "daily",
    order_event_names: Collection[str] = DEFAULT_ORDER_EVENTS,
) -> pd.DataFrame:
    """First-party orders and revenue per (advertiser, campaign, ad group, ad, local date, currency, level).

    ``campaign_id``/``adgroup_id``/``ad_id`` are null above the level the
    orders were matched at. ``grain="hourly"`` adds ``stat_hour_utc`` and
    ``stat_hour_local`` (the advertiser's local hour, like the hourly stats) for
    hourly rollups. Unattributed and non-TikTok orders are left out: count
    them with :func:`match_orders`.
    """
    if grain not in ("daily", "hourly"):
        raise ValueError(f"grain must be 'daily' or 'hourly', got {grain!r}")
    orders = match_orders(events, entity_history, order_event_names=order_event_names)
    return first_party_totals(orders, grain=grain)


def first_party_totals(orders: pd.DataFrame, *, grain: Literal["daily", "hourly"] = "daily") -> pd.DataFrame:
    """Sum matched orders (from :func:`match_orders`) per attribution key at ``grain``."""
    keys = list(DAILY_KEYS if grain == "daily" else HOURLY_KEYS)
    attributed = orders[orders["attribution_level"].isin([level.value for level in ATTRIBUTED_LEVELS])]
    if attributed.empty:
        empty = {key: attributed[key].reset_index(drop=True) for key in keys}
        return pd.DataFrame(
            {**empty, FIRST_PARTY_ORDERS: np.zeros(0, dtype=np.int64), FIRST_PARTY_REVENUE: np.zeros(0)})
    # dropna=False: null ids are the point (campaign-only orders have no ad).
    grouped = attributed.groupby(keys, dropna=False, sort=True)["value"]
    summed = pd.DataFrame({FIRST_PARTY_ORDERS: grouped.size(), FIRST_PARTY_REVENUE: grouped.sum(min_count=0)})
    summed = summed.reset_index()
    summed[FIRST_PARTY_ORDERS] = summed[FIRST_PARTY_ORDERS].astype(np.int64)
    summed[FIRST_PARTY_REVENUE] = summed[FIRST_PARTY_REVENUE].astype(np.float64)
    for column in ID_COLUMNS:
        summed[column] = summed[column].astype(object).where(summed[column].notna(), None)
    return summed


def rows_counted_at(first_party: pd.DataFrame, level: str) -> pd.DataFrame:
    """The first-party rows that belong to an entity of ``level``: those whose id for that level is known.

    At ad level that is ad-matched orders only; at campaign level ad- and
    campaign-matched ones; at advertiser level all of them.
    """
    try:
        column = LEVEL_ID_COLUMN[level]
    except KeyError:
        raise ValueError(f"level must be one of {', '.join(LEVEL_ID_COLUMN)}, got {level!r}") from None
    return first_party[first_party[column].notna()]


def _match(orders: pd.DataFrame, history: EntityHistory) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The attribution level of each order and its advertiser/campaign/ad group/ad ids (rules in the module doc)."""
    params = {name: _parameter(orders, name) for name in _TEXT_PARAMETERS}
    other_network = (params["cvg_source"].notna() & (params["cvg_source"] != TIKTOK_SOURCE)).to_numpy()
    utm_tiktok = (params["utm_source"] == TIKTOK_SOURCE).to_numpy()

    ads = _parents(history.ads, "ad_id", ["adgroup_id", "campaign_id", "advertiser_id"])
    campaigns = _parents(history.campaigns, "campaign_id", ["advertiser_id"])
    ad_row = _positions(ads["ad_id"], _raw_id(orders, "cvg_adid"))
    campaign_row = _positions(campaigns["campaign_id"], _raw_id(orders, "cvg_cid"))
    named_row = _positions(campaigns["campaign_id"], _campaign_by_utm(history.campaigns, params["utm_campaign"]))

    by_ad = (ad_row >= 0) & ~other_network
    by_campaign_id = ~by_ad & (campaign_row >= 0) & ~other_network
    by_campaign_name = ~by_ad & ~by_campaign_id & utm_tiktok & (named_row >= 0)
    tiktok_click = params["ttclid"].notna().to_numpy() | utm_tiktok | (params["cvg_source"] == TIKTOK_SOURCE).to_numpy()
    in_scope = history.advertiser_ids()
    level = np.select(
        [by_ad, by_campaign_id, by_campaign_name, tiktok_click & (len(in_scope) == 1), tiktok_click],
        [Attribution.AD.value, Attribution.CAMPAIGN.value, Attribution.CAMPAIGN.value,
         Attribution.ADVERTISER.value, Attribution.UNATTRIBUTED.value],
        Attribution.NOT_TIKTOK.value,
    ).astype(object)

    ids = {column: np.full(len(orders), None, dtype=object) for column in ID_COLUMNS}
    for column in ID_COLUMNS:
        matched = ads[column].to_numpy(dtype=object)[ad_row[by_ad]]
        # Same rule as the stats rollup: a parent the ad history does not know is "unknown", not missing.
        ids[column][by_ad] = np.where(pd.isna(matched), UNKNOWN_PARENT_ID, matched)
    campaign_match = np.where(by_campaign_id, campaign_row, np.where(by_campaign_name, named_row, -1))
    at_campaign = campaign_match >= 0
    for column in ("campaign_id", "advertiser_id"):
        ids[column][at_campaign] = campaigns[column].to_numpy(dtype=object)[campaign_match[at_campaign]]
    if len(in_scope) == 1:
        ids["advertiser_id"][level == Attribution.ADVERTISER.value] = in_scope[0]
    return level, ids


def _unique_orders(events: pd.DataFrame, order_event_names: Collection[str]) -> pd.DataFrame:
    orders = events[events["event_name"].isin(list(order_event_names))]
    # Collectors retry, and web and server may both send an order: counting it
    # twice would double its revenue. Keep the earliest event per event_id,
    # then per order_id.
    orders = orders.assign(_time=pd.to_datetime(orders["event_time"], utc=True)).sort_values("_time", kind="stable")
    orders = orders.drop_duplicates("event_id", keep="first")
    if "order_id" in orders.columns:
        has_order_id = orders["order_id"].notna()
        orders = pd.concat([
            orders[has_order_id].drop_duplicates("order_id", keep="first"), orders[~has_order_id]
        ]).sort_values("_time", kind="stable")
    return orders.drop(columns="_time").reset_index(drop=True)


def _parameter(orders: pd.DataFrame, name: str) -> pd.Series:
    """A click parameter trimmed and lower-cased, None when absent or empty."""
    if name not in orders.columns:
        return pd.Series(None, index=range(len(orders)), dtype=object)
    values = orders[name].astype(object).reset_index(drop=True)
    cleaned = values.where(values.isna(), values.astype(str).str.strip().str.lower())
    return cleaned.where(cleaned.notna() & (cleaned != ""), None).astype(object)


def _raw_id(orders: pd.DataFrame, name: str) -> pd.Series:
    """An id parameter trimmed but case kept (TikTok ids are digits; no folding needed)."""
    if name not in orders.columns:
        return pd.Series(None, index=range(len(orders)), dtype=object)
    values = as_id(orders[name].reset_index(drop=True))
    stripped = values.where(values.isna(), values.astype(str).str.strip())
    return stripped.where(stripped.notna() & (stripped != ""), None).astype(object)


def _optional(orders: pd.DataFrame, name: str) -> np.ndarray:
    if name not in orders.columns:
        return np.full(len(orders), None, dtype=object)
    return orders[name].to_numpy(dtype=object)


def _parents(history: pd.DataFrame | None, id_column: str, parent_columns: list[str]) -> pd.DataFrame:
    columns = [id_column, *parent_columns]
    if history is None or history.empty:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in columns})
    latest = latest_versions(history, id_column)
    frame = pd.DataFrame({column: latest[column] if column in latest.columns else None for column in columns})
    for column in columns:
        frame[column] = as_id(frame[column].astype(object)).to_numpy(dtype=object)
    for column in parent_columns:
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame.reset_index(drop=True)


def _positions(known_ids: pd.Series, wanted: pd.Series) -> np.ndarray:
    """Row of each wanted id in ``known_ids`` (-1 when absent or null)."""
    if known_ids.empty:
        return np.full(len(wanted), -1, dtype=np.int64)
    positions = pd.Index(known_ids.astype(object)).get_indexer(wanted.astype(object))
    return np.where(wanted.isna().to_numpy(), -1, positions)


def _campaign_by_utm(campaign_history: pd.DataFrame | None, utm_campaign: pd.Series) -> pd.Series:
    """campaign_id named by each (lower-cased) utm_campaign, None when unknown or ambiguous."""
    if campaign_history is None or campaign_history.empty:
        return pd.Series(None, index=utm_campaign.index, dtype=object)
    ids = as_id(campaign_history["campaign_id"].reset_index(drop=True))
    names = campaign_history.get("campaign_name", pd.Series(None, index=campaign_history.index))
    names = names.reset_index(drop=True).astype(object)
    names = names.where(names.isna(), names.astype(str).str.strip().str.lower())
    aliases = pd.concat([
        pd.DataFrame({"alias": ids.str.lower(), "campaign_id": ids}),
        pd.DataFrame({"alias": names, "campaign_id": ids}),
    ]).dropna().drop_duplicates()
    campaigns_per_alias = aliases.groupby("alias")["campaign_id"].transform("size")
    unambiguous = aliases[campaigns_per_alias == 1].set_index("alias")["campaign_id"]
    return utm_campaign.map(unambiguous).astype(object).where(lambda matched: matched.notna(), None)


def _local_hours_to_utc(hour_local: pd.Series, advertiser_ids: pd.Series, zones: Mapping[str, str | None]
                        ) -> np.ndarray:
    """UTC start of each local hour, resolved the way the hourly stats are (pull.local_to_utc).

    In zones with half-hour offsets the local hour starts at :30 UTC, so the
    UTC floor of the order time would not meet the stats row.
    """
    zone_of_row = row_zones(advertiser_ids, zones)
    result = np.full(len(hour_local), np.datetime64("NaT"), dtype="datetime64[ns]")
    for zone in pd.unique(zone_of_row):
        rows = zone_of_row == zone
        result[rows] = local_to_utc(hour_local[rows].reset_index(drop=True), zone).to_numpy(dtype="datetime64[ns]")
    return result
