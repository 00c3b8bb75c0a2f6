"""Errors of the spend import (no Dagster import): each names the advertiser, what was wrong and what to do."""

from __future__ import annotations


class AdvertiserProfileError(ValueError):
    """``/advertiser/info/`` lacks (or garbles) a field the stats cannot be labelled without.

    The advertiser's partitions are not imported: a guessed currency or zone
    would store numbers under the wrong label (USD, or hours moved to UTC).
    """

    def __init__(self, advertiser_id: str, field: str, problem: str, fix: str) -> None:
        self.advertiser_id = advertiser_id
        self.field = field
        super().__init__(f"Advertiser {advertiser_id}: /advertiser/info/ {problem}, so its stats were not imported "
                         f"(never assumed). {fix}")
