"""The delivery checks' findings, pure (issue 16, defect 8: the logic left the Dagster layer)."""

from tiktok_assets.postbacks.checks import rejection_finding
from tiktok_assets.postbacks.delivery import DeliveryReport


def test_the_rejection_rate_is_over_the_events_tiktok_answered_for_and_the_threshold_is_inclusive() -> None:
    at_threshold = rejection_finding(DeliveryReport(accepted=98, rejected=2), threshold=0.02)
    above = rejection_finding(DeliveryReport(accepted=97, rejected=3), threshold=0.02)

    assert (at_threshold.rate, at_threshold.passed) == (0.02, True)
    assert (above.rate, above.passed) == (0.03, False)
    assert "rejected 3.00%" in above.description and "dead_letters" in above.description


def test_a_run_tiktok_answered_nothing_for_has_no_rejection_rate_to_fail() -> None:
    quiet = rejection_finding(DeliveryReport(), threshold=0.0)
    assert (quiet.rate, quiet.passed) == (0.0, True)
    assert "dead_letters" not in quiet.description
