"""The Dagster layer: the delivery asset against the simulator on loopback and a SQLite warehouse, its checks, the sensor.

The asset is not partitioned (issue 15, defect 2): a run maps the loads committed since the last one, whatever their
event hours, and drains the outbox; its metadata is the run's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from tiktok_assets.defs.postbacks import (
    REJECTION_RATE_CHECK,
    UNDELIVERED_CHECK,
    new_first_party_events_sensor,
    tiktok_event_deliveries,
)
from tiktok_assets.defs.resources import PostbacksResource, TikTokApiResource, WarehouseResource
from tiktok_assets.postbacks.errors import MappingConfigError
from tiktok_assets.postbacks.events import EventSource, FirstPartyEvent, Identity
from tiktok_assets.postbacks.settings import SIMULATOR_APP_ID, SIMULATOR_PIXEL_ID, PostbackSettings
from tiktok_assets.postbacks.store import store_events
from tiktok_assets_tests.postbacks.helpers import APP_ID, PIXEL, accepted_keys

# The asset runs on the wall clock (TikTok's 7-day limit, the outbox's ages): so does this test.
NOW = datetime.now(UTC)
HOUR = NOW.replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)


def event(event_id: str, name: str, hour: datetime, minute: int, source: EventSource = EventSource.WEB, **fields) -> FirstPartyEvent:
    if source is EventSource.WEB:
        fields.setdefault("page_url", "https://shop.example.com/")
    return FirstPartyEvent(event_id, source, name, hour + timedelta(minutes=minute), **fields)


def orders_and_views(hour: datetime) -> list[FirstPartyEvent]:
    buyer = Identity(email="Mia.Kim@Example.com", phone="+1 212 555 0188")
    return [
        event("o1", "Placed Order", hour, 10, identity=buyer, value=20.0, currency="USD", is_new_customer=True),
        event("o2", "Placed Order", hour, 20, identity=buyer, value=30.0, currency="USD", is_new_customer=False),
        event("p1", "$page_load", hour, 5),
        event("p2", "$page_load", hour, 6),
        event("s1", "Session", hour, 7, source=EventSource.APP),  # not sent by default
        event("c1", "Add to cart", hour, 8, source=EventSource.APP),
    ]


@pytest.fixture
def warehouse(tmp_path) -> WarehouseResource:
    return WarehouseResource(url=f"sqlite:///{tmp_path / 'warehouse.sqlite'}")


@pytest.fixture
def on_loopback(loopback_simulator):
    simulator, base_url = loopback_simulator
    simulator.clock.set(NOW)
    return simulator, TikTokApiResource(base_url=base_url)


def materialize(api: TikTokApiResource, warehouse: WarehouseResource, instance: dg.DagsterInstance,
                postbacks: PostbacksResource | None = None):
    postbacks = postbacks or PostbacksResource(pixel_id=PIXEL, app_id=APP_ID)
    result = dg.materialize([tiktok_event_deliveries], instance=instance,
                            resources={"tiktok_api": api, "warehouse": warehouse, "postbacks": postbacks})
    (materialization,) = result.asset_materializations_for_node("tiktok_event_deliveries")
    checks = {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}
    return materialization.metadata, checks


def test_an_hour_is_delivered_reported_per_event_name_and_a_rerun_sends_nothing(on_loopback, warehouse):
    simulator, api = on_loopback
    store_events(warehouse.get_engine(), orders_and_views(HOUR), received_at=NOW)

    with dg.instance_for_test() as instance:
        metadata, checks = materialize(api, warehouse, instance)
        requests_after_first = dict(simulator.events.requests)
        again, _ = materialize(api, warehouse, instance)

    table = metadata["by_tiktok_event"].value
    for line in ("| AddToCart           |        1 |      1 |          1 |",
                 "| NewCustomerPurchase |        1 |      1 |          1 |",
                 "| PageView            |        2 |      2 |          2 |",
                 "| Purchase            |        2 |      2 |          2 |"):
        assert line in table
    assert [metadata[name].value for name in ("queued", "sent", "accepted", "rejected", "retried", "dead_lettered", "undelivered")] == [6, 6, 6, 0, 0, 0, 0]
    assert (metadata["first_party_events"].value, metadata["first_party_events_not_mapped"].value) == (6, 1)
    assert metadata["loads_mapped"].value == 1 and f"| {HOUR:%Y-%m-%d %H}:00 " in metadata["events_by_hour"].value
    assert sorted(accepted_keys(simulator)) == sorted([
        (PIXEL, "Purchase", "o1"), (PIXEL, "NewCustomerPurchase", "o1:NewCustomerPurchase"), (PIXEL, "Purchase", "o2"),
        (PIXEL, "PageView", "p1"), (PIXEL, "PageView", "p2"), (APP_ID, "AddToCart", "c1"),
    ])
    assert checks[REJECTION_RATE_CHECK].passed and checks[UNDELIVERED_CHECK].passed
    # Running again maps no load and sends nothing; the state of the events TikTok still accepts is shown again.
    assert (again["loads_mapped"].value, again["newly_queued"].value, again["accepted"].value) == (0, 0, 6)
    assert again["this_run"].value["events_sent"] == 0
    assert dict(simulator.events.requests) == requests_after_first == {PIXEL: 1, APP_ID: 1}


def test_rejections_fail_the_rate_check_and_unsent_old_events_warn(on_loopback, warehouse):
    simulator, api = on_loopback
    old_hour = HOUR - timedelta(days=8)
    store_events(warehouse.get_engine(), [*orders_and_views(HOUR), event("old", "$page_load", old_hour, 1)], received_at=NOW)
    # TikTok's clock an hour behind the events: each is "more than 5 minutes in the future" and rejected.
    simulator.clock.set(HOUR - timedelta(hours=1))

    with dg.instance_for_test() as instance:
        rejected, checks = materialize(api, warehouse, instance)

    assert (rejected["rejected"].value, rejected["accepted"].value, rejected["rejection_rate"].value) == (6, 0, 1.0)
    assert "Must not be more than 5 minutes in the future" in rejected["dead_letters"].value
    rate_check = checks[REJECTION_RATE_CHECK]
    assert not rate_check.passed and rate_check.severity == dg.AssetCheckSeverity.ERROR
    assert rate_check.metadata["rejection_rate"].value == 1.0
    # The 8-day-old event is given up unsent: a warning, not a rejection.
    assert (rejected["first_party_events_too_old"].value, rejected["sent"].value) == (1, 6)
    undelivered = checks[UNDELIVERED_CHECK]
    assert not undelivered.passed and undelivered.severity == dg.AssetCheckSeverity.WARN
    assert undelivered.metadata["dead_lettered_unsent"].value == 1


def test_the_sensor_requests_a_run_for_waiting_loads_even_one_committed_late(on_loopback, warehouse):
    simulator, api = on_loopback
    engine = warehouse.get_engine()

    def tick() -> dg.SensorResult:
        with dg.build_sensor_context(resources={"warehouse": warehouse}) as context:
            return new_first_party_events_sensor(context)

    assert tick().skip_reason is not None
    store_events(engine, [event("a", "$page_load", HOUR, 1)], received_at=NOW - timedelta(minutes=5))
    first, same = tick(), tick()
    with dg.instance_for_test() as instance:
        materialize(api, warehouse, instance)
        quiet = tick()
        # Received (begun) 30 minutes before the last run, committed only now: the old sensor looked 10 minutes back.
        store_events(engine, [event("late", "$page_load", HOUR - timedelta(hours=1), 2)],
                     received_at=NOW - timedelta(minutes=30))
        late = tick()
        after, _ = materialize(api, warehouse, instance)

    assert len(first.run_requests) == 1 and first.run_requests[0].partition_key is None
    # Until a run maps them, the same loads make the same run key: Dagster starts one run.
    assert [request.run_key for request in same.run_requests] == [first.run_requests[0].run_key]
    assert quiet.skip_reason is not None
    assert len(late.run_requests) == 1 and late.run_requests[0].run_key != first.run_requests[0].run_key
    assert after["newly_queued"].value == 1
    assert sorted(event_id for _, _, event_id in accepted_keys(simulator)) == ["a", "late"]


def test_the_events_api_has_a_pool_of_its_own_apart_from_the_reporting_api():
    # Issue 15, defect 6: a spend backfill holding every Reporting API slot must not hold postbacks back.
    from tiktok_assets.defs.postbacks import TIKTOK_EVENTS_API_POOL
    from tiktok_assets.defs.spend import TIKTOK_API_POOL, ad_stats_daily

    assert tiktok_event_deliveries.op.pool == TIKTOK_EVENTS_API_POOL == "tiktok_events_api"
    assert ad_stats_daily.op.pool == TIKTOK_API_POOL != TIKTOK_EVENTS_API_POOL
    with dg.instance_for_test(overrides={"concurrency": {"pools": {"default_limit": 1}}}) as instance:
        storage = instance.event_log_storage
        for pool in (TIKTOK_API_POOL, TIKTOK_EVENTS_API_POOL):
            # What the run coordinator does for a pool it meets first: dagster.yaml's default_limit, per pool.
            storage.initialize_concurrency_limit_to_default(pool)
        # The only Reporting API slot taken by a backfill step...
        assert storage.claim_concurrency_slot(TIKTOK_API_POOL, "backfill-run", "ad_stats_daily").is_claimed
        assert not storage.claim_concurrency_slot(TIKTOK_API_POOL, "other-run", "ad_stats_hourly").is_claimed
        # ...leaves the Events API's free.
        assert storage.claim_concurrency_slot(TIKTOK_EVENTS_API_POOL, "postbacks-run", "tiktok_event_deliveries").is_claimed


def test_destination_ids_come_from_the_env_then_the_mapping_file_then_the_simulator(tmp_path):
    mapping_file = tmp_path / "mapping.yaml"
    mapping_file.write_text("destinations:\n  web:\n    pixel_id: CFROMYAML\n")

    def ids(settings: PostbackSettings, uses_simulator: bool = True) -> tuple[str, str]:
        destinations = settings.mapping(uses_simulator).destinations
        return destinations[EventSource.WEB].event_source_id, destinations[EventSource.APP].event_source_id

    assert ids(PostbackSettings()) == (SIMULATOR_PIXEL_ID, SIMULATOR_APP_ID)
    assert ids(PostbackSettings(mapping_path=str(mapping_file))) == ("CFROMYAML", SIMULATOR_APP_ID)
    assert ids(PostbackSettings(mapping_path=str(mapping_file), pixel_id="CFROMENV", app_id="7111")) == ("CFROMENV", "7111")
    # On the real API nothing is made up: a missing id is an error naming the setting.
    with pytest.raises(MappingConfigError, match="destinations.web.pixel_id"):
        PostbackSettings().mapping(uses_simulator=False)
