"""Heartbeating while an activity waits on something slow (an LLM stream, a Ray task or job).

Temporal delivers a cancellation to a running activity only in the answer to a heartbeat,
and notices a dead worker only when heartbeats stop. So a long wait must heartbeat on a
timer, not only when it makes progress: a provider that sends nothing for a minute must
still be cancellable at once. The SDK throttles the heartbeats it sends to the server (to
80% of the heartbeat timeout), so beating often here costs nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from temporalio import activity

__all__ = ["heartbeating"]


@asynccontextmanager
async def heartbeating(
    interval: float, details: Callable[[], Any] | None = None
) -> AsyncIterator[None]:
    """Heartbeat every ``interval`` seconds while the body runs.

    Args:
        interval: Seconds between heartbeats.
        details: Returns the heartbeat details (what a retry reads back from
            ``activity.info().heartbeat_details``); none when omitted.

    Example:
        >>> async def wait_for_provider() -> None:  # inside an activity
        ...     async with heartbeating(1.0, lambda: {"chunks": 3}):
        ...         await asyncio.sleep(10)
    """

    async def beat() -> None:
        # The first heartbeat waits one interval: the SDK sends a first heartbeat at once, and
        # a call that ends sooner should not pay for that round trip to the server.
        while True:
            await asyncio.sleep(interval)
            if details is None:
                activity.heartbeat()
            else:
                activity.heartbeat(details())

    ticker = asyncio.create_task(beat())
    try:
        yield
    finally:
        # Not awaited: awaiting here could swallow a cancellation of the activity itself.
        ticker.cancel()
