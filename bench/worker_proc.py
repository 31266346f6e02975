"""The workers of `durasumi worker --platform --agent bench.agents:BenchAgent`, for part B.

Only used with ``python -m bench.core --passthrough``: the same platform and agent workers
(``workers.run``), but with the ``workflows`` package passed through the workflow sandbox,
to measure what re-importing it for every workflow run costs. Without ``--passthrough``,
part B runs the real ``durasumi worker`` command.
"""

from __future__ import annotations

import argparse
import asyncio

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.plugin import SimplePlugin
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from bench.agents import BenchAgent
from durasumi.workers.run import agent_worker, platform_worker, run_until_stopped

PASSED_THROUGH = ("durasumi",)


def passthrough_plugin() -> SimplePlugin:
    """A client plugin giving every worker a sandbox that passes ``workflows`` through."""
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH)
    return SimplePlugin(
        "bench-sandbox-passthrough",
        workflow_runner=SandboxedWorkflowRunner(restrictions=restrictions),
    )


async def serve(address: str, platform_queue: str, agent_queue: str, passthrough: bool) -> None:
    """Run the platform and agent workers until SIGTERM."""
    client = await Client.connect(
        address,
        data_converter=pydantic_data_converter,
        plugins=[passthrough_plugin()] if passthrough else [],
    )
    workers = [
        platform_worker(client, platform_queue),
        agent_worker(client, [BenchAgent], agent_queue),
    ]
    print(f"worker running (passthrough: {passthrough})", flush=True)
    await run_until_stopped(workers)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.worker_proc")
    parser.add_argument("--address", required=True)
    parser.add_argument("--platform-queue", default="durasumi-platform")
    parser.add_argument("--agent-queue", default="durasumi-agent-bench-agent")
    parser.add_argument("--passthrough", action="store_true")
    args = parser.parse_args()
    asyncio.run(serve(args.address, args.platform_queue, args.agent_queue, args.passthrough))
