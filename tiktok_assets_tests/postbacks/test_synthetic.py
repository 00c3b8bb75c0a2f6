"""The synthetic stream: deterministic, partition-stable, valid, and shaped like a real shop."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from tiktok_assets.postbacks.events import APP_EVENT_NAMES, WEB_EVENT_NAMES, EventSource, event_to_record, parse_event
from tiktok_assets.postbacks.mapping import load_mapping
from tiktok_assets.postbacks.payloads import build_all_tiktok_events
from tiktok_assets.postbacks.pii import PiiHasher
from tiktok_assets.postbacks.synthetic import SyntheticStreamConfig, generate_day, generate_events

ADS = [
    {"ad_id": "1790000000001", "campaign_id": "1780000000001", "advertiser_id": "7000000001", "currency": "USD"},
    {"ad_id": "1790000000002", "campaign_id": "1780000000001", "advertiser_id": "7000000001", "currency": "USD"},
    {"ad_id": "1790000000003", "campaign_id": "1780000000002", "advertiser_id": "7000000002", "currency": "EUR"},
]
CAMPAIGN_OF = {ad["ad_id"]: ad["campaign_id"] for ad in ADS}
CURRENCY_OF = {ad["ad_id"]: ad["currency"] for ad in ADS}
SMALL = SyntheticStreamConfig(sessions_per_day=300, recurring_orders_per_day=4, cancellations_per_day=1, customer_lookback_days=20)
START = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def fortnight():
    return generate_events(ADS, START, START + timedelta(days=14), seed=11, config=SMALL)


def test_same_seed_same_events_other_seed_other_events():
    one_day = (START, START + timedelta(days=1))
    assert generate_events(ADS, *one_day, seed=5, config=SMALL) == generate_events(ADS, *one_day, seed=5, config=SMALL)
    assert generate_events(ADS, *one_day, seed=5, config=SMALL) != generate_events(ADS, *one_day, seed=6, config=SMALL)


def test_a_range_is_the_union_of_its_days(fortnight):
    # What a daily partition generates is what a backfill of the whole range generates.
    days = [generate_events(ADS, START + timedelta(days=offset), START + timedelta(days=offset + 1), seed=11, config=SMALL) for offset in range(14)]
    assert [event for day in days for event in day] == fortnight
    assert all(START + timedelta(days=offset) <= event.event_time < START + timedelta(days=offset + 1) for offset, day in enumerate(days) for event in day)


def test_events_are_sorted_unique_in_range_and_pass_validation(fortnight):
    assert fortnight == sorted(fortnight, key=lambda event: (event.event_time, event.event_id))
    assert len({event.event_id for event in fortnight}) == len(fortnight)
    assert all(START <= event.event_time < START + timedelta(days=14) for event in fortnight)
    assert [parse_event(event_to_record(event)) for event in fortnight] == fortnight


def test_the_stream_has_both_sources_and_every_standard_funnel_event(fortnight):
    names = Counter((event.source, event.event_name) for event in fortnight)
    funnel = ["$page_load", "Viewed Product", "Added To Cart", "Started Checkout", "Added Payment Info", "Placed Order"]
    counts = [names[(EventSource.WEB, name)] for name in funnel]
    assert all(count > 0 for count in counts)
    assert counts[2:] == sorted(counts[2:], reverse=True)  # the funnel narrows from the cart on
    assert {name for source, name in names if source is EventSource.WEB} <= set(WEB_EVENT_NAMES)
    assert {name for source, name in names if source is EventSource.APP} <= set(APP_EVENT_NAMES)
    assert names[(EventSource.APP, "Session")] > 0 and names[(EventSource.APP, "Purchase")] > 0
    assert names[(EventSource.WEB, "Placed Recurring Subscription Order")] > 0


def test_tiktok_sessions_carry_the_ads_click_parameters(fortnight):
    from_tiktok = [event for event in fortnight if event.click.cvg_source == "tiktok"]
    others = [event for event in fortnight if event.click.cvg_source is None]
    assert from_tiktok and others
    for event in from_tiktok:
        assert CAMPAIGN_OF[event.click.cvg_adid] == event.click.cvg_cid
        assert event.click.utm_source == "tiktok"
        if event.currency is not None:
            assert event.currency == CURRENCY_OF[event.click.cvg_adid]
    landings = [event for event in from_tiktok if event.event_name == "$page_load"]
    assert landings and all(event.identity.ttclid and event.referrer == "https://www.tiktok.com/" for event in landings)
    for landing in landings:
        query = parse_qs(urlsplit(landing.page_url).query)
        assert query["cvg_adid"] == [landing.click.cvg_adid] and query["cvg_cid"] == [landing.click.cvg_cid]
    assert {event.click.cvg_adid for event in from_tiktok} == set(CAMPAIGN_OF)


def test_orders_add_up_and_each_customer_is_new_exactly_once():
    # Long enough that returning customers' first orders fall inside the range.
    events = generate_events(ADS, START, START + timedelta(days=30), seed=3, config=SMALL)
    orders = [event for event in events if event.event_name in ("Placed Order", "Purchase")]
    assert orders
    for order in orders:
        assert order.value == pytest.approx(sum(product.quantity * product.price for product in order.products))
        assert order.order_id and order.customer_id and order.identity.email.lower().endswith("@example.com")
    firsts: dict[str, list[datetime]] = defaultdict(list)
    for order in orders:
        if order.is_new_customer:
            firsts[order.customer_id].append(order.event_time)
    assert all(len(times) == 1 for times in firsts.values())
    returning = [order for order in orders if order.is_new_customer is False]
    assert returning
    checked = 0
    for order in returning:
        # Customer ids are cus-YYMMDDnnnnn: the day of their first order.
        first_day = datetime.strptime(order.customer_id[4:10], "%y%m%d").replace(tzinfo=UTC)
        assert first_day < order.event_time
        if START + timedelta(days=1) <= first_day < START + timedelta(days=29):
            assert firsts[order.customer_id][0] < order.event_time
            checked += 1
    assert checked > 0


def test_the_default_mapping_turns_the_stream_into_tiktok_events_without_dropping_pii(fortnight):
    hasher = PiiHasher()
    built = build_all_tiktok_events(fortnight, load_mapping(pixel_id="CPIX", app_id="7100"), hasher)
    counts = Counter(event.event for event in built)
    assert counts["Purchase"] > 0 and 0 < counts["NewCustomerPurchase"] < counts["Purchase"]
    assert counts["PageView"] == sum(event.event_name == "$page_load" for event in fortnight)
    assert not hasher.rejections  # every fake email and phone is valid


def test_generate_day_covers_sessions_starting_that_day_and_checks_ads():
    day = generate_day(ADS, date(2026, 11, 3), seed=1, config=SMALL)
    assert day and all(event.event_time.date() >= date(2026, 11, 3) for event in day)
    with pytest.raises(ValueError, match=r"ads\[0\] lacks campaign_id"):
        generate_day([{"ad_id": "1"}], date(2026, 11, 3))
    with pytest.raises(ValueError, match="aware"):
        generate_events(ADS, datetime(2026, 11, 1), datetime(2026, 11, 2))


def test_without_ads_no_session_comes_from_tiktok():
    events = generate_events([], START, START + timedelta(days=1), seed=2, config=SMALL)
    assert events and all(event.click.cvg_source is None for event in events)
