"""Whether an agent can take a job now: a worker polls its queue, and that worker can serve it.

For a remote MIP-003 agent, also: the remote itself says it is available.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from temporalio.client import Client

from durasumi.client.jobs import agent_pollers
from durasumi.client.liveness import queue_liveness
from durasumi.client.remote_agents import remote_health

if TYPE_CHECKING:
    from durasumi.db.registry import AgentRecord

__all__ = ["Availability", "availability"]


@dataclass(frozen=True)
class Availability:
    """An agent's availability, with the reason when it is not available."""

    available: bool
    reason: str | None = None


async def availability(client: Client, record: AgentRecord) -> Availability:
    """Available when a worker polls the agent's task queue and its worker reported no problem.

    The problem (no LLM configured, Ray missing) comes from the last worker that registered
    the agent; the pollers from Temporal (DescribeTaskQueue), and the workers' heartbeats
    (client/liveness.py): a worker killed without a word is noticed after three missed
    heartbeats (15 s by default), one that stopped cleanly at once. A remote agent's jobs
    run on the platform worker, and the remote must answer its own /availability with
    "available".
    """
    if record.worker_problem:
        return Availability(False, f"{record.name} cannot run jobs: {record.worker_problem}")
    if await agent_pollers(client, record.task_queue) == 0:
        if record.remote_url:
            return Availability(False, f"no platform worker drives {record.name} right now")
        return Availability(False, f"no worker serves {record.name} right now")
    # Pollers linger in Temporal's answer for minutes after a worker died; heartbeats do not.
    if (await queue_liveness(client, record.task_queue)).down:
        return Availability(False, f"the workers serving {record.name} stopped heartbeating")
    if record.remote_url:
        health = await remote_health(record.remote_url, record.remote_headers or {})
        if not health.available:
            return Availability(False, f"{record.name}: {health.reason}")
    return Availability(True)
