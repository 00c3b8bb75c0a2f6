"""GMV Max (TikTok Shop) campaigns of the simulated world: stores, campaigns and their daily figures.

GMV Max campaigns are bought per TikTok Shop and reported by their own endpoint,
``/gmv_max/report/get/`` (TikTok docs 1824721673497601,
tiktok_assets_tests/contract/FACTS.md section 14): ``cost`` (spend), ``net_cost``,
``gross_revenue``, ``orders`` and ``roi`` = gross_revenue / cost, per campaign and
day in the account's zone. They have no impressions or clicks in the
integrated-report sense, and here they are **not** in ``/report/integrated/get/``
or ``/campaign/get/`` at all (whether TikTok adds their spend to AUCTION_ADVERTISER
rows is UNCONFIRMED).

Pure and deterministic, like the rest of the world: one advertiser (the third, or
the first when there are fewer) has a shop available for GMV Max and one that is
not; the shop has a PRODUCT campaign and a LIVE campaign, the LIVE one deleted
at a fixed moment (TikTok's report hides deleted campaigns unless
``campaign_statuses`` asks ``STATUS_ALL``). Revisions follow the ad stats' rule
of thumb: a day's cost is final once the day is over, its gross revenue and
orders arrive late (a share rising to 1 at ``settle_days``); while the day runs
every figure is the share of the day's hours that have ended.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pandas as pd

from tiktok_assets.simulator.entities import AdvertiserSpec, local_date

PRODUCT = "PRODUCT"
LIVE = "LIVE"
PROMOTION_TYPES = (PRODUCT, LIVE)
GMV_COLUMNS = ["campaign_id", "stat_date", "cost", "net_cost", "gross_revenue", "orders", "product_impressions",
               "product_clicks"]


@dataclass(frozen=True)
class StoreSpec:
    store_id: str
    advertiser_id: str
    available: bool
    """``is_gmv_max_available``: only such shops can run (and be reported on for) GMV Max."""


@dataclass(frozen=True)
class GmvMaxCampaignSpec:
    campaign_id: str
    advertiser_id: str
    store_id: str
    promotion_type: str
    name: str
    create_time: datetime
    delete_time: datetime | None
    daily_cost: float
    """Typical cost of a day, in the advertiser's currency."""
    roi: float
    """Typical gross revenue per unit of cost."""
    order_value: float


def _rng(*parts: object) -> random.Random:
    return random.Random(zlib.crc32("|".join(map(str, parts)).encode()))


def _id(seed: int, kind: str, serial: int) -> str:
    return str(1_830_000_000_000_000_000 + _rng(seed, "gmv-id", kind, serial).randrange(10**14) * 1000 + serial)


