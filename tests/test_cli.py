"""The CLI end to end, as a subprocess against the real dev server and workers."""

from __future__ import annotations

import asyncio
import json

from durasumi.client import jobs
from durasumi.workflows.models import JobStatus
from tests.conftest import Stack, run_cli


async def start_json(stack: Stack, *args: str) -> dict:
    code, out, err = await run_cli(stack, "start", *args, "--json")
    assert code == 0, err
    return json.loads(out)


async def test_trip_planner_through_the_cli(stack: Stack) -> None:
    job = await start_json(
        stack, "trip-planner", '{"destination": "Kyoto"}', "--id", "00112233445566778899"
    )
    job_id = job["job_id"]
    assert job["created"] is True
    await stack.wait_for(job_id, JobStatus.AWAITING_INPUT)

    code, out, _ = await run_cli(stack, "inspect", job_id)
    assert code == 0
    assert "awaiting_input" in out and "pending form travellers" in out and "children_ages" in out

    code, _, err = await run_cli(
        stack, "signal", job_id, "-F", "adults=two", "-F", "children_ages=3"
    )
    assert code == 2
    assert "adults: " in err and "children: is required" in err

    code, out, _ = await run_cli(stack, "signal", job_id, "-F", "adults=2", "-F", "children=false")
    assert code == 0 and "accepted" in out
    await stack.wait_for(job_id, JobStatus.AWAITING_INPUT)
    code, out, _ = await run_cli(stack, "signal", job_id, '{"level": "comfort"}', "--json")
    assert code == 0 and json.loads(out)["request_id"] == "budget-2"

    code, out, _ = await run_cli(stack, "watch", job_id, "--json")
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["kind"] == "payment" and any(e["kind"] == "result" for e in events)

    code, out, _ = await run_cli(stack, "status", job_id)
    assert code == 0 and "completed" in out
    code, out, _ = await run_cli(stack, "inspect", job_id, "--json")
    assert json.loads(out)["job"]["result"]["destination"] == "Kyoto"

    again = await start_json(
        stack, "trip-planner", "-F", "destination=Kyoto", "--id", "00112233445566778899"
    )
    assert again == {**job, "created": False}

    code, _, err = await run_cli(stack, "signal", job_id, '{"level": "comfort"}')
    assert code in (1, 2) and "error:" in err and "Traceback" not in err


async def test_batch_report_watch_and_cancel(stack: Stack) -> None:
    job = await start_json(stack, "batch-report", "-F", "chunks=40", "-F", "seconds_per_chunk=0.5")
    job_id = job["job_id"]
    watcher = asyncio.create_task(run_cli(stack, "watch", job_id))
    await stack.wait_for(job_id, JobStatus.RUNNING)
    await asyncio.sleep(2)
    code, out, _ = await run_cli(stack, "cancel", job_id, "--reason", "enough")
    assert code == 0 and "cancel requested" in out
    code, out, _ = await watcher
    assert code == 1  # the job did not complete
    assert "progress" in out and "chunk 1/40 done" in out and "cancelled" in out
    result = await jobs.job_handle(stack.client, job_id).result()
    assert result.status is JobStatus.CANCELLED and result.error == "enough"


async def test_list_and_agents(stack: Stack) -> None:
    job = await start_json(stack, "trip-planner", "-F", "destination=Rome")
    await stack.wait_for(job["job_id"], JobStatus.AWAITING_INPUT)
    for _ in range(50):
        code, out, _ = await run_cli(
            stack, "list", "--agent", "trip-planner", "--status", "awaiting_input", "--json"
        )
        assert code == 0
        if any(r["job_id"] == job["job_id"] for r in json.loads(out)):
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("job never listed")
    code, out, _ = await run_cli(stack, "list")
    assert code == 0 and "job(s)" in out

    code, out, _ = await run_cli(stack, "agents", "--json")
    assert code == 0
    agents = {a["name"]: a for a in json.loads(out)}
    assert agents["trip-planner"]["available"] is True
    assert agents["trip-planner"]["workers"] >= 1


async def test_bad_input_exits_2_with_one_line(stack: Stack) -> None:
    cases = [
        ("start", "nope-agent", "{}"),
        ("start", "trip-planner", "{not json"),
        ("start", "trip-planner", "[1, 2]"),
        ("start", "trip-planner", "-F", "destination"),
        ("start", "trip-planner", "-F", "destination=X"),  # too short: min 2
        ("start", "trip-planner", "-F", "destination=Paris", "--id", "xyz"),
        ("start", "trip-planner", "--file", "/does/not/exist.json"),
        ("inspect", "job-does-not-exist"),
        ("list", "--status", "sleeping"),
        ("watch", "job-x", "--from", "-1"),
        ("worker",),
        ("worker", "--agent", "durasumi.examples.trip_planner"),
        ("worker", "--agent", "durasumi.examples.trip_planner:Nope"),
    ]
    for args in cases:
        code, _, err = await run_cli(stack, *args)
        assert code == 2, (args, err)
        assert "Traceback" not in err, (args, err)
        assert err.strip(), args


async def test_unreachable_server_is_a_failure_not_a_traceback(stack: Stack) -> None:
    stack.address = "127.0.0.1:1"
    code, _, err = await run_cli(stack, "status", "job-x")
    assert code == 1
    assert "cannot reach Temporal" in err and "Traceback" not in err
