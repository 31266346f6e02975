"""Following a job's events live, with as few queries as the history allows.

A history long-poll wakes the follower when something happens to the job; nothing is polled
on a timer and nothing is written to history for watchers. The events themselves live in
the JobWorkflow's memory, so a query reads them, but only when the job may have recorded
one, and once per long-poll answer however many workflow tasks it holds:

- a workflow task whose only new inputs acknowledge the job's own commands (the agent
  child started, a signal delivered) records no event (workflows/job.py keeps it so);
- when the run closes, its result carries its last events (``JobResult.last_events``), so
  the follower needs no query on the closed run, which would replay it on a worker.

When the job continues as new, the follow goes on with its next run.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client

from durasumi.workflows.models import JobEvent, JobResult

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["follow_events"]

log = logging.getLogger(__name__)

# Inputs that only acknowledge the job's own commands, and the task's own bookkeeping: a
# workflow task woken by nothing else records no job event.
_QUIET = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED,
    EventType.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED,
    EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
    EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
    EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
    EventType.EVENT_TYPE_MARKER_RECORDED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED,
    EventType.EVENT_TYPE_TIMER_STARTED,
}
# What a task did in response to an update is written after its completion.
_TASK_NEWS = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
}
_CLOSED = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
}


def worth_a_look(events: Sequence[HistoryEvent], pending: bool) -> tuple[bool, bool]:
    """Whether these history events may have added job events, and whether news is pending.

    ``pending`` says a non-quiet input arrived whose workflow task has not completed yet.

    Example:
        >>> from temporalio.api.enums.v1 import EventType as T
        >>> quiet = [HistoryEvent(event_type=t) for t in (
        ...     T.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED,
        ...     T.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, T.EVENT_TYPE_WORKFLOW_TASK_STARTED,
        ...     T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)]
        >>> worth_a_look(quiet, False)
        (False, False)
        >>> worth_a_look([HistoryEvent(event_type=T.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)], False)
        (False, True)
        >>> worth_a_look(quiet, True)
        (True, False)
    """
    look = False
    for event in events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            look, pending = look or pending, False
        elif kind in _TASK_NEWS or kind in _CLOSED:
            look = True
        elif kind not in _QUIET:
            pending = True
    return look, pending


async def follow_events(
    client: Client,
    job_id: str,
    after: int,
    read: Callable[[int], Awaitable[list[JobEvent]]],
) -> AsyncIterator[JobEvent]:
    """Yield the job's events after ``after`` as they happen, until the job closes.

    ``read(after)`` returns up to a page of events after a sequence number (a query).
    """
    seen = after
    while True:
        request = GetWorkflowExecutionHistoryRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=job_id),  # the current run
            wait_new_event=True,
        )
        pending = True  # the stream may begin anywhere: look once at the first answer
        closing: HistoryEvent | None = None
        while closing is None:
            answer = await client.workflow_service.get_workflow_execution_history(
                request, retry=True
            )
            news = list(answer.history.events)
            look, pending = worth_a_look(news, pending)
            closing = next((e for e in news if e.event_type in _CLOSED), None)
            if look and closing is None:
                for event in await read(seen):
                    seen = event.seq
                    yield event
            if not answer.next_page_token:
                break
            request.next_page_token = answer.next_page_token
        last = await _last_events(client, closing)
        if last and last[0].seq <= seen + 1:
            for event in last:
                if event.seq > seen:
                    seen = event.seq
                    yield event
        else:  # an old run's result, a terminated run: ask the run itself
            while events := await read(seen):
                for event in events:
                    seen = event.seq
                    yield event
        if closing is None or (
            closing.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
        ):
            return


async def _last_events(client: Client, closing: HistoryEvent | None) -> list[JobEvent] | None:
    """The run's last events, from the JobResult its close event carries (None: not there)."""
    if closing is None:
        return None
    if closing.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
        payloads = closing.workflow_execution_completed_event_attributes.result.payloads
    elif closing.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
        failure = closing.workflow_execution_failed_event_attributes.failure
        payloads = failure.application_failure_info.details.payloads
    else:
        return None
    if len(payloads) != 1:
        return None
    try:
        [result] = await client.data_converter.decode(payloads, [JobResult])
    except Exception as err:  # whatever it is, the query path still answers
        log.info("reading the last events from a closed job's result: %s", err)
        return None
    if not isinstance(result, JobResult) or result.last_events is None:
        return None
    return result.last_events
