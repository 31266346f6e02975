"""The worker command: run the platform worker and/or vendor agent workers."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Annotated

import typer
import uvicorn
from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion

from durasumi.activities.gpu import GpuActivities
from durasumi.activities.llm import LlmActivities
from durasumi.cli.context import Ctx, get_ctx, run
from durasumi.cli.output import BAD_INPUT, console, fail
from durasumi.workers.agents import AgentSpecError, describe, load_agent
from durasumi.workers.deployments import worker_version
from durasumi.workers.escrow import EscrowConfigError, escrow_activities
from durasumi.workers.run import agent_worker, platform_worker, run_until_stopped
from durasumi.workers.telemetry import Telemetry, TelemetryError
from durasumi.workflows.agent import AgentWorkflow

AgentOpt = Annotated[
    list[str] | None,
    typer.Option("--agent", "-a", help="An agent class as module:Class (repeatable)."),
]


def load_agents(specs: list[str]) -> list[type[AgentWorkflow]]:
    """Import every ``module:Class``, exiting with a clear error on a bad one."""
    try:
        return [load_agent(spec) for spec in specs]
    except AgentSpecError as err:
        fail(str(err), BAD_INPUT)


async def serve(
    c: Ctx,
    agents: list[type[AgentWorkflow]],
    *,
    platform: bool,
    vendor: str,
    api: bool = False,
    version: WorkerDeploymentVersion | None = None,
) -> None:
    """Register ``agents``, then run the workers (and the API) until SIGINT/SIGTERM.

    ``version`` makes every worker of the process a version of that Worker Deployment.
    """
    try:
        telemetry = Telemetry.from_settings(c.settings, "durasumi-worker")
    except TelemetryError as err:
        fail(str(err), BAD_INPUT)
    client = await c.client(runtime=telemetry.runtime, interceptors=telemetry.interceptors)
    try:
        escrow = escrow_activities(c.settings) if platform else None
    except EscrowConfigError as err:
        fail(str(err), BAD_INPUT)
    drain = timedelta(seconds=c.settings.worker_drain_seconds)
    queue = c.settings.platform_task_queue
    workers = (
        [platform_worker(client, queue, escrow=escrow, drain=drain, version=version)]
        if platform
        else []
    )
    # One LLM client and one Ray connection for all the agents of this process.
    llm = LlmActivities(c.settings.llm_settings())
    gpu = GpuActivities(c.settings.ray_settings())
    for agent in agents:
        queue = c.settings.agent_task_queue(agent.name)
        c.registry.upsert(describe(agent, task_queue=queue, vendor=vendor))
        workers.append(
            agent_worker(client, [agent], queue, llm=llm, gpu=gpu, drain=drain, version=version)
        )
    names = ", ".join(a.name for a in agents) or "none"
    versioned = f"; version: {version.to_canonical_string()}" if version else ""
    console.print(
        f"worker running (platform: {'yes' if platform else 'no'}; agents: {names}{versioned})"
    )
    if telemetry.runtime is not None:
        s = c.settings
        console.print(f"metrics at http://{s.metrics_host}:{s.metrics_port}/metrics")
    server = _api_server(c, client, telemetry) if api else None
    try:
        await run_until_stopped(workers, also=server)
    finally:
        await llm.close()
        await asyncio.to_thread(gpu.close)
        telemetry.shutdown()
    console.print("worker stopped")


def _api_server(c: Ctx, client: Client, telemetry: Telemetry) -> uvicorn.Server:
    from durasumi.api.app import create_app  # only the dev stack and `durasumi api` need FastAPI

    s = c.settings
    config = uvicorn.Config(
        create_app(s, client, telemetry=telemetry),
        host=s.api_host,
        port=s.api_port,
        log_level="warning",
    )
    return uvicorn.Server(config)


def worker(
    ctx: typer.Context,
    agent: AgentOpt = None,
    platform: Annotated[
        bool, typer.Option("--platform/--no-platform", help="Also run the platform worker.")
    ] = False,
    vendor: Annotated[str, typer.Option(help="Vendor name recorded for the agents.")] = "local",
    deployment: Annotated[
        str | None,
        typer.Option(
            help="Worker Deployment name: run as a version of it (agents pinned); "
            "default DURASUMI_WORKER_DEPLOYMENT, else unversioned.",
        ),
    ] = None,
    build_id: Annotated[
        str | None,
        typer.Option(help="This version's build id; default DURASUMI_WORKER_BUILD_ID."),
    ] = None,
) -> None:
    """Run workers: the platform's (--platform) and/or agents' (--agent module:Class).

    SIGTERM drains: polling stops at once, activities in flight get
    DURASUMI_WORKER_DRAIN_SECONDS to finish, then the process exits 0. With --deployment
    and --build-id the workers are one version of a Worker Deployment (see
    docs/deploy-versions.md); make it current with `durasumi deploy current`.
    """
    if not platform and not agent:
        fail("nothing to run: pass --platform and/or --agent module:Class", BAD_INPUT)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    c = get_ctx(ctx)
    try:
        version = worker_version(
            deployment or c.settings.worker_deployment, build_id or c.settings.worker_build_id
        )
    except ValueError as err:
        fail(str(err), BAD_INPUT)
    classes = load_agents(agent or [])
    run(serve)(c, classes, platform=platform, vendor=vendor, version=version)
