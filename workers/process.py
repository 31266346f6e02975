"""A worker process: the platform worker and/or agent workers, run until SIGINT/SIGTERM.

``durasumi worker`` and ``durasumi dev`` are this, with different ways of registering the
agents: a vendor's worker registers through the platform's API with the vendor's key, the
dev stack (which is the platform) writes its own registry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.worker import Worker

from durasumi.activities.gpu import GpuActivities
from durasumi.activities.llm import LlmActivities
from durasumi.client.connect import connect
from durasumi.client.registration import AgentRegistration, registration_for
from durasumi.workers.readiness import worker_problem
from durasumi.workers.run import agent_worker, platform_worker, run_until_stopped, watch_worker
from durasumi.workers.settings import Settings
from durasumi.workers.telemetry import Telemetry
from durasumi.workflows.agent import AgentWorkflow

if TYPE_CHECKING:
    from uvicorn import Server

__all__ = ["Register", "ServeHttp", "serve"]

log = logging.getLogger(__name__)

Register = Callable[[Sequence[AgentRegistration]], Awaitable[Mapping[str, str]]]
"""Records the agents a process serves (through the API, or in the platform's registry).

It answers each agent's task queue, which the platform derives: the worker polls that.
"""

ServeHttp = Callable[[Client, Telemetry], "Server"]
"""Builds an HTTP server (the API) to run alongside the workers, on their client."""


async def serve(
    settings: Settings,
    agents: Sequence[type[AgentWorkflow]],
    *,
    platform: bool,
    register: Register,
    version: WorkerDeploymentVersion | None = None,
    http: ServeHttp | None = None,
    ready: Callable[[str], None] = log.info,
) -> None:
    """Register ``agents``, then run the workers (and ``http``) until SIGINT/SIGTERM.

    Every worker of the process is built with :class:`~durasumi.workers.plugin.DurasumiPlugin`
    and shares one LLM client and one Ray connection. ``version`` makes every worker a
    version of that Worker Deployment.

    Raises:
        TelemetryError: the metrics or tracing settings are unusable.
        EscrowConfigError: ``platform`` and the escrow settings are unusable.
        RegistrationError: the platform refused an agent, or its API is unreachable.
        RuntimeError: Temporal is unreachable.
    """
    telemetry = Telemetry.from_settings(settings, "durasumi-worker")
    escrow = None
    if platform:
        from durasumi.workers.escrow import escrow_activities  # the platform extra (Cardano)

        escrow = escrow_activities(settings)
    client = await connect(settings, runtime=telemetry.runtime, interceptors=telemetry.interceptors)
    if escrow is not None:
        from durasumi.workers.escrow import ensure_reconciler_schedule

        await ensure_reconciler_schedule(client, settings)
    drain = timedelta(seconds=settings.worker_drain_seconds)
    workers: list[Worker] = []
    remote = None
    if platform:
        from durasumi.workers.remote import hire_activities, remote_activities, remote_settings

        remote = remote_activities(settings.db_url, remote_settings(settings))
        hire = hire_activities(settings.db_url)
        queue = settings.platform_task_queue
        workers.append(
            platform_worker(
                client, queue, escrow=escrow, drain=drain, version=version, remote=remote, hire=hire
            )
        )
        watches = watch_worker(
            client, queue, remote=remote, hire=hire, drain=drain, version=version
        )
        if watches is not None:
            workers.append(watches)
    llm = LlmActivities(settings.llm_settings())
    gpu = GpuActivities(settings.ray_settings())
    problems = {agent.name: worker_problem(agent, settings) for agent in agents}
    queues = await register(
        [registration_for(agent, worker_problem=problems[agent.name]) for agent in agents]
    )
    for agent in agents:
        workers.append(
            agent_worker(
                client, [agent], queues[agent.name], llm=llm, gpu=gpu, drain=drain, version=version
            )
        )
    names = ", ".join(a.name for a in agents) or "none"
    versioned = f"; version: {version.to_canonical_string()}" if version else ""
    ready(f"worker running (platform: {'yes' if platform else 'no'}; agents: {names}{versioned})")
    if settings.metrics_port is not None:
        ready(f"metrics at http://{settings.metrics_host}:{settings.metrics_port}/metrics")
    server = http(client, telemetry) if http is not None else None
    try:
        await run_until_stopped(workers, also=server)
    finally:
        await llm.close()
        if remote is not None:
            await remote.close()
        await asyncio.to_thread(gpu.close)
        telemetry.shutdown()
