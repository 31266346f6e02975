"""Kill -9 the vendor worker, restart the Temporal server: jobs survive, steps run once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from durasumi.client import jobs
from durasumi.client.jobs import job_result
from durasumi.db.registry import describe
from durasumi.workers.devserver import DevServer, free_port
from durasumi.workers.run import agent_worker, platform_worker
from durasumi.workflows.models import JobStatus, Submission
from tests.agents import CounterAgent
from tests.conftest import ROOT, Stack, lines, wait_until


class VendorWorker:
    """`durasumi worker --agent tests.agents:CounterAgent` as a separate process."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.proc: asyncio.subprocess.Process | None = None
        self.prefix = f"{stack.prefix}-solo"

    async def start(self) -> None:
        # The stack's in-process counter worker is absent: this process is the only one.
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "durasumi.cli.main", "worker", "--no-register", "--agent", "tests.agents:CounterAgent",
            cwd=ROOT, env=self.stack.env() | {"DURASUMI_AGENT_QUEUE_PREFIX": self.prefix},
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip

    async def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> int | None:
        if self.proc and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.proc.wait(), 40)
        return self.proc.returncode if self.proc else None


@pytest.fixture
async def vendor(stack: Stack) -> AsyncIterator[VendorWorker]:
    worker = VendorWorker(stack)
    yield worker
    await worker.stop()


@pytest.fixture
async def solo_stack(stack: Stack) -> Stack:
    """The stack with the counter agent moved to a queue no in-process worker polls."""
    record = stack.records["counter"].model_copy(
        update={"task_queue": f"{stack.prefix}-solo-counter"}
    )
    stack.records["counter"] = record
    return stack


async def test_kill_vendor_worker_while_waiting_for_a_form(
    solo_stack: Stack, vendor: VendorWorker, tmp_path: Path
) -> None:
    trace = tmp_path / "trace"
    await vendor.start()
    started = await solo_stack.start(
        "counter", {"trace": str(trace), "before": 2, "after": 2, "step_seconds": 0.2}
    )
    await solo_stack.wait_for(started.job_id, JobStatus.AWAITING_INPUT, timeout=60)
    await vendor.kill9()
    await jobs.submit_form(solo_stack.client, started.job_id, Submission(values={"text": "hi"}))
    await vendor.start()
    result = await asyncio.wait_for(job_result(started.handle), 60)
    assert result.status is JobStatus.COMPLETED
    assert result.result == {"answer": "hi", "steps": 4}
    done = Counter(line for line in lines(trace) if line.startswith("done"))
    assert done == {f"done {i}": 1 for i in range(4)}  # no completed step ran twice
    assert await vendor.stop() == 0  # SIGTERM: a graceful shutdown, exit code 0


async def test_kill_vendor_worker_mid_step(
    solo_stack: Stack, vendor: VendorWorker, tmp_path: Path
) -> None:
    trace = tmp_path / "trace"
    await vendor.start()
    started = await solo_stack.start(
        "counter", {"trace": str(trace), "before": 4, "after": 0, "step_seconds": 1.5}
    )
    # Kill while step 2 is in flight: steps 0 and 1 are complete.
    await wait_until(lambda: "start 2" in lines(trace), timeout=60)
    await vendor.kill9()
    assert "done 2" not in lines(trace)
    await vendor.start()
    await solo_stack.wait_for(started.job_id, JobStatus.AWAITING_INPUT, timeout=60)
    await jobs.submit_form(solo_stack.client, started.job_id, Submission(values={"text": "ok"}))
    result = await asyncio.wait_for(job_result(started.handle), 60)
    assert result.status is JobStatus.COMPLETED
    counts = Counter(lines(trace))
    assert [counts[f"done {i}"] for i in range(4)] == [1, 1, 1, 1]
    assert counts["start 0"] == counts["start 1"] == 1  # completed steps never re-ran
    assert counts["start 2"] == 2  # the interrupted step ran again after the heartbeat timeout


async def test_restart_temporal_server_with_jobs_waiting(tmp_path: Path) -> None:
    """Stop the dev server with jobs paused on forms, start it on the same file: they finish."""
    server = DevServer(db_file=tmp_path / "temporal.db", port=free_port(), ui_port=None)
    server.start()
    try:
        client = await Client.connect(server.address, data_converter=pydantic_data_converter)
        stack = Stack(client, server.address, tmp_path, "restart-platform", "restart")
        stack.records["counter"] = describe(
            CounterAgent, task_queue="restart-counter", vendor="tests"
        )
        workers = [
            platform_worker(client, stack.platform_queue),
            agent_worker(client, [CounterAgent], "restart-counter"),
        ]
        tasks = [asyncio.create_task(w.run()) for w in workers]
        trace = tmp_path / "trace"
        started = [
            await stack.start(
                "counter", {"trace": str(trace), "before": 1, "after": 1, "step_seconds": 0}
            )
            for _ in range(3)
        ]
        for job in started:
            await stack.wait_for(job.job_id, JobStatus.AWAITING_INPUT)

        server.stop()  # SIGTERM, the way an operator restarts it
        await asyncio.sleep(1)
        server.start()

        for job in started:
            await asyncio.wait_for(
                jobs.submit_form(client, job.job_id, Submission(values={"text": "after restart"})),
                60,
            )
        for job in started:
            result = await asyncio.wait_for(job_result(jobs.job_handle(client, job.job_id)), 60)
            assert result.status is JobStatus.COMPLETED
        assert Counter(lines(trace))["done 0"] == 3 and Counter(lines(trace))["done 1"] == 3
        await asyncio.gather(*(w.shutdown() for w in workers))
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        server.stop()
