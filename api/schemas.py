"""HTTP bodies: the MIP-003 shapes (camelCase where the standard says so) and the jobs API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue

from durasumi.db.keys import OWNER_MAX_LENGTH, Role, check_owner
from durasumi.workflows.escrow_models import Amount, EscrowView
from durasumi.workflows.forms import FieldError
from durasumi.workflows.models import JobEvent, JobStatus, Usage

__all__ = [
    "ADA_SUPPLY_LOVELACE",
    "TASK_QUEUE_MAX_LENGTH",
    "AgentIn",
    "AgentOut",
    "Availability",
    "CancelIn",
    "ErrorBody",
    "InputIn",
    "JobList",
    "JobOut",
    "KeyIn",
    "ProvideInputIn",
    "ProvideInputOut",
    "StartJobIn",
    "StartJobOut",
    "StatusOut",
]

# No price can exceed every lovelace there will ever be (45 billion ADA); this also keeps
# prices inside a 64-bit database integer.
ADA_SUPPLY_LOVELACE = 45_000_000_000_000_000
# Temporal refuses task queue names over 1000 bytes (and reserves "/_sys/"): a queue is a
# plain name here, short enough to show and to prefix.
TASK_QUEUE_MAX_LENGTH = 200
_TASK_QUEUE = r"^[A-Za-z0-9][A-Za-z0-9._:@+-]*$"
_NAME = r"^[a-z][a-z0-9_-]{0,62}$"

# C0 controls other than tab, newline and carriage return, and DEL: never meant in a
# description, and PostgreSQL refuses NUL in a text column (a 500 once).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _plain_text(value: str) -> str:
    found = _CONTROL.search(value)
    if found:
        raise ValueError(f"must not contain control characters (found U+{ord(found[0]):04X})")
    return value


PlainText = Annotated[str, AfterValidator(_plain_text)]
"""Free text stored in a text column: any printable text, tabs and newlines included."""

MIP003Status = Literal["awaiting_payment", "awaiting_input", "running", "completed", "failed"]


class ErrorBody(BaseModel):
    """Every error answer: a code, a sentence and, for refused input, the field errors."""

    error: str
    message: str
    errors: list[FieldError] = Field(default_factory=list)


class StartJobIn(BaseModel):
    """MIP-003 POST /start_job."""

    model_config = ConfigDict(extra="forbid")

    identifier_from_purchaser: str = Field(
        description="Hex, 14 to 26 characters (the Masumi payment service's rule)."
    )
    input_data: dict[str, JsonValue] = Field(default_factory=dict)


class StartJobOut(BaseModel):
    """MIP-003 start_job answer (times are Unix milliseconds)."""

    id: str
    status: Literal["success"] = "success"
    job_id: str
    blockchainIdentifier: str
    payByTime: int
    submitResultTime: int
    unlockTime: int
    externalDisputeUnlockTime: int
    agentIdentifier: str
    sellerVKey: str
    identifierFromPurchaser: str
    input_hash: str


class StatusOut(BaseModel):
    """MIP-003 GET /status answer."""

    id: str
    job_id: str
    status: MIP003Status
    input_schema: dict[str, Any] | None = None
    result: str | None = None


class ProvideInputIn(BaseModel):
    """MIP-003 POST /provide_input: name the pending form by status_id or its schema hash."""

    model_config = ConfigDict(extra="forbid")

    job_id: str
    status_id: str | None = None
    input_schema_hash: str | None = None
    input_data: dict[str, JsonValue] | None = None
    input_groups: dict[str, dict[str, JsonValue]] | None = None


class ProvideInputOut(BaseModel):
    """MIP-003 provide_input answer; ``signature`` is Ed25519 over ``signed_message``."""

    status: Literal["success"] = "success"
    input_hash: str
    signature: str


class Availability(BaseModel):
    """MIP-003 GET /availability."""

    status: Literal["available", "unavailable"]
    type: Literal["masumi-agent"] = "masumi-agent"
    message: str | None = None


class JobOut(BaseModel):
    """GET /jobs/{id}: everything about a job."""

    job_id: str
    agent: str
    buyer: str
    status: JobStatus
    pending_form: dict[str, Any] | None = None
    pending_input_schema: dict[str, Any] | None = Field(
        None, description="The pending form as MIP-003 input_schema (input_data/input_groups)."
    )
    result: JsonValue = None
    error: str | None = None
    events: int
    usage: Usage = Field(default_factory=Usage, description="Tokens and GPU-seconds so far.")
    escrow: EscrowView | None = Field(None, description="The escrow of a paid job.")
    created_at: datetime
    updated_at: datetime


class JobRow(BaseModel):
    """One row of GET /jobs."""

    job_id: str
    agent: str
    status: str
    buyer: str
    started_at: datetime | None


class JobList(BaseModel):
    """GET /jobs: a page and the token of the next one."""

    jobs: list[JobRow]
    next_page_token: str | None = None


class InputIn(BaseModel):
    """POST /jobs/{id}/input: answer the pending form."""

    model_config = ConfigDict(extra="forbid")

    request_id: str | None = None
    form_id: str | None = None
    values: dict[str, JsonValue] = Field(default_factory=dict)


class CancelIn(BaseModel):
    """POST /jobs/{id}/cancel."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field("cancelled by request", max_length=500)


