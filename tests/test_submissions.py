"""Refused submissions: field errors back at once, nothing in history, the job unharmed."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from durasumi.client import jobs
from durasumi.client.jobs import job_result
from durasumi.workflows.errors import (
    INVALID_SUBMISSION,
    NO_PENDING_FORM,
    WRONG_FORM,
    field_errors_from_details,
)
from durasumi.workflows.forms import Form, FormCheck
from durasumi.workflows.job import JobWorkflow
from durasumi.workflows.models import EventKind, JobStatus, Submission
from tests.conftest import Stack


async def refused(stack: Stack, job_id: str, submission: Submission) -> ApplicationError:
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await jobs.submit_form(stack.client, job_id, submission)
    assert isinstance(info.value.cause, ApplicationError)
    return info.value.cause


async def update_events(stack: Stack, job_id: str) -> int:
    history = await jobs.job_handle(stack.client, job_id).fetch_history()
    accepted = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    return sum(1 for e in history.events if e.event_type == accepted)


async def test_invalid_updates_are_refused_with_field_errors(stack: Stack) -> None:
    started = await stack.start("trip-planner", {"destination": "Porto"})
    job_id = started.job_id
    await stack.wait_for(job_id, JobStatus.AWAITING_INPUT)

    wrong_type = await refused(
        stack, job_id, Submission(values={"adults": "many", "children": "perhaps"})
    )
    assert wrong_type.type == INVALID_SUBMISSION
    codes = {(e.field, e.code) for e in field_errors_from_details(wrong_type.details)}
    assert codes == {("adults", "type"), ("children", "type")}

    missing = await refused(stack, job_id, Submission(values={"children": False}))
    assert {(e.field, e.code) for e in field_errors_from_details(missing.details)} == {
        ("adults", "required")
    }

    hidden = await refused(
        stack, job_id, Submission(values={"adults": 2, "children": False, "children_ages": "3"})
    )
    assert {(e.field, e.code) for e in field_errors_from_details(hidden.details)} == {
        ("children_ages", "hidden")
    }

    too_many = await refused(stack, job_id, Submission(values={"adults": 12, "children": False}))
    assert {(e.field, e.code) for e in field_errors_from_details(too_many.details)} == {
        ("adults", "max")
    }

    wrong_form = await refused(
        stack, job_id, Submission(form_id="budget", values={"level": "comfort"})
    )
    assert wrong_form.type == WRONG_FORM
    wrong_request = await refused(stack, job_id, Submission(request_id="travellers-9", values={}))
    assert wrong_request.type == WRONG_FORM

    # None of the refusals entered history, and the job is still waiting, unharmed.
    assert await update_events(stack, job_id) == 0
    view = await jobs.job_view(stack.client, job_id)
    assert view.status is JobStatus.AWAITING_INPUT and view.pending_form is not None

    await jobs.submit_form(
        stack.client, job_id, Submission(values={"adults": 2, "children": False})
    )
    await stack.wait_for(job_id, JobStatus.AWAITING_INPUT)
    not_pending = await refused(
        stack, job_id, Submission(form_id="travellers", values={"adults": 1})
    )
    assert not_pending.type == WRONG_FORM
    await jobs.submit_form(stack.client, job_id, Submission(values={"level": "backpacker"}))
    result = await job_result(started.handle)
    assert result.status is JobStatus.COMPLETED
    assert await update_events(stack, job_id) == 2

    # After completion the job takes no submission at all.
    with pytest.raises((WorkflowUpdateFailedError, RPCError)):
        await jobs.submit_form(stack.client, job_id, Submission(values={"level": "comfort"}))


async def test_submission_while_running_is_refused(stack: Stack, tmp_path) -> None:
    started = await stack.start(
        "counter", {"trace": str(tmp_path / "t"), "before": 1, "after": 0, "step_seconds": 2}
    )
    await stack.wait_for(started.job_id, JobStatus.RUNNING)
    err = await refused(stack, started.job_id, Submission(values={"text": "early"}))
    assert err.type == NO_PENDING_FORM
    await jobs.cancel_job(stack.client, started.job_id, jobs.CancelRequest())
    await job_result(started.handle)


async def test_invalid_signal_is_recorded_not_fatal(stack: Stack) -> None:
    started = await stack.start("trip-planner", {"destination": "Bern"})
    await stack.wait_for(started.job_id, JobStatus.AWAITING_INPUT)
    handle = jobs.job_handle(stack.client, started.job_id)
    await handle.signal(JobWorkflow.submit_signal, Submission(values={"adults": "x"}))
    await handle.signal(JobWorkflow.submit_signal, Submission(form_id="nope", values={}))
    await handle.signal(
        JobWorkflow.submit_signal, Submission(values={"adults": 3, "children": False})
    )
    view = await stack.wait_for(started.job_id, JobStatus.AWAITING_INPUT)
    assert view.pending_form is not None and view.pending_form.form.id == "budget"
    rejected = [
        e
        for e in await jobs.job_events(stack.client, started.job_id)
        if e.kind is EventKind.FORM_REJECTED
    ]
    assert len(rejected) == 2
    assert {e["field"] for e in rejected[0].data["errors"]} == {"adults", "children"}
    assert "nope" in rejected[1].message
    await handle.signal(JobWorkflow.submit_signal, Submission(values={"level": "comfort"}))
    assert (await job_result(started.handle)).status is JobStatus.COMPLETED


async def test_each_submission_is_checked_once_by_the_job(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The workers run in this process with durasumi passed through the sandbox, so the job's
    # own form checks can be counted (the agent checks again in its own workflow).
    checked: list[str] = []
    check = Form.check

    def counting(self: Form, values: Any) -> FormCheck:
        if workflow.in_workflow() and workflow.info().workflow_type == JobWorkflow.__name__:
            checked.append(self.id)
        return check(self, values)

    monkeypatch.setattr(Form, "check", counting)
    started = await stack.start("trip-planner", {"destination": "Oslo"})
    await stack.wait_for(started.job_id, JobStatus.AWAITING_INPUT)

    # Update: a refused one is checked by its validator only, an accepted one by its
    # validator, its handler taking the validator's answer.
    await refused(stack, started.job_id, Submission(values={"adults": "many"}))
    assert checked == ["travellers"]
    await jobs.submit_form(
        stack.client, started.job_id, Submission(values={"adults": 2, "children": False})
    )
    assert checked == ["travellers", "travellers"]

    # Signal: one check each, whether rejected or accepted.
    await stack.wait_for(started.job_id, JobStatus.AWAITING_INPUT)
    handle = jobs.job_handle(stack.client, started.job_id)
    await handle.signal(JobWorkflow.submit_signal, Submission(values={"level": "gold"}))
    await handle.signal(JobWorkflow.submit_signal, Submission(values={"level": "comfort"}))
    assert (await job_result(started.handle)).status is JobStatus.COMPLETED
    assert checked == ["travellers", "travellers", "budget", "budget"]
    assert await update_events(stack, started.job_id) == 1
