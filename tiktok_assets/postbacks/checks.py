"""What the delivery checks find after a run (no Dagster import): TikTok's rejection rate, and events left
undelivered or given up unsent. The Dagster layer turns each finding into an asset check result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from tiktok_assets.postbacks.delivery import DeliveryReport
from tiktok_assets.postbacks.outbox import MappedLoads, Overdue, overdue_events


@dataclass(frozen=True)
class RejectionFinding:
    accepted: int
    test_accepted: int
    """Accepted by TikTok's test tool (a destination with a test event code): answered, not conversions."""
    rejected: int
    threshold: float

    @property
    def rate(self) -> float:
        """Rejected share of the events TikTok answered for in the run (0 when it answered for none)."""
        answered = self.accepted + self.test_accepted + self.rejected
        return self.rejected / answered if answered else 0.0

    @property
    def passed(self) -> bool:
        return self.rate <= self.threshold

    @property
    def description(self) -> str:
        return (f"TikTok rejected {self.rate:.2%} of the events it answered for in this run "
                f"(threshold {self.threshold:.2%})."
                + (" See the dead_letters metadata for TikTok's messages." if self.rejected else ""))


def rejection_finding(report: DeliveryReport, threshold: float) -> RejectionFinding:
    return RejectionFinding(accepted=report.accepted, test_accepted=report.test_accepted, rejected=report.rejected,
                            threshold=threshold)


@dataclass(frozen=True)
class UndeliveredFinding:
    overdue: Overdue
    given_up: int
    """Events given up unsent in the run: too old for TikTok, past the dedup window, outside the sanity bounds."""
    max_hours: float
    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def description(self) -> str:
        return "; ".join(self.problems) if self.problems else f"Nothing has waited more than {self.max_hours:g} h."


def undelivered_finding(engine: Engine, report: DeliveryReport, loads: MappedLoads, max_hours: float,
                        now: datetime) -> UndeliveredFinding:
    """Events queued more than ``max_hours`` before ``now`` and still undelivered, and those the run gave up."""
    overdue = overdue_events(engine, now - timedelta(hours=max_hours))
    given_up = sum(report.not_sent.values()) + loads.mapped.enqueued.out_of_bounds + loads.too_old
    problems = []
    if overdue.events:
        problems.append(f"{overdue.events} event(s) queued more than {max_hours:g} h ago are still undelivered "
                        f"(oldest queued {overdue.oldest_queued_at:%Y-%m-%d %H:%M} UTC); check TikTok's availability "
                        "and the delivery runs' logs")
    if given_up:
        problems.append(f"{given_up} event(s) were given up unsent in this run (loaded or left older than TikTok "
                        "accepts, past the 48 h dedup window, or outside the sanity bounds); see the dead_letters and "
                        "first_party_events_too_old metadata")
    return UndeliveredFinding(overdue=overdue, given_up=given_up, max_hours=max_hours, problems=tuple(problems))
