"""change_only_eager: downstream partitions follow a *changed* upstream data version, over the whole window.

No `from __future__ import annotations` here: Dagster reads the real type of `context`.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from tiktok_assets.defs.automation import change_only_eager

DAYS = ["2026-11-15", "2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19"]
# Just after the last day ended: 2026-11-19 is the latest complete daily partition.
EVALUATED_AT = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
# What the upstream "pull" serves per day; tests edit it to simulate TikTok revising a day.
served: dict[str, str] = {}

daily = dg.DailyPartitionsDefinition(start_date="2026-11-01")


@dg.asset(partitions_def=daily)
def stats(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(data_version=dg.DataVersion(served[context.partition_key]))


def _downstream(condition: dg.AutomationCondition) -> dg.AssetsDefinition:
    @dg.asset(partitions_def=daily, deps=[stats], automation_condition=condition)
    def metrics() -> None:
        return None

    return metrics


def _requested(defs: dg.Definitions, instance: dg.DagsterInstance,
               cursor: object | None) -> tuple[set[str], object]:
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=EVALUATED_AT,
                                               cursor=cursor)
    return set(result.get_requested_partitions(dg.AssetKey("metrics"))), result.cursor


def _pull_every_day(instance: dg.DagsterInstance) -> None:
    for day in DAYS:
        assert dg.materialize([stats], partition_key=day, instance=instance).success


@pytest.fixture
def upstream_pulled_and_downstream_done() -> tuple[dg.DagsterInstance, dg.Definitions, dg.Definitions]:
    """Both assets materialized for every day, then two code locations: ours and plain eager()."""
    served.clear()
    served.update({day: f"v1-{day}" for day in DAYS})
    instance = dg.DagsterInstance.ephemeral()
    changed_only = dg.Definitions(assets=[stats, _downstream(change_only_eager(timedelta(days=7)))])
    plain = dg.Definitions(assets=[stats, _downstream(dg.AutomationCondition.eager())])
    for day in DAYS:
        assert dg.materialize(changed_only.assets, partition_key=day, instance=instance).success
    return instance, changed_only, plain


def test_a_repull_that_changed_nothing_requests_nothing(upstream_pulled_and_downstream_done) -> None:
    instance, changed_only, plain = upstream_pulled_and_downstream_done
    _, cursor = _requested(changed_only, instance, None)
    _, plain_cursor = _requested(plain, instance, None)

    _pull_every_day(instance)  # same content, same data versions

    assert _requested(changed_only, instance, cursor)[0] == set()
    # Plain eager() recomputes on any materialization, and only in the latest partition.
    assert _requested(plain, instance, plain_cursor)[0] == {"2026-11-19"}


def test_a_revised_old_day_requests_exactly_that_day(upstream_pulled_and_downstream_done) -> None:
    instance, changed_only, plain = upstream_pulled_and_downstream_done
    _, cursor = _requested(changed_only, instance, None)
    _, plain_cursor = _requested(plain, instance, None)

    served["2026-11-16"] = "v2-late-conversions"
    _pull_every_day(instance)

    assert _requested(changed_only, instance, cursor)[0] == {"2026-11-16"}
    # Plain eager() would miss the revised day entirely.
    assert "2026-11-16" not in _requested(plain, instance, plain_cursor)[0]


@dg.asset
def orders() -> None:
    """An unpartitioned input a deployment may never materialize (first-party events without a drop directory)."""


def test_a_dependency_that_may_be_missing_does_not_hold_the_downstream_back() -> None:
    served.clear()
    served.update({day: f"v1-{day}" for day in DAYS})

    def downstream(condition: dg.AutomationCondition) -> dg.AssetsDefinition:
        @dg.asset(partitions_def=daily, deps=[stats, orders], automation_condition=condition, name="metrics")
        def metrics() -> None:
            return None

        return metrics

    waiting = dg.Definitions(assets=[stats, orders, downstream(change_only_eager(timedelta(days=7)))])
    following = dg.Definitions(assets=[stats, orders, downstream(
        change_only_eager(timedelta(days=7), may_be_missing=[orders.key]))])
    for defs, expected in ((waiting, set()), (following, set(DAYS))):
        instance = dg.DagsterInstance.ephemeral()
        _nothing, cursor = _requested(defs, instance, None)
        _pull_every_day(instance)  # orders never materialized
        assert _requested(defs, instance, cursor)[0] == expected
