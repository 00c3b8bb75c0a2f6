"""Revision-aware re-pulls: convergence, the revision log, change-only recompute, settled partitions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pandas as pd
import pytest

from tiktok_assets.defs.automation import change_only_eager
from tiktok_assets.partitions import advertiser_date_key, advertiser_date_partitions
from tiktok_assets.spend.settle import SKIP_SETTLED_TAG
from tiktok_assets_tests.spend.harness import SpendHarness, materialized_partitions

TOKEN = "limited-token-revisions-0000000000000000"
TRACKED = {"spend": "spend", "conversions": "conversion", "purchases": "complete_payment",
           "purchase_value": "total_complete_payment_rate", "clicks": "clicks", "impressions": "impressions",
           "installs": "app_install"}
FAR_FUTURE = datetime(2027, 6, 1, tzinfo=UTC)


@pytest.fixture
def one_advertiser(loopback_simulator, tmp_path):
    """A harness whose token reads only the US advertiser (America/Los_Angeles)."""
    simulator, base_url = loopback_simulator
    advertiser_id = next(a["advertiser_id"] for a in simulator.world.advertisers
                         if a["display_timezone"] == "America/Los_Angeles")
    simulator.grant(TOKEN, [advertiser_id])
    harness = SpendHarness(base_url, f"sqlite:///{tmp_path / 'w.sqlite'}", access_token=TOKEN)
    assert harness.discover() == [advertiser_id]
    return simulator, harness, advertiser_id


def _served(simulator, advertiser_id: str, start: date, end: date, now: datetime) -> dict[tuple[str, str], tuple]:
    frame = simulator.world.report_frame(advertiser_id, "AUCTION_AD", "day", start, end, now)
    values = frame[list(TRACKED.values())].round(4).itertuples(index=False, name=None)
    keys = zip(frame["ad_id"], frame["stat_time"].dt.date.astype(str), strict=True)
    return dict(zip(keys, values, strict=True))


def test_repulls_converge_to_final_values_and_log_every_change_and_nothing_else(one_advertiser) -> None:
    simulator, harness, advertiser_id = one_advertiser
    start, end = date(2026, 11, 14), date(2026, 11, 18)  # ages 1..5 in Los Angeles at the first pull
    harness.import_range(start, end, entities=False)
    served = [_served(simulator, advertiser_id, start, end, simulator.clock.now())]
    for _day in range(8):  # day by day until every date is past the 7-day settle window
        simulator.clock.advance(timedelta(days=1))
        assert harness.import_range(start, end, entities=False).success
        served.append(_served(simulator, advertiser_id, start, end, simulator.clock.now()))

    final = _served(simulator, advertiser_id, start, end, FAR_FUTURE)
    assert served[-1] == final, "the simulator itself has settled"
    stored = harness.query(
        "select ad_id, stat_date, " + ", ".join(TRACKED) + " from ad_stats_daily where advertiser_id = :a",
        a=advertiser_id,
    )
    stored_values = {
        (row.ad_id, str(pd.Timestamp(row.stat_date).date())): tuple(round(float(getattr(row, c)), 4) for c in TRACKED)
        for row in stored.itertuples()
    }
    assert stored_values == final, "the warehouse converged to TikTok's final values exactly"

    # Every change between two consecutive pulls, computed from what was served.
    expected = []
    for before, after in zip(served, served[1:], strict=False):
        for key in sorted(set(before) | set(after)):
            if before.get(key) != after.get(key):
                old = before.get(key, (0.0,) * len(TRACKED))
                new = after.get(key, (0.0,) * len(TRACKED))
                expected.append((key[0], key[1], old[0], new[0], old[1], new[1]))
    assert expected, "the simulator revised something in the settle window"
    log = harness.query(
        "select ad_id, stat_date, old_spend, new_spend, old_conversions, new_conversions from stats_revisions "
        "where table_name = 'ad_stats_daily'"
    )
    logged = sorted(
        (row.ad_id, str(pd.Timestamp(row.stat_date).date()), round(float(row.old_spend), 4),
         round(float(row.new_spend), 4), float(row.old_conversions), float(row.new_conversions))
        for row in log.itertuples()
    )
    assert logged == sorted((a, d, os_, ns, float(oc), float(nc)) for a, d, os_, ns, oc, nc in expected)


def test_only_changed_partitions_are_recomputed_downstream(one_advertiser) -> None:
    simulator, harness, advertiser_id = one_advertiser

    @dg.asset(partitions_def=advertiser_date_partitions, deps=[dg.AssetKey("ad_stats_daily")],
              automation_condition=change_only_eager(timedelta(days=30)))
    def downstream_probe() -> None:
        """Stands for any asset derived from ad_stats_daily."""

    defs = dg.Definitions.merge(harness.defs, dg.Definitions(assets=[downstream_probe]))

    def evaluate(cursor=None):  # noqa: ANN001, ANN202
        return dg.evaluate_automation_conditions(defs=defs, instance=harness.instance, cursor=cursor)

    def requested(result) -> set[str]:  # noqa: ANN001
        return set(result.get_requested_partitions(downstream_probe.key)) if result.total_requested else set()

    # Los Angeles is on 2026-11-20: the 13th is 6 days old (still revising), the 10th-12th are final.
    start, end = date(2026, 11, 10), date(2026, 11, 13)
    result = evaluate()
    harness.import_range(start, end, entities=False)
    result = evaluate(result.cursor)
    assert requested(result) == {str(advertiser_date_key(advertiser_id, start + timedelta(days=n))) for n in range(4)}

    unchanged = harness.import_range(start, end, entities=False)  # same simulated day: nothing moved
    assert len(materialized_partitions(unchanged, "ad_stats_daily")) == 4, "the re-pull did materialize"
    result = evaluate(result.cursor)
    assert requested(result) == set(), "a re-pull that changed nothing recomputes nothing"

    simulator.clock.advance(timedelta(days=1))  # the 13th reaches its settle window: final values land
    harness.import_range(start, end, entities=False)
    result = evaluate(result.cursor)
    assert requested(result) == {str(advertiser_date_key(advertiser_id, end))}


def test_settled_partitions_are_skipped_by_the_settle_re_pull(one_advertiser) -> None:
    simulator, harness, advertiser_id = one_advertiser
    start, end = date(2026, 11, 1), date(2026, 11, 3)  # long past the settle window
    harness.import_range(start, end, entities=False)  # first pull: inserts, so not yet settled
    second = harness.import_range(start, end, entities=False, extra_tags={SKIP_SETTLED_TAG: "true"})
    assert len(materialized_partitions(second, "ad_stats_daily")) == 3, "pulled once more after ageing out"
    pulls_before = harness.count("partition_pulls")
    third = harness.import_range(start, end, entities=False, extra_tags={SKIP_SETTLED_TAG: "true"})
    assert third.success
    assert materialized_partitions(third, "ad_stats_daily") == [], "settled: not pulled again"
    assert harness.count("partition_pulls") == pulls_before
    forced = harness.import_range(start, end, entities=False)  # without the tag: pulled when asked
    assert len(materialized_partitions(forced, "ad_stats_daily")) == 3


def test_revision_drift_calls_settled_exactly_what_the_settle_re_pull_skips(one_advertiser) -> None:
    _simulator, harness, advertiser_id = one_advertiser
    start, end = date(2026, 11, 1), date(2026, 11, 3)  # long past the settle window

    def drift_settled() -> dict[str, bool]:
        harness.run([dg.AssetKey("revision_drift")])
        frame = harness.query("select stat_date, settled from revision_drift where advertiser_id = :a", a=advertiser_id)
        return {str(pd.Timestamp(day).date()): bool(flag) for day, flag in zip(frame["stat_date"], frame["settled"],
                                                                                strict=True)}

    harness.import_range(start, end, entities=False)  # the first pull inserts: not settled
    assert drift_settled() == {str(start + timedelta(days=n)): False for n in range(3)}
    harness.import_range(start, end, entities=False)  # unchanged after ageing out: settled
    assert drift_settled() == {str(start + timedelta(days=n)): True for n in range(3)}
    skipped = harness.import_range(start, end, entities=False, extra_tags={SKIP_SETTLED_TAG: "true"})
    assert materialized_partitions(skipped, "ad_stats_daily") == [], "the planner skips the same days"
