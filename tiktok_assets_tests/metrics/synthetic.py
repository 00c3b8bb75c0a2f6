"""Synthetic ad stats shaped like the warehouse's ad_stats_hourly, for property tests and the benchmark."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SyntheticAdvertiser:
    advertiser_id: str
    currency: str
    zone: str


ADVERTISERS = (
    SyntheticAdvertiser("7001", "USD", "America/Los_Angeles"),
    SyntheticAdvertiser("7002", "EUR", "Europe/Berlin"),
    SyntheticAdvertiser("7003", "JPY", "Asia/Kolkata"),  # a half-hour offset zone
)


def entity_tree(rng: np.random.Generator, advertisers: tuple[SyntheticAdvertiser, ...], max_children: int
                ) -> pd.DataFrame:
    """One row per ad with its ad group, campaign and advertiser (ids as strings)."""
    rows = []
    for advertiser in advertisers:
        for campaign in range(rng.integers(1, max_children + 1)):
            campaign_id = f"{advertiser.advertiser_id}-c{campaign}"
            for adgroup in range(rng.integers(1, max_children + 1)):
                adgroup_id = f"{campaign_id}-g{adgroup}"
                for ad in range(rng.integers(1, max_children + 1)):
                    rows.append((advertiser.advertiser_id, campaign_id, adgroup_id, f"{adgroup_id}-a{ad}",
                                 advertiser.currency, advertiser.zone))
    return pd.DataFrame(rows, columns=["advertiser_id", "campaign_id", "adgroup_id", "ad_id", "currency", "zone"])


def hourly_stats(ads: pd.DataFrame, start_local: str, hours: int, rng: np.random.Generator,
                 keep_share: float = 1.0, orphan_share: float = 0.0) -> pd.DataFrame:
    """Hourly rows for every ad over ``hours`` local hours from ``start_local`` (a random share of them kept)."""
    pieces = []
    for zone, zone_ads in ads.groupby("zone", sort=False):
        local = pd.date_range(start_local, periods=hours, freq="h")
        utc = local.tz_localize(zone, ambiguous=True, nonexistent="shift_forward").tz_convert("UTC").tz_localize(None)
        repeat = np.repeat(np.arange(len(zone_ads)), hours)
        frame = zone_ads.iloc[repeat].reset_index(drop=True).drop(columns="zone")
        frame["stat_hour_local"] = np.tile(local.to_numpy(), len(zone_ads))
        frame["stat_hour_utc"] = np.tile(utc.to_numpy(), len(zone_ads))
        pieces.append(frame)
    frame = pd.concat(pieces, ignore_index=True)
    frame = frame.drop_duplicates(["ad_id", "stat_hour_utc"])  # the repeated autumn hour folds into one row
    if keep_share < 1.0:
        frame = frame[rng.random(len(frame)) < keep_share].reset_index(drop=True)
    rows = len(frame)
    if orphan_share:
        # Ads deleted before their parents were snapshotted: reported with unknown parents.
        orphans = rng.random(rows) < orphan_share
        frame.loc[orphans, ["campaign_id", "adgroup_id"]] = None
    impressions = rng.poisson(200, rows)
    clicks = rng.binomial(impressions, 0.02)
    frame = frame.assign(
        stat_date=frame["stat_hour_local"].dt.date,
        spend=np.round(rng.gamma(2.0, 1.5, rows), 2),
        impressions=impressions,
        clicks=clicks,
        conversions=rng.binomial(clicks, 0.2),
        installs=rng.binomial(clicks, 0.3),
        purchases=rng.binomial(clicks, 0.1),
        purchase_value=np.round(rng.gamma(1.0, 8.0, rows), 2),
        app_purchases=rng.binomial(clicks, 0.05),
        app_purchase_value=np.round(rng.gamma(1.0, 4.0, rows), 2),
        spread=rng.random(rows) < 0.05,
    )
    return frame.reset_index(drop=True)


def random_hourly_stats(seed: int) -> pd.DataFrame:
    """Three advertisers in three currencies and zones, a few days around a DST change, sparse rows."""
    rng = np.random.default_rng(seed)
    ads = entity_tree(rng, ADVERTISERS, max_children=3)
    return hourly_stats(ads, "2026-03-07 00:00", 72, rng, keep_share=0.7, orphan_share=0.02)


def year_of_hourly_stats(ads: int = 1000, seed: int = 0) -> pd.DataFrame:
    """A year of hourly rows for ``ads`` ads (8.76 M rows for 1,000): the benchmark's input."""
    rng = np.random.default_rng(seed)
    tree = entity_tree(rng, ADVERTISERS[:2], max_children=10)
    while len(tree) < ads:
        tree = pd.concat([tree, entity_tree(rng, ADVERTISERS[:2], max_children=10)], ignore_index=True)
        tree["ad_id"] = [f"ad{index}" for index in range(len(tree))]
    return hourly_stats(tree.iloc[:ads], "2025-01-01 00:00", 8760, rng)