class AgentIn(BaseModel):
    """POST /agents: a vendor registers (or updates) an agent.

    An update changes only the fields the request names: a worker registering what it
    serves (name, description, task queue, workflow type, input form) keeps the price and
    demo the vendor set.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME, description="1-63 of a-z 0-9 - _, starting with a letter.")
    description: PlainText = Field("", max_length=2000)
    task_queue: str | None = Field(
        None,
        max_length=TASK_QUEUE_MAX_LENGTH,
        pattern=_TASK_QUEUE,
        description="The platform's to choose: <agent queue prefix>-<name>, given back in the "
        "answer for the worker to poll. A vendor may leave it out or repeat it; an operator may "
        "move an agent to another queue (ASCII letters, digits and . _ : @ + -, starting with a "
        "letter or digit; neither the platform's queue nor another vendor's).",
    )
    workflow_type: str | None = Field(None, pattern=_NAME, description="Default: the agent's name.")
    worker_problem: PlainText | None = Field(
        None,
        max_length=500,
        description="Set by a worker that cannot serve the agent (no LLM, no Ray): the agent "
        "is reported unavailable with this reason until a worker registers without one.",
    )
    price_lovelace: int = Field(
        0, ge=0, le=ADA_SUPPLY_LOVELACE, description="At most the total ADA supply."
    )
    price_amounts: list[Amount] | None = Field(
        None,
        min_length=1,
        max_length=16,
        description='The whole price, in units: [{"unit": "" (lovelace) or policy id + asset '
        'name (hex), "amount": n}, ...]; price_lovelace then follows it (its "" amounts). '
        "Leave out for a price in lovelace alone.",
    )
    input_form: dict[str, Any] | None = Field(None, description="The agent's input Form (JSON).")
    example: dict[str, Any] | None = Field(None, description="MIP-003 /demo: {input, output}.")
    remote_url: str | None = Field(
        None,
        max_length=2000,
        description="An agent that already serves MIP-003 at this base URL: the platform reads "
        "its /input_schema now and drives its jobs; task_queue and input_form are then set "
        "by the platform.",
    )
    remote_headers: dict[str, str] | None = Field(
        None, description="Headers sent with every call to the remote agent (auth); never shown."
    )
    agent_identifier: str | None = Field(
        None,
        pattern=r"^(?:[0-9a-fA-F]{2}){29,92}$",
        description="The agent's Masumi registry identifier (policy id + asset name, hex), "
        "what Masumi buyers look up; a paid agent needs one outside dev mode.",
    )


class AgentOut(BaseModel):
    """An agent as the API shows it."""

    name: str
    description: str
    vendor: str
    task_queue: str
    price_lovelace: int
    price_amounts: list[Amount] | None = Field(
        None, description="The price in units; None: price_lovelace alone."
    )
    input_schema: dict[str, Any]
    available: bool | None = None
    unavailable_reason: str | None = Field(None, description="Why the agent is not available.")
    remote: bool = Field(False, description="A remote MIP-003 agent the platform drives.")
    agent_identifier: str | None = Field(None, description="The Masumi registry identifier.")


class KeyIn(BaseModel):
    """What a key is for (operators create keys over the CLI)."""

    role: Role
    owner: Annotated[str, AfterValidator(check_owner)] = Field(max_length=OWNER_MAX_LENGTH)


JobEvents = list[JobEvent]
