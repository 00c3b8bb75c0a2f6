"""Errors of the postbacks domain: each names what was wrong and what to do next.

Messages never echo personal data (email, phone, external id, IP): they name
the field and the event, not the value, because they end up in logs and in
the Dagster UI.
"""

from __future__ import annotations


class PostbackError(Exception):
    """Base class of every postbacks error."""


class EventValidationError(PostbackError):
    """A first-party event failed validation; ``field`` and ``event_id`` say where."""

    def __init__(self, field: str, problem: str, *, event_id: str | None = None) -> None:
        self.field = field
        self.problem = problem
        self.event_id = event_id
        which = f"event {event_id!r}" if event_id else "event without a usable event_id"
        super().__init__(f"{which}: field {field!r}: {problem}")


class EventFileError(PostbackError):
    """A whole event file is unusable (missing, or a CSV without the required columns)."""


class MappingConfigError(PostbackError):
    """The mapping configuration is wrong; ``key`` is the path of the offending setting."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"mapping config {key!r}: {problem}")


class PayloadError(PostbackError):
    """A first-party event cannot become a valid Events API payload."""


class DeliveryError(PostbackError):
    """Delivery to the Events API had to stop; nothing was lost: unsent events stay in the outbox as pending."""
