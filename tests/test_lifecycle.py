"""Both example agents, start to finish, through the Python client."""

from __future__ import annotations

from temporalio.common import WorkflowIDReusePolicy

from durasumi.client import jobs
from durasumi.client.jobs import job_result
from durasumi.workflows.job import JobWorkflow
from durasumi.workflows.models import EventKind, JobStatus, Submission
from tests.conftest import Stack


async def test_trip_planner_conversation(stack: Stack) -> None:
    started = await stack.start("trip-planner", {"destination": "Lisbon"})
    assert started.created
    view = await stack.wait_for(started.job_id, JobStatus.AWAITING_INPUT)
    assert view.pending_form is not None and view.pending_form.form.id == "travellers"

    first = await jobs.submit_form(
        stack.client,
        started.job_id,
        Submission(
            form_id="travellers", values={"adults": "2", "children": True, "children_ages": "4, 7"}
        ),
    )
    assert first.values == {"adults": 2, "children": True, "children_ages": "4, 7"}
    view = await stack.wait_for(started.job_id, JobStatus.AWAITING_INPUT)
    assert view.pending_form is not None and view.pending_form.form.id == "budget"
    await jobs.submit_form(
        stack.client,
        started.job_id,
        Submission(request_id=view.pending_form.request_id, values={"level": "comfort"}),
    )

    result = await job_result(started.handle)
    assert result.status is JobStatus.COMPLETED
    assert (
        result.result["summary"]
        == "4 traveller(s) to Lisbon, with children aged 4, 7, comfort budget"
    )
    assert len(result.detail["result_hash"]) == 64

    events = await jobs.job_events(stack.client, started.job_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    kinds = [e.kind for e in events]
    assert kinds.count(EventKind.FORM_REQUESTED) == 2
    assert kinds.count(EventKind.FORM_SUBMITTED) == 2
    assert EventKind.RESULT in kinds
    statuses = [
        e.data["status"] for e in events if e.kind is EventKind.STATUS and "status" in e.data
    ]
    assert statuses == [
        "awaiting_payment", "running", "awaiting_input", "running", "awaiting_input", "running",
        "completed",
    ]  # fmt: skip


async def test_trip_planner_without_children_skips_hidden_field(stack: Stack) -> None:
    started = await stack.start("trip-planner", {"destination": "Oslo"})
    await stack.wait_for(started.job_id, JobStatus.AWAITING_INPUT)
    await jobs.submit_form(
        stack.client, started.job_id, Submission(values={"adults": 1, "children": False})
    )
    await stack.wait_for(started.job_id, JobStatus.AWAITING_INPUT)
    await jobs.submit_form(
        stack.client, started.job_id, Submission(values={"level": "luxury", "notes": "sea view"})
    )
    result = await job_result(started.handle)
    assert result.result["summary"] == "1 traveller(s) to Oslo, luxury budget; noted: sea view"


async def test_batch_report_emits_progress(stack: Stack) -> None:
    started = await stack.start("batch-report", {"chunks": 3, "seconds_per_chunk": 0.1})
    result = await job_result(started.handle)
    assert result.status is JobStatus.COMPLETED
    assert result.result["chunks"] == 3 and len(result.result["digests"]) == 3
    progress = [
        e
        for e in await jobs.job_events(stack.client, started.job_id)
        if e.kind is EventKind.PROGRESS
    ]
    assert [e.data["done"] for e in progress] == [1, 2, 3]
    assert progress[-1].data["percent"] == 100


async def test_start_is_idempotent(stack: Stack) -> None:
    first = await stack.start(
        "batch-report", {"chunks": 1, "seconds_per_chunk": 0}, "abcdef0123456789"
    )
    again = await stack.start(
        "batch-report", {"seconds_per_chunk": 0, "chunks": 1}, "abcdef0123456789"
    )
    assert first.created and not again.created
    assert again.job_id == first.job_id
    await job_result(first.handle)
    # After completion: still the same job, never a second run.
    after = await stack.start(
        "batch-report", {"chunks": 1, "seconds_per_chunk": 0}, "abcdef0123456789"
    )
    assert not after.created and after.job_id == first.job_id
    runs = [wf async for wf in stack.client.list_workflows(f"WorkflowId = '{first.job_id}'")]
    assert len(runs) == 1
    # A different purchaser id or input is a different job.
    other = await stack.start(
        "batch-report", {"chunks": 2, "seconds_per_chunk": 0}, "abcdef0123456789"
    )
    assert other.created and other.job_id != first.job_id
    await job_result(other.handle)


async def test_input_is_validated_before_start(stack: Stack) -> None:
    import pytest

    from durasumi.workflows.forms import FormValidationError

    with pytest.raises(FormValidationError) as info:
        await stack.start("batch-report", {"chunks": 0, "bogus": 1})
    assert {e.field for e in info.value.errors} == {"chunks", "bogus", "seconds_per_chunk"}


async def test_list_filters_by_agent_and_status(stack: Stack) -> None:
    started = await stack.start("trip-planner", {"destination": "Rome"})
    await stack.wait_for(started.job_id, JobStatus.AWAITING_INPUT)
    import asyncio

    for _ in range(50):  # visibility is eventually consistent
        rows = await jobs.list_jobs(stack.client, agent="trip-planner", status="awaiting_input")
        if any(r.job_id == started.job_id for r in rows):
            break
        await asyncio.sleep(0.2)
    assert any(r.job_id == started.job_id and r.buyer == "tester" for r in rows)
    assert JobWorkflow.__name__ == "JobWorkflow"
    assert WorkflowIDReusePolicy.REJECT_DUPLICATE
