"""When a job continues as new, and what it keeps: Temporal's per-run limits, kept far away.

A run of a workflow may take 2,000 updates, 10,000 signals and 51,200 history events (or
50 MB); long before those, a long history makes every replay slow (a worker restart, a
query on an evicted job). So a job continues as new once any budget below is spent, at a
moment it can (the agent runs, no message is half handled), carrying its state in
:class:`~durasumi.workflows.models.JobCarry`: the pending form, the cancel request, usage,
the agent events seen, the MIP-004 input hashes, the escrow, and the last few events.

Events keep their numbers across runs. Each run holds its own and knows the run before
it, so a reader walks back for older ones (client/jobs.py ``job_events``).
"""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    FailureError,
    TerminatedError,
    TimeoutError,
)

from durasumi.workflows.models import AgentOutcome, JobEvent

__all__ = [
    "EVENT_BUDGET",
    "HISTORY_BUDGET",
    "SIGNAL_BUDGET",
    "TAIL",
    "UPDATE_BUDGET",
    "AgentOutcome",
    "AgentWatch",
    "RunBudget",
    "outcome_of",
    "seen_compacted",
]

HISTORY_BUDGET = 5_000  # history events: a replay stays at a few seconds
UPDATE_BUDGET = 1_500  # of Temporal's 2,000 updates per run
SIGNAL_BUDGET = 8_000  # of Temporal's 10,000 signals per run
EVENT_BUDGET = 10_000  # job events held in memory (and answered by queries) per run
TAIL = 50  # events the next run keeps, so a watcher a little behind needs no older run
LAST_EVENTS_BYTES = 64_000  # of the last events a closed run's result carries for followers


class RunBudget:
    """What this run has spent of each budget (messages are counted by their handlers)."""

    def __init__(self) -> None:
        self.updates = 0
        self.signals = 0

    def spent(self, events_held: int) -> bool:
        """Whether this run should hand over to a new one."""
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= HISTORY_BUDGET
            or self.updates >= UPDATE_BUDGET
            or self.signals >= SIGNAL_BUDGET
            or events_held >= EVENT_BUDGET
        )


def seen_compacted(through: int, above: set[int]) -> tuple[int, list[int]]:
    """Agent event numbers seen, as (every number up to N, the ones above N).

    Example:
        >>> seen_compacted(3, {4, 5, 7})
        (5, [7])
    """
    rest = set(above)
    while through + 1 in rest:
        through += 1
        rest.remove(through)
    return through, sorted(rest)


def tail(events: list[JobEvent]) -> list[JobEvent]:
    """The events the next run keeps."""
    return events[-TAIL:]


def last_events(events: list[JobEvent], budget: int = LAST_EVENTS_BYTES) -> list[JobEvent] | None:
    """The run's last events that fit in ``budget`` bytes of JSON (None if the last does not).

    Example:
        >>> from datetime import UTC, datetime
        >>> at = datetime(2026, 12, 3, tzinfo=UTC)
        >>> events = [JobEvent(seq=n, at=at, kind="progress", message="x" * 40) for n in (1, 2, 3)]
        >>> [e.seq for e in last_events(events, budget=250)]
        [2, 3]
        >>> last_events(events, budget=10) is None
        True
    """
    kept: list[JobEvent] = []
    for event in reversed(events[-TAIL:]):
        budget -= len(event.model_dump_json())
        if budget < 0:
            break
        kept.append(event)
    return kept[::-1] or None


class AgentWatch(BaseModel):
    """Which agent workflow a continued job waits for (its run is not this run's child)."""

    workflow_id: str


def outcome_of(cause: BaseException | None) -> AgentOutcome:
    """The outcome as the job's first run tells it from its child (job.py _failure_message)."""
    while isinstance(cause, (ActivityError, ChildWorkflowError)) and cause.cause is not None:
        cause = cause.cause
    if isinstance(cause, CancelledError):
        return AgentOutcome(status="cancelled", error="agent was cancelled")
    if isinstance(cause, TerminatedError):
        return AgentOutcome(status="failed", error="agent workflow was terminated")
    if isinstance(cause, TimeoutError):
        return AgentOutcome(status="failed", error="agent workflow timed out")
    if isinstance(cause, ApplicationError):
        return AgentOutcome(status="failed", error=f"{cause.type or 'error'}: {cause.message}")
    if isinstance(cause, FailureError):
        return AgentOutcome(status="failed", error=cause.message)
    return AgentOutcome(status="failed", error=str(cause) or "agent failed")
