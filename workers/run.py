"""Building and running workers: the platform worker and one worker per vendor agent."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio.client import Client, ClientConfig
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.converter import DefaultPayloadConverter
from temporalio.worker import Worker, WorkerDeploymentConfig

from durasumi.activities.agent_watch import AgentWatchActivities
from durasumi.activities.gpu import GpuActivities
from durasumi.activities.llm import LlmActivities
from durasumi.activities.reconcile import ReconcileActivities
from durasumi.workers.plugin import DurasumiPlugin
from durasumi.workflows.agent import AgentWorkflow
from durasumi.workflows.ids import watch_queue
from durasumi.workflows.job import JobWorkflow
from durasumi.workflows.reconcile import EscrowReconciler, SettleOrphanedEscrow

if TYPE_CHECKING:
    from uvicorn import Server

    from durasumi.activities.escrow.port import EscrowActivities
    from durasumi.activities.hire import HireActivities
    from durasumi.activities.remote import RemoteActivities

__all__ = ["agent_worker", "platform_worker", "run_until_stopped", "watch_worker"]

log = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN = timedelta(seconds=30)  # DURASUMI_WORKER_DRAIN_SECONDS in `durasumi worker`
# Escrow steps in flight per platform worker: building is CPU (one at a time under the
# GIL), but a step also waits for its transaction's confirmations (blocks of ~20 s).
ESCROW_THREADS = 16
# Remote-agent follows and hired sub-job watches in flight per platform process: async I/O
# that mostly waits, each for as long as its job.
WATCH_SLOTS = 1_000


def versioning(
    version: WorkerDeploymentVersion | None, behavior: VersioningBehavior
) -> WorkerDeploymentConfig | None:
    """Worker Versioning options: ``None`` keeps the worker unversioned."""
    if version is None:
        return None
    return WorkerDeploymentConfig(
        version=version, use_worker_versioning=True, default_versioning_behavior=behavior
    )


def platform_worker(
    client: Client,
    task_queue: str,
    *,
    escrow: EscrowActivities | None = None,
    drain: timedelta = GRACEFUL_SHUTDOWN,
    version: WorkerDeploymentVersion | None = None,
    remote: RemoteActivities | None = None,
    hire: HireActivities | None = None,
) -> Worker:
    """The platform's worker: JobWorkflow and, given ``escrow``, the escrow activities.

    Given ``remote``, it also runs remote MIP-003 agents (workflows/remote.py): the
    dynamic workflow that drives every agent registered on the platform's queue. Given
    ``hire``, it serves the platform side of ``AgentWorkflow.hire()``.

    With ``escrow`` it also runs the escrow reconciler (workflows/reconcile.py): the
    workflow a Schedule starts to find paid jobs that Temporal closed before they settled,
    and the settlement it starts for each.

    Platform bugs retry the workflow task instead of failing paid jobs, so a fixed deploy
    picks them up where they stopped. The escrow activities are synchronous (pycardano and
    the script evaluator are CPU work, the wait for confirmations is not) and run on a
    thread pool of ``ESCROW_THREADS``.

    On a versioned worker (``version``) JobWorkflow is AUTO_UPGRADE: a job waits days on
    its agent, and a pinned job would keep the old platform worker (and its wallet keys)
    alive that long, and a fix could never reach it. The platform keeps JobWorkflow
    replay-compatible across its own releases instead (``workflow.patched``).
    """
    workflows: list[type] = [JobWorkflow]
    # A continued job looks at its agent with this now and then (workflows/continuation.py).
    activities: list[Callable[..., Any]] = [AgentWatchActivities(client).agent_outcome]
    if escrow is not None:
        workflows += [EscrowReconciler, SettleOrphanedEscrow]
        activities += [*escrow.all(), ReconcileActivities(client).find_orphaned_escrows]
    if remote is not None:
        from durasumi.workflows.remote import RemoteAgentWorkflow

        workflows.append(RemoteAgentWorkflow)
        activities += remote.all()
    if hire is not None:  # the platform side of AgentWorkflow.hire()
        activities += hire.all()
    return Worker(
        client,
        task_queue=task_queue,
        workflows=workflows,
        activities=activities,
        activity_executor=ThreadPoolExecutor(max_workers=ESCROW_THREADS) if escrow else None,
        # No more escrow steps started than threads: a started step's heartbeat clock runs.
        max_concurrent_activities=ESCROW_THREADS if escrow is not None else None,
        graceful_shutdown_timeout=drain,
        deployment_config=versioning(version, VersioningBehavior.AUTO_UPGRADE),
        plugins=[DurasumiPlugin(agents=False)],
    )


def watch_worker(
    client: Client,
    platform_task_queue: str,
    *,
    remote: RemoteActivities | None = None,
    hire: HireActivities | None = None,
    drain: timedelta = GRACEFUL_SHUTDOWN,
    version: WorkerDeploymentVersion | None = None,
) -> Worker | None:
    """The platform's worker for long watches, on a queue of their own (``watch_queue``).

    Following a remote agent's job and watching a hired sub-job last as long as the job;
    on the platform queue they would hold the escrow steps' few slots. ``None`` when there
    is nothing to watch. (The platform worker registers the same activities too, for any
    scheduled on its queue before.)
    """
    activities: list[Callable[..., Any]] = [
        *(remote.all() if remote is not None else ()),
        *(hire.all() if hire is not None else ()),
    ]
    if not activities:
        return None
    return Worker(
        client,
        task_queue=watch_queue(platform_task_queue),
        activities=activities,
        max_concurrent_activities=WATCH_SLOTS,
        graceful_shutdown_timeout=drain,
        deployment_config=versioning(version, VersioningBehavior.AUTO_UPGRADE),
        plugins=[DurasumiPlugin(agents=False)],
    )


def agent_worker(
    client: Client,
    agents: Sequence[type[AgentWorkflow]],
    task_queue: str,
    *,
    executor: ThreadPoolExecutor | None = None,
    llm: LlmActivities | None = None,
    gpu: GpuActivities | None = None,
    drain: timedelta = GRACEFUL_SHUTDOWN,
    version: WorkerDeploymentVersion | None = None,
) -> Worker:
    """A vendor worker polling one task queue for ``agents`` and their activities.

    Any exception raised by agent code fails the job (and refunds the buyer) rather than
    stalling a paid job on a retrying workflow task.

    Built with :class:`DurasumiPlugin`, as a vendor's own worker is. The SDK's LLM and Ray
    activities are always registered, so ``llm()`` and ``gpu()`` never wait on an activity
    no worker polls: without ``llm`` an LLM call fails at once, naming the settings to set;
    without ``gpu`` a local Ray starts on the first GPU call. Share one ``llm``/``gpu``
    between the workers of a process (one HTTP pool, one Ray).

    Plugins the agents declare (``AgentWorkflow.plugins``: pydantic-ai's, the OpenAI
    Agents SDK's) are applied to a copy of the client and to the worker, before durasumi's.

    On a versioned worker (``version``) the agents are PINNED: a job runs to its end on
    the version it started on, so a vendor's next version may reorder steps freely.
    ``drain`` is how long in-flight activities get to finish on shutdown.
    """
    activities: list[Callable[..., Any]] = list(
        dict.fromkeys(a for agent in agents for a in agent.activities)
    )
    extra = list(dict.fromkeys(p for agent in agents for p in agent.plugins))
    if extra:  # an agent framework's plugins: on the client too (its payload converter)
        config: ClientConfig = client.config(active_config=True)
        # The framework picks the payload converter (the OpenAI Agents SDK insists on its
        # own); durasumi's codec and failure converter stay.
        config["data_converter"] = dataclasses.replace(
            client.data_converter, payload_converter_class=DefaultPayloadConverter
        )
        for plugin in extra:
            config = plugin.configure_client(config)
        config["plugins"] = []  # applied above
        client = Client(**config)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(agents),
        activities=activities,
        activity_executor=executor or ThreadPoolExecutor(max_workers=16),
        graceful_shutdown_timeout=drain,
        deployment_config=versioning(version, VersioningBehavior.PINNED),
        plugins=[*extra, DurasumiPlugin(llm=llm, ray=gpu)],
    )


async def run_until_stopped(
    workers: Sequence[Worker], stop: asyncio.Event | None = None, also: Server | None = None
) -> None:
    """Run ``workers`` until SIGINT/SIGTERM (or ``stop``), then shut them down gracefully.

    In-flight activities get the graceful-shutdown period to finish; workflow tasks are
    simply handed back to Temporal, which gives them to another worker. ``also`` is an
    HTTP server (uvicorn) served alongside and stopped first.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread
            pass
    tasks = [asyncio.create_task(w.run()) for w in workers]
    if also is not None:
        tasks.append(asyncio.create_task(also.serve()))
    waiter = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([*tasks, waiter], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not waiter and task.exception() is not None:
                log.error("worker stopped with an error", exc_info=task.exception())
    finally:
        # Also when this coroutine is cancelled (a Ctrl-C that came before the handlers
        # above were installed): cancelled worker tasks alone would never finish.
        log.info("shutting down %d worker(s)", len(workers))
        if also is not None:
            also.should_exit = True
        await asyncio.shield(
            asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
        )
        waiter.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
