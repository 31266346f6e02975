"""The messages of ``hire()`` (workflows/hire.py) and its platform-side activities."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from durasumi.workflows.models import FormRequest, JobStatus, Usage

__all__ = [
    "HIRE_FAILED",
    "HIRE_OVER_BUDGET",
    "HIRE_TIMEOUT",
    "HIRE_UNKNOWN_AGENT",
    "HireLookup",
    "HireTarget",
    "SubJobState",
    "SubJobWatch",
]

# ApplicationError types a hiring agent may catch.
HIRE_OVER_BUDGET = "HireOverBudget"
HIRE_UNKNOWN_AGENT = "HireUnknownAgent"
HIRE_FAILED = "HireFailed"
HIRE_TIMEOUT = "HireTimeout"


class HireLookup(BaseModel):
    """Which agent to hire."""

    agent: str


class HireTarget(BaseModel):
    """What the platform's registry says about an agent to hire."""

    agent: str
    task_queue: str
    vendor: str
    price_lovelace: int = 0
    input_form: dict[str, Any] | None = None


class SubJobWatch(BaseModel):
    """Wait until a sub-job asks for a form other than ``seen_request_id``, or ends."""

    job_id: str
    seen_request_id: str | None = None


class SubJobState(BaseModel):
    """A sub-job's state when it asks for input (``request``) or has ended."""

    status: JobStatus
    request: FormRequest | None = None
    usage: Usage = Field(default_factory=Usage)
