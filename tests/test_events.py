"""Following a job's events live, and resuming from an offset without loss or duplicates."""

from __future__ import annotations

import asyncio

from temporalio.api.enums.v1 import EventType

from durasumi.client import job_stream, jobs
from durasumi.workflows.models import EventKind, JobEvent, JobStatus, Submission
from tests.conftest import Stack
from tests.file_agents import BigResult, big_text


async def collect(
    stack: Stack, job_id: str, after: int = 0, stop_after: int | None = None
) -> list[JobEvent]:
    seen: list[JobEvent] = []
    async for event in jobs.follow_events(stack.client, job_id, after):
        seen.append(event)
        if stop_after is not None and len(seen) >= stop_after:
            break
    return seen


async def test_live_follow_and_resume(stack: Stack) -> None:
    started = await stack.start("batch-report", {"chunks": 6, "seconds_per_chunk": 0.3})
    # A watcher that disconnects after 4 events, then reconnects from its last offset.
    first = await asyncio.wait_for(collect(stack, started.job_id, stop_after=4), 30)
    assert [e.seq for e in first] == [1, 2, 3, 4]
    rest = await asyncio.wait_for(collect(stack, started.job_id, after=first[-1].seq), 30)
    combined = [e.seq for e in first + rest]
    assert combined == list(range(1, len(combined) + 1))

    everything = await jobs.job_events(stack.client, started.job_id)
    assert [e.model_dump() for e in first + rest] == [e.model_dump() for e in everything]
    assert [e.data["done"] for e in everything if e.kind is EventKind.PROGRESS] == [
        1,
        2,
        3,
        4,
        5,
        6,
    ]


async def test_events_arrive_while_the_job_runs(stack: Stack) -> None:
    started = await stack.start("batch-report", {"chunks": 4, "seconds_per_chunk": 0.5})
    loop = asyncio.get_running_loop()
    arrivals: list[tuple[float, JobEvent]] = []
    async for event in jobs.follow_events(stack.client, started.job_id):
        arrivals.append((loop.time(), event))
    progress = [t for t, e in arrivals if e.kind is EventKind.PROGRESS]
    assert len(progress) == 4
    # Delivered as they happened (about 0.5 s apart), not all at the end.
    assert progress[-1] - progress[0] > 1.0


async def test_agent_events_out_of_order_are_kept_and_redeliveries_dropped(stack: Stack) -> None:
    from durasumi.workflows.job import JobWorkflow
    from durasumi.workflows.models import AgentEvent

    started = await stack.start("trip-planner", {"destination": "Bonn"})
    await stack.wait_for(started.job_id, JobStatus.AWAITING_INPUT)
    handle = jobs.job_handle(stack.client, started.job_id)
    # Concurrent emits may arrive out of order; a redelivered one must not count twice.
    for seq in (101, 100, 101):
        await handle.signal(
            JobWorkflow.agent_event,
            AgentEvent(agent_seq=seq, kind=EventKind.PROGRESS, message=f"p{seq}"),
        )
    events = await jobs.job_events(stack.client, started.job_id)
    assert [e.message for e in events if e.kind is EventKind.PROGRESS] == ["p101", "p100"]
    await handle.cancel()


async def follow_counting(stack: Stack, job_id: str) -> tuple[list[JobEvent], int]:
    """Follow a job to its end with client/job_stream.py, counting the queries it makes."""
    reads = 0

    async def read(after: int) -> list[JobEvent]:
        nonlocal reads
        reads += 1
        return await jobs.job_events(stack.client, job_id, after)

    followed = [e async for e in job_stream.follow_events(stack.client, job_id, 0, read)]
    return followed, reads


async def test_a_follow_queries_only_after_news_and_never_the_closed_run(stack: Stack) -> None:
    started = await stack.start("trip-planner", {"destination": "Oslo"})
    follower = asyncio.create_task(follow_counting(stack, started.job_id))
    for values in ({"adults": 2, "children": False}, {"level": "comfort"}):
        view = await stack.wait_for(started.job_id, JobStatus.AWAITING_INPUT)
        assert view.pending_form is not None
        answer = Submission(request_id=view.pending_form.request_id, values=values)
        await jobs.submit_form(stack.client, started.job_id, answer)
    followed, reads = await asyncio.wait_for(follower, 60)
    everything = await jobs.job_events(stack.client, started.job_id)
    assert [e.model_dump() for e in followed] == [e.model_dump() for e in everything]
    assert followed[-1].kind is EventKind.PAYMENT and any(
        e.kind is EventKind.RESULT for e in followed
    )
    history = await jobs.job_handle(stack.client, started.job_id).fetch_history()
    kinds = [e.event_type for e in history.events]
    tasks = kinds.count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
    acks = kinds.count(EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED) + kinds.count(
        EventType.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED
    )
    assert acks >= 3  # the child's start, two answers delivered
    # At most one query per task that was not a bare acknowledgement, none for the last
    # task (the closed run's result carries its last events).
    assert 1 <= reads <= tasks - acks - 1, (reads, tasks, acks)


async def test_a_follow_reads_a_result_too_big_to_ride_along(stack: Stack) -> None:
    async with stack.serving([BigResult]):
        started = await stack.start("big-result", {"megabytes": 1})
        followed, reads = await asyncio.wait_for(follow_counting(stack, started.job_id), 60)
    [result] = [e for e in followed if e.kind is EventKind.RESULT]
    assert result.data["result"] == {"text": big_text(1)}
    assert followed[-1].kind is EventKind.PAYMENT
    assert [e.seq for e in followed] == list(range(1, len(followed) + 1))
    assert reads >= 1
