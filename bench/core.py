"""durasumi against bare temporalio, on one Temporal dev server this script starts itself.

A. Latency and throughput of the same interactive job (start, wait for the form, submit,
   wait for the result) on a minimal bare-temporalio workflow (bench/bare.py) and on a
   minimal durasumi agent (bench/agents.py), at several concurrency levels, bare and
   durasumi batches alternating so machine noise hits both alike.
B. N durasumi jobs paused on a form: the RSS of the worker process (`durasumi worker`,
   a separate process) and how long `durasumi list --limit N --json` takes.

Run from the repository root:

    python -m bench.core                      # the full run (docs/benchmarks.md)
    python -m bench.core --concurrency 1,10 --jobs-per-level 20 --paused 200
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.table import Table
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.worker import Worker

from bench.agents import BenchAgent
from bench.bare import BareWorkflow
from bench.worker_proc import passthrough_plugin
from durasumi.client.jobs import job_result, start_job, submit_form
from durasumi.db.registry import describe
from durasumi.workers.devserver import DISPATCH_TUNING, DevServer, free_port
from durasumi.workers.run import agent_worker, platform_worker
from durasumi.workers.settings import Settings
from durasumi.workflows.job import JobWorkflow
from durasumi.workflows.models import JobStatus, JobView, Submission

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent
console = Console(width=None if sys.stdout.isatty() else 150)

# Targets from the issue.
MAX_LATENCY_RATIO = 1.5
MIN_THROUGHPUT_RATIO = 0.7
MAX_RSS_MB = 400.0

JOB_TIMEOUT = 120.0


# -- measuring one job -----------------------------------------------------------------


@dataclass
class Watch:
    """How a client notices that the form is visible: the same on both sides.

    ``history``: long-poll the workflow history and query after each completed workflow
    task (what ``durasumi watch`` does). ``poll``: query every ``interval`` seconds.
    """

    mode: str = "history"
    interval: float = 0.01

    async def until(
        self,
        handle: WorkflowHandle[Any, Any],
        query: Callable[[], Awaitable[T]],
        ready: Callable[[T], bool],
    ) -> T:
        """Return the first query answer that satisfies ``ready``."""
        if self.mode == "poll":
            while True:
                try:
                    value = await query()
                except RPCError:  # queried before the first workflow task completed
                    value = None
                if value is not None and ready(value):
                    return value
                await asyncio.sleep(self.interval)
        async for event in handle.fetch_history_events(wait_new_event=True):
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                value = await query()
                if ready(value):
                    return value
        raise RuntimeError(f"{handle.id} closed before its form was visible")


@dataclass
class Sample:
    """One job: seconds from start to form visible, and from submit to the result."""

    visible: float
    done: float


async def bare_job(client: Client, queue: str, watch: Watch) -> Sample:
    """Start a bare workflow, wait for its form, submit, await the result."""
    wid = f"bare-{secrets.token_hex(8)}"
    t0 = time.perf_counter()
    handle = await client.start_workflow(BareWorkflow.run, wid, id=wid, task_queue=queue)
    await watch.until(handle, lambda: handle.query(BareWorkflow.form), lambda f: f is not None)
    t1 = time.perf_counter()
    await handle.execute_update(BareWorkflow.submit, {"answer": "42"})
    result = await handle.result()
    t2 = time.perf_counter()
    if result != {"answer": "42"}:
        raise RuntimeError(f"bare job {wid} returned {result!r}")
    return Sample(t1 - t0, t2 - t1)


@dataclass
class DurasumiSide:
    """What a durasumi job needs: the agent record and the platform task queue."""

    client: Client
    platform_queue: str
    agent_queue: str

    @property
    def record(self) -> Any:
        """The registry record, built directly (no database)."""
        return describe(BenchAgent, task_queue=self.agent_queue, vendor="bench")


def _awaiting(view: JobView) -> bool:
    if view.status.terminal:
        raise RuntimeError(f"job {view.job_id} ended ({view.status}) before asking: {view.error}")
    return view.status is JobStatus.AWAITING_INPUT and view.pending_form is not None


async def durasumi_job(side: DurasumiSide, record: Any, watch: Watch) -> Sample:
    """start_job, wait for the pending form in the job view, submit_form, await the result."""
    client = side.client
    t0 = time.perf_counter()
    started = await start_job(
        client,
        record,
        secrets.token_hex(8),
        {},
        platform_task_queue=side.platform_queue,
        buyer="bench",
    )
    handle = started.handle
    view = await watch.until(handle, lambda: handle.query(JobWorkflow.view), _awaiting)
    t1 = time.perf_counter()
    assert view.pending_form is not None
    await submit_form(
        client,
        started.job_id,
        Submission(request_id=view.pending_form.request_id, values={"answer": "42"}),
    )
    result = await job_result(handle)
    t2 = time.perf_counter()
    if result.status is not JobStatus.COMPLETED or result.result != {"answer": "42"}:
        raise RuntimeError(f"job {started.job_id} ended {result.status}: {result.error}")
    return Sample(t1 - t0, t2 - t1)


# -- batches and statistics ------------------------------------------------------------


@dataclass
class SideStats:
    """Every sample of one side at one concurrency level."""

    samples: list[Sample] = field(default_factory=list)
    wall: float = 0.0
    errors: list[str] = field(default_factory=list)
    bench_cpu: float = 0.0  # CPU seconds of this process (load generator and workers)
    server_cpu: float = 0.0  # CPU seconds of the Temporal dev server

    def summary(self) -> dict[str, Any]:
        """Percentiles in milliseconds and throughput in jobs/s."""
        vis = [s.visible for s in self.samples]
        done = [s.done for s in self.samples]
        return {
            "jobs": len(self.samples),
            "errors": len(self.errors),
            "first_errors": self.errors[:3],
            "wall_s": round(self.wall, 3),
            "visible_p50_ms": _ms(_pct(vis, 50)),
            "visible_p95_ms": _ms(_pct(vis, 95)),
            "done_p50_ms": _ms(_pct(done, 50)),
            "done_p95_ms": _ms(_pct(done, 95)),
            "jobs_per_s": round(len(self.samples) / self.wall, 2) if self.wall else None,
            "bench_cpu_ms_per_job": _per_job(self.bench_cpu, len(self.samples)),
            "server_cpu_ms_per_job": _per_job(self.server_cpu, len(self.samples)),
        }


def _per_job(cpu: float, jobs: int) -> float | None:
    return round(cpu * 1000 / jobs, 1) if jobs else None


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of ``pid`` (and its children still running)."""
    tree = _children()
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        stack.extend(tree.get(p, []))
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], p: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


