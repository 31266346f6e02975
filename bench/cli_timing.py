"""How long the `durasumi` command takes before its output, next to the `temporal` CLI.

One run starts a Temporal dev server with its HTTP API on free ports in a temp folder, a
platform worker and the trip-planner agent (payloads encrypted, as under `durasumi dev`),
starts a few jobs, then times each command as a fresh process, in rounds so machine
noise hits every command alike:

- ``durasumi --help``;
- ``durasumi status JOB`` and ``durasumi list`` over Temporal's HTTP API (what the dev
  stack gets) and over the gRPC client (``DURASUMI_TEMPORAL_HTTP_URL`` unset, a
  non-dev address), and ``durasumi result JOB``;
- ``temporal workflow list`` and ``temporal workflow query`` for the same reads;
- ``python -c pass`` and ``python -c "import X"`` for the packages that dominate, so the
  floor each command stands on is visible.

Wall time is from spawning the process to its exit (every command prints at its end);
CPU is the child's user + system time. The 1-minute load average is printed before and
after: on a loaded machine every figure grows.

Usage: python -m bench.cli_timing [--rounds 9] [--jobs 10]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from temporalio.client import Client

from durasumi.client import jobs
from durasumi.db.registry import describe
from durasumi.examples.trip_planner import TripPlanner
from durasumi.workers.codec import data_converter
from durasumi.workers.devserver import DevServer, free_port
from durasumi.workers.keyring import Keyring
from durasumi.workers.run import agent_worker, platform_worker
from durasumi.workflows.models import JobStatus

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DURASUMI = str(Path(sys.executable).parent / "durasumi")
TEMPORAL = str(Path(sys.executable).parent / "temporal")
IMPORTS = [
    "typer",
    "rich.console",
    "pydantic_settings",
    "durasumi.workers.settings",
    "durasumi.client.temporal_http",
    "temporalio.client",
    "durasumi.client.jobs",
]


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, exit code) of one run of ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, timeout=120)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.returncode


async def main(rounds: int, job_count: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    key = bytes(32)
    ring = Keyring({"bench": key}, active="bench")
    server = DevServer(
        db_file=home / "temporal.db", port=free_port(), ui_port=None, http_port=free_port()
    )
    server.start()
    try:
        client = await Client.connect(server.address, data_converter=data_converter(ring))
        record = describe(TripPlanner, task_queue="bench-trip-planner", vendor="bench")
        workers = [
            platform_worker(client, "bench-platform"),
            agent_worker(client, [TripPlanner], "bench-trip-planner"),
        ]
        tasks = [asyncio.create_task(w.run()) for w in workers]
        job_ids = []
        for _ in range(job_count):
            started = await jobs.start_job(
                client,
                record,
                secrets.token_hex(8),
                {"destination": "Oslo"},
                platform_task_queue="bench-platform",
            )
            job_ids.append(started.job_id)
        for job_id in job_ids:
            while (await jobs.job_view(client, job_id)).status is not JobStatus.AWAITING_INPUT:
                await asyncio.sleep(0.05)
        await asyncio.sleep(1)  # visibility catches up
        try:
            await asyncio.to_thread(report, server, home, key, job_ids[0], rounds)
        finally:
            await asyncio.gather(*(w.shutdown() for w in workers))
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        server.stop()


def report(server: DevServer, home: Path, key: bytes, job_id: str, rounds: int) -> None:
    base = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(home)),
        "DURASUMI_HOME": str(home),
        "DURASUMI_TEMPORAL_ADDRESS": server.address,
        "DURASUMI_CODEC_KEYS": f"bench:{base64.b64encode(key).decode()}",
        "COLUMNS": "100",
    }
    http = base | {"DURASUMI_TEMPORAL_HTTP_URL": f"http://127.0.0.1:{server.http_port}"}
    temporal_query = [TEMPORAL, "workflow", "query", "--address", server.address]
    temporal_query += ["-w", job_id, "--type", "view"]
    commands: list[tuple[str, list[str], dict[str, str]]] = [
        ("python -c pass", [PYTHON, "-c", "pass"], base),
        *[(f"python -c 'import {m}'", [PYTHON, "-c", f"import {m}"], base) for m in IMPORTS],
        ("durasumi --help", [DURASUMI, "--help"], base),
        ("durasumi status JOB (HTTP API)", [DURASUMI, "status", job_id], http),
        ("durasumi list (HTTP API)", [DURASUMI, "list"], http),
        ("durasumi result JOB (HTTP API)", [DURASUMI, "result", job_id], http),
        ("durasumi status JOB (gRPC)", [DURASUMI, "status", job_id], base),
        ("durasumi list (gRPC)", [DURASUMI, "list"], base),
        (
            "temporal workflow list",
            [TEMPORAL, "workflow", "list", "--address", server.address],
            base,
        ),
        (
            "temporal workflow query --type view",
            temporal_query,
            base,
        ),
    ]
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in commands}
    load_before = os.getloadavg()[0]
    for name, argv, env in commands:  # warm the file cache and .pyc files
        _, _, code = timed(argv, env)
        expected = 1 if argv[1:2] == ["result"] else 0  # the job waits for input: not ended
        if code != expected:
            raise SystemExit(f"{name} exited {code}")
    for _ in range(rounds):
        for name, argv, env in commands:
            wall, cpu, _ = timed(argv, env)
            samples[name].append((wall, cpu))
    load_after = os.getloadavg()[0]
    print(f"{rounds} rounds on {os.cpu_count()} CPUs; 1-minute load average ", end="")
    print(f"{load_before:.2f} before, {load_after:.2f} after\n")
    print("| command | median wall ms | min wall ms | median CPU ms |")
    print("| --- | ---: | ---: | ---: |")
    for name, _, _ in commands:
        walls = [w for w, _ in samples[name]]
        cpus = [c for _, c in samples[name]]
        print(
            f"| {name} | {statistics.median(walls) * 1000:.0f} | {min(walls) * 1000:.0f} "
            f"| {statistics.median(cpus) * 1000:.0f} |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--jobs", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.jobs))
