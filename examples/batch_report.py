"""A long job with progress: a batch of chunks, one activity each, cancellable midway.

Each chunk heartbeats while it works, so cancelling the job stops the chunk in flight
within a heartbeat, and no further chunk starts.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta

from pydantic import BaseModel, JsonValue
from temporalio import activity, workflow

from durasumi import AgentRunInput, AgentWorkflow, Field, Form


class Chunk(BaseModel):
    index: int
    seconds: float


class ChunkResult(BaseModel):
    index: int
    digest: str


@activity.defn
async def process_chunk(chunk: Chunk) -> ChunkResult:
    """Work for ``chunk.seconds``, heartbeating so cancellation and crashes are noticed."""
    digest = hashlib.sha256(str(chunk.index).encode())
    ticks = max(1, round(chunk.seconds / 0.1))
    for _ in range(ticks):
        activity.heartbeat(chunk.index)
        digest.update(digest.digest())
        await asyncio.sleep(chunk.seconds / ticks)  # cancellation arrives here
    return ChunkResult(index=chunk.index, digest=digest.hexdigest()[:16])


@workflow.defn(name="batch-report")
class BatchReport(AgentWorkflow):
    """Processes a batch chunk by chunk and reports progress after each."""

    description = "Processes a batch in chunks, reporting progress; cancel it any time."
    input_form = Form(
        id="batch",
        title="Batch",
        fields=[
            Field.number("chunks", "Number of chunks", min=1, max=100),
            Field.number("seconds_per_chunk", "Seconds per chunk", min=0, max=60),
        ],
    )
    activities = (process_chunk,)

    @workflow.run
    async def run(self, job: AgentRunInput) -> dict[str, JsonValue]:
        data = self.validated_input(job)
        total = int(str(data["chunks"]))
        digests: list[JsonValue] = []
        for index in range(total):
            done: ChunkResult = await self.step(
                process_chunk,
                Chunk(index=index, seconds=float(str(data["seconds_per_chunk"]))),
                timeout=timedelta(minutes=5),
                heartbeat=timedelta(seconds=5),
            )
            digests.append(done.digest)
            await self.emit(
                f"chunk {index + 1}/{total} done",
                {"done": index + 1, "total": total, "percent": round(100 * (index + 1) / total)},
            )
        return {"chunks": total, "digests": digests}
