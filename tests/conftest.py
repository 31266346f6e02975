"""Shared fixtures: one real Temporal dev server per session, workers per test."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from durasumi.client import jobs
from durasumi.db.registry import AgentRecord, Registry, describe
from durasumi.examples.batch_report import BatchReport
from durasumi.examples.trip_planner import TripPlanner
from durasumi.workers.devserver import DevServer, free_port
from durasumi.workers.run import agent_worker, platform_worker
from durasumi.workflows.agent import AgentWorkflow
from durasumi.workflows.models import JobStatus, JobView
from tests.agents import BrokenAgent, CounterAgent

if TYPE_CHECKING:
    from durasumi.activities.escrow.dev import DevEscrow

ROOT = Path(__file__).resolve().parent.parent
AGENTS: list[type[AgentWorkflow]] = [TripPlanner, BatchReport, CounterAgent, BrokenAgent]


@pytest.fixture(scope="session")
def temporal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """The session's Temporal dev server (SQLite file in a temp dir, no UI)."""
    home = tmp_path_factory.mktemp("temporal")
    server = DevServer(
        db_file=home / "temporal.db", port=free_port(), ui_port=None, log_file=home / "log"
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def client(temporal: DevServer) -> Client:
    return await Client.connect(temporal.address, data_converter=pydantic_data_converter)


@dataclass
class Stack:
    """A platform worker and agent workers on queues unique to one test."""

    client: Client
    address: str
    home: Path
    platform_queue: str
    prefix: str
    records: dict[str, AgentRecord] = field(default_factory=dict)

    def queue(self, agent: str) -> str:
        return f"{self.prefix}-{agent}"

    def env(self) -> dict[str, str]:
        """Environment for a CLI/worker subprocess pointed at this stack."""
        return {
            **os.environ,
            "DURASUMI_TEMPORAL_ADDRESS": self.address,
            "DURASUMI_HOME": str(self.home),
            "DURASUMI_PLATFORM_TASK_QUEUE": self.platform_queue,
            "PYTHONPATH": str(ROOT),
        }

    async def start(
        self, agent: str, input_data: dict[str, Any], identifier: str | None = None
    ) -> jobs.StartedJob:
        return await jobs.start_job(
            self.client,
            self.records[agent],
            identifier or uuid.uuid4().hex[:16],
            input_data,
            platform_task_queue=self.platform_queue,
            buyer="tester",
        )

    async def wait_for(self, job_id: str, status: JobStatus, timeout: float = 30.0) -> JobView:
        """Poll the job's view until it reaches ``status``."""
        deadline = asyncio.get_running_loop().time() + timeout
        view = await jobs.job_view(self.client, job_id)
        while view.status is not status:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{job_id} stuck in {view.status} (wanted {status})")
            await asyncio.sleep(0.1)
            view = await jobs.job_view(self.client, job_id)
        return view

    @contextlib.asynccontextmanager
    async def serving(
        self, agents: Sequence[type[AgentWorkflow]], **worker_options: Any
    ) -> AsyncIterator[None]:
        """One more agent worker for ``agents`` (options go to ``agent_worker``)."""
        queue = self.queue(f"extra-{uuid.uuid4().hex[:6]}")
        for agent in agents:
            self.records[agent.name] = describe(agent, task_queue=queue, vendor="tests")
        async with agent_worker(self.client, agents, queue, **worker_options):
            yield


def lines(path: Path) -> list[str]:
    """The lines of a trace file (none if it does not exist yet)."""
    return path.read_text().splitlines() if path.exists() else []


async def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll ``predicate`` every 100 ms until it holds."""
    for _ in range(int(timeout * 10)):
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached")


@pytest.fixture
def dev() -> DevEscrow:
    """A fresh dev chain: offline ledger, deployed escrow script, dev wallets (escrow tests)."""
    from durasumi.activities.escrow.dev import dev_escrow

    return dev_escrow()


def agent_queue_prefix() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def stack(client: Client, temporal: DevServer, tmp_path: Path) -> AsyncIterator[Stack]:
    """Workers for the examples and test agents, registered in an SQLite registry."""
    async with running_stack(client, temporal.address, tmp_path) as s:
        yield s


@asynccontextmanager
async def running_stack(client: Client, address: str, tmp_path: Path) -> AsyncIterator[Stack]:
    """A Stack with its workers running on ``client`` (and so on its namespace)."""
    prefix = agent_queue_prefix()
    s = Stack(client, address, tmp_path, f"{prefix}-platform", prefix)
    registry = Registry(f"sqlite:///{tmp_path / 'durasumi.db'}")
    for agent in AGENTS:
        s.records[agent.name] = registry.upsert(
            describe(agent, task_queue=s.queue(agent.name), vendor="tests")
        )
    workers: list[Worker] = [platform_worker(client, s.platform_queue)]
    workers += [agent_worker(client, [a], s.queue(a.name)) for a in AGENTS]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        yield s
    finally:
        await asyncio.gather(*(w.shutdown() for w in workers))
        await asyncio.gather(*tasks, return_exceptions=True)


async def run_cli(stack: Stack, *args: str, timeout: float = 60.0) -> tuple[int, str, str]:
    """Run `durasumi ARGS` in a subprocess against ``stack``: (exit code, stdout, stderr)."""
    env = stack.env() | {"COLUMNS": "200", "NO_COLOR": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "durasumi.cli.main", *args,
        cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode(), err.decode()


from tests.api_fixtures import api, pg_url, sqlite_api  # noqa: E402, F401  (fixtures)
