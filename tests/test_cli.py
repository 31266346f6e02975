"""The CLI end to end, as a subprocess against the real dev server and workers."""

from __future__ import annotations

import asyncio
import json
import sys

from durasumi.client import jobs
from durasumi.client.jobs import job_result
from durasumi.workflows.models import CancelRequest, JobStatus, Submission
from tests.conftest import ROOT, Stack, run_cli


async def run_with(stack: Stack, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """run_cli with more environment variables."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "durasumi.cli.main", *args, cwd=ROOT,
        env=stack.env() | {"COLUMNS": "200", "NO_COLOR": "1"} | env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


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
    assert "progress" in out and "chunk 1/40 done" in out  # off a terminal: lines, no bar
    assert out.rstrip().endswith(f"{job_id}: cancelled")
    result = await job_result(jobs.job_handle(stack.client, job_id))
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
    assert agents["trip-planner"]["unavailable_reason"] is None


async def test_list_is_newest_first_with_whole_ids_at_80_columns(stack: Stack) -> None:
    started = [
        (await stack.start("trip-planner", {"destination": f"City{n}"})).job_id for n in range(3)
    ]
    # The first one ends: closed jobs come after running ones in visibility's own order.
    await stack.wait_for(started[0], JobStatus.AWAITING_INPUT)
    await jobs.cancel_job(stack.client, started[0], CancelRequest(reason="test"))
    await stack.wait_for(started[0], JobStatus.CANCELLED)
    rows: list[dict] = []
    for _ in range(50):
        code, out, _ = await run_cli(stack, "list", "--buyer", "tester", "--json")
        rows = json.loads(out)
        if [r["job_id"] for r in rows][:3] == started[::-1] and rows[2]["closed"]:
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError(f"not newest first: {rows} (started {started})")
    code, out, _ = await run_with(stack, {"COLUMNS": "80"}, "list", "--buyer", "tester")
    assert code == 0
    assert all(job_id in out for job_id in started) and "…" not in out
    assert max(map(len, out.splitlines())) <= 80


async def test_result_exit_codes(stack: Stack) -> None:
    done = await stack.start("batch-report", {"chunks": 2, "seconds_per_chunk": 0})
    await stack.wait_for(done.job_id, JobStatus.COMPLETED)
    code, out, _ = await run_cli(stack, "result", done.job_id)
    assert code == 0 and json.loads(out)["chunks"] == 2
    code, out, _ = await run_cli(stack, "result", done.job_id, "--json")
    assert code == 0 and json.loads(out)["status"] == "completed"

    waiting = await stack.start("trip-planner", {"destination": "Bern"})
    await stack.wait_for(waiting.job_id, JobStatus.AWAITING_INPUT)
    code, _, err = await run_cli(stack, "result", waiting.job_id)
    assert code == 1 and "has not ended (status awaiting_input)" in err
    code, _, err = await run_cli(stack, "result", waiting.job_id, "--json")
    assert code == 1 and json.loads(err.splitlines()[-1])["error"] == "not_finished"

    broken = await stack.start("broken", {})
    await stack.wait_for(broken.job_id, JobStatus.AWAITING_INPUT)
    waiter = asyncio.create_task(run_cli(stack, "result", broken.job_id, "--wait"))
    await asyncio.sleep(1)
    await jobs.submit_form(stack.client, broken.job_id, Submission(values={"text": "go"}))
    code, _, err = await waiter
    assert code == 1 and "failed" in err and "division by zero" in err, err

    code, _, err = await run_cli(stack, "result", "job-nope-000", "--json")
    assert code == 2 and json.loads(err)["error"] == "not_found"


async def test_watch_says_what_input_is_awaited_and_how_to_give_it(stack: Stack) -> None:
    job = await stack.start("trip-planner", {"destination": "Oslo"})
    watcher = asyncio.create_task(run_cli(stack, "watch", job.job_id))
    await stack.wait_for(job.job_id, JobStatus.AWAITING_INPUT)
    await asyncio.sleep(1)
    travellers = Submission(values={"adults": 1, "children": False})
    await jobs.submit_form(stack.client, job.job_id, travellers)
    for _ in range(100):
        view = await jobs.job_view(stack.client, job.job_id)
        if view.pending_form is not None and view.pending_form.form.id == "budget":
            break
        await asyncio.sleep(0.1)
    await jobs.submit_form(stack.client, job.job_id, Submission(values={"level": "comfort"}))
    code, out, _ = await watcher
    assert code == 0, out
    assert "waiting for input" in out
    answer = f"durasumi signal {job.job_id} --request travellers-1 -F adults= -F children="
    assert answer in out
    assert out.rstrip().endswith(f"{job.job_id}: completed")


async def test_global_address_and_namespace_flags(stack: Stack) -> None:
    job = await stack.start("trip-planner", {"destination": "Riga"})
    await stack.wait_for(job.job_id, JobStatus.AWAITING_INPUT)
    nowhere = {"DURASUMI_TEMPORAL_ADDRESS": "127.0.0.1:1"}
    code, out, _ = await run_with(stack, nowhere, "--address", stack.address, "status", job.job_id)
    assert code == 0 and "awaiting_input" in out
    code, _, err = await run_cli(stack, "--namespace", "nowhere", "status", job.job_id, "--json")
    assert code == 2 and json.loads(err)["error"] == "not_found" and "nowhere" in err


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
    code, _, err = await run_cli(stack, "list", "--json")
    assert code == 1 and json.loads(err)["error"] == "unreachable"
