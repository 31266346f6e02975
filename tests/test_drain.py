"""SIGTERM drains `durasumi worker`: polling stops, the step in flight finishes, exit code 0."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from durasumi.client.jobs import job_result
from durasumi.db.registry import describe
from durasumi.workflows.models import JobStatus
from tests.conftest import ROOT, Stack, lines, wait_until
from tests.deploy_agents import DrainAgent


class WorkerProcess:
    """`durasumi worker --agent tests.deploy_agents:DrainAgent` as its own process."""

    def __init__(self, stack: Stack, prefix: str, drain_seconds: float) -> None:
        self.stack, self.prefix, self.drain_seconds = stack, prefix, drain_seconds
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> int:
        env = self.stack.env() | {
            "DURASUMI_AGENT_QUEUE_PREFIX": self.prefix,
            "DURASUMI_WORKER_DRAIN_SECONDS": str(self.drain_seconds),
        }
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "durasumi.cli.main", "worker", "--no-register", "--agent", "tests.deploy_agents:DrainAgent",
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        return self.proc.pid

    async def terminate(self) -> tuple[int, float, str]:
        """SIGTERM; (exit code, seconds until the process ended, its output)."""
        assert self.proc is not None
        sent = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(self.proc.communicate(), self.drain_seconds + 30)
        return self.proc.returncode or 0, time.monotonic() - sent, out.decode()

    async def close(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


@pytest.fixture
async def workers(stack: Stack) -> AsyncIterator[list[WorkerProcess]]:
    made: list[WorkerProcess] = []
    yield made
    for w in made:
        await w.close()


def drain_stack(stack: Stack) -> str:
    prefix = f"{stack.prefix}-drain"
    stack.records["drain-demo"] = describe(
        DrainAgent, task_queue=f"{prefix}-drain-demo", vendor="tests"
    )
    return prefix


async def test_sigterm_lets_the_step_in_flight_finish_once(
    stack: Stack, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    prefix, trace = drain_stack(stack), tmp_path / "trace"
    old = WorkerProcess(stack, prefix, drain_seconds=20)
    workers.append(old)
    old_pid = await old.start()
    job = await stack.start("drain-demo", {"trace": str(trace), "steps": 2, "seconds": 3})
    await wait_until(lambda: f"start 0 {old_pid} 1" in lines(trace), timeout=60)

    code, took, out = await old.terminate()
    assert code == 0, out
    assert "worker stopped" in out
    assert took < 20  # well within the drain; the step had < 3 s left
    # The step finished on the draining worker, and its next step did not start there:
    # the worker had stopped polling before the step completed.
    assert lines(trace) == [f"start 0 {old_pid} 1", f"done 0 {old_pid} 1"]

    new = WorkerProcess(stack, prefix, drain_seconds=20)
    workers.append(new)
    new_pid = await new.start()
    result = await asyncio.wait_for(job_result(job.handle), 60)
    assert result.status is JobStatus.COMPLETED and result.result == 2
    assert lines(trace) == [
        f"start 0 {old_pid} 1",
        f"done 0 {old_pid} 1",  # step 0 ran once, never retried elsewhere
        f"start 1 {new_pid} 1",
        f"done 1 {new_pid} 1",
    ]
    assert (await new.terminate())[0] == 0


async def test_a_step_longer_than_the_drain_is_cancelled_and_retried(
    stack: Stack, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    prefix, trace = drain_stack(stack), tmp_path / "trace"
    old = WorkerProcess(stack, prefix, drain_seconds=2)
    workers.append(old)
    old_pid = await old.start()
    job = await stack.start("drain-demo", {"trace": str(trace), "steps": 1, "seconds": 8})
    await wait_until(lambda: f"start 0 {old_pid} 1" in lines(trace), timeout=60)

    code, took, out = await old.terminate()
    assert code == 0, out
    assert 2 <= took < 12  # the drain period, then the cancelled step winds down
    assert lines(trace) == [f"start 0 {old_pid} 1", f"cancelled 0 {old_pid} 1"]

    new = WorkerProcess(stack, prefix, drain_seconds=20)
    workers.append(new)
    new_pid = await new.start()
    result = await asyncio.wait_for(job_result(job.handle), 60)
    assert result.status is JobStatus.COMPLETED and result.result == 1
    assert lines(trace)[2:] == [f"start 0 {new_pid} 2", f"done 0 {new_pid} 2"]
    assert (await new.terminate())[0] == 0
