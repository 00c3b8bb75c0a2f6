"""Helpers for the simulator tests: an httpx client on the simulator, and a GET that encodes like TikTok wants."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tiktok_assets.simulator import DEFAULT_ACCESS_TOKEN

PREFIX = "/open_api/v1.3"


def encode(params: dict[str, Any]) -> dict[str, str]:
    # TikTok takes list and object parameters as JSON text in the query string.
    return {key: json.dumps(value) if isinstance(value, (list, dict)) else str(value) for key, value in params.items()}


def api_get(client: httpx.Client, path: str, token: str | None = DEFAULT_ACCESS_TOKEN, **params: Any) -> httpx.Response:
    headers = {"Access-Token": token} if token is not None else {}
    return client.get(PREFIX + path, params=encode(params), headers=headers)


def report_params(advertiser_id: str, start: str, end: str, *, level: str = "AUCTION_AD", time_dimension: str = "stat_time_day",
                  metrics: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    id_dimension = {"AUCTION_AD": "ad_id", "AUCTION_ADGROUP": "adgroup_id", "AUCTION_CAMPAIGN": "campaign_id",
                    "AUCTION_ADVERTISER": "advertiser_id"}[level]
    return {
        "advertiser_id": advertiser_id,
        "service_type": "AUCTION",
        "report_type": "BASIC",
        "data_level": level,
        "dimensions": [id_dimension, time_dimension],
        "metrics": metrics or ["spend", "impressions", "clicks", "conversion", "reach", "ctr", "cpc"],
        "start_date": start,
        "end_date": end,
        **extra,
    }


@pytest.fixture
def client(simulator) -> Iterator[httpx.Client]:
    """An httpx client answered in-process by the ``simulator`` fixture (no socket)."""
    with httpx.Client(base_url="http://simulator.local", transport=simulator.transport()) as http:
        yield http


@pytest.fixture
def us_advertiser(simulator) -> str:
    return simulator.world.advertiser_ids[0]
