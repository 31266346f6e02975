"""Overhead of the Ray and LLM activity paths against calling Ray and the LLM directly.

One run, on a Temporal dev server, a local Ray (one logical GPU) and the loopback
OpenAI-compatible server of the tests (tests/fake_llm.py), all started by this script:

* Ray: N sequential 100 ms one-GPU tasks through ``self.gpu()`` (an agent workflow whose
  activity submits the Ray task and waits, heartbeating) against N sequential
  ``ray.get(f.remote())`` of a 100 ms function with the same resources.
* LLM: N sequential ``self.llm()`` calls against N direct streamed ``AsyncOpenAI`` calls to
  the same server, once with an instant reply and once with 100 ms before the first byte.

The activity side's time per call is (wall of a workflow making N calls - wall of the same
workflow making none) / N, so starting and completing the workflow is not counted. Both
sides alternate, round by round; the median round is reported, with the spread.

Run from the repository root (needs the ray extra):

    python -m bench.activities                       # the figures in docs/benchmarks.md
    python -m bench.activities --calls 10 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI
from rich.console import Console
from rich.table import Table
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from bench.ai_agents import BenchGpu, BenchLlm
from durasumi.activities.gpu import GpuActivities, RaySettings
from durasumi.activities.llm import LlmActivities, LlmSettings
from durasumi.workers.devserver import DevServer, free_port
from durasumi.workers.run import agent_worker
from durasumi.workflows.models import AgentRunInput
from tests.fake_llm import FakeLLM, Reply

console = Console(width=None if sys.stdout.isatty() else 150)

TASK_SECONDS = 0.1
MODEL = "bench-model"


BenchAgent = type[BenchGpu] | type[BenchLlm]


async def agent_seconds(
    client: Client, agent: BenchAgent, queue: str, data: dict[str, Any]
) -> float:
    """Wall seconds of one standalone agent workflow (no job around it), start to result."""
    wid = f"{agent.name}-{secrets.token_hex(6)}"
    run_input = AgentRunInput(job_id=wid, agent=agent.name, input_data=data)
    started = time.perf_counter()
    await client.execute_workflow(agent.run, run_input, id=wid, task_queue=queue)
    return time.perf_counter() - started


async def per_call_via_activity(
    client: Client, agent: BenchAgent, queue: str, data: dict[str, Any], calls: int
) -> float:
    """Seconds per call through the activity: N calls minus none, over N."""
    empty = await agent_seconds(client, agent, queue, {**data, "calls": 0})
    full = await agent_seconds(client, agent, queue, {**data, "calls": calls})
    return (full - empty) / calls


def ray_direct(ray: Any, calls: int, reuse: bool) -> Callable[[], Awaitable[float]]:
    """N sequential ray.get of a 100 ms one-GPU task, in a thread (ray.get blocks).

    Ray runs each GPU task in a fresh worker process unless told otherwise (max_calls=1);
    ``reuse`` lifts that (max_calls=0), as ``RayTask.reuse_worker`` does.
    """

    def sleep(seconds: float) -> None:
        time.sleep(seconds)

    options = {"max_calls": 0} if reuse else {}
    remote = ray.remote(num_gpus=1, max_retries=0, **options)(sleep)

    def loop() -> float:
        started = time.perf_counter()
        for _ in range(calls):
            ray.get(remote.remote(TASK_SECONDS))
        return (time.perf_counter() - started) / calls

    return lambda: asyncio.to_thread(loop)


def llm_direct(openai: AsyncOpenAI, calls: int) -> Callable[[], Awaitable[float]]:
    """N sequential streamed Chat Completions calls, read to the end, as the activity does."""

    async def loop() -> float:
        started = time.perf_counter()
        for _ in range(calls):
            stream = await openai.chat.completions.create(
                model=MODEL,
                messages=[{"role": "user", "content": "Say hi."}],
                stream=True,
                stream_options={"include_usage": True},
            )
            async with stream as chunks:
                async for _ in chunks:
                    pass
        return (time.perf_counter() - started) / calls

    return loop


async def compare(
    name: str,
    direct: Callable[[], Awaitable[float]],
    via_activity: Callable[[], Awaitable[float]],
    rounds: int,
    warmup: int,
) -> dict[str, Any]:
    """Alternate the two sides for ``rounds`` rounds; medians, spreads and the ratio."""
    for _ in range(warmup):
        await direct()
        await via_activity()
    sides: dict[str, list[float]] = {"direct": [], "activity": []}
    for i in range(rounds):
        order = [("direct", direct), ("activity", via_activity)]
        for side, measure in order if i % 2 == 0 else reversed(order):
            sides[side].append(await measure())
    row: dict[str, Any] = {"case": name}
    for side, values in sides.items():
        row[f"{side}_ms"] = round(statistics.median(values) * 1000, 2)
        row[f"{side}_spread_ms"] = [round(min(values) * 1000, 2), round(max(values) * 1000, 2)]
    row["overhead_ms"] = round(row["activity_ms"] - row["direct_ms"], 2)
    row["ratio"] = round(row["activity_ms"] / row["direct_ms"], 2)
    console.print(
        f"{name}: direct {row['direct_ms']} ms, activity {row['activity_ms']} ms (x{row['ratio']})"
    )
    return row


async def main(args: argparse.Namespace) -> dict[str, Any]:
    """Start Temporal, Ray and the loopback LLM; compare both paths; return the report."""
    import ray  # the benchmark's own driver; durasumi itself imports Ray only in its activity

    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "argv": sys.argv[1:],
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "ray": ray.__version__,
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "calls_per_round": args.calls,
        "rounds": args.rounds,
    }
    with tempfile.TemporaryDirectory(prefix="durasumi-bench-ai-") as tmp_name:
        tmp = Path(tmp_name)
        server = DevServer(
            db_file=tmp / "temporal.db", port=free_port(), ui_port=None, log_file=tmp / "log"
        )
        server.start()
        context = ray.init(
            address="local",
            num_cpus=2,
            num_gpus=1,
            object_store_memory=200 * 1024 * 1024,
            include_dashboard=False,
            logging_level=logging.ERROR,
            log_to_driver=False,
        )
        gcs = context.address_info["gcs_address"]  # type: ignore[attr-defined]
        fake = FakeLLM()
        await fake.start()
        openai = AsyncOpenAI(base_url=fake.url, api_key="bench", max_retries=0)
        try:
            client = await Client.connect(server.address, data_converter=pydantic_data_converter)
            queue = f"bench-ai-{secrets.token_hex(3)}"
            # The worker joins the Ray this script started, as a worker joins a cluster.
            gpu = GpuActivities(RaySettings(address=gcs))
            llm = LlmActivities(LlmSettings(base_url=fake.url, api_key="bench", model=MODEL))
            async with agent_worker(client, [BenchGpu, BenchLlm], queue, llm=llm, gpu=gpu):
                rows = []
                for reuse in (True, False):
                    data = {"seconds": TASK_SECONDS, "reuse": reuse}
                    rows.append(
                        await compare(
                            f"Ray task {TASK_SECONDS * 1000:g} ms, 1 GPU, "
                            + ("reused worker" if reuse else "fresh worker (Ray's GPU default)"),
                            ray_direct(ray, args.calls, reuse),
                            lambda data=data: per_call_via_activity(  # type: ignore[misc]
                                client, BenchGpu, queue, data, args.calls
                            ),
                            args.rounds,
                            args.warmup,
                        )
                    )
                for delay in (0.0, 0.1):
                    fake.default = Reply(delay=delay)
                    rows.append(
                        await compare(
                            f"LLM call, reply after {delay * 1000:g} ms",
                            llm_direct(openai, args.calls),
                            lambda: per_call_via_activity(client, BenchLlm, queue, {}, args.calls),
                            args.rounds,
                            args.warmup,
                        )
                    )
            report["rows"] = rows
            await llm.close()
        finally:
            await openai.close()
            await fake.stop()
            ray.shutdown()
            server.stop()
    report["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return report


def print_report(report: dict[str, Any]) -> None:
    table = Table(
        "case", "direct ms/call", "activity ms/call", "overhead ms", "activity / direct",
        title=f"{report['calls_per_round']} calls per round, median of {report['rounds']} rounds",
    )  # fmt: skip
    for row in report["rows"]:
        table.add_row(
            row["case"],
            f"{row['direct_ms']} ({row['direct_spread_ms'][0]}-{row['direct_spread_ms'][1]})",
            f"{row['activity_ms']} ({row['activity_spread_ms'][0]}-{row['activity_spread_ms'][1]})",
            str(row["overhead_ms"]),
            f"x{row['ratio']}",
        )
    console.print(table)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.activities", description=__doc__)
    parser.add_argument("--calls", type=int, default=20, help="calls per side per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured rounds first")
    parser.add_argument("--json-out", type=Path, help="also write the report as JSON")
    return parser.parse_args(argv)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    arguments = parse_args()
    started = time.perf_counter()
    result = asyncio.run(main(arguments))
    result["total_s"] = round(time.perf_counter() - started, 1)
    print_report(result)
    console.print(
        f"total {result['total_s']} s; load average at start "
        f"{result['machine']['load_avg_at_start']}, at end {result['machine']['load_avg_at_end']}"
    )
    if arguments.json_out:
        arguments.json_out.write_text(json.dumps(result, indent=2) + "\n")
        console.print(f"wrote {arguments.json_out}")