async def run_batch(
    job: Callable[[], Awaitable[Sample]],
    jobs: int,
    concurrency: int,
    stats: SideStats,
    server_pid: int | None = None,
) -> None:
    """Run ``jobs`` jobs with ``concurrency`` closed-loop clients, adding to ``stats``."""
    todo = iter(range(jobs))

    async def client_loop() -> None:
        for _ in todo:
            try:
                async with asyncio.timeout(JOB_TIMEOUT):
                    stats.samples.append(await job())
            except Exception as err:  # counted and reported, never hidden
                stats.errors.append(f"{type(err).__name__}: {err}")

    server0 = process_cpu_seconds(server_pid) if server_pid else 0.0
    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(min(concurrency, jobs))))
    stats.wall += time.perf_counter() - t0
    stats.bench_cpu += time.process_time() - cpu0
    if server_pid:
        stats.server_cpu += process_cpu_seconds(server_pid) - server0


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


async def part_a(
    client: Client,
    worker_client: Client,
    server_pid: int | None,
    levels: list[int],
    jobs_per_level: list[int],
    rounds: int,
    warmup: int,
    watch: Watch,
) -> list[dict[str, Any]]:
    """Bare and durasumi at each concurrency level, alternating batches."""
    token = secrets.token_hex(3)
    bare_queue = f"bench-bare-{token}"
    side = DurasumiSide(client, f"bench-platform-{token}", f"bench-agent-{token}")
    record = side.record
    workers = [
        Worker(worker_client, task_queue=bare_queue, workflows=[BareWorkflow]),
        platform_worker(worker_client, side.platform_queue),
        agent_worker(worker_client, [BenchAgent], side.agent_queue),
    ]
    sides: dict[str, Callable[[], Awaitable[Sample]]] = {
        "bare": lambda: bare_job(client, bare_queue, watch),
        "durasumi": lambda: durasumi_job(side, record, watch),
    }
    results: list[dict[str, Any]] = []
    async with contextlib.AsyncExitStack() as stack:
        for worker in workers:
            await stack.enter_async_context(worker)
        if warmup:
            console.print(f"warm-up: {warmup} job(s) per side")
            for name, job in sides.items():
                scratch = SideStats()
                await run_batch(job, warmup, 1, scratch)
                if scratch.errors:
                    raise RuntimeError(f"warm-up of {name} failed: {scratch.errors[0]}")
        for level, total in zip(levels, jobs_per_level, strict=True):
            stats = {name: SideStats() for name in sides}
            n_rounds = max(1, min(rounds, total // max(level, 1)))
            for i, batch in enumerate(_split(total, n_rounds)):
                order = list(sides) if i % 2 == 0 else list(reversed(sides))
                for name in order:
                    await run_batch(sides[name], batch, level, stats[name], server_pid)
            row: dict[str, Any] = {"concurrency": level, "rounds": n_rounds}
            for name, s in stats.items():
                row[name] = s.summary()
            row["ratios"] = _ratios(row["bare"], row["durasumi"])
            results.append(row)
            b, d = row["bare"], row["durasumi"]
            console.print(
                f"c={level}: bare {b['jobs_per_s']} jobs/s, durasumi {d['jobs_per_s']} jobs/s; "
                f"errors {b['errors']}/{d['errors']}"
            )
    return results


# The measures of part A, as shown in the table; the first five have targets.
COLUMNS = (
    "visible_p50_ms",
    "visible_p95_ms",
    "done_p50_ms",
    "done_p95_ms",
    "jobs_per_s",
    "bench_cpu_ms_per_job",
    "server_cpu_ms_per_job",
)
TARGETED = COLUMNS[:5]


def _ratios(bare: dict[str, Any], dura: dict[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key in COLUMNS:
        b, d = bare[key], dura[key]
        out[key] = round(d / b, 2) if b and d is not None else None
    return out


# -- part B: paused jobs ---------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_memory_mb(pid: int) -> dict[str, float]:
    """RSS and peak RSS (VmHWM) of ``pid`` and all its descendants, in MB (MiB)."""
    tree = _children()
    pids, stack = [], [pid]
    while stack:
        p = stack.pop()
        pids.append(p)
        stack.extend(tree.get(p, []))
    rss = sum(_status_kb(p, "VmRSS") for p in pids)
    hwm = sum(_status_kb(p, "VmHWM") for p in pids)
    return {
        "rss_mb": round(rss / 1024, 1),
        "peak_rss_mb": round(hwm / 1024, 1),
        "processes": len(pids),
    }


def durasumi_bin() -> str:
    """The `durasumi` console script next to this Python."""
    beside = Path(sys.executable).parent / "durasumi"
    return str(beside) if beside.exists() else "durasumi"


async def part_b(
    client: Client, address: str, paused: int, window: int, tmp: Path, passthrough: bool
) -> dict[str, Any]:
    """Pause ``paused`` jobs on a form; measure the worker's RSS and `durasumi list`."""
    home = tmp / "durasumi-home"
    home.mkdir()
    env = {
        **os.environ,
        "DURASUMI_TEMPORAL_ADDRESS": address,
        "DURASUMI_HOME": str(home),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    settings = Settings(home=home, temporal_address=address)
    agent_queue = settings.agent_task_queue(BenchAgent.name)
    record = describe(BenchAgent, task_queue=agent_queue, vendor="bench")
    log_path = tmp / "worker.log"
    if passthrough:  # the same workers, with `workflows` passed through the sandbox
        cmd = [sys.executable, "-m", "bench.worker_proc", "--address", address, "--passthrough"]
        cmd += ["--platform-queue", settings.platform_task_queue, "--agent-queue", agent_queue]
        shown = ["python", *cmd[1:]]
    else:
        cmd = [durasumi_bin(), "worker", "--platform", "--agent", "bench.agents:BenchAgent"]
        cmd += ["--no-register"]
        shown = ["durasumi", *cmd[1:]]
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            *cmd, env=env, cwd=home, stdout=log, stderr=asyncio.subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 120
        while b"worker running" not in log_path.read_bytes():
            if proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start:\n{log_path.read_text()}")
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)
        idle = tree_memory_mb(proc.pid)
        console.print(
            f"worker up (pid {proc.pid}, idle RSS {idle['rss_mb']} MB); starting {paused} jobs"
        )

        gate = asyncio.Semaphore(50)
        failures: list[str] = []

        async def start_one() -> None:
            async with gate:
                try:
                    await start_job(
                        client,
                        record,
                        secrets.token_hex(8),
                        {},
                        platform_task_queue=settings.platform_task_queue,
                        buyer="bench-paused",
                    )
                except Exception as err:
                    failures.append(f"{type(err).__name__}: {err}")

        query = (
            f"WorkflowType = 'JobWorkflow' AND DurasumiBuyer = 'bench-paused' "
            f"AND DurasumiStatus = '{JobStatus.AWAITING_INPUT.value}'"
        )

        async def count_paused() -> int:
            if proc.returncode is not None:
                raise RuntimeError(f"worker exited:\n{log_path.read_text()[-2000:]}")
            return (await client.count_workflows(query)).count

        deadline = time.monotonic() + max(600, paused * 0.5)
        t0 = time.perf_counter()
        started, count, last = 0, 0, -1
        # Start jobs, keeping at most `window` of them on their way to the form.
        while started < paused and time.monotonic() < deadline:
            room = paused - started if window <= 0 else window - (started - count)
            if room > 0:
                batch = min(room, paused - started)
                await asyncio.gather(*(start_one() for _ in range(batch)))
                started += batch
            else:
                await asyncio.sleep(0.2)
            count = await count_paused()
            if failures:
                raise RuntimeError(f"{len(failures)} start(s) failed, first: {failures[0]}")
        started_s = time.perf_counter() - t0
        while count < started and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            count = await count_paused()
            if count != last:
                console.print(f"  {count}/{paused} awaiting input")
                last = count
        paused_s = time.perf_counter() - t0
        if count < paused:
            console.print(f"[red]only {count}/{paused} jobs reached awaiting_input in time[/]")
        await asyncio.sleep(2)
        loaded = tree_memory_mb(proc.pid)
        console.print(f"{count} paused after {paused_s:.1f}s; worker RSS {loaded['rss_mb']} MB")

        list_runs = []
        for limit in (paused, paused, 1):
            t = time.perf_counter()
            lister = await asyncio.create_subprocess_exec(
                durasumi_bin(),
                "list",
                "--limit",
                str(limit),
                "--json",
                env=env,
                cwd=home,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            stdout, stderr = await lister.communicate()
            elapsed = time.perf_counter() - t
            if lister.returncode:
                raise RuntimeError(f"durasumi list failed: {stderr.decode()}")
            rows = json.loads(stdout)
            list_runs.append(
                {
                    "limit": limit,
                    "seconds": round(elapsed, 2),
                    "rows": len(rows),
                    "awaiting_input": sum(r["status"] == "awaiting_input" for r in rows),
                }
            )
        return {
            "jobs": paused,
            "paused_reached": count,
            "window": window,
            "start_s": round(started_s, 2),
            "all_paused_s": round(paused_s, 2),
            "paused_per_s": round(count / paused_s, 1),
            "slow_workflow_tasks": log_path.read_text(errors="replace").count("TMPRL1104"),
            "idle": idle,
            "loaded": loaded,
            "max_cached_workflows_per_worker": 1000,  # temporalio default, unchanged
            "list": list_runs,
            "worker_command": " ".join(shown),
        }
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                async with asyncio.timeout(60):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()


# -- report ----------------------------------------------------------------------------


def _mark(ok: bool | None) -> str:
    return "n/a" if ok is None else ("[green]met[/]" if ok else "[red]MISSED[/]")


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target, its value and whether it is met."""
    out: list[dict[str, Any]] = []
    for row in report.get("latency", []):
        c = row["concurrency"]
        for key in TARGETED:
            ratio = row["ratios"][key]
            if key == "jobs_per_s":
                ok = ratio is not None and ratio >= MIN_THROUGHPUT_RATIO
                out.append(
                    {
                        "target": f"c={c} throughput ratio >= {MIN_THROUGHPUT_RATIO}",
                        "value": ratio,
                        "met": ok,
                    }
                )
            else:
                ok = ratio is not None and ratio <= MAX_LATENCY_RATIO
                out.append(
                    {
                        "target": f"c={c} {key.removesuffix('_ms')} ratio <= {MAX_LATENCY_RATIO}",
                        "value": ratio,
                        "met": ok,
                    }
                )
    paused = report.get("paused")
    if paused:
        rss = paused["loaded"]["rss_mb"]
        out.append(
            {
                "target": f"worker RSS with {paused['paused_reached']} paused jobs "
                f"< {MAX_RSS_MB:.0f} MB",
                "value": rss,
                "met": rss < MAX_RSS_MB,
            }
        )
    return out


def print_report(report: dict[str, Any]) -> None:
    """The tables."""
    if report.get("passthrough"):
        console.print(
            "[yellow]--passthrough: durasumi workers ran with `workflows` passed through the "
            "sandbox (an experiment, not durasumi as shipped)[/]"
        )
    console.print(
        "dev server dynamic config: "
        + ", ".join(f"{k}={v}" for k, v in report.get("dynamic_config", {}).items())
    )
    latency = report.get("latency", [])
    if latency:
        table = Table(title="A. one form per job: start -> form visible -> submit -> result")
        for col in (
            "c",
            "side",
            "jobs",
            "err",
            "visible p50",
            "visible p95",
            "done p50",
            "done p95",
            "jobs/s",
            "bench cpu/job",
            "server cpu/job",
        ):
            table.add_column(col, justify="right")
        for row in latency:
            for name in ("bare", "durasumi", "ratios"):
                s = row[name]
                fmt = (
                    (lambda v: "-" if v is None else f"{v:.2f}x")
                    if name == "ratios"
                    else (lambda v: "-" if v is None else f"{v:g}")
                )
                table.add_row(
                    str(row["concurrency"]) if name == "bare" else "",
                    "durasumi/bare" if name == "ratios" else name,
                    "" if name == "ratios" else str(s["jobs"]),
                    "" if name == "ratios" else str(s["errors"]),
                    *(fmt(s[k]) for k in COLUMNS),
                    end_section=name == "ratios",
                )
        console.print(table)
        console.print(
            "latencies and CPU in ms; cpu/job: CPU time of this process (load generator and "
            "workers) and of the dev server per job; ratios are durasumi / bare"
        )
    paused = report.get("paused")
    if paused:
        table = Table(title=f"B. {paused['jobs']} durasumi jobs paused on a form")
        table.add_column("measure")
        table.add_column("value", justify="right")
        window = paused["window"] or "all at once"
        table.add_row("jobs started (window of jobs not yet paused)", f"{window}")
        table.add_row("all jobs started after", f"{paused['start_s']} s")
        table.add_row(
            "jobs awaiting input",
            f"{paused['paused_reached']}/{paused['jobs']} after {paused['all_paused_s']} s "
            f"({paused['paused_per_s']}/s)",
        )
        table.add_row("workflow tasks over 5 s (worker log)", str(paused["slow_workflow_tasks"]))
        table.add_row("worker RSS idle", f"{paused['idle']['rss_mb']} MB")
        table.add_row("worker RSS, all paused", f"{paused['loaded']['rss_mb']} MB")
        table.add_row("worker peak RSS (VmHWM)", f"{paused['loaded']['peak_rss_mb']} MB")
        for run in paused["list"]:
            table.add_row(
                f"durasumi list --limit {run['limit']} --json",
                f"{run['seconds']} s, {run['rows']} rows",
            )
        console.print(table)
    table = Table(title="targets")
    table.add_column("target")
    table.add_column("value", justify="right")
    table.add_column("", justify="left")
    for t in report["targets"]:
        table.add_row(
            t["target"], "-" if t["value"] is None else f"{t['value']:g}", _mark(t["met"])
        )
    console.print(table)


# -- main ------------------------------------------------------------------------------


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m bench.core", description=__doc__.split("\n")[0])
    p.add_argument(
        "--concurrency",
        type=_ints,
        default=[1, 10, 50],
        help="concurrency levels, comma separated (default 1,10,50); empty skips A",
    )
    p.add_argument(
        "--jobs-per-level",
        type=_ints,
        default=[60, 300, 600],
        help="jobs per side per level: one number, or one per level (default 60,300,600)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="alternating bare/durasumi batches per level (default 4; fewer when a "
        "batch would give each client less than one job)",
    )
    p.add_argument("--warmup", type=int, default=5, help="warm-up jobs per side (default 5)")
    p.add_argument(
        "--watch",
        choices=["history", "poll"],
        default="history",
        help="how clients notice the form: history long-poll + query after each "
        "workflow task (default), or query polling",
    )
    p.add_argument(
        "--poll-interval",
        type=float,
        default=0.01,
        help="seconds between queries with --watch poll (default 0.01)",
    )
    p.add_argument(
        "--paused",
        type=int,
        default=2000,
        help="durasumi jobs to pause on a form for part B; 0 skips B (default 2000)",
    )
    p.add_argument(
        "--paused-window",
        type=int,
        default=100,
        help="part B keeps at most this many jobs started but not yet paused; 0 starts them "
        "all at once (default 100)",
    )
    p.add_argument(
        "--passthrough",
        action="store_true",
        help="experiment, not the product as shipped: run the durasumi workers with the "
        "`workflows` package passed through the workflow sandbox (bench/worker_proc.py)",
    )
    add_dynamic_argument(p)
    p.add_argument("--json-out", type=Path, help="also write the results as JSON here")
    args = p.parse_args(argv)
    if len(args.jobs_per_level) == 1:
        args.jobs_per_level = args.jobs_per_level * len(args.concurrency)
    if args.concurrency and len(args.jobs_per_level) != len(args.concurrency):
        p.error("--jobs-per-level needs one number or one per concurrency level")
    return args


def add_dynamic_argument(parser: argparse.ArgumentParser) -> None:
    """``--dynamic KEY=VALUE`` (repeatable): dev server config over DISPATCH_TUNING."""
    parser.add_argument(
        "--dynamic",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a dev server dynamic config value (repeatable) over workers.devserver's "
        "DISPATCH_TUNING, e.g. history.transferProcessorMaxPollRPS=20 (the server default)",
    )


def dynamic_config(pairs: list[str]) -> dict[str, object]:
    """The dev server's dynamic config: DISPATCH_TUNING with ``KEY=VALUE`` (JSON) overrides."""
    config: dict[str, object] = dict(DISPATCH_TUNING)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--dynamic {pair!r}: expected KEY=VALUE")
        try:
            config[key] = json.loads(value)
        except json.JSONDecodeError:
            config[key] = value
    return config


def machine() -> dict[str, Any]:
    """Where the numbers come from."""
    import temporalio

    return {
        "python": platform.python_version(),
        "temporalio": temporalio.__version__,
        "cpus": os.cpu_count(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    """Start the dev server, run A and B, return the report."""
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "argv": sys.argv[1:],
        "machine": machine(),
        "watch": args.watch,
        "passthrough": args.passthrough,
    }
    with tempfile.TemporaryDirectory(prefix="durasumi-bench-") as tmp_name:
        tmp = Path(tmp_name)
        server = DevServer(
            db_file=tmp / "temporal.db",
            port=free_port(),
            ui_port=None,
            log_file=tmp / "server.log",
            dynamic_config=dynamic_config(args.dynamic),
        )
        report["dynamic_config"] = server.dynamic_config
        server.start()
        try:
            client = await Client.connect(server.address, data_converter=pydantic_data_converter)
            worker_client = client
            if args.passthrough:
                worker_client = await Client.connect(
                    server.address,
                    data_converter=pydantic_data_converter,
                    plugins=[passthrough_plugin()],
                )
            if args.concurrency:
                report["latency"] = await part_a(
                    client,
                    worker_client,
                    server.process.pid if server.process else None,
                    args.concurrency,
                    args.jobs_per_level,
                    args.rounds,
                    args.warmup,
                    Watch(args.watch, args.poll_interval),
                )
                if args.json_out:  # keep A even if B fails or is interrupted
                    args.json_out.write_text(json.dumps(report, indent=2, default=str) + "\n")
            if args.paused:
                try:
                    report["paused"] = await part_b(
                        client,
                        server.address,
                        args.paused,
                        args.paused_window,
                        tmp,
                        args.passthrough,
                    )
                except Exception as err:  # reported with A's figures, not swallowed
                    report["paused_error"] = f"{type(err).__name__}: {err}"
                    console.print(f"[red]part B failed: {report['paused_error']}[/]")
        finally:
            server.stop()
    report["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["targets"] = targets(report)
    return report


if __name__ == "__main__":
    arguments = parse_args()
    started = time.perf_counter()
    result = asyncio.run(main(arguments))
    result["total_s"] = round(time.perf_counter() - started, 1)
    print_report(result)
    console.print(
        f"total {result['total_s']} s; load average at start "
        f"{result['machine']['load_avg_at_start']}, at end "
        f"{result['machine']['load_avg_at_end']}"
    )
    if arguments.json_out:
        arguments.json_out.write_text(json.dumps(result, indent=2, default=str) + "\n")
        console.print(f"wrote {arguments.json_out}")
