"""Send a batch to the GPU: one Ray task per chunk, progress as each chunk finishes.

All chunks are submitted at once; Ray runs as many at a time as there are GPUs for them
(``gpus`` per task, default 1), and the agent reports each chunk as it completes. Cancelling
the job cancels the Ray tasks in flight. GPU-seconds show up in the job's usage.

The worker needs Ray (``pip install 'durasumi[ray]'``) and a GPU: RAY_ADDRESS for a
cluster, or a local Ray started on the first chunk (DURASUMI_RAY_NUM_GPUS=1 declares a
logical GPU on a machine without one). ``gpus=0`` runs on CPUs.
"""

from __future__ import annotations

from pydantic import JsonValue
from temporalio import workflow

from durasumi import AgentRunInput, AgentWorkflow, Field, Form, RayTask

MAX_CHUNKS = 64


@workflow.defn(name="gpu-batch")
class GpuBatch(AgentWorkflow):
    """Scores a batch in chunks on Ray GPU tasks, reporting progress."""

    description = "Scores a batch on GPUs with Ray, chunk by chunk; needs the ray extra."
    needs = frozenset({"gpu"})
    input_form = Form(
        id="batch",
        title="Batch",
        fields=[
            Field.number("items", "Items", min=1, max=10_000_000, integer=True),
            Field.number("chunk_size", "Items per GPU task", min=1, integer=True),
            Field.number("gpus", "GPUs per task (default 1)", min=0, max=8, optional=True),
            Field.number("work_seconds", "Extra seconds per chunk", min=0, max=600, optional=True),
        ],
    )

    @workflow.run
    async def run(self, job: AgentRunInput) -> dict[str, JsonValue]:
        data = self.validated_input(job)
        items, size = int(str(data["items"])), int(str(data["chunk_size"]))
        gpus = float(str(data["gpus"])) if data.get("gpus") is not None else 1.0
        work = float(str(data.get("work_seconds") or 0))
        starts = list(range(0, items, size))
        if len(starts) > MAX_CHUNKS:
            size = -(-items // MAX_CHUNKS)
            starts = list(range(0, items, size))
        tasks = [
            self.gpu(
                RayTask(
                    function="durasumi.examples.gpu_work:score",
                    args=[start, min(size, items - start), work],
                    num_gpus=gpus,
                )
            )
            for start in starts
        ]
        total, gpu_seconds = 0, 0.0
        devices: set[str] = set()
        for done, finished in enumerate(workflow.as_completed(tasks), start=1):
            result = await finished
            value = result.value if isinstance(result.value, dict) else {}
            total += int(str(value.get("sum", 0)))
            devices.add(str(value.get("device", "?")))
            gpu_seconds += result.gpu_seconds
            await self.emit(
                f"chunk {done}/{len(starts)} done on {value.get('device', '?')}",
                {"done": done, "total": len(starts), "percent": round(100 * done / len(starts))},
            )
        return {
            "items": items,
            "chunks": len(starts),
            "sum_of_squares": total,
            "devices": [d for d in sorted(devices)],
            "gpu_seconds": round(gpu_seconds, 3),
        }
