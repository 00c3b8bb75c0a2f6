"""level_stats_daily writes and lifetime snapshots on SQLite and PostgreSQL: idempotent, revision-logged, strict."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from tiktok_assets.spend.levels import reconcile
from tiktok_assets.warehouse import WarehouseInputError, create_schema, make_engine, query_frame
from tiktok_assets.warehouse.levels import (
    latest_lifetime,
    write_level_partitions,
    write_lifetime_snapshot,
)

ADVERTISER = "7000000000000000001"
DAY = date(2026, 11, 17)
KEY = (ADVERTISER, DAY)
T0, T1, T2 = datetime(2026, 11, 18, 9), datetime(2026, 11, 19, 9), datetime(2026, 11, 20, 9)


@pytest.fixture
def engine(warehouse_url: str):
    engine = make_engine(warehouse_url)
    create_schema(engine)
    yield engine
    engine.dispose()


def campaigns(*rows: tuple[str, float, int]) -> pd.DataFrame:
    return pd.DataFrame([{"advertiser_id": ADVERTISER, "stat_date": DAY, "level": "campaign", "entity_id": entity,
                          "currency": "USD", "spend": spend, "cash_spend": None, "voucher_spend": None,
                          "impressions": impressions, "clicks": impressions // 100, "conversions": 1,
                          "reach": impressions // 2, "frequency": 2.0} for entity, spend, impressions in rows])


def write(engine, frame: pd.DataFrame, at: datetime, **kwargs):  # noqa: ANN001, ANN003
    return write_level_partitions(engine, "campaign_stats_daily", "campaign", {KEY: frame}, at, currency="USD",
                                  **kwargs)[KEY]


def test_a_repull_logs_changes_and_a_rerun_changes_nothing(engine) -> None:
    first = write(engine, campaigns(("1", 10.0, 1000), ("2", 5.0, 500)), T0)
    assert (first.inserted, first.first_pull) == (2, True)
    # The first pull after the day closed is the baseline: a second pull that moves a row is a revision.
    second = write(engine, campaigns(("1", 12.5, 1100), ("3", 1.0, 100)), T1)
    assert (second.inserted, second.updated, second.deleted) == (1, 1, 1)
    log = query_frame(engine, "select entity_id, change_kind, old_spend, new_spend from level_stats_revisions "
                              "order by entity_id")
    rows = log[["entity_id", "change_kind", "old_spend", "new_spend"]].astype(object)
    assert rows.where(rows.notna(), None).values.tolist() == [["1", "update", 10.0, 12.5], ["2", "delete", 5.0, None],
                                                              ["3", "insert_late", None, 1.0]]
    again = write(engine, campaigns(("1", 12.5, 1100), ("3", 1.0, 100)), T2)
    assert not again.changed and again.data_version == second.data_version
    assert len(query_frame(engine, "select * from level_stats_revisions")) == 3
    stored = query_frame(engine, "select entity_id, spend, revision from level_stats_daily order by entity_id")
    assert stored[["entity_id", "spend", "revision"]].values.tolist() == [["1", 12.5, 2], ["3", 1.0, 1]]
    pulls = query_frame(engine, "select changed from level_stats_pulls order by pull_id")
    assert [bool(value) for value in pulls["changed"]] == [True, True, False]


def test_a_settled_day_keeps_rows_a_pull_no_longer_serves_and_intraday_logs_nothing(engine) -> None:
    write(engine, campaigns(("1", 10.0, 1000)), T0, intraday=[KEY])
    write(engine, campaigns(("1", 11.0, 1000), ("2", 3.0, 300)), T1, intraday=[KEY])
    assert len(query_frame(engine, "select * from level_stats_revisions")) == 0, "a day not over is no revision"
    kept = write(engine, campaigns(("1", 11.0, 1000)), T2, settled=[KEY])
    assert (kept.vanished_kept, kept.deleted) == (1, 0)
    assert sorted(query_frame(engine, "select entity_id from level_stats_daily")["entity_id"]) == ["1", "2"]


@pytest.mark.parametrize(("frame", "message"), [
    (campaigns(("1", 1.0, 10), ("1", 2.0, 20)), "appears twice"),
    (campaigns(("1", -1.0, 10)), "negative spend"),
    (campaigns(("1", 1.0, 10)).assign(stat_date=date(2026, 11, 16)), "not to this partition"),
    (campaigns(("1", 1.0, 10)).drop(columns="reach"), "missing column(s) reach"),
])
def test_bad_input_is_refused_naming_the_partition_and_writes_nothing(engine, frame, message) -> None:
    with pytest.raises(WarehouseInputError, match="campaign_stats_daily partition") as error:
        write(engine, frame, T0)
    assert message in str(error.value)
    assert len(query_frame(engine, "select * from level_stats_pulls")) == 0


def lifetime(spend: float, impressions: int) -> pd.DataFrame:
    return pd.DataFrame([{"advertiser_id": ADVERTISER, "level": "campaign", "entity_id": "1", "currency": "USD",
                          "spend": spend, "impressions": impressions, "clicks": 3, "conversions": 1,
                          "reach": impressions // 2, "frequency": 2.0},
                         {"advertiser_id": ADVERTISER, "level": "ad", "entity_id": "9", "currency": "USD",
                          "spend": 1.0, "impressions": 10, "clicks": 0, "conversions": 0, "reach": None,
                          "frequency": None}])


def test_lifetime_snapshots_are_written_only_when_totals_move(engine) -> None:
    assert write_lifetime_snapshot(engine, ADVERTISER, lifetime(10.0, 1000), T0)["snapshots_written"] == 2
    assert write_lifetime_snapshot(engine, ADVERTISER, lifetime(10.0, 1000), T1)["snapshots_written"] == 0
    assert write_lifetime_snapshot(engine, ADVERTISER, lifetime(14.0, 1300), T2)["snapshots_written"] == 1
    history = query_frame(engine, "select spend from lifetime_snapshots where entity_id = '1' order by snapshot_at")
    assert history["spend"].tolist() == [10.0, 14.0]
    current = latest_lifetime(engine, ADVERTISER).set_index("entity_id")
    assert current.loc["1", "spend"] == 14.0 and pd.isna(current.loc["9", "reach"])


def test_reconcile_names_differences_and_reads_the_account_excess_as_reservation() -> None:
    level = pd.DataFrame([{"stat_date": DAY, "entity_id": ADVERTISER, "spend": 120.0, "impressions": 1000,
                           "clicks": 10, "conversions": 1}])
    ads = pd.DataFrame([{"stat_date": DAY, "entity_id": ADVERTISER, "spend": 100.0, "impressions": 1000,
                         "clicks": 10, "conversions": 1}])
    ads.attrs["pulled"] = [DAY]
    found = reconcile(ADVERTISER, level, ads, "advertiser", "USD")
    assert found[["metric", "difference", "kind"]].values.tolist() == [["spend", 20.0, "not_in_ad_rows"]]
    found = reconcile(ADVERTISER, level.assign(entity_id="5"), ads.assign(entity_id="5", clicks=12), "campaign", "USD")
    assert found[["entity_id", "metric", "kind"]].values.tolist() == [["5", "clicks", "mismatch"],
                                                                      ["5", "spend", "mismatch"]]
    # Within tolerance (0.1% of TikTok's figure and one cent): rounding, not a difference.
    close = reconcile(ADVERTISER, level.assign(entity_id="5"), ads.assign(entity_id="5", spend=119.99), "campaign",
                      "USD")
    assert close.empty
