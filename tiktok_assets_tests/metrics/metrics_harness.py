"""The spend harness plus the metrics and report assets: one Definitions, one ephemeral instance."""

from __future__ import annotations

from datetime import date

import dagster as dg

from tiktok_assets.defs import metrics
from tiktok_assets.partitions import ADVERTISER_PARTITIONS_NAME, all_advertisers_range_tags
from tiktok_assets_tests.spend.harness import SpendHarness

REPORT_KEYS = [dg.AssetKey(name) for name in ("overview_report", "channels_report", "app_report")]


class MetricsHarness(SpendHarness):
    """What ``build_definitions`` wires today, with the metrics and report assets merged in."""

    def __init__(self, base_url: str, warehouse_url: str, *, access_token: str | None = None) -> None:
        super().__init__(base_url, warehouse_url, access_token=access_token)
        self.defs = dg.Definitions.merge(
            self.defs, dg.Definitions(assets=[*metrics.METRICS_ASSETS, *metrics.REPORT_ASSETS])
        )
        self.job = self.defs.resolve_implicit_global_asset_job_def()

    @property
    def advertisers(self) -> list[str]:
        return self.instance.get_dynamic_partitions(ADVERTISER_PARTITIONS_NAME)

    def materialize_metrics(self, start: date, end: date, *, raise_on_error: bool = True
                            ) -> dg.ExecuteInProcessResult:
        """Every metrics asset over every advertiser from ``start`` to ``end``: one run, as a backfill would."""
        return self.run(metrics.METRICS_ASSET_KEYS, tags=all_advertisers_range_tags(self.advertisers, start, end),
                        raise_on_error=raise_on_error)

    def materialize_reports(self) -> dg.ExecuteInProcessResult:
        return self.run(REPORT_KEYS)


def data_versions(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], str]:
    """(asset, partition) -> the data version each materialization of the run carried."""
    versions = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        versions[(materialization.asset_key.to_user_string(), str(materialization.partition))] = (
            materialization.tags["dagster/data_version"])
    return versions


def check_evaluations(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], object]:
    """(asset, check name) -> its AssetCheckEvaluation, including failed ones of a failed run."""
    evaluations = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            evaluations[(evaluation.asset_key.to_user_string(), evaluation.check_name)] = evaluation
    return evaluations
