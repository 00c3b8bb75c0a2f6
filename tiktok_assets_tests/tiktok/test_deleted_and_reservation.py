"""Deleted entities and buying types, asked for the way TikTok documents them
(tiktok_assets_tests/contract/FACTS.md sections 1 and 6): listings with
``filtering={"primary_status": "STATUS_ALL"}`` and ``filtering.buying_types``, reports with a
``<level>_status`` IN ``["STATUS_ALL"]`` filter. ``service_type=RESERVATION`` is deprecated (FACTS.md 6): still
accepted, used by nothing. The simulator hides deleted entities and their rows by default, as TikTok does."""

from __future__ import annotations

from datetime import date

import pytest

from tiktok_assets.simulator import DEFAULT_ACCESS_TOKEN, Simulator, World
from tiktok_assets.simulator.clock import SimClock
from tiktok_assets.tiktok.client import TikTokClient, report_status_filtering
from tiktok_assets.tiktok.reports import parse_report_rows
from tiktok_assets_tests.conftest import SIM_NOW

START, END = date(2026, 10, 22), date(2026, 11, 19)
# Before the world's deletions (October and November 2026): deleted ads' rows are in it.
BEFORE_START, BEFORE_END = date(2026, 8, 1), date(2026, 8, 30)


@pytest.fixture(scope="module")
def sim() -> Simulator:
    return Simulator(world=World(seed=7), clock=SimClock(fixed=SIM_NOW), qps=None)


@pytest.fixture
def client(sim):
    with TikTokClient(DEFAULT_ACCESS_TOKEN, "http://simulator.local", qps=None, transport=sim.transport()) as client:
        yield client


def _deleted(row: dict) -> bool:
    return str(row.get("secondary_status", "")).endswith("_DELETE")


def _with_deleted(sim: Simulator, kind: str) -> str:
    for advertiser_id in sim.world.advertiser_ids:
        if any(_deleted(row) for row in getattr(sim.world, kind)(advertiser_id, SIM_NOW)):
            return advertiser_id
    raise AssertionError(f"the world should have a deleted {kind[:-1]}")


@pytest.mark.parametrize("kind", ["campaigns", "adgroups", "ads"])
def test_listings_include_deleted_entities_by_default(sim, client, kind: str) -> None:
    advertiser_id = _with_deleted(sim, kind)
    truth = getattr(sim.world, kind)(advertiser_id, SIM_NOW)
    id_field = f"{kind[:-1]}_id"
    got = getattr(client, kind)(advertiser_id)
    assert sorted(row[id_field] for row in got) == sorted(row[id_field] for row in truth)
    assert any(_deleted(row) for row in got)
    live_only = getattr(client, kind)(advertiser_id, include_deleted=False)
    assert sorted(row[id_field] for row in live_only) == sorted(row[id_field] for row in truth if not _deleted(row))


@pytest.mark.parametrize("level", ["AUCTION_AD", "AUCTION_ADGROUP", "AUCTION_CAMPAIGN"])
def test_reports_keep_the_spend_of_deleted_entities(sim, client, level: str) -> None:
    advertiser_id = _with_deleted(sim, "ads")
    id_dimension = f"{level.removeprefix('AUCTION_').lower()}_id"
    truth = sim.world.report_frame(advertiser_id, level, "day", BEFORE_START, BEFORE_END, SIM_NOW)
    hidden = sim.world.report_frame(advertiser_id, level, "day", BEFORE_START, BEFORE_END, SIM_NOW, hide_deleted=True)

    rows = client.report(advertiser_id, start=BEFORE_START, end=BEFORE_END, metrics=["spend"], data_level=level)
    frame = parse_report_rows(rows, id_dimension=id_dimension, time_dimension="stat_time_day", metrics=["spend"])
    assert len(frame) == len(truth)
    assert round(frame["spend"].sum(), 2) == round(truth["spend"].sum(), 2)

    without = client.report(advertiser_id, start=BEFORE_START, end=BEFORE_END, metrics=["spend"], data_level=level,
                            include_deleted=False)
    assert len(without) == len(hidden)
    if level == "AUCTION_AD":
        assert len(without) < len(truth), "deleted ads had rows in the window: TikTok hides them unless asked"


def test_report_status_filter_has_the_documented_shape_per_level() -> None:
    # tiktok_assets_tests/contract/FACTS.md section 1 (airbyte source-tiktok-marketing manifest.yaml, TikTok docs 1738864850353154).
    assert report_status_filtering("AUCTION_AD") == [
        {"field_name": "ad_status", "filter_type": "IN", "filter_value": '["STATUS_ALL"]'}]
    assert report_status_filtering("AUCTION_ADGROUP")[0]["field_name"] == "adgroup_status"
    assert report_status_filtering("RESERVATION_CAMPAIGN")[0]["field_name"] == "campaign_status"
    assert report_status_filtering("AUCTION_ADVERTISER") is None


def test_advertiser_level_report_sends_no_status_filter_and_still_answers(sim, client) -> None:
    advertiser_id = _with_deleted(sim, "ads")
    rows = client.report(advertiser_id, start=START, end=END, metrics=["spend"], data_level="AUCTION_ADVERTISER")
    truth = sim.world.report_frame(advertiser_id, "AUCTION_ADVERTISER", "day", START, END, SIM_NOW)
    assert len(rows) == len(truth) > 0


@pytest.mark.parametrize(("data_level", "service_type"), [("AUCTION_AD", "RESERVATION"),
                                                          ("RESERVATION_AD", "AUCTION"),
                                                          ("AUCTION_AD", "BOGUS")])
def test_data_level_and_service_type_must_agree(client, data_level: str, service_type: str) -> None:
    with pytest.raises(ValueError, match="service_type"):
        client.report("7001", start=START, end=END, metrics=["spend"], data_level=data_level,
                      service_type=service_type)


def test_buying_types_are_sent_with_the_deleted_filter_and_narrow_the_listing(sim, client) -> None:
    advertiser_id = next(a for a in sim.world.advertiser_ids if sim.world.reservation_campaign_ids(a))
    reservation = set(sim.world.reservation_campaign_ids(advertiser_id))
    both = ["AUCTION", "RESERVATION_RF"]
    every = {row["campaign_id"] for row in client.campaigns(advertiser_id, buying_types=both)}
    auction = {row["campaign_id"] for row in client.campaigns(advertiser_id, buying_types=["AUCTION"])}
    assert reservation <= every and not reservation & auction
    assert every - reservation == auction


@pytest.mark.parametrize("buying_types", [["RESERVATION_TOP_VIEW", "AUCTION"], ["BOGUS"], [], "AUCTION"])
def test_buying_types_that_tiktok_would_refuse_are_refused_here(client, buying_types) -> None:
    with pytest.raises((ValueError, TypeError), match="buying_types"):
        client.campaigns("7001", buying_types=buying_types)
