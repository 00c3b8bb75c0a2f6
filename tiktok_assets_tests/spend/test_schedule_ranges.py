"""The hourly sync's date range, pure (issue 16, defect 8: planning left the Dagster schedules)."""

from datetime import UTC, date, datetime

from tiktok_assets.spend.schedule import hourly_sync_range


def test_the_hourly_range_runs_from_the_earliest_local_yesterday_to_the_latest_local_today() -> None:
    # 20:00 UTC on 20 Nov: still the 20th in Los Angeles (UTC-8), already the 21st in Tokyo (UTC+9).
    now = datetime(2026, 11, 20, 20, tzinfo=UTC)
    assert hourly_sync_range({"la": "Etc/GMT+8", "tokyo": "Etc/GMT-9"}, now) == (date(2026, 11, 19), date(2026, 11, 21))
    assert hourly_sync_range({"la": "Etc/GMT+8"}, now) == (date(2026, 11, 19), date(2026, 11, 20))
