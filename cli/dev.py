"""The dev command: the whole embedded stack in one process tree.

Before it starts anything it takes the home folder's lock (one stack per home) and checks
every port it will listen on; once the Temporal dev server runs, any failure, Ctrl-C or
SIGTERM stops it again, and the server dies with this process even on SIGKILL.
"""

from __future__ import annotations

import _thread
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from durasumi.cli.context import Ctx, get_ctx
from durasumi.cli.output import BAD_INPUT, console, fail

if TYPE_CHECKING:
    from temporalio.client import Client

    from durasumi.client.registration import AgentRegistration
    from durasumi.workers.devserver import DevServer
    from durasumi.workers.process import Register, ServeHttp
    from durasumi.workers.settings import Settings
    from durasumi.workers.telemetry import Telemetry
    from durasumi.workflows.agent import AgentWorkflow

# llm-qa needs DURASUMI_LLM_* and gpu-batch the ray extra: without them each is registered
# as unavailable, with the reason (`durasumi agents`), and the rest of the stack runs.
EXAMPLE_AGENTS = [
    "durasumi.examples.trip_planner:TripPlanner",
    "durasumi.examples.batch_report:BatchReport",
    "durasumi.examples.llm_qa:LlmQa",
    "durasumi.examples.gpu_batch:GpuBatch",
    "durasumi.examples.trip_broker:TripBroker",  # hires trip-planner (docs/agents.md)
]


def _registry(s: Settings, vendor: str) -> Register:
    """The dev stack is the platform: it records its example agents in its own registry."""
    from sqlalchemy.exc import SQLAlchemyError

    from durasumi.client.registration import RegistrationError
    from durasumi.db.registry import Registry

    async def register(registrations: Sequence[AgentRegistration]) -> dict[str, str]:
        registry = Registry(s.db_url)
        queues = {r.name: s.agent_task_queue(r.name) for r in registrations}
        try:
            for registration in registrations:
                registry.register_worker(
                    registration, vendor=vendor, task_queue=queues[registration.name]
                )
        except SQLAlchemyError as err:  # unreachable or unusable: one line, not a traceback
            reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
            raise RegistrationError(
                f"cannot record the agents in the app database (DURASUMI_DATABASE_URL): {reason}"
            ) from err
        return queues

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
    from durasumi.workers.keyring import create_keyring_file

    default_file = s.home / "codec-keys.json"
    ring = s.codec_keyring() or create_keyring_file(default_file, vendors=["examples"])
    where = s.codec_keys_file or (default_file if default_file.exists() else "DURASUMI_CODEC_KEYS")
    return (
        f"encrypted, key {ring.active} ({where}); the Web UI decodes them once an "
        f"operator signs in at {s.api_base_url}/codec/login and turns on the UI's "
        '"Include cross-origin credentials" (Codec Server settings)'
    )


def _shown_url(url: str) -> str:
    """The database URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _ports(s: Settings) -> dict[str, tuple[str, int]]:
    """Every port the stack listens on, named with the setting that moves it."""
    ports = {
        "Temporal (DURASUMI_DEV_TEMPORAL_PORT)": ("127.0.0.1", s.dev_temporal_port),
        "the Temporal Web UI (DURASUMI_DEV_UI_PORT)": ("127.0.0.1", s.dev_ui_port),
        "Temporal's HTTP API (DURASUMI_DEV_TEMPORAL_HTTP_PORT)": (
            "127.0.0.1",
            s.dev_temporal_http_port,
        ),
        "the durasumi API (DURASUMI_API_PORT)": (s.api_host, s.api_port),
    }
    if s.metrics_port is not None:
        ports["the workers' metrics (DURASUMI_METRICS_PORT)"] = (s.metrics_host, s.metrics_port)
    return ports


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt, as Ctrl-C does, so cleanup runs (startup only)."""
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGTERM) is signal.default_int_handler:
            signal.signal(signal.SIGTERM, previous)


