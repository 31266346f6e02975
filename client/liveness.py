"""Which workers are alive on a task queue, from Temporal's worker heartbeats.

Every durasumi worker process heartbeats to the Temporal server every
``DURASUMI_WORKER_HEARTBEAT_SECONDS`` (the SDK's runtime does it; workers/telemetry.py sets
the interval), and says so when it shuts down. ``ListWorkers`` returns those heartbeats, so
a worker that was killed is noticed after a few missed beats, and one that stopped cleanly
at once. A task queue's pollers (``DescribeTaskQueue``) cannot tell that: the server keeps
a poller listed for minutes after its process died.

Servers that do not keep worker heartbeats (older than 1.29, or with
``frontend.ListWorkersEnabled`` off) answer UNIMPLEMENTED or an empty list for queues whose
workers are plainly polling; :func:`queue_liveness` then reports ``known=False`` and callers
fall back to what they did before (ask, with a deadline).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from temporalio.api.enums.v1 import WorkerStatus
from temporalio.api.workflowservice.v1 import ListWorkersRequest
from temporalio.service import RPCError, RPCStatusCode

from durasumi.client.visibility import visibility_literal

if TYPE_CHECKING:
    from temporalio.client import Client

__all__ = ["MISSED_BEATS", "QueueLiveness", "queue_liveness"]

log = logging.getLogger(__name__)

# A worker whose last heartbeat is this many of its intervals old is taken for dead.
MISSED_BEATS = 3
# A worker's interval is known from its second heartbeat on (the time since its previous
# one). Its first beat comes as it starts and tells nothing, so until the second one assume
# the SDK's default, the longest a durasumi worker uses: a worker killed within its first
# interval is noticed late (docs/limits.md), never a live one taken for dead.
FIRST_BEAT_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True)
class QueueLiveness:
    """Workers heartbeating on a task queue now.

    ``known`` is False when the server does not report worker heartbeats at all.
    """

    task_queue: str
    live: int
    known: bool = True
    last_heartbeat: datetime | None = None

    @property
    def down(self) -> bool:
        """Known to have no live worker."""
        return self.known and self.live == 0


async def queue_liveness(
    client: Client, task_queue: str, *, now: datetime | None = None
) -> QueueLiveness:
    """The workers of ``task_queue`` that run and missed fewer than MISSED_BEATS heartbeats.

    Each worker is judged by its own interval (a process may run with another
    ``DURASUMI_WORKER_HEARTBEAT_SECONDS``, or with the SDK's default runtime).

    Example:
        >>> live = await queue_liveness(client, "durasumi-platform")  # doctest: +SKIP
        >>> live.down  # doctest: +SKIP
        False
    """
    request = ListWorkersRequest(
        namespace=client.namespace,
        page_size=100,
        query=f"TaskQueue = {visibility_literal(task_queue)}",
    )
    try:
        response = await client.workflow_service.list_workers(request)
    except RPCError as err:
        # Advisory only: a server that cannot say (no such API, not allowed, busy) leaves the
        # caller to its own deadline, as if it kept no heartbeats.
        if err.status not in (RPCStatusCode.UNIMPLEMENTED, RPCStatusCode.PERMISSION_DENIED):
            log.warning("cannot list the workers of %s: %s", task_queue, err)
        return QueueLiveness(task_queue, live=0, known=False)
    if not response.workers_info:
        # Either no worker ever served the queue, or the server keeps no heartbeats: the
        # caller cannot tell which, so neither may it conclude the queue is down.
        return QueueLiveness(task_queue, live=0, known=False)
    moment = now or datetime.now(UTC)
    live = 0
    last: datetime | None = None
    for info in response.workers_info:
        beat = info.worker_heartbeat
        at = beat.heartbeat_time.ToDatetime(tzinfo=UTC)
        last = at if last is None or at > last else last
        interval = beat.elapsed_since_last_heartbeat.ToTimedelta() or FIRST_BEAT_INTERVAL
        if beat.status == WorkerStatus.WORKER_STATUS_RUNNING and moment - at <= (
            interval * MISSED_BEATS
        ):
            live += 1
    return QueueLiveness(task_queue, live=live, last_heartbeat=last)
