"""A job's view, its result and the job list, over Temporal's HTTP API or the gRPC client.

The CLI's ``status``, ``result`` and ``list`` read through :mod:`durasumi.client.temporal_http`
when an HTTP API is configured (no Temporal SDK import, docs/benchmarks.md) and through the
gRPC client otherwise; both paths return the same plain values. This module imports neither
the SDK nor the workflow models at import time, so it names JobWorkflow's type, query and
search attributes by value; ``tests/test_cli_quick.py`` checks them against the workflow.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from durasumi.client.temporal_http import TemporalHttp
from durasumi.client.visibility import visibility_literal
from durasumi.workflows.status import JobStatus

if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowExecution

__all__ = [
    "JobOutcome",
    "JobRow",
    "jobs_query",
    "list_over_grpc",
    "list_over_http",
    "newest_first",
    "result_over_grpc",
    "result_over_http",
    "view_over_grpc",
    "view_over_http",
]

# JobWorkflow's names (workflows/job.py, workflows/search.py, workflows/errors.py).
JOB_WORKFLOW = "JobWorkflow"
VIEW_QUERY = "view"
AGENT_ATTR = "DurasumiAgent"
STATUS_ATTR = "DurasumiStatus"
BUYER_ATTR = "DurasumiBuyer"
VENDOR_ATTR = "DurasumiVendor"
JOB_FAILED = "JobFailed"  # a settled job's workflow fails with these, the JobResult in details
JOB_CANCELLED = "JobCancelled"

# Rows read per visibility page when scanning for the newest jobs.
_SCAN_PAGE = 200
_SCAN_MAX = 10_000


@dataclass(frozen=True)
class JobRow:
    """One job as visibility knows it."""

    job_id: str
    agent: str
    status: str
    buyer: str
    started: datetime
    closed_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        """The row as JSON values (``list --json``)."""
        return {
            "job_id": self.job_id,
            "agent": self.agent,
            "status": self.status,
            "buyer": self.buyer,
            "started": self.started.isoformat(),
            "closed": self.closed_at is not None,
        }


@dataclass(frozen=True)
class JobOutcome:
    """How a job ended (``finished``), or its status while it runs."""

    job_id: str
    status: str
    finished: bool
    result: Any = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The outcome as JSON values (``result --json``)."""
        return {
            "job_id": self.job_id,
            "status": self.status,
            "finished": self.finished,
            "result": self.result,
            "error": self.error,
        }


def jobs_query(
    *, agent: str | None = None, status: str | None = None, buyer: str | None = None
) -> str:
    """The visibility query for jobs matching every given filter (as ``client.jobs``).

    Raises:
        ValueError: a value Temporal cannot compare exactly (see ``visibility_literal``).

    Example:
        >>> jobs_query(agent="trip-planner").split(" AND ")[-1]
        "DurasumiAgent = 'trip-planner'"
    """
    # A job that continued as new has a closed run per hand-over: list each job once.
    clauses = [
        f"WorkflowType = {visibility_literal(JOB_WORKFLOW)}",
        "ExecutionStatus != 'ContinuedAsNew'",
    ]
    for name, value in ((AGENT_ATTR, agent), (STATUS_ATTR, status), (BUYER_ATTR, buyer)):
        if value is not None:
            clauses.append(f"{name} = {visibility_literal(value)}")
    return " AND ".join(clauses)


def newest_first(rows: Iterable[JobRow], limit: int) -> list[JobRow]:
    """The ``limit`` most recently started jobs, newest first, reading no more than needed.

    SQL visibility cannot ``ORDER BY``: it returns running executions first, then closed
    ones by close time, newest first (Elasticsearch orders by start time). In both orders
    every later row started no later than the current row closed, so once a closed row
    closed before the ``limit``-th newest start seen so far, no later row can make the cut.

    Example:
        >>> from datetime import datetime as t
        >>> rows = [JobRow("a", "x", "running", "b", t(2026, 1, 1)),
        ...         JobRow("b", "x", "completed", "b", t(2026, 1, 3), t(2026, 1, 4)),
        ...         JobRow("c", "x", "completed", "b", t(2026, 1, 2), t(2026, 1, 2))]
        >>> [r.job_id for r in newest_first(rows, 2)]
        ['b', 'c']
    """
    newest = _Newest(limit)
    for row in rows:
        if not newest.offer(row):
            break
    return newest.rows()


