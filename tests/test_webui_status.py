"""What an operator reads in the Temporal Web UI: a failed or cancelled job closes as Failed
(with the job's outcome in the failure), a completed one as Completed, and the job's current
details name its status and agent (and, while a paid job settles, the escrow's state).
"""

from __future__ import annotations

from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from durasumi.client import jobs
from durasumi.client.jobs import job_result
from durasumi.workflows.models import CancelRequest, JobStatus, Submission
from tests.conftest import Stack


async def details(stack: Stack, job_id: str) -> str:
    meta = await jobs.job_handle(stack.client, job_id).query(
        "__temporal_workflow_metadata", result_type=WorkflowMetadata
    )
    return meta.current_details


async def test_a_failed_job_closes_as_failed_with_its_outcome(stack: Stack) -> None:
    job = await stack.start("broken", {})
    await stack.wait_for(job.job_id, JobStatus.AWAITING_INPUT)
    assert await details(stack, job.job_id) == "**awaiting_input** (broken)"
    await jobs.submit_form(stack.client, job.job_id, Submission(values={"text": "go"}))
    outcome = await job_result(job.handle)
    assert outcome.status is JobStatus.FAILED and "division by zero" in (outcome.error or "")
    described = await job.handle.describe()
    assert described.status == WorkflowExecutionStatus.FAILED
    try:
        await job.handle.result()
    except WorkflowFailureError as err:
        assert isinstance(err.cause, ApplicationError) and err.cause.type == "JobFailed"
        assert "job failed" in err.cause.message
    else:
        raise AssertionError("a failed job's workflow completed")
    # Its view and events stay readable.
    view = await jobs.job_view(stack.client, job.job_id)
    assert view.status is JobStatus.FAILED


async def test_a_cancelled_job_closes_as_failed_and_a_completed_one_as_completed(
    stack: Stack,
) -> None:
    cancelled = await stack.start("trip-planner", {"destination": "Oslo"})
    await stack.wait_for(cancelled.job_id, JobStatus.AWAITING_INPUT)
    await jobs.cancel_job(stack.client, cancelled.job_id, CancelRequest(reason="changed my mind"))
    outcome = await job_result(cancelled.handle)
    assert outcome.status is JobStatus.CANCELLED and outcome.error == "changed my mind"
    assert (await cancelled.handle.describe()).status == WorkflowExecutionStatus.FAILED

    done = await stack.start("batch-report", {"chunks": 1, "seconds_per_chunk": 0})
    assert (await job_result(done.handle)).status is JobStatus.COMPLETED
    assert (await done.handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    assert await details(stack, done.job_id) == "**completed** (batch-report)"
