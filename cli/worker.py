"""The worker command: run the platform worker and/or vendor agent workers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Annotated

import typer
from temporalio.common import WorkerDeploymentVersion

from durasumi.cli.context import get_ctx, run
from durasumi.cli.output import BAD_INPUT, FAILURE, console, fail
from durasumi.client.registration import AgentRegistration, RegistrationError, register_agents
from durasumi.workers.agents import AgentSpecError, load_agent
from durasumi.workers.deployments import worker_version
from durasumi.workers.escrow import EscrowConfigError
from durasumi.workers.process import Register, ServeHttp, serve
from durasumi.workers.settings import Settings
from durasumi.workers.telemetry import TelemetryError
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


def api_registration(settings: Settings) -> Register:
    """Register through the platform's API with the vendor key in the settings."""
    if settings.api_key is None or not settings.api_key.get_secret_value():
        fail(
            "set DURASUMI_API_KEY to a vendor key (`durasumi keys create --role vendor "
            "--owner NAME` on the platform) so the worker can register its agents, "
            "or pass --no-register",
            BAD_INPUT,
        )
    key = settings.api_key.get_secret_value()

    async def register(registrations: Sequence[AgentRegistration]) -> dict[str, str]:
        if not registrations:
            return {}
        return await register_agents(settings.api_base_url, key, registrations)

    return register


def skipped_registration(settings: Settings) -> Register:
    """``--no-register``: poll the queues the platform derives with these settings."""

    async def register(registrations: Sequence[AgentRegistration]) -> dict[str, str]:
        return {r.name: settings.agent_task_queue(r.name) for r in registrations}

    return register


def run_process(
    settings: Settings,
    agents: list[type[AgentWorkflow]],
    *,
    platform: bool,
    register: Register,
    version: WorkerDeploymentVersion | None = None,
    http: ServeHttp | None = None,
) -> None:
    """Run a worker process, turning its startup errors into one-line CLI errors."""
    try:
        run(serve)(
            settings,
            agents,
            platform=platform,
            register=register,
            version=version,
            http=http,
            ready=console.print,
        )
    except (TelemetryError, EscrowConfigError) as err:
        fail(str(err), BAD_INPUT)
    except RegistrationError as err:
        fail(str(err), FAILURE)
    except typer.Exit:
        raise
    except RuntimeError as err:  # the SDK's connect failure carries no RPC status
        fail(f"cannot reach Temporal: {err}. Is `durasumi dev` running?", FAILURE)
    console.print("worker stopped")


def worker(
    ctx: typer.Context,
    agent: AgentOpt = None,
    platform: Annotated[
        bool, typer.Option("--platform/--no-platform", help="Also run the platform worker.")
    ] = False,
    register: Annotated[
        bool,
        typer.Option(
            "--register/--no-register",
            help="Register the agents through the platform's API (DURASUMI_API_URL) with "
            "the vendor key DURASUMI_API_KEY.",
        ),
    ] = True,
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

    An agent worker holds no platform secret: it registers its agents through the
    platform's API with a vendor key and polls only their task queues. SIGTERM drains:
    polling stops at once, activities in flight get DURASUMI_WORKER_DRAIN_SECONDS to
    finish, then the process exits 0. With --deployment and --build-id the workers are
    one version of a Worker Deployment (see docs/deploy-versions.md); make it current
    with `durasumi deploy current`.
    """
    if not platform and not agent:
        fail("nothing to run: pass --platform and/or --agent module:Class", BAD_INPUT)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = get_ctx(ctx).settings
    try:
        version = worker_version(
            deployment or settings.worker_deployment, build_id or settings.worker_build_id
        )
    except ValueError as err:
        fail(str(err), BAD_INPUT)
    classes = load_agents(agent or [])
    run_process(
        settings,
        classes,
        platform=platform,
        register=(
            api_registration(settings) if register and classes else skipped_registration(settings)
        ),
        version=version,
    )
