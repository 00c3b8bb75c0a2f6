"""Metrics recompute when an upstream revision lands, and only then: Dagster's own automation evaluation."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import dagster as dg

from tiktok_assets.defs.metrics import METRICS_ASSET_KEYS
from tiktok_assets_tests.conftest import SIM_NOW
from tiktok_assets_tests.metrics.metrics_harness import REPORT_KEYS, MetricsHarness, data_versions

# Simulated day D is final once its age ((local today - D) - 1 days) reaches 7. On SIM_NOW
# (2026-11-20 in Los Angeles) 11-13 is 6 days old and 11-11/11-12 are final already: a
# day later only 11-13 moves, to its final values.
START, END = date(2026, 11, 11), date(2026, 11, 13)
SETTLING_DAY = date(2026, 11, 13)
REPORTS = {key.to_user_string() for key in REPORT_KEYS}


class Evaluator:
    """Successive automation ticks, each continuing from the previous tick's cursor, as the daemon does.

    Reports what was requested of the metrics and report assets (the spend
    domain's own downstream assets follow rules of their own).
    """

    def __init__(self, harness: MetricsHarness) -> None:
        self.harness = harness
        self.cursor = None
        self.keys = [*METRICS_ASSET_KEYS, *REPORT_KEYS]

    def tick(self, at: datetime) -> dict[str, set[str]]:
        """Asset -> requested partition keys ("None" for an unpartitioned asset)."""
        result = dg.evaluate_automation_conditions(defs=self.harness.defs, instance=self.harness.instance,
                                                   evaluation_time=at, cursor=self.cursor)
        self.cursor = result.cursor
        return {key.to_user_string(): set(map(str, result.get_requested_partitions(key)))
                for key in self.keys if result.get_num_requested(key)}


def test_metrics_and_reports_recompute_when_data_changed_and_only_then(loopback_simulator, tmp_path) -> None:
    simulator, base_url = loopback_simulator
    advertiser_id = next(a["advertiser_id"] for a in simulator.world.advertisers
                         if a["display_timezone"] == "America/Los_Angeles")
    # One advertiser, so "exactly one partition" is one (date, advertiser) pair.
    simulator.grant("one-advertiser", [advertiser_id])
    harness = MetricsHarness(base_url, f"sqlite:///{tmp_path / 'w.sqlite'}", access_token="one-advertiser")
    ticks = Evaluator(harness)
    clock_start = SIM_NOW.replace(tzinfo=None)
    assert ticks.tick(clock_start) == {}, "nothing imported yet"

    assert harness.import_range(START, END).success
    days = {f"{START + timedelta(days=offset)}|{advertiser_id}" for offset in range((END - START).days + 1)}
    requested = ticks.tick(clock_start + timedelta(minutes=1))
    assert requested == {key.to_user_string(): days for key in METRICS_ASSET_KEYS}, (
        "a first import requests every metrics asset for the imported partitions, nothing else")

    first = harness.materialize_metrics(START, END)
    assert ticks.tick(clock_start + timedelta(minutes=2)) == {report: {"None"} for report in REPORTS}, (
        "new metrics data versions request the reports")
    assert harness.materialize_reports().success
    assert ticks.tick(clock_start + timedelta(minutes=3)) == {}

    # A re-pull on the same simulated day: TikTok serves the same numbers.
    assert harness.import_range(START, END, entities=False).success
    assert ticks.tick(clock_start + timedelta(minutes=4)) == {}, "an unchanged re-pull recomputes nothing"

    # A day later only the settling day moves.
    simulator.clock.set(SIM_NOW + timedelta(days=1))
    assert harness.import_range(START, END, entities=False).success
    changed = harness.query("select stat_date from partition_pulls where changed and pulled_at = "
                            "(select max(pulled_at) from partition_pulls) group by stat_date")
    assert [str(day)[:10] for day in changed["stat_date"]] == [SETTLING_DAY.isoformat()], "the test's premise"
    one_day_later = clock_start + timedelta(days=1)
    settling = f"{SETTLING_DAY}|{advertiser_id}"
    assert ticks.tick(one_day_later) == {key.to_user_string(): {settling} for key in METRICS_ASSET_KEYS}

    recompute = harness.run(METRICS_ASSET_KEYS, partition_key=settling)
    changed_versions = {key for key, version in data_versions(recompute).items()
                        if data_versions(first)[key] != version}
    assert changed_versions, "the settling day's metrics got new content"
    assert ticks.tick(one_day_later + timedelta(minutes=1)) == {report: {"None"} for report in REPORTS}
    assert harness.materialize_reports().success
    assert ticks.tick(one_day_later + timedelta(minutes=2)) == {}

    # Recomputing metrics whose stats did not change writes the same content: reports stay put.
    unchanged = harness.run(METRICS_ASSET_KEYS, partition_key=f"{START}|{advertiser_id}")
    assert not [key for key, version in data_versions(unchanged).items() if data_versions(first)[key] != version]
    assert ticks.tick(one_day_later + timedelta(minutes=3)) == {}


def test_metrics_and_reports_carry_a_code_version_so_the_ui_marks_them_stale_when_a_formula_changes() -> None:
    from tiktok_assets.defs import metrics

    versions = {}
    for assets_def in [*metrics.METRICS_ASSETS, *metrics.REPORT_ASSETS]:
        versions.update({key.to_user_string(): version for key, version in assets_def.code_versions_by_key.items()})
    assert len(versions) == 8 + 3
    assert set(versions.values()) == {metrics.METRICS_CODE_VERSION}
