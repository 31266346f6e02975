"""ApplicationError types: the business failures clients tell apart by type, never by text."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from durasumi.workflows.forms import FieldError

__all__ = [
    "FORM_EXPIRED",
    "INVALID_INPUT",
    "INVALID_SUBMISSION",
    "JOB_CLOSED",
    "NO_PENDING_FORM",
    "WRONG_FORM",
    "errors_detail",
    "field_errors_from_details",
]

INVALID_INPUT = "InvalidInput"
INVALID_SUBMISSION = "InvalidSubmission"
NO_PENDING_FORM = "NoPendingForm"
WRONG_FORM = "WrongForm"
FORM_EXPIRED = "FormExpired"
JOB_CLOSED = "JobClosed"
# A job's workflow fails with these once it has settled, so Temporal (and its Web UI) shows a
# failed or cancelled job as Failed; the details carry the job's JobResult.
JOB_FAILED = "JobFailed"
JOB_CANCELLED = "JobCancelled"


def errors_detail(errors: Iterable[FieldError]) -> dict[str, Any]:
    """The ApplicationError detail that carries field errors: ``{"errors": [...]}``."""
    return {"errors": [e.model_dump(mode="json") for e in errors]}


def field_errors_from_details(details: Iterable[Any]) -> list[FieldError]:
    """Read field errors back out of an ApplicationError's details (client side)."""
    found: list[FieldError] = []
    for detail in details:
        if isinstance(detail, dict):
            found.extend(FieldError.model_validate(e) for e in detail.get("errors", []))
    return found
