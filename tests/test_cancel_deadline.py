"""Form deadlines, cancellation while waiting and while running, agent bugs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.client import WorkflowExecutionStatus

from durasumi.client import jobs
from durasumi.client.jobs import job_result
from durasumi.workflows.ids import child_workflow_id
from durasumi.workflows.models import CancelRequest, EventKind, JobStatus, Submission
from tests.conftest import Stack


def trace_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


async def child_status(stack: Stack, job_id: str) -> WorkflowExecutionStatus | None:
    desc = await stack.client.get_workflow_handle(child_workflow_id(job_id)).describe()
    return desc.status


async def test_form_deadline_expires_and_fails_the_job(stack: Stack, tmp_path: Path) -> None:
    started = await stack.start(
        "counter",
        {
            "trace": str(tmp_path / "t"),
            "before": 0,
            "after": 1,
            "step_seconds": 0,
            "form_seconds": 1,
        },
    )
    result = await job_result(started.handle)
    assert result.status is JobStatus.FAILED
    assert result.error is not None and result.error.startswith("FormExpired")
    kinds = [e.kind for e in await jobs.job_events(stack.client, started.job_id)]
    assert EventKind.FORM_EXPIRED in kinds
    assert trace_lines(tmp_path / "t") == []  # nothing after the form ran


async def test_cancel_while_waiting_for_a_form(stack: Stack, tmp_path: Path) -> None:
    started = await stack.start(
        "counter", {"trace": str(tmp_path / "t"), "before": 1, "after": 1, "step_seconds": 0}
    )
    await stack.wait_for(started.job_id, JobStatus.AWAITING_INPUT)
    await jobs.cancel_job(stack.client, started.job_id, CancelRequest(reason="changed my mind"))
    result = await job_result(started.handle)
    assert result.status is JobStatus.CANCELLED
    assert result.error == "changed my mind"
    assert await child_status(stack, started.job_id) == WorkflowExecutionStatus.CANCELED
    assert trace_lines(tmp_path / "t") == ["start 0", "done 0"]


async def test_cancel_while_running_stops_the_step(stack: Stack, tmp_path: Path) -> None:
    trace = tmp_path / "t"
    started = await stack.start(
        "counter", {"trace": str(trace), "before": 5, "after": 0, "step_seconds": 30}
    )
    for _ in range(100):
        if trace_lines(trace) == ["start 0"]:
            break
        await asyncio.sleep(0.1)
    await jobs.cancel_job(stack.client, started.job_id, CancelRequest())
    result = await job_result(started.handle)
    assert result.status is JobStatus.CANCELLED
    # The step in flight saw the cancellation and no later step started.
    assert trace_lines(trace) == ["start 0", "cancelled 0"]
    assert await child_status(stack, started.job_id) == WorkflowExecutionStatus.CANCELED


async def test_temporal_cancel_request_closes_job_as_cancelled(
    stack: Stack, tmp_path: Path
) -> None:
    started = await stack.start(
        "counter", {"trace": str(tmp_path / "t"), "before": 0, "after": 0, "step_seconds": 0}
    )
    await stack.wait_for(started.job_id, JobStatus.AWAITING_INPUT)
    await started.handle.cancel()
    result = await job_result(started.handle)
    assert result.status is JobStatus.CANCELLED


async def test_cancel_after_completion_changes_nothing(stack: Stack) -> None:
    started = await stack.start("batch-report", {"chunks": 1, "seconds_per_chunk": 0})
    assert (await job_result(started.handle)).status is JobStatus.COMPLETED
    view = await jobs.job_view(stack.client, started.job_id)
    assert view.status is JobStatus.COMPLETED


async def test_agent_bug_fails_the_job(stack: Stack) -> None:
    started = await stack.start("broken", {})
    await stack.wait_for(started.job_id, JobStatus.AWAITING_INPUT)
    await jobs.submit_form(stack.client, started.job_id, Submission(values={"text": "go"}))
    result = await job_result(started.handle)
    assert result.status is JobStatus.FAILED
    assert result.error is not None and "division by zero" in result.error


async def test_cancel_is_not_lost_when_a_step_finishes_anyway(stack: Stack) -> None:
    """A step that completes although the job was cancelled must not swallow the cancel.

    Regression: with WAIT_CANCELLATION_COMPLETED a step that had already finished returned
    its result, the cancellation was spent and the agent went on with the next chunk.
    """
    for delay in (0.0, 0.1, 0.3):
        started = await stack.start("batch-report", {"chunks": 30, "seconds_per_chunk": 0.5})
        await asyncio.sleep(delay)
        await jobs.cancel_job(stack.client, started.job_id, CancelRequest(reason="now"))
        result = await asyncio.wait_for(job_result(started.handle), 15)
        assert result.status is JobStatus.CANCELLED, delay
        if delay:  # with no delay the cancel may come before the agent was even started
            assert await child_status(stack, started.job_id) == WorkflowExecutionStatus.CANCELED
