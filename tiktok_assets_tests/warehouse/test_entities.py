"""Entity history (SCD type 2) and advertisers, on a SQLite file and on PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tiktok_assets.warehouse import (
    WarehouseInputError,
    entities_as_of,
    mark_unauthorised,
    upsert_advertisers,
    write_entity_snapshot,
)
from tiktok_assets.warehouse.tables import ad_history, adgroup_history, advertisers, campaign_history
from tiktok_assets_tests.warehouse.sample_frames import ADVERTISER, OTHER_ADVERTISER

NOV_1, NOV_5, NOV_8 = datetime(2026, 11, 1, 6), datetime(2026, 11, 5, 6), datetime(2026, 11, 8, 6)


def _campaign(campaign_id: str, name: str, status: str = "ENABLE", modify_time: str = "2026-10-01 10:00:00") -> dict:
    # Shaped like a /campaign/get/ row: ids may arrive as numbers.
    return {"campaign_id": int(campaign_id), "advertiser_id": ADVERTISER, "campaign_name": name,
            "objective_type": "CONVERSIONS", "operation_status": status,
            "create_time": "2026-09-30 08:00:00", "modify_time": modify_time}


def _versions(engine: Engine, table: sa.Table) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(
            sa.select(table.c[0], table.c.campaign_name, table.c.valid_from, table.c.valid_to)
            .order_by(table.c[0], table.c.valid_from)
        )]


def test_snapshots_open_and_close_versions_and_reruns_are_no_ops(engine: Engine) -> None:
    first = [_campaign("1", "Summer"), _campaign("2", "Brand")]
    written = write_entity_snapshot(engine, "campaign", ADVERTISER, first, NOV_1)
    assert (written.opened, written.closed, written.unchanged) == (2, 0, 0)
    rerun = write_entity_snapshot(engine, "campaign", ADVERTISER, first, NOV_1)
    assert (rerun.opened, rerun.closed, rerun.unchanged) == (0, 0, 2)

    # Campaign 1 renamed; 2 only had a budget edit (modify_time moved); 3 is new.
    second = [_campaign("1", "Summer sale"), _campaign("2", "Brand", modify_time="2026-11-04 09:00:00"),
              _campaign("3", "Retargeting")]
    written = write_entity_snapshot(engine, "campaign", ADVERTISER, second, NOV_5)
    assert (written.opened, written.closed, written.unchanged) == (2, 1, 1)
    assert write_entity_snapshot(engine, "campaign", ADVERTISER, second, NOV_5).opened == 0

    # Campaign 2 is no longer listed (deleted): it keeps its open version.
    third = [_campaign("1", "Summer sale", status="DISABLE"), _campaign("3", "Retargeting")]
    written = write_entity_snapshot(engine, "campaign", ADVERTISER, third, NOV_8)
    assert (written.opened, written.closed, written.unchanged, written.vanished) == (1, 1, 1, 1)

    assert _versions(engine, campaign_history) == [
        ("1", "Summer", NOV_1, NOV_5),
        ("1", "Summer sale", NOV_5, NOV_8),
        ("1", "Summer sale", NOV_8, None),
        ("2", "Brand", NOV_1, None),
        ("3", "Retargeting", NOV_5, None),
    ]


def test_as_of_query_returns_the_name_in_force_then(engine: Engine) -> None:
    write_entity_snapshot(engine, "campaign", ADVERTISER, [_campaign("1", "Summer"), _campaign("2", "Brand")], NOV_1)
    write_entity_snapshot(engine, "campaign", ADVERTISER,
                          [_campaign("1", "Summer sale"), _campaign("2", "Brand"), _campaign("3", "Retargeting")], NOV_5)

    def names_at(moment: datetime) -> dict[str, str]:
        frame = entities_as_of(engine, "campaign", moment, advertiser_id=ADVERTISER)
        return dict(zip(frame["campaign_id"], frame["campaign_name"], strict=True))

    assert names_at(datetime(2026, 11, 3)) == {"1": "Summer", "2": "Brand", "3": "Retargeting"}
    assert names_at(NOV_5) == {"1": "Summer sale", "2": "Brand", "3": "Retargeting"}
    # Before the first snapshot the entities already existed: earliest known version.
    assert names_at(datetime(2026, 10, 1)) == {"1": "Summer", "2": "Brand", "3": "Retargeting"}
    assert entities_as_of(engine, "campaign", NOV_5, advertiser_id=OTHER_ADVERTISER).empty


def test_out_of_order_snapshot_is_refused_and_writes_nothing(engine: Engine) -> None:
    write_entity_snapshot(engine, "campaign", ADVERTISER, [_campaign("1", "Summer sale")], NOV_5)
    before = _versions(engine, campaign_history)
    with pytest.raises(WarehouseInputError, match="campaign 1 .* time order"):
        write_entity_snapshot(engine, "campaign", ADVERTISER, [_campaign("1", "Summer"), _campaign("5", "New")], NOV_1)
    assert _versions(engine, campaign_history) == before


def test_bad_entity_rows_name_the_problem(engine: Engine) -> None:
    with pytest.raises(WarehouseInputError, match="campaign_id 1 appears twice"):
        write_entity_snapshot(engine, "campaign", ADVERTISER, [_campaign("1", "A"), _campaign("1", "B")], NOV_1)
    with pytest.raises(WarehouseInputError, match="row 0 has no campaign_id"):
        write_entity_snapshot(engine, "campaign", ADVERTISER, [{"campaign_name": "A"}], NOV_1)
    with pytest.raises(WarehouseInputError, match=f"belongs to advertiser {ADVERTISER}, not {OTHER_ADVERTISER}"):
        write_entity_snapshot(engine, "campaign", OTHER_ADVERTISER, [_campaign("1", "A")], NOV_1)
    with pytest.raises(WarehouseInputError, match="modify_time 'yesterday'"):
        write_entity_snapshot(engine, "campaign", ADVERTISER, [_campaign("1", "A", modify_time="yesterday")], NOV_1)
    assert _versions(engine, campaign_history) == []


def test_ads_store_landing_url_tracking_and_version_on_url_change(engine: Engine) -> None:
    ads = pd.DataFrame([
        {"ad_id": "11", "adgroup_id": "21", "campaign_id": "1", "ad_name": "Video A", "operation_status": "ENABLE",
         "landing_page_url": "https://shop.example/p?utm_source=tiktok&cvg_adid=__CID__",
         "create_time": "2026-10-01 10:00:00", "modify_time": np.nan},  # some ads lack modify_time
        {"ad_id": "12", "adgroup_id": "21", "campaign_id": "1", "ad_name": "Video B", "operation_status": "ENABLE",
         "landing_page_url": "https://shop.example/p", "create_time": "2026-10-01 10:00:00",
         "modify_time": "2026-10-02 10:00:00"},
    ])
    assert write_entity_snapshot(engine, "ad", ADVERTISER, ads, NOV_1).opened == 2
    retagged = ads.assign(landing_page_url=[ads.loc[0, "landing_page_url"], "https://shop.example/p?ttclid=__CALLBACK_PARAM__"])
    written = write_entity_snapshot(engine, "ad", ADVERTISER, retagged, NOV_5)
    assert (written.opened, written.closed, written.unchanged) == (1, 1, 1)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(ad_history.c.ad_id, ad_history.c.utm_source, ad_history.c.cvg_adid, ad_history.c.has_ttclid,
                      ad_history.c.has_tracking, ad_history.c.modify_time, ad_history.c.valid_to)
            .order_by(ad_history.c.ad_id, ad_history.c.valid_from)
        ).all()
    assert [tuple(row) for row in rows] == [
        ("11", "tiktok", "__CID__", False, True, None, None),
        ("12", None, None, False, False, datetime(2026, 10, 2, 10), NOV_5),
        ("12", None, None, True, True, datetime(2026, 10, 2, 10), None),
    ]


def test_advertisers_upsert_keeps_first_seen_and_tracks_authorisation(engine: Engine) -> None:
    info = {"advertiser_id": ADVERTISER, "name": "Shop", "currency": "USD", "timezone": "Etc/GMT+8",
            "display_timezone": "America/Los_Angeles", "status": "STATUS_ENABLE"}
    assert upsert_advertisers(engine, [info, dict(info, advertiser_id=OTHER_ADVERTISER, name="Other")], NOV_1) == 2
    upsert_advertisers(engine, [dict(info, name="Shop EU", currency="EUR")], NOV_5)
    assert mark_unauthorised(engine, [OTHER_ADVERTISER]) == 1
    with engine.connect() as connection:
        rows = {row.advertiser_id: row for row in connection.execute(sa.select(advertisers))}
    shop = rows[ADVERTISER]
    assert (shop.advertiser_name, shop.currency, shop.first_seen_at, shop.last_seen_at) == ("Shop EU", "EUR", NOV_1, NOV_5)
    assert (shop.timezone, shop.display_timezone, shop.authorised) == ("Etc/GMT+8", "America/Los_Angeles", True)
    assert rows[OTHER_ADVERTISER].authorised is False
    upsert_advertisers(engine, [dict(info, advertiser_id=OTHER_ADVERTISER)], NOV_8)
    with engine.connect() as connection:
        assert connection.execute(
            sa.select(advertisers.c.authorised).where(advertisers.c.advertiser_id == OTHER_ADVERTISER)
        ).scalar() is True


def _statuses(engine: Engine, table: sa.Table) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(
            sa.select(table.c[0], table.c.operation_status, table.c.secondary_status, table.c.is_deleted,
                      table.c.valid_from, table.c.valid_to)
            .order_by(table.c[0], table.c.valid_from)
        )]


def test_status_is_history_and_a_deleted_entity_stays_a_row(engine: Engine) -> None:
    def ad(ad_id: str, operation: str, secondary: str) -> dict:
        # As /ad/get/ lists it when asked for every status (deleted ones included).
        return {"ad_id": ad_id, "adgroup_id": "21", "campaign_id": "1", "ad_name": f"Video {ad_id}",
                "operation_status": operation, "secondary_status": secondary,
                "landing_page_url": "https://shop.example/p", "create_time": "2026-10-01 10:00:00"}

    first = [ad("11", "ENABLE", "AD_STATUS_DELIVERY_OK"), ad("12", "ENABLE", "AD_STATUS_DELIVERY_OK"),
             ad("13", "ENABLE", "AD_STATUS_DELIVERY_OK")]
    assert write_entity_snapshot(engine, "ad", ADVERTISER, first, NOV_1).opened == 3
    # 11 paused, 12 deleted (TikTok keeps the switch off and says so in secondary_status), 13 unchanged.
    second = [ad("11", "DISABLE", "AD_STATUS_DISABLE"), ad("12", "DISABLE", "AD_STATUS_DELETE"), first[2]]
    written = write_entity_snapshot(engine, "ad", ADVERTISER, second, NOV_5)
    assert (written.opened, written.closed, written.unchanged, written.deleted) == (2, 2, 1, 1)
    # 13 is deleted with its campaign; 12 is listed again as deleted (no new version); 11 is missing.
    third = [second[1], ad("13", "DISABLE", "AD_STATUS_CAMPAIGN_DELETE")]
    written = write_entity_snapshot(engine, "ad", ADVERTISER, third, NOV_8)
    assert (written.opened, written.unchanged, written.deleted, written.vanished) == (1, 1, 1, 1)
    assert _statuses(engine, ad_history) == [
        ("11", "ENABLE", "AD_STATUS_DELIVERY_OK", False, NOV_1, NOV_5),
        # Absent is not deleted: 11's open version stays as last seen.
        ("11", "DISABLE", "AD_STATUS_DISABLE", False, NOV_5, None),
        ("12", "ENABLE", "AD_STATUS_DELIVERY_OK", False, NOV_1, NOV_5),
        ("12", "DISABLE", "AD_STATUS_DELETE", True, NOV_5, None),
        ("13", "ENABLE", "AD_STATUS_DELIVERY_OK", False, NOV_1, NOV_8),
        ("13", "DISABLE", "AD_STATUS_CAMPAIGN_DELETE", True, NOV_8, None),
    ]
    # The deleted ad keeps its name for the stats it had.
    deleted = entities_as_of(engine, "ad", NOV_8, ADVERTISER).set_index("ad_id")
    assert deleted.loc["12", "ad_name"] == "Video 12" and bool(deleted.loc["12", "is_deleted"])


def test_campaign_and_adgroup_history_keep_secondary_status_and_an_explicit_deleted_flag(engine: Engine) -> None:
    write_entity_snapshot(engine, "campaign", ADVERTISER,
                          [dict(_campaign("1", "Summer"), secondary_status="CAMPAIGN_STATUS_ENABLE"),
                           dict(_campaign("2", "Brand", status="DISABLE"), secondary_status="CAMPAIGN_STATUS_DELETE")],
                          NOV_1)
    write_entity_snapshot(engine, "adgroup", ADVERTISER,
                          pd.DataFrame([{"adgroup_id": "21", "campaign_id": "1", "adgroup_name": "Broad",
                                         "operation_status": "ENABLE", "secondary_status": "ADGROUP_STATUS_DELIVERY_OK",
                                         "is_deleted": False},
                                        {"adgroup_id": "22", "campaign_id": "2", "adgroup_name": "Narrow",
                                         "operation_status": "DISABLE", "secondary_status": None,
                                         "is_deleted": "true"}]),
                          NOV_1)
    assert [row[:4] for row in _statuses(engine, campaign_history)] == [
        ("1", "ENABLE", "CAMPAIGN_STATUS_ENABLE", False), ("2", "DISABLE", "CAMPAIGN_STATUS_DELETE", True)]
    assert [row[:4] for row in _statuses(engine, adgroup_history)] == [
        ("21", "ENABLE", "ADGROUP_STATUS_DELIVERY_OK", False), ("22", "DISABLE", None, True)]
    with pytest.raises(WarehouseInputError, match="adgroup 23: is_deleted 'maybe'"):
        write_entity_snapshot(engine, "adgroup", ADVERTISER, [{"adgroup_id": "23", "is_deleted": "maybe"}], NOV_5)


def test_an_advertiser_info_row_without_currency_or_zone_keeps_the_stored_ones(engine: Engine) -> None:
    info = {"advertiser_id": ADVERTISER, "name": "Shop", "currency": "USD", "timezone": "Etc/GMT+8",
            "display_timezone": "America/Los_Angeles"}
    upsert_advertisers(engine, [info], NOV_1)
    # Asked with fewer fields (or without permission to read them), TikTok leaves them out.
    upsert_advertisers(engine, [{"advertiser_id": ADVERTISER, "name": "Shop US"}], NOV_5)
    with engine.connect() as connection:
        row = connection.execute(sa.select(advertisers)).mappings().one()
    assert (row["advertiser_name"], row["currency"], row["timezone"], row["display_timezone"]) == (
        "Shop US", "USD", "Etc/GMT+8", "America/Los_Angeles")
    assert row["last_seen_at"] == NOV_5