class GmvMaxBook:
    """The world's shops and GMV Max campaigns, and the figures TikTok would serve for them."""

    def __init__(self, seed: int, advertisers: Sequence[AdvertiserSpec], n_advertisers: int, epoch: datetime,
                 settle_days: int) -> None:
        self.seed = seed
        self.settle_days = settle_days
        self._advertisers = {spec.advertiser_id: spec for spec in advertisers}
        self._stores: dict[str, list[StoreSpec]] = {}
        self._campaigns: dict[str, list[GmvMaxCampaignSpec]] = {}
        # The third advertiser first (the first has R&F and TopView, the second Smart+): few kinds per account.
        order = [*advertisers[2:], *advertisers[:2]]
        for index, spec in enumerate(order[:n_advertisers]):
            rng = _rng(seed, "gmv-advertiser", index)
            stores = [StoreSpec(_id(seed, "store", 2 * index), spec.advertiser_id, True),
                      StoreSpec(_id(seed, "store", 2 * index + 1), spec.advertiser_id, False)]
            self._stores[spec.advertiser_id] = stores
            scale = spec.market.cpm / 7.5
            self._campaigns[spec.advertiser_id] = [
                GmvMaxCampaignSpec(
                    campaign_id=_id(seed, "campaign", 2 * index + serial), advertiser_id=spec.advertiser_id,
                    store_id=stores[0].store_id, promotion_type=promotion, name=f"{spec.market.country} | GMV Max | "
                    f"{'Products' if promotion == PRODUCT else 'LIVE'}",
                    create_time=epoch - timedelta(days=40 + rng.randrange(60)),
                    delete_time=(epoch + timedelta(days=300, hours=rng.randrange(24)) if promotion == LIVE else None),
                    daily_cost=round(rng.uniform(150, 600) * scale, 0), roi=rng.uniform(2.0, 6.0),
                    order_value=spec.market.order_value * rng.uniform(0.5, 1.2))
                for serial, promotion in enumerate(PROMOTION_TYPES)]

    def stores(self, advertiser_id: str) -> list[StoreSpec]:
        return list(self._stores.get(advertiser_id, ()))

    def campaigns(self, advertiser_id: str) -> list[GmvMaxCampaignSpec]:
        return list(self._campaigns.get(advertiser_id, ()))

    def deleted(self, campaign: GmvMaxCampaignSpec, now: datetime) -> bool:
        return campaign.delete_time is not None and campaign.delete_time <= now

    def final_day(self, campaign: GmvMaxCampaignSpec, day: date) -> dict[str, int] | None:
        """The day's final figures in minor units and counts, or None when the campaign did not deliver."""
        advertiser = self._advertisers[campaign.advertiser_id]
        zone = advertiser.zone
        if day <= local_date(campaign.create_time, zone):
            return None
        if campaign.delete_time is not None and day >= local_date(campaign.delete_time, zone):
            return None
        rng = _rng(self.seed, "gmv-day", campaign.campaign_id, day.toordinal())
        scale = 10 ** advertiser.currency_decimals
        weekly = 1.15 if day.weekday() >= 5 else 1.0
        cost = round(campaign.daily_cost * weekly * rng.uniform(0.6, 1.4) * scale)
        revenue = round(cost * campaign.roi * rng.uniform(0.7, 1.3))
        orders = max(0, round(revenue / (campaign.order_value * scale)))
        # Product cards' own impressions and clicks (not the integrated report's): about a CPM of the market's.
        product_impressions = round(cost / scale / advertiser.market.cpm * 1000 * rng.uniform(0.8, 1.2))
        product_clicks = round(product_impressions * rng.uniform(0.01, 0.04))
        return {"cost": cost, "gross_revenue": revenue, "orders": orders,
                "product_impressions": product_impressions, "product_clicks": product_clicks}

    def served(self, advertiser_id: str, store_id: str, start: date, end: date, now: datetime, *,
               include_deleted: bool, promotion_types: Sequence[str] = PROMOTION_TYPES,
               campaign_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """:data:`GMV_COLUMNS` rows (money in major units) as TikTok would serve them at ``now``."""
        advertiser = self._advertisers[advertiser_id]
        zone = advertiser.zone
        today = local_date(now, zone)
        scale = 10 ** advertiser.currency_decimals
        rows = []
        for campaign in self.campaigns(advertiser_id):
            if campaign.store_id != store_id or campaign.promotion_type not in promotion_types:
                continue
            if campaign_ids is not None and campaign.campaign_id not in campaign_ids:
                continue
            if self.deleted(campaign, now) and not include_deleted:
                continue
            day = start
            while day <= min(end, today):
                final = self.final_day(campaign, day)
                if final is not None:
                    row = self._aged(final, day, today, now, zone)
                    if row is not None:
                        rows.append({"campaign_id": campaign.campaign_id, "stat_date": day,
                                     "cost": row["cost"] / scale, "net_cost": row["cost"] / scale,
                                     "gross_revenue": row["gross_revenue"] / scale, "orders": row["orders"],
                                     "product_impressions": row["product_impressions"],
                                     "product_clicks": row["product_clicks"]})
                day += timedelta(days=1)
        return pd.DataFrame(rows, columns=GMV_COLUMNS)

    def _aged(self, final: dict[str, int], day: date, today: date, now: datetime, zone) -> dict[str, int] | None:  # noqa: ANN001
        age = (today - day).days - 1
        if age < 0:
            midnight = datetime.combine(day, datetime.min.time(), tzinfo=zone).astimezone(UTC)
            ended = max(0, min(24, math.floor((now - midnight).total_seconds() / 3600)))
            if not ended:
                return None
            return {name: round(value * ended / 24) for name, value in final.items()}
        if self.settle_days == 0 or age >= self.settle_days:
            return dict(final)
        # Late orders: revenue and orders reach their final value over the settle window; cost is final.
        share = 0.7 + 0.3 * (age + 1) / (self.settle_days + 1)
        late = {name: round(final[name] * share) for name in ("gross_revenue", "orders")}
        return {**final, **late}