@contextmanager
def _handed_to_the_workers() -> Iterator[None]:
    """While the workers start, hold Ctrl-C/SIGTERM until their own handlers take them.

    ``asyncio.run`` would cancel its main task on Ctrl-C; if that lands while the workers'
    tasks start, the cancelled Temporal workers never finish and the process hangs. So a
    signal here is re-sent to this process once the workers installed their handlers
    (graceful drain), or, if they have not within half a second (still connecting),
    interrupts the main thread while no worker runs yet.
    """
    stops = (signal.SIGINT, signal.SIGTERM)

    def hold(signum: int, frame: object) -> None:
        threading.Thread(target=hand_over, args=(signum,), daemon=True).start()

    def hand_over(signum: int) -> None:
        deadline = time.monotonic() + 0.5
        while signal.getsignal(signum) is hold:
            if time.monotonic() > deadline:
                _thread.interrupt_main()
                return
            time.sleep(0.02)
        os.kill(os.getpid(), signum)

    previous = {sig: signal.signal(sig, hold) for sig in stops}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if signal.getsignal(sig) is hold:
                signal.signal(sig, handler)


def dev(ctx: typer.Context) -> None:
    """Start Temporal (dev server + Web UI), the platform worker and the example agents.

    State lives in DURASUMI_HOME (default .durasumi): a second stack on the same home is
    refused, and so is a port already in use, before anything starts. Ctrl-C stops it all.
    """
    from durasumi.workers.devserver import DevServer, DevServerError, HomeLock

    c = get_ctx(ctx)
    s = c.settings
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    lock = HomeLock(s.home)
    try:
        lock.acquire()
    except DevServerError as err:
        fail(str(err), BAD_INPUT, error="home_locked")
    try:
        _check_ports(s)
        with _sigterm_interrupts():
            from durasumi.cli.worker import load_agents

            agents = load_agents(EXAMPLE_AGENTS)
            server = DevServer(
                db_file=s.home / "temporal.db",
                port=s.dev_temporal_port,
                ui_port=s.dev_ui_port,
                http_port=s.dev_temporal_http_port,
                log_file=s.home / "temporal.log",
                ui_codec_endpoint=f"{s.api_base_url}/codec",
            )
            try:
                server.start()
            except DevServerError as err:
                fail(str(err))
            try:
                with _handed_to_the_workers():
                    _run(c, server, agents)
            finally:
                server.stop()
                console.print("dev stack stopped")
    finally:
        lock.release()


def _check_ports(s: Settings) -> None:
    from durasumi.workers.devserver import busy_ports

    ports = _ports(s)
    busy = busy_ports(ports)
    if busy:
        named = "; ".join(f"port {ports[name][1]} for {name}" for name in busy)
        fail(
            f"already in use: {named}. Stop what listens there, or set the variable to a free port",
            BAD_INPUT,
            error="port_busy",
        )


def _run(c: Ctx, server: DevServer, agents: list[type[AgentWorkflow]]) -> None:
    from durasumi.cli.worker import run_process

    s = c.settings
    # Paid jobs in dev run on the offline Cardano ledger with funded dev wallets.
    c.settings = s.model_copy(
        update={"temporal_address": server.address, "escrow_backend": "offline"}
    )
    console.print(f"Temporal       {server.address} (state in {server.db_file})")
    console.print(f"Web UI         {server.ui_url}")
    console.print(f"Temporal HTTP  http://127.0.0.1:{server.http_port} (quick CLI reads)")
    console.print(f"API            {s.api_base_url}/docs")
    console.print(f"console        {s.api_base_url}/console (sign in with an API key)")
    console.print(f"app database   {_shown_url(s.db_url)}")
    console.print(f"payloads       {_dev_keyring(s)}")
    console.print(f"escrow         offline Cardano ledger in {s.home / 'escrow'} (start --pay)")
    console.print("agents         " + ", ".join(a.name for a in agents))
    console.print(
        "try            durasumi agents; durasumi start trip-planner --field destination=Lisbon"
    )
    console.print("Ctrl-C stops everything.")
    run_process(
        c.settings,
        agents,
        platform=True,
        register=_registry(c.settings, vendor="examples"),
        http=api_server(c.settings),
    )
