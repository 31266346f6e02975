"""Jobs past Temporal's per-run limits: they continue as new and lose nothing.

Temporal ends a run at 10,000 signals, refuses its 2,001st update and terminates it at
51,200 history events; a job hands over to a new run long before (workflows/continuation.py).

100,000 progress events run on the session's server with Temporal's own limits. The
conversation runs on a server of its own whose limits are scaled down (40 updates and
FORMS / 2 signals per run, continue-as-new suggested at 300 history events), so that a few
hundred answers cross the update and signal limits many times over in a minute; the same
job would need 2,001 answers, about 7 minutes here, to cross the real update limit once.
Each answer is a signal to the agent's own workflow too, which continues as new through
``AgentWorkflow.checkpoint``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from durasumi.client import jobs
from durasumi.workers.devserver import DISPATCH_TUNING, DevServer, free_port
from durasumi.workflows.continuation import UPDATE_BUDGET
from durasumi.workflows.models import EventKind, JobStatus, Submission
from tests.conftest import Stack, running_stack
from tests.long_agents import Chatter, Conversation

FORMS = int(os.environ.get("DURASUMI_TEST_FORMS", "200"))
# DURASUMI_TEST_REAL_LIMITS=1: the conversation's server keeps Temporal's own limits
# (DURASUMI_TEST_FORMS=5000 then takes about 15 minutes here; docs/limits.md has the run).
REAL_LIMITS = os.environ.get("DURASUMI_TEST_REAL_LIMITS") == "1"
EVENTS = int(os.environ.get("DURASUMI_TEST_EVENTS", "100000"))
SCALED_LIMITS = {
    "history.maxTotalUpdates": 40,
    "history.maximumSignalsPerExecution": FORMS // 2,
    "limit.historyCount.suggestContinueAsNew": 300,
}


@pytest.fixture(scope="module")
def tight_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    home = tmp_path_factory.mktemp("tight")
    server = DevServer(
        db_file=home / "temporal.db",
        port=free_port(),
        ui_port=None,
        log_file=home / "log",
        dynamic_config={**DISPATCH_TUNING, **({} if REAL_LIMITS else SCALED_LIMITS)},
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def tight(tight_server: DevServer, tmp_path: Path) -> AsyncIterator[Stack]:
    client = await Client.connect(tight_server.address, data_converter=pydantic_data_converter)
    async with running_stack(client, tight_server.address, tmp_path) as s:
        yield s


async def runs_of(stack: Stack, job_id: str) -> int:
    """How many runs the job has had (each continued-as-new run names the one before)."""
    view = await jobs.job_view(stack.client, job_id)
    count = 1
    handle = stack.client.get_workflow_handle(job_id)
    previous = view.previous_run_id
    while previous is not None:
        count += 1
        handle = stack.client.get_workflow_handle(job_id, run_id=previous)
        previous = (await handle.query("view")).get("previous_run_id")
    return count


async def test_a_job_with_100k_progress_events(stack: Stack) -> None:
    began = time.monotonic()
    async with stack.serving([Chatter]):
        job = await stack.start("chatter", {"events": EVENTS})
        done = await stack.wait_for(job.job_id, JobStatus.COMPLETED, timeout=600)
    assert done.result == {"emitted": EVENTS}
    assert await runs_of(stack, job.job_id) >= EVENTS // 10_000  # 10,000 per run at most
    ticks = []
    seqs = []
    async for event in jobs.iter_job_events(stack.client, job.job_id):
        seqs.append(event.seq)
        if event.kind is EventKind.PROGRESS:
            ticks.append(event.data["i"])
    assert seqs == list(range(1, len(seqs) + 1))  # complete, in order, no duplicate
    assert ticks == list(range(EVENTS))
    assert done.last_seq == len(seqs)
    print(f"100k events: {time.monotonic() - began:.1f} s")


async def test_a_conversation_past_the_update_and_signal_limits(tight: Stack) -> None:
    stack = tight
    updates_per_run = UPDATE_BUDGET if REAL_LIMITS else SCALED_LIMITS["history.maxTotalUpdates"]
    began = time.monotonic()
    async with stack.serving([Conversation]):
        job = await stack.start("conversation", {"turns": FORMS})
        for turn in range(1, FORMS + 1):
            view = await stack.wait_for(job.job_id, JobStatus.AWAITING_INPUT)
            assert view.pending_form is not None
            request_id = view.pending_form.request_id
            assert request_id == f"turn-{turn}", request_id
            answer = Submission(request_id=request_id, values={"n": turn})
            await jobs.submit_form(stack.client, job.job_id, answer)
        done = await stack.wait_for(job.job_id, JobStatus.COMPLETED, timeout=120)
    result = done.result
    assert isinstance(result, dict)
    assert (result["turns"], result["total"]) == (FORMS, FORMS * (FORMS + 1) // 2)
    # Past its signal limit only by continuing as new: FORMS answers, FORMS / 2 per run.
    assert isinstance(result["agent_runs"], int) and result["agent_runs"] >= 3
    query = f"WorkflowId = '{job.job_id}-agent'"
    for _ in range(50):  # visibility trails the last run's close by a moment
        agent_runs = [wf.run_id async for wf in stack.client.list_workflows(query)]
        if len(agent_runs) == result["agent_runs"]:
            break
        await asyncio.sleep(0.1)
    assert len(agent_runs) == result["agent_runs"]
    assert len(done.input_hashes) == FORMS  # every answer's hash, carried across runs
    assert await runs_of(stack, job.job_id) >= FORMS // updates_per_run
    answered = [
        e.data["request_id"]
        async for e in jobs.iter_job_events(stack.client, job.job_id)
        if e.kind is EventKind.FORM_SUBMITTED
    ]
    assert answered == [f"turn-{i}" for i in range(1, FORMS + 1)]
    print(f"{FORMS} forms: {time.monotonic() - began:.1f} s")
