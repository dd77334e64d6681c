"""The ingest domain's errors: AWS's validation wording for Put* members, field and job failures."""

from __future__ import annotations

from tailor_shared.errors import InvalidInputException
from tailor_shared.validation import quoted_short, validation_error


def constraint(value: object, path: str, rule: str) -> InvalidInputException:
    """AWS's validation wording, naming the member path (``eventList.2.member.eventType``, 1-based); long
    values are cut to 80 characters."""
    return validation_error(value, path, rule, quoted_short)


def member_path(p: str, member: str) -> str:
    """Member paths are built only for messages (this runs for every field of every event)."""
    return f"{p}.{member}" if p else member


class FieldError(ValueError):
    """A value that does not fit its schema field; the caller adds where it was (record path or CSV line)."""


class ImportFailure(Exception):
    """An import or export job cannot complete; ``reason`` becomes the job's failureReason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
