"""The dev command: the whole embedded stack in one process tree."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import typer
from temporalio.client import Client

from durasumi.cli.context import get_ctx
from durasumi.cli.output import console, fail
from durasumi.cli.worker import load_agents, run_process
from durasumi.client.registration import AgentRegistration
from durasumi.workers.codec import create_keyring_file
from durasumi.workers.devserver import DevServer, DevServerError
from durasumi.workers.process import Register, ServeHttp
from durasumi.workers.settings import Settings
from durasumi.workers.telemetry import Telemetry

# llm-qa fails at its LLM call, naming the settings, until DURASUMI_LLM_* are set;
# gpu-batch needs the ray extra and starts a local Ray on its first chunk.
EXAMPLE_AGENTS = [
    "durasumi.examples.trip_planner:TripPlanner",
    "durasumi.examples.batch_report:BatchReport",
    "durasumi.examples.llm_qa:LlmQa",
    "durasumi.examples.gpu_batch:GpuBatch",
]


def _registry(s: Settings, vendor: str) -> Register:
    """The dev stack is the platform: it records its example agents in its own registry."""
    from durasumi.db.registry import Registry, record_of

    async def register(registrations: Sequence[AgentRegistration]) -> None:
        registry = Registry(s.db_url)
        for registration in registrations:
            registry.upsert(record_of(registration, vendor=vendor))

    return register


def api_server(s: Settings) -> ServeHttp:
    """The HTTP API served alongside the dev stack's workers, on their client."""
    import uvicorn

    from durasumi.api.app import create_app

    def build(client: Client, telemetry: Telemetry) -> uvicorn.Server:
        app = create_app(s, client, telemetry=telemetry)
        return uvicorn.Server(
            uvicorn.Config(app, host=s.api_host, port=s.api_port, log_level="warning")
        )

    return build


def _dev_keyring(s: Settings) -> str:
    """Encrypt the dev stack's payloads: a keyring file in home on first run, unless keys are set.

    The example agents get a vendor key of their own, as a real vendor would.
    """
    default_file = s.home / "codec-keys.json"
    ring = s.codec_keyring() or create_keyring_file(default_file, vendors=["examples"])
    where = s.codec_keys_file or (default_file if default_file.exists() else "DURASUMI_CODEC_KEYS")
    return (
        f"encrypted, key {ring.active} ({where}); the Web UI decodes them once an "
        f"operator signs in at {s.api_base_url}/codec/login"
    )


def dev(ctx: typer.Context) -> None:
    """Start Temporal (dev server + Web UI), the platform worker and the example agents."""
    c = get_ctx(ctx)
    s = c.settings
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    server = DevServer(
        db_file=s.home / "temporal.db",
        port=s.dev_temporal_port,
        ui_port=s.dev_ui_port,
        log_file=s.home / "temporal.log",
        ui_codec_endpoint=f"{s.api_base_url}/codec",
    )
    agents = load_agents(EXAMPLE_AGENTS)
    try:
        server.start()
    except DevServerError as err:
        fail(str(err))
    # Paid jobs in dev run on the offline Cardano ledger with funded dev wallets.
    c.settings = s.model_copy(
        update={"temporal_address": server.address, "escrow_backend": "offline"}
    )
    console.print(f"Temporal       {server.address} (state in {server.db_file})")
    console.print(f"Web UI         {server.ui_url}")
    console.print(f"API            http://{s.api_host}:{s.api_port}/docs")
    console.print(f"app database   {s.db_url}")
    console.print(f"payloads       {_dev_keyring(s)}")
    console.print(f"escrow         offline Cardano ledger in {s.home / 'escrow'} (start --pay)")
    console.print("agents         " + ", ".join(a.name for a in agents))
    console.print(
        "try            durasumi agents; durasumi start trip-planner --field destination=Lisbon"
    )
    console.print("Ctrl-C stops everything.")
    try:
        run_process(
            c.settings,
            agents,
            platform=True,
            register=_registry(c.settings, vendor="examples"),
            http=api_server(c.settings),
        )
    finally:
        server.stop()
        console.print("dev stack stopped")