class _Newest:
    """The newest ``limit`` rows offered so far (a min-heap on start time)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._heap: list[tuple[datetime, int, JobRow]] = []

    def offer(self, row: JobRow) -> bool:
        """Keep ``row`` if it is among the newest; False once no later row can be."""
        heap = self._heap
        if len(heap) == self.limit and row.closed_at is not None and row.closed_at < heap[0][0]:
            return False
        item = (row.started, -len(heap), row)
        if len(heap) < self.limit:
            heapq.heappush(heap, item)
        elif item[0] > heap[0][0]:
            heapq.heapreplace(heap, item)
        return True

    def rows(self) -> list[JobRow]:
        """The kept rows, newest first."""
        return [row for _, _, row in sorted(self._heap, key=lambda i: i[0], reverse=True)]


# The HTTP API.


def view_over_http(api: TemporalHttp, job_id: str) -> dict[str, Any]:
    """The job's view (JobWorkflow.view) as JSON values, as ``client.jobs.job_view`` has it.

    A job whose workflow Temporal closed from outside (terminated, timed out) shows as
    failed rather than in the state it was stopped in.
    """
    view, closed = api.query(job_id, VIEW_QUERY, reject_not_open=True)
    if closed is not None:
        view, _ = api.query(job_id, VIEW_QUERY)
    if not isinstance(view, dict):
        raise ValueError(f"job {job_id} answered its view query with {type(view).__name__}")
    return _closed_from_outside(view, closed)


def _closed_from_outside(view: dict[str, Any], closed: str | None) -> dict[str, Any]:
    """``client.jobs._closed_from_outside`` on a JSON view (tests compare the two)."""
    outside = {
        "WORKFLOW_EXECUTION_STATUS_TERMINATED": "terminated",
        "WORKFLOW_EXECUTION_STATUS_TIMED_OUT": "timed out",
    }
    if JobStatus(view.get("status", "running")).terminal or closed not in outside:
        return view
    refund = "; its escrow is refunded" if view.get("escrow") is not None else ""
    return view | {
        "status": JobStatus.FAILED.value,
        "pending_form": None,
        "error": f"the job's workflow was {outside[closed]} by Temporal before it finished{refund}",
    }


def list_over_http(
    api: TemporalHttp,
    *,
    agent: str | None = None,
    status: str | None = None,
    buyer: str | None = None,
    limit: int = 50,
) -> list[JobRow]:
    """The newest ``limit`` jobs matching the filters."""
    query = jobs_query(agent=agent, status=status, buyer=buyer)

    def rows() -> Iterator[JobRow]:
        token: str | None = None
        read = 0
        while read < _SCAN_MAX:
            page, token = api.list_workflows(query, min(max(limit, 20), _SCAN_PAGE), token)
            for execution in page:
                yield _row_from_json(api, execution)
            read += len(page)
            if not token or not page:
                return

    return newest_first(rows(), limit)


def _row_from_json(api: TemporalHttp, execution: dict[str, Any]) -> JobRow:
    attrs = api.search_attributes(execution)
    close = execution.get("closeTime")
    return JobRow(
        job_id=execution["execution"]["workflowId"],
        agent=str(attrs.get(AGENT_ATTR) or "?"),
        status=str(attrs.get(STATUS_ATTR) or "?"),
        buyer=str(attrs.get(BUYER_ATTR) or "?"),
        started=datetime.fromisoformat(execution["startTime"]),
        closed_at=datetime.fromisoformat(close) if close else None,
    )


def result_over_http(api: TemporalHttp, job_id: str, *, wait: bool = False) -> JobOutcome:
    """The job's outcome from its close event (no worker needed), or its status if it runs.

    With ``wait``, block until the job ends (history long polls, ~20 s each).
    """
    info = api.describe(job_id)
    if info.get("status") == "WORKFLOW_EXECUTION_STATUS_RUNNING" and not wait:
        status = api.search_attributes(info).get(STATUS_ATTR) or "running"
        return JobOutcome(job_id, str(status), finished=False)
    event = api.close_event(job_id)
    while event is None:
        event = api.close_event(job_id)
    return _outcome_of_close_event(api, job_id, event)


def _outcome_of_close_event(api: TemporalHttp, job_id: str, event: dict[str, Any]) -> JobOutcome:
    completed = event.get("workflowExecutionCompletedEventAttributes")
    if completed is not None:
        payloads = (completed.get("result") or {}).get("payloads") or []
        return _outcome_of_job_result(job_id, api.decode(payloads[0]) if payloads else {})
    kind = str(event.get("eventType", "")).removeprefix("EVENT_TYPE_WORKFLOW_EXECUTION_")
    reason = ""
    failure = (event.get("workflowExecutionFailedEventAttributes") or {}).get("failure")
    if failure is not None:
        application = failure.get("applicationFailureInfo") or {}
        details = (application.get("details") or {}).get("payloads") or []
        if application.get("type") in (JOB_FAILED, JOB_CANCELLED) and details:
            return _outcome_of_job_result(job_id, api.decode(details[0]))
        reason = str(failure.get("message", ""))
        if failure.get("encodedAttributes"):  # the codec moved the message in here
            reason = str((api.decode(failure["encodedAttributes"]) or {}).get("message", reason))
    terminated = event.get("workflowExecutionTerminatedEventAttributes")
    if terminated is not None:
        reason = str(terminated.get("reason", ""))
    error = f"the job's workflow {kind.lower().replace('_', ' ')}" + (
        f": {reason}" if reason else ""
    )
    return JobOutcome(job_id, "failed", finished=True, error=error)


def _outcome_of_job_result(job_id: str, job: Any) -> JobOutcome:
    """JobWorkflow's return value (JobResult) as an outcome."""
    if not isinstance(job, dict):
        return JobOutcome(job_id, "completed", finished=True, result=job)
    return JobOutcome(
        job_id,
        str(job.get("status", "completed")),
        finished=True,
        result=job.get("result"),
        error=job.get("error"),
    )


