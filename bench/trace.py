"""Where one job's time goes: the history timeline of one bare and one durasumi job.

Starts its own dev server and in-process workers (as part A of bench.core does), runs a few
warm-up jobs, then one job per side, and prints every history event of the bare workflow,
of the JobWorkflow and of its agent child, in milliseconds from each workflow's start.

    python -m bench.trace                # durasumi as shipped
    python -m bench.trace --passthrough  # `workflows` passed through the workflow sandbox
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from bench.agents import BenchAgent
from bench.bare import BareWorkflow
from bench.core import (
    DurasumiSide,
    Sample,
    Watch,
    add_dynamic_argument,
    bare_job,
    durasumi_job,
    dynamic_config,
)
from bench.worker_proc import passthrough_plugin
from durasumi.workers.devserver import DevServer, free_port
from durasumi.workers.run import agent_worker, platform_worker
from durasumi.workflows.ids import child_workflow_id


async def timeline(client: Client, workflow_id: str, title: str) -> None:
    """Print the history of ``workflow_id`` with times relative to its first event."""
    events = [e async for e in client.get_workflow_handle(workflow_id).fetch_history_events()]
    start = events[0].event_time.ToDatetime()
    print(f"{title} ({len(events)} events)")
    for event in events:
        ms = (event.event_time.ToDatetime() - start).total_seconds() * 1000
        print(f"  {ms:8.1f} ms  {EventType.Name(event.event_type).removeprefix('EVENT_TYPE_')}")


def show(name: str, sample: Sample) -> None:
    """One job's two measured latencies."""
    print(
        f"{name}: form visible after {sample.visible * 1000:.1f} ms, "
        f"result {sample.done * 1000:.1f} ms after submit"
    )


async def main(passthrough: bool, warmup: int, dynamic: list[str]) -> None:
    """Run the jobs and print their timelines."""
    with tempfile.TemporaryDirectory(prefix="durasumi-trace-") as tmp:
        server = DevServer(
            db_file=Path(tmp) / "temporal.db",
            port=free_port(),
            ui_port=None,
            dynamic_config=dynamic_config(dynamic),
        )
        server.start()
        try:
            client = await Client.connect(server.address, data_converter=pydantic_data_converter)
            worker_client = client
            if passthrough:
                worker_client = await Client.connect(
                    server.address,
                    data_converter=pydantic_data_converter,
                    plugins=[passthrough_plugin()],
                )
            token = secrets.token_hex(3)
            side = DurasumiSide(client, f"trace-platform-{token}", f"trace-agent-{token}")
            bare_queue = f"trace-bare-{token}"
            watch = Watch()
            async with (
                Worker(worker_client, task_queue=bare_queue, workflows=[BareWorkflow]),
                platform_worker(worker_client, side.platform_queue),
                agent_worker(worker_client, [BenchAgent], side.agent_queue),
            ):
                for _ in range(warmup):
                    await bare_job(client, bare_queue, watch)
                    await durasumi_job(side, side.record, watch)
                show("bare", await bare_job(client, bare_queue, watch))
                bare = [w async for w in client.list_workflows("WorkflowType = 'bench-bare'")]
                await timeline(client, max(bare, key=lambda w: w.start_time).id, "bare workflow")
                show("durasumi", await durasumi_job(side, side.record, watch))
                jobs = [w async for w in client.list_workflows("WorkflowType = 'JobWorkflow'")]
                job_id = max(jobs, key=lambda w: w.start_time).id
                await timeline(client, job_id, "JobWorkflow")
                await timeline(client, child_workflow_id(job_id), "agent child")
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.trace", description=__doc__)
    parser.add_argument("--passthrough", action="store_true")
    parser.add_argument("--warmup", type=int, default=3)
    add_dynamic_argument(parser)
    args = parser.parse_args()
    asyncio.run(main(args.passthrough, args.warmup, args.dynamic))
