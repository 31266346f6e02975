"""The messages between the remote-agent workflow and its activities, and their error types.

A remote agent serves MIP-003 somewhere else; the platform drives it from
``workflows/remote.py`` through the activities in ``activities/remote.py``. The remote's
URL and auth headers never enter Temporal's history: the activities look them up by the
agent's name in the registry each time.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, JsonValue

__all__ = [
    "REMOTE_BAD_ANSWER",
    "REMOTE_DEADLINE",
    "REMOTE_FAILED",
    "REMOTE_JOB_LOST",
    "REMOTE_NOT_REGISTERED",
    "REMOTE_REFUSED",
    "REMOTE_UNREACHABLE",
    "RemoteAnswerInput",
    "RemoteAnswered",
    "RemoteFollowInput",
    "RemotePlan",
    "RemotePlanInput",
    "RemoteStartInput",
    "RemoteStarted",
    "RemoteStatus",
    "RemoteTarget",
]

# ApplicationError types (non-retryable): each fails the job, which takes the refund path.
REMOTE_NOT_REGISTERED = "RemoteNotRegistered"
REMOTE_REFUSED = "RemoteRefused"
REMOTE_JOB_LOST = "RemoteJobLost"
REMOTE_BAD_ANSWER = "RemoteBadAnswer"
REMOTE_DEADLINE = "RemoteDeadline"
REMOTE_UNREACHABLE = "RemoteUnreachable"
REMOTE_FAILED = "RemoteJobFailed"

RemoteStatusValue = Literal["awaiting_payment", "awaiting_input", "running", "completed", "failed"]


class RemoteTarget(BaseModel):
    """Where a remote agent is and what to send it (registry data, never in history)."""

    url: str
    headers: dict[str, str] = Field(default_factory=dict)


class RemotePlanInput(BaseModel):
    """Plan a remote job: the agent, the job and the JobWorkflow that owns it."""

    agent: str
    job_id: str
    parent_workflow_id: str | None = None


class RemotePlan(BaseModel):
    """What the workflow needs for the whole remote job.

    ``identifier`` is the identifier_from_purchaser sent to the remote, derived from the
    job id (so a start repeated after a crash names the same purchase); ``deadline_ms``
    the Unix ms by which the remote must have finished.
    """

    url: str
    identifier: str
    deadline_ms: int


class RemoteStartInput(BaseModel):
    """POST /start_job at the remote."""

    agent: str
    job_id: str
    identifier: str
    input_data: dict[str, JsonValue] = Field(default_factory=dict)


class RemoteStarted(BaseModel):
    """The remote's answer to start_job: its job id (and payment identifier, if any)."""

    remote_job_id: str
    blockchain_identifier: str | None = None


class RemoteFollowInput(BaseModel):
    """Follow the remote job until something changes.

    The activity returns when the status differs from ``last_status``, or when the remote
    asks for input under a status id other than ``answered_status_id`` (the form already
    answered), or raises once ``deadline_ms`` passed.
    """

    agent: str
    remote_job_id: str
    last_status: str | None = None
    answered_status_id: str | None = None
    deadline_ms: int


class RemoteStatus(BaseModel):
    """One MIP-003 GET /status answer, checked."""

    status_id: str
    status: RemoteStatusValue
    input_schema: dict[str, Any] | None = None
    result: str | None = None
    message: str | None = None


class RemoteAnswerInput(BaseModel):
    """POST /provide_input at the remote: the buyer's answer to the form it asked for."""

    agent: str
    remote_job_id: str
    status_id: str
    input_schema_hash: str
    input_data: dict[str, JsonValue] = Field(default_factory=dict)


class RemoteAnswered(BaseModel):
    """The remote took the answer (``already`` when a repeated call found it taken)."""

    input_hash: str | None = None
    already: bool = False