# The gRPC client (the SDK is imported by now: the caller connected it).


async def view_over_grpc(client: Client, job_id: str) -> dict[str, Any]:
    """The job's view as JSON values, through the SDK."""
    from durasumi.client import jobs

    view = await jobs.job_view(client, job_id)
    return view.model_dump(mode="json")


async def list_over_grpc(
    client: Client,
    *,
    agent: str | None = None,
    status: str | None = None,
    buyer: str | None = None,
    limit: int = 50,
) -> list[JobRow]:
    """The newest ``limit`` jobs matching the filters, through the SDK."""
    query = jobs_query(agent=agent, status=status, buyer=buyer)
    newest = _Newest(limit)
    read = 0
    async for wf in client.list_workflows(query, page_size=min(max(limit, 20), _SCAN_PAGE)):
        read += 1
        if not newest.offer(_row_from_sdk(wf)) or read >= _SCAN_MAX:
            break
    return newest.rows()


def _row_from_sdk(wf: WorkflowExecution) -> JobRow:
    from durasumi.workflows import search

    attrs = wf.typed_search_attributes
    return JobRow(
        job_id=wf.id,
        agent=attrs.get(search.AGENT) or "?",
        status=attrs.get(search.STATUS) or "?",
        buyer=attrs.get(search.BUYER) or "?",
        started=wf.start_time,
        closed_at=wf.close_time,
    )


async def result_over_grpc(client: Client, job_id: str, *, wait: bool = False) -> JobOutcome:
    """The job's outcome (``client.jobs.job_result``), or its status while it runs."""
    from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
    from temporalio.exceptions import CancelledError, TerminatedError, TimeoutError

    from durasumi.client import jobs
    from durasumi.workflows import search

    handle = jobs.job_handle(client, job_id)
    described = await handle.describe()
    if described.status == WorkflowExecutionStatus.RUNNING and not wait:
        status = described.typed_search_attributes.get(search.STATUS) or "running"
        return JobOutcome(job_id, status, finished=False)
    try:
        job = await jobs.job_result(handle)
    except WorkflowFailureError as err:  # closed by Temporal itself (terminated, timed out)
        cause = err.cause
        how = {TerminatedError: "terminated", TimeoutError: "timed out"}.get(type(cause))
        how = how or ("canceled" if isinstance(cause, CancelledError) else "failed")
        message = getattr(cause, "message", "") or ""
        error = f"the job's workflow {how}" + (f": {message}" if message else "")
        return JobOutcome(job_id, "failed", finished=True, error=error)
    return _outcome_of_job_result(job_id, job.model_dump(mode="json"))
