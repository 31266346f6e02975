"""Following a job's events live, and resuming from an offset without loss or duplicates."""

from __future__ import annotations

import asyncio

from durasumi.client import jobs
from durasumi.workflows.models import EventKind, JobEvent, JobStatus
from tests.conftest import Stack


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
