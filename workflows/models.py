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

from durasumi.workflows.escrow_models import EscrowStatus, EscrowTerms, EscrowView, PaymentRequest
from durasumi.workflows.forms import FieldError, Form
from durasumi.workflows.ids import ResultHashRule
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
    hires: int = Field(0, ge=0, description="Sub-jobs this job hired (``hire()``).")
    hire_lovelace: int = Field(0, ge=0, description="The hired agents' prices, summed.")

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            gpu_seconds=round(self.gpu_seconds + other.gpu_seconds, 6),
            llm_calls=self.llm_calls + other.llm_calls,
            gpu_calls=self.gpu_calls + other.gpu_calls,
            hires=self.hires + other.hires,
            hire_lovelace=self.hire_lovelace + other.hire_lovelace,
        )


class PaymentPlan(BaseModel):
    """How a job is paid for: ``free``, or ``escrow`` (Cardano escrow, with its terms)."""

    mode: Literal["free", "escrow"] = "free"
    escrow: EscrowTerms | None = None
    result_hash_rule: ResultHashRule = Field(
        ResultHashRule.ESCAPED, description="How the MIP-004 result hash is formed (ids.py)."
    )

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
    carried: JobCarry | None = Field(
        default=None,
        description="Set by the job itself when it continues as new: what the next run keeps.",
    )


class AgentCarry(BaseModel):
    """What an agent's next run keeps when it continues as new (``AgentWorkflow.checkpoint``).

    The SDK's own counters keep form request ids, event numbers and hire ids unique across
    the agent's runs; ``state`` is the agent's own, as it passed it to ``checkpoint``.

    Example:
        >>> AgentCarry(runs=2, form_count=7, state={"total": 21}).state
        {'total': 21}
    """

    runs: int = Field(1, ge=1, description="Runs before this one.")
    agent_seq: int = Field(0, ge=0)
    form_count: int = Field(0, ge=0)
    hires: int = Field(0, ge=0)
    hire_spent: int = Field(0, ge=0)
    job_moved: bool = Field(False, description="The job continued as new (job_continued).")
    state: JsonValue = None


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
    platform_task_queue: str | None = Field(
        None, description="The job's task queue: where ``hire()`` asks the platform."
    )
    carry: AgentCarry | None = Field(
        None, description="What the run before this one handed over (``AgentWorkflow.checkpoint``)."
    )


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


class AgentEventBatch(BaseModel):
    """Agent events in one signal, in the agent's order (workflows/agent.py's outbox)."""

    events: list[AgentEvent]


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
    input_hashes: list[str] = Field(
        default_factory=list, description="MIP-004 hashes of the accepted form answers, in order."
    )
    events_from: int = Field(
        1, description="The first event this run of the job holds; older ones are in earlier runs."
    )
    previous_run_id: str | None = Field(
        None, description="The run before this one (the job continued as new), if any."
    )


class AgentOutcome(BaseModel):
    """How an agent's workflow ended, as its job needs it (workflows/continuation.py)."""

    status: Literal["completed", "failed", "cancelled"]
    result: JsonValue = None
    error: str | None = None


class JobCarry(BaseModel):
    """What a job keeps when it continues as new (workflows/continuation.py).

    Only taken while the agent runs: payment is secured and not yet settled.
    """

    run: int = Field(2, description="This run's number: 2 for the first continuation.")
    previous_run_id: str
    status: JobStatus
    pending: FormRequest | None = None
    cancel: CancelRequest | None = None
    created_at: datetime
    usage: Usage = Field(default_factory=Usage)
    # Agent events seen: every number up to seen_through, and these above it.
    seen_through: int = 0
    seen_above: list[int] = Field(default_factory=list)
    input_hashes: list[str] = Field(default_factory=list)
    events: list[JobEvent] = Field(
        default_factory=list, description="The last events, for watchers that lag a little."
    )
    next_seq: int = 1
    escrow_request: PaymentRequest | None = None
    escrow_status: EscrowStatus | None = None
    agent_outcome: AgentOutcome | None = Field(
        None, description="How the agent ended, if it told the run before."
    )


class JobResult(BaseModel):
    """JobWorkflow's return value: the job's terminal state."""

    job_id: str
    status: JobStatus
    result: JsonValue = None
    error: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
    last_events: list[JobEvent] | None = Field(
        None,
        description="The run's last events (up to 64 KB of them), so a live follower needs no "
        "query on the closed run (client/job_stream.py); None from jobs before it.",
    )


AgentEvent.model_rebuild()
AgentEventBatch.model_rebuild()
JobInput.model_rebuild()
