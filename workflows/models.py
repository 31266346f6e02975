"""The messages that cross Temporal boundaries: one pydantic model per input and result.

These models travel through the pydantic data converter unchanged, so the API, the CLI and
the workflows share them. Nothing here does I/O; the module is imported inside the
workflow sandbox.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field, JsonValue, model_validator

from durasumi.workflows.escrow_models import EscrowTerms, EscrowView
from durasumi.workflows.forms import FieldError, Form
from durasumi.workflows.status import JobStatus
from durasumi.workflows.terms import JobTerms

__all__ = [
    "AgentEvent",
    "AgentRunInput",
    "CancelRequest",
    "EventKind",
    "EventsQuery",
    "FieldError",
    "FormExpiredNotice",
    "FormRequest",
    "JobEvent",
    "JobInput",
    "JobResult",
    "JobStatus",
    "JobView",
    "PaymentPlan",
    "Submission",
    "SubmitResult",
    "Usage",
]


class EventKind(StrEnum):
    """What a job event reports."""

    STATUS = "status"
    PROGRESS = "progress"
    FORM_REQUESTED = "form_requested"
    FORM_SUBMITTED = "form_submitted"
    FORM_REJECTED = "form_rejected"
    FORM_EXPIRED = "form_expired"
    PAYMENT = "payment"
    RESULT = "result"
    ERROR = "error"
    USAGE = "usage"


class Usage(BaseModel):
    """Metered resources: LLM tokens and GPU-seconds, per call or summed over a job.

    The agent reports each LLM or GPU call's usage in a ``usage`` event; the job sums them.

    Example:
        >>> (Usage(input_tokens=10, llm_calls=1) + Usage(gpu_seconds=1.5, gpu_calls=1)).gpu_seconds
        1.5
    """

    input_tokens: int = Field(0, ge=0)
    output_tokens: int = Field(0, ge=0)
    gpu_seconds: float = Field(0.0, ge=0)
    llm_calls: int = Field(0, ge=0)
    gpu_calls: int = Field(0, ge=0)

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            gpu_seconds=round(self.gpu_seconds + other.gpu_seconds, 6),
            llm_calls=self.llm_calls + other.llm_calls,
            gpu_calls=self.gpu_calls + other.gpu_calls,
        )


class PaymentPlan(BaseModel):
    """How a job is paid for: ``free``, or ``escrow`` (Cardano escrow, with its terms)."""

    mode: Literal["free", "escrow"] = "free"
    escrow: EscrowTerms | None = None

    @model_validator(mode="after")
    def _terms(self) -> PaymentPlan:
        if self.mode == "escrow" and self.escrow is None:
            raise ValueError("an escrow payment plan needs its terms")
        return self


class JobInput(BaseModel):
    """Everything JobWorkflow needs to run one agent job."""

    job_id: str
    agent: str
    agent_task_queue: str
    identifier_from_purchaser: str
    input_data: dict[str, JsonValue] = Field(default_factory=dict)
    input_hash: str
    buyer: str = "anonymous"
    vendor: str = "unknown"
    payment: PaymentPlan = Field(default_factory=PaymentPlan)
    terms: JobTerms | None = None


class AgentRunInput(BaseModel):
    """What an agent's ``run`` receives: the job's id, the agent's name and the buyer's input.

    ``input_data`` is the start_job input as the buyer sent it; ``self.validated_input(job)``
    returns it cleaned by the agent's ``input_form``.

    Example:
        >>> job = AgentRunInput(job_id="job-echo-1", agent="echo", input_data={"text": "hi"})
        >>> job.input_data["text"]
        'hi'
    """

    job_id: str
    agent: str
    input_data: dict[str, JsonValue] = Field(default_factory=dict)


class JobEvent(BaseModel):
    """One entry of a job's event log; ``seq`` starts at 1 and never repeats."""

    seq: int
    at: datetime
    kind: EventKind
    message: str = ""
    data: dict[str, JsonValue] = Field(default_factory=dict)


class AgentEvent(BaseModel):
    """An event the agent reports to its job; ``agent_seq`` makes redelivery harmless."""

    agent_seq: int
    kind: EventKind
    message: str = ""
    data: dict[str, JsonValue] = Field(default_factory=dict)
    form: FormRequest | None = None


class FormRequest(BaseModel):
    """A form the agent is waiting on: request id, form and deadline."""

    request_id: str
    form: Form
    deadline: datetime | None = None


class FormExpiredNotice(BaseModel):
    """Sent by the agent when a form's deadline passed unanswered."""

    request_id: str


class Submission(BaseModel):
    """A buyer's answer to a pending form.

    ``request_id`` names the exact form request; ``form_id`` alone is accepted when only
    one form is pending (the request id then disambiguates repeated forms).
    """

    request_id: str | None = None
    form_id: str | None = None
    values: dict[str, JsonValue] = Field(default_factory=dict)
    submitted_by: str = "anonymous"


class SubmitResult(BaseModel):
    """The answer to an accepted submission."""

    request_id: str
    values: dict[str, JsonValue]


class CancelRequest(BaseModel):
    """Ask a job to stop; the buyer is refunded where money moved."""

    reason: str = "cancelled by request"
    requested_by: str = "anonymous"


class EventsQuery(BaseModel):
    """Ask for the events after a sequence number."""

    after: int = 0
    limit: int = 1000


class JobView(BaseModel):
    """Everything about a job at one moment, answered by a query."""

    job_id: str
    agent: str
    buyer: str
    vendor: str = "unknown"
    identifier_from_purchaser: str = ""
    input_hash: str = ""
    terms: JobTerms | None = None
    status: JobStatus
    pending_form: FormRequest | None = None
    result: JsonValue = None
    error: str | None = None
    last_seq: int = 0
    created_at: datetime
    updated_at: datetime
    usage: Usage = Field(default_factory=Usage)
    escrow: EscrowView | None = None


class JobResult(BaseModel):
    """JobWorkflow's return value: the job's terminal state."""

    job_id: str
    status: JobStatus
    result: JsonValue = None
    error: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


AgentEvent.model_rebuild()
