"""Freshness the Dagster way (issue 16, defect 5): the stats assets carry FreshnessPolicy time windows that
Dagster's freshness daemon evaluates (the UI's freshness status), instead of a hand-written SQL check."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster._core.definitions.freshness import FreshnessState, TimeWindowFreshnessPolicy
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon.freshness import FreshnessDaemon

from tiktok_assets.definitions import defs
from tiktok_assets.partitions import advertiser_date_key

STATS = ("ad_stats_hourly", "ad_stats_daily")
T0 = datetime(2026, 11, 20, 10, 5, tzinfo=UTC)


@pytest.mark.parametrize("asset", STATS)
def test_the_stats_assets_must_be_materialized_every_two_hours(asset: str) -> None:
    policy = defs.resolve_assets_def(asset).specs_by_key[dg.AssetKey(asset)].freshness_policy
    assert isinstance(policy, TimeWindowFreshnessPolicy)
    # The hourly sync writes both every hour: one missed sync warns, two fail.
    assert policy.fail_window.to_timedelta() == timedelta(hours=2)
    assert policy.warn_window is not None and policy.warn_window.to_timedelta() == timedelta(minutes=70)


def test_the_hand_written_freshness_check_is_gone() -> None:
    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert "hourly_stats_fresh" not in checks


def _freshness(instance: dg.DagsterInstance, at: datetime) -> FreshnessState:
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name="tiktok_assets.definitions", attribute="defs"), location_name="tiktok_assets")
    with freeze_time(at), create_test_daemon_workspace_context(InProcessWorkspaceLoadTarget(origin), instance) as ws:
        asyncio.run(FreshnessDaemon()._evaluate_assets(ws))  # noqa: SLF001 - one daemon iteration, as dagster-daemon runs it
    (record,) = instance.get_freshness_state_records([dg.AssetKey("ad_stats_hourly")]).values()
    return record.freshness_state


def test_dagsters_freshness_daemon_calls_a_missed_sync_stale(tmp_path) -> None:
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        with freeze_time(T0):
            instance.report_runless_asset_event(dg.AssetMaterialization(
                "ad_stats_hourly", partition=str(advertiser_date_key("7000492199575221389", "2026-11-20"))))
        assert _freshness(instance, T0 + timedelta(minutes=30)) == FreshnessState.PASS
        assert _freshness(instance, T0 + timedelta(minutes=80)) == FreshnessState.WARN
        assert _freshness(instance, T0 + timedelta(hours=3)) == FreshnessState.FAIL


def _derived() -> list[dg.AssetKey]:
    """Assets computed from other assets by a formula of ours (no TikTok call): every one except the pulls
    (the tiktok_api pool) and the postbacks (which load and send events)."""
    graph = defs.resolve_asset_graph()
    return sorted((key for key in graph.get_all_asset_keys()
                   if graph.get(key).group_name in {"tiktok_spend", "tiktok_metrics"}
                   and defs.resolve_assets_def(key).node_def.pool is None),
                  key=lambda key: key.to_user_string())


def test_derived_assets_carry_a_code_version() -> None:
    derived = _derived()
    assert {"revision_drift", "overview_report", "ad_metrics_daily"} <= {key.to_user_string() for key in derived}
    missing = [key.to_user_string() for key in derived
               if not defs.resolve_assets_def(key).specs_by_key[key].code_version]
    assert missing == [], "without a code_version a formula change would not mark them stale"
