"""Interactive jobs over HTTP, side by side with bare temporalio (issue 14).

One command starts ``durasumi dev`` (Temporal dev server + platform worker + API) on free
ports in a temporary folder and a separate vendor worker (``durasumi worker --agent
bench.agents:BenchAgent``, registered through the API with a vendor key, its own home and
only its vendor's payload key), then at each level n:

- launches n jobs at one instant (MIP-003 ``POST /agents/bench-agent/start_job``), opens one
  SSE stream per job (``GET /jobs/{id}/events``, reopened with Last-Event-ID when it breaks),
  waits until every job's form is visible on its stream, answers every form at one instant
  (``POST /jobs/{id}/input``) and follows every stream to its ``end`` event;
- reports p50/p95 of launch -> first event, launch -> form visible, answer -> resumed (the
  job's ``form_submitted`` event), answer -> done (its ``completed`` status), jobs/s, CPU
  seconds per job by process group (from /proc), RSS per paused job, lost/stuck jobs, stream
  breaks, streams without their end event, submit errors by HTTP status;
- counts per job, from the histories of a sample of finished jobs (JobWorkflow and agent
  workflow): events, workflow tasks, transfers, visibility writes; and from the Temporal
  server's Prometheus counters (``service_requests`` of the frontend): queries and every
  other call per job.

Then the same workload on bare temporalio (``bench.http_bare``) as the floor, with
durasumi/bare ratios. Exit status 1 if a job was lost, stuck or failed, or a submit got a
5xx.

    python -m bench.http_load --json-out /tmp/http_load.json
    python -m bench.http_load --levels 1,10 --no-bare --keep
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from bench.bare import BareWorkflow
from bench.http_bare import (
    ANSWER,
    TERMINAL,
    JobTimes,
    Level,
    Probe,
    bare_job,
    drive_level,
    find_metrics_url,
    finish_row,
    idle_cpu,
    mean_budget,
    proc_tree,
    workflow_budget,
)
from durasumi.db.keys import KeyStore, Role
from durasumi.workers.devserver import DevServer, free_port
from durasumi.workflows.ids import child_workflow_id

REPO = Path(__file__).resolve().parent.parent
AGENT = "bench-agent"
console = Console(width=None if sys.stdout.isatty() else 160)

RETRIES = 4  # attempts of a start or a submit (the same request again is safe on both)
RETRY_PAUSE = 0.5
REOPEN_PAUSE = 0.2
POST_TIMEOUT = httpx.Timeout(120.0, connect=30.0)
STREAM_TIMEOUT = httpx.Timeout(120.0, connect=30.0, read=None)


# -- durasumi over HTTP ---------------------------------------------------------------------


async def sse_events(resp: httpx.Response) -> AsyncIterator[tuple[str | None, str, str]]:
    """(id, event, data) of each Server-Sent Event."""
    ident, kind, data = None, "message", list[str]()
    async for line in resp.aiter_lines():
        if not line:
            if data:
                yield ident, kind, "\n".join(data)
            ident, kind, data = None, "message", list[str]()
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            ident = value
        elif name == "event":
            kind = value
        elif name == "data":
            data.append(value)


async def post_retrying(
    http: httpx.AsyncClient, url: str, body: dict[str, Any], errors: Counter[str]
) -> httpx.Response | None:
    """POST ``body``, again after a 5xx or a broken connection (the bodies are idempotent).

    Every failed try is counted in ``errors`` (by status or exception); the 200, or None.
    """
    for _ in range(RETRIES):
        try:
            resp = await http.post(url, json=body, timeout=POST_TIMEOUT)
        except httpx.HTTPError as err:
            errors[type(err).__name__] += 1
        else:
            if resp.status_code == 200:
                return resp
            errors[str(resp.status_code)] += 1
            if resp.status_code < 500:
                return None
        await asyncio.sleep(RETRY_PAUSE)
    return None


async def start_http_job(http: httpx.AsyncClient, t: JobTimes) -> None:
    """MIP-003 start_job; a 5xx or a broken connection is retried with the same identifier."""
    body = {"identifier_from_purchaser": secrets.token_hex(8), "input_data": {}}
    resp = await post_retrying(http, f"/agents/{AGENT}/start_job", body, t.start_errors)
    if resp is not None:
        t.job_id, t.status = resp.json()["job_id"], "started"


def on_event(level: Level, t: JobTimes, kind: str, data: str, form: asyncio.Future[str]) -> None:
    """Note the times the client cares about."""
    if t.first_event is None:
        t.first_event = level.since_launch()
    body = json.loads(data).get("data") or {}
    if kind == "form_requested" and not form.done():
        t.form_visible = level.since_launch()
        form.set_result(body["request_id"])
        level.form_seen()
    elif kind == "form_submitted" and t.resumed is None:
        t.resumed = level.since_answer()
    elif kind == "status" and body.get("status") in TERMINAL:
        t.status, t.done = body["status"], level.since_answer()


async def follow(
    http: httpx.AsyncClient, level: Level, t: JobTimes, form: asyncio.Future[str]
) -> None:
    """Follow the job's stream to its end event, reopening it from the last event seen."""
    last: str | None = None
    while True:
        headers = {"Last-Event-ID": last} if last else {}
        opened = False
        try:
            async with http.stream(
                "GET", f"/jobs/{t.job_id}/events", headers=headers, timeout=STREAM_TIMEOUT
            ) as resp:
                if resp.status_code != 200:
                    t.stream_errors[f"open {resp.status_code}"] += 1
                    await resp.aread()
                else:
                    opened = True
                    async for ident, kind, data in sse_events(resp):
                        if kind == "end":
                            t.ended = True
                            return
                        last = ident or last
                        on_event(level, t, kind, data, form)
                    t.stream_errors["closed without end"] += 1
        except httpx.HTTPError as err:
            t.stream_errors[type(err).__name__] += 1
        t.breaks += opened
        await asyncio.sleep(REOPEN_PAUSE)


async def answer(
    http: httpx.AsyncClient, level: Level, t: JobTimes, form: asyncio.Future[str]
) -> None:
    """At the answer instant, answer the form (again after a 5xx: same request id, safe)."""
    request_id = await form
    await level.answer.wait()
    body = {"request_id": request_id, "values": ANSWER}
    await post_retrying(http, f"/jobs/{t.job_id}/input", body, t.submit_errors)


async def http_job(http: httpx.AsyncClient, level: Level, t: JobTimes) -> None:
    """One job: start, follow its stream, answer its form at the answer instant."""
    await start_http_job(http, t)
    if t.job_id is None:
        return
    form: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    answering = asyncio.create_task(answer(http, level, t, form))
    try:
        await follow(http, level, t, form)
        if form.done():  # the stream may end before the answer's response arrives
            await answering
    finally:
        answering.cancel()
        await asyncio.gather(answering, return_exceptions=True)


@dataclass
class Stack:
    """``durasumi dev`` plus a vendor worker, and how to reach them."""

    tmp: Path
    url: str
    address: str
    buyer_key: str
    dev: asyncio.subprocess.Process
    vendor: asyncio.subprocess.Process
    server_pid: int
    metrics_url: str | None

    def groups(self) -> dict[str, list[int]]:
        """Temporal server; API + platform worker (the dev process itself); vendor worker."""
        return {
            "server": proc_tree(self.server_pid),
            "api_platform": [self.dev.pid],
            "vendor": proc_tree(self.vendor.pid),
        }

    def tracebacks(self) -> int:
        """Tracebacks in the dev process's log (the API logs there)."""
        return _log_text(self.tmp / "dev.log").count("Traceback")


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DURASUMI_")}
    return env | {"PYTHONPATH": str(REPO), "COLUMNS": "200"}


async def _spawn(
    args: list[str], env: dict[str, str], cwd: Path, log: Path
) -> asyncio.subprocess.Process:
    with log.open("wb") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "durasumi.cli.main", *args,
            env=env, cwd=cwd, stdout=out, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip


def _log_text(log: Path) -> str:
    return log.read_text(errors="replace")


async def _until_running(proc: asyncio.subprocess.Process, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while "worker running" not in _log_text(log):
        if proc.returncode is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{log.name}: did not start\n{_log_text(log)[-3000:]}")
        await asyncio.sleep(0.2)


async def _stop(proc: asyncio.subprocess.Process, sig: int, timeout: float = 60) -> None:
    if proc.returncode is not None:
        return
    proc.send_signal(sig)
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()


def _vendor_codec_key(home: Path) -> str | None:
    """The example vendor's payload key from the dev keyring, as ``id:base64`` (or None)."""
    ring_file = home / "codec-keys.json"
    if not ring_file.exists():
        return None
    ring = json.loads(ring_file.read_text())
    key_id = (ring.get("agents") or {}).get("*") or ring["active"]
    return f"{key_id}:{ring['keys'][key_id]}"


@contextlib.asynccontextmanager
async def durasumi_stack(tmp: Path) -> AsyncIterator[Stack]:
    """Start ``durasumi dev`` and a vendor worker for BenchAgent; stop both afterwards."""
    home, vendor_home = tmp / "home", tmp / "vendor"
    vendor_home.mkdir(parents=True)
    ports = {
        name: free_port() for name in ("TEMPORAL_PORT", "UI_PORT", "TEMPORAL_HTTP_PORT", "API_PORT")
    }
    env = _clean_env() | {
        "DURASUMI_HOME": str(home),
        "DURASUMI_DEV_TEMPORAL_PORT": str(ports["TEMPORAL_PORT"]),
        "DURASUMI_DEV_UI_PORT": str(ports["UI_PORT"]),
        "DURASUMI_DEV_TEMPORAL_HTTP_PORT": str(ports["TEMPORAL_HTTP_PORT"]),
        "DURASUMI_API_PORT": str(ports["API_PORT"]),
    }
    url, address = f"http://127.0.0.1:{ports['API_PORT']}", f"127.0.0.1:{ports['TEMPORAL_PORT']}"
    dev = await _spawn(["dev"], env, tmp, tmp / "dev.log")
    vendor: asyncio.subprocess.Process | None = None
    try:
        await _until_running(dev, tmp / "dev.log")
        keys = KeyStore(f"sqlite:///{home / 'durasumi.db'}")
        vendor_key = keys.create(Role.VENDOR, "bench-vendor").key
        buyer_key = keys.create(Role.BUYER, "bench-buyer").key
        vendor_env = _clean_env() | {
            "DURASUMI_HOME": str(vendor_home),
            "DURASUMI_TEMPORAL_ADDRESS": address,
            "DURASUMI_API_URL": url,
            "DURASUMI_API_KEY": vendor_key,
        }
        if codec := _vendor_codec_key(home):
            vendor_env["DURASUMI_CODEC_KEYS"] = codec
        vendor = await _spawn(
            ["worker", "--agent", "bench.agents:BenchAgent"],
            vendor_env,
            vendor_home,
            tmp / "vendor.log",
        )
        await _until_running(vendor, tmp / "vendor.log")
        servers = [p for p in proc_tree(dev.pid) if p != dev.pid]
        if not servers:
            raise RuntimeError("durasumi dev runs no Temporal server process")
        metrics = await find_metrics_url(servers[0], {int(p) for p in ports.values()})
        yield Stack(tmp, url, address, buyer_key, dev, vendor, servers[0], metrics)
    finally:
        if vendor is not None:
            await _stop(vendor, signal.SIGTERM)
        await _stop(dev, signal.SIGINT)


async def _wait_available(http: httpx.AsyncClient, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if (await http.get(f"/agents/{AGENT}/availability")).status_code == 200:
                return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{AGENT} never became available")


async def _settle_outcomes(http: httpx.AsyncClient, times: list[JobTimes]) -> None:
    """Jobs whose stream did not show an end state: ask the API where they are."""
    for t in times:
        if t.job_id is None or t.status in TERMINAL:
            continue
        try:
            resp = await http.get(f"/jobs/{t.job_id}", timeout=POST_TIMEOUT)
        except httpx.HTTPError as err:
            t.status = f"unknown ({type(err).__name__})"
            continue
        t.status = "lost" if resp.status_code == 404 else resp.json().get("status", "unknown")


async def budget_sample(
    client: Client, times: list[JobTimes], k: int, agent: bool
) -> dict[str, Any]:
    """Histories of up to k completed jobs (and their agent workflows): counts per job."""
    ids = [t.job_id for t in times if t.status == "completed" and t.job_id][:k]
    samples = []
    for job_id in ids:
        sample = {"job": await workflow_budget(client, job_id)}
        if agent:
            sample["agent"] = await workflow_budget(client, child_workflow_id(job_id))
        sample["total"] = {key: sum(part[key] for part in sample.values()) for key in sample["job"]}
        samples.append(sample)
    parts = samples[0].keys() if samples else ()
    return {"samples": samples, **{p: mean_budget([s[p] for s in samples]) for p in parts}}


async def durasumi_side(args: argparse.Namespace, tmp: Path, report: dict[str, Any]) -> None:
    """Every level over HTTP against ``durasumi dev`` and a vendor worker."""
    rows: list[dict[str, Any]] = report.setdefault("durasumi", [])
    async with durasumi_stack(tmp) as stack:
        report["durasumi_stack"] = {"metrics": stack.metrics_url is not None}
        client = await Client.connect(stack.address)
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        headers = {"X-API-Key": stack.buyer_key}
        async with httpx.AsyncClient(base_url=stack.url, headers=headers, limits=limits) as http:
            await _wait_available(http)
            probe = Probe(stack.groups, ("api_platform", "vendor"), stack.metrics_url)

            async def job(level: Level, t: JobTimes) -> None:
                await http_job(http, level, t)

            report["durasumi_idle_cpu_s_per_s"] = await idle_cpu(probe)
            if args.warmup:
                await drive_level(args.warmup, job, probe, args.level_timeout)
            for n in args.levels:
                traces0 = stack.tracebacks()
                row = await drive_level(n, job, probe, args.level_timeout)
                await _settle_outcomes(http, row["times"])
                row["api_log_tracebacks"] = stack.tracebacks() - traces0
                row["budget"] = await budget_sample(client, row["times"], args.budget_sample, True)
                rows.append(finish_row(row))
                console.print(_progress("durasumi", rows[-1]))
                _write(args, report)


async def bare_side(args: argparse.Namespace, tmp: Path, report: dict[str, Any]) -> None:
    """Every level on bare temporalio: its own dev server, client and worker in this process."""
    rows: list[dict[str, Any]] = report.setdefault("bare", [])
    metrics_port = free_port()
    server = DevServer(
        db_file=tmp / "bare" / "temporal.db",
        port=free_port(),
        ui_port=None,
        log_file=tmp / "bare-server.log",
        extra_args=["--metrics-port", str(metrics_port)],
    )
    server.start()
    try:
        assert server.process is not None
        server_pid = server.process.pid
        client = await Client.connect(server.address, data_converter=pydantic_data_converter)
        queue = f"bench-bare-{secrets.token_hex(3)}"
        probe = Probe(
            lambda: {"server": proc_tree(server_pid), "bare_process": [os.getpid()]},
            ("bare_process",),
            f"http://127.0.0.1:{metrics_port}/metrics",
        )

        async def job(level: Level, t: JobTimes) -> None:
            await bare_job(client, queue, level, t)

        async with Worker(client, task_queue=queue, workflows=[BareWorkflow]):
            report["bare_idle_cpu_s_per_s"] = await idle_cpu(probe)
            if args.warmup:
                await drive_level(args.warmup, job, probe, args.level_timeout)
            for n in args.levels:
                row = await drive_level(n, job, probe, args.level_timeout)
                row["budget"] = await budget_sample(client, row["times"], args.budget_sample, False)
                del row["cpu_s_per_job"]["bench_process"]  # the same process as bare_process
                rows.append(finish_row(row))
                console.print(_progress("bare", rows[-1]))
                _write(args, report)
    finally:
        server.stop()


def _progress(side: str, row: dict[str, Any]) -> str:
    return (
        f"{side} n={row['n']}: {row['completed']}/{row['n']} completed, "
        f"form p50 {row['form_visible_p50_s']} s, done p50 {row['done_p50_s']} s, "
        f"stack CPU/job {row['cpu_s_per_job']['stack']:.3f} s, breaks {row['stream_breaks']}"
    )


# -- report ---------------------------------------------------------------------------------

LATENCIES = ("first_event", "form_visible", "resumed", "done")
# Calls to the Temporal frontend per job worth a column (the JSON has all of them).
CALLS = {
    "QueryWorkflow": "queries",
    "DescribeWorkflowExecution": "describes",
    "PollWorkflowExecutionHistory": "history polls",
    "GetWorkflowExecutionHistory": "history reads",
    "StartWorkflowExecution": "starts",
    "UpdateWorkflowExecution": "updates",
    "SignalWorkflowExecution": "signals",
    "RespondWorkflowTaskCompleted": "wf tasks done",
}


def _f(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _ratio(d: Any, b: Any) -> str:
    return (
        f"{d / b:.1f}x" if isinstance(d, int | float) and isinstance(b, int | float) and b else "-"
    )


def _pairs(report: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    bare = {row["n"]: row for row in report.get("bare", [])}
    return [(row, bare.get(row["n"])) for row in report.get("durasumi", [])]


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 14's targets, each with its value here and whether it is met."""
    out: list[dict[str, Any]] = []

    def add(name: str, value: Any, met: bool) -> None:
        out.append({"target": name, "value": value, "met": met})

    for row, bare in _pairs(report):
        n, cpu = row["n"], row["cpu_s_per_job"]
        add(f"n={n}: stack CPU per job <= 0.15 s", cpu["stack"], cpu["stack"] <= 0.15)
        if bare:
            ratio = cpu["server"] / bare["cpu_s_per_job"]["server"]
            add(f"n={n}: server CPU per job <= 2x bare", round(ratio, 2), ratio <= 2)
        limit = {10: 0.4, 50: 1.5}.get(n)
        if limit is not None:
            p50 = row["done_p50_s"]
            add(f"n={n}: answer -> done p50 <= {limit} s", p50, p50 is not None and p50 <= limit)
        if n == 500:
            clean = row["completed"] == n and row["stream_breaks"] == 0 and not row["submit_errors"]
            add("n=500: all complete, no stream break, no submit error", clean, clean)
    return out


def _table(title: str, *columns: str) -> Any:
    from rich.table import Table

    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="right")
    return table


def _sides(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (side, r)
        for row, bare in _pairs(report)
        for side, r in (("durasumi", row), ("bare", bare))
        if r
    ]


def print_report(console: Console, report: dict[str, Any]) -> None:
    """Latency, cost, reliability, history budget, server calls; then the targets."""
    lat = _table("latency, s (p50 / p95)", "side", "n", "completed", *LATENCIES, "jobs/s")
    for row, bare in _pairs(report):
        for side, r in (("durasumi", row), ("bare", bare)):
            if r is not None:
                lat.add_row(
                    side, str(r["n"]), f"{r['completed']}/{r['n']}",
                    *(f"{_f(r[f'{k}_p50_s'])} / {_f(r[f'{k}_p95_s'])}" for k in LATENCIES),
                    _f(r["jobs_per_s"], 2),
                )  # fmt: skip
        if bare:
            lat.add_row(
                "d/b p50", "", "",
                *(_ratio(row[f"{k}_p50_s"], bare[f"{k}_p50_s"]) for k in LATENCIES),
                _ratio(row["jobs_per_s"], bare["jobs_per_s"]), end_section=True,
            )  # fmt: skip
    console.print(lat)

    cost = _table("CPU s per job; RSS MB per paused job", "side", "n", "server",
                  "API+platform", "vendor / bare", "stack", "client", "RSS")  # fmt: skip
    for side, r in _sides(report):
        cpu = r["cpu_s_per_job"]
        cost.add_row(
            side, str(r["n"]), _f(cpu["server"]), _f(cpu.get("api_platform")),
            _f(cpu.get("vendor", cpu.get("bare_process"))), _f(cpu["stack"]),
            _f(cpu.get("bench_process")), _f(r["rss_mb"]["per_paused_job"]),
        )  # fmt: skip
    console.print(cost)

    rel = _table("reliability", "side", "n", "lost", "stuck", "failed", "breaks", "no end",
                 "submit errors", "stream errors", "API tracebacks")  # fmt: skip
    for side, r in _sides(report):
        rel.add_row(
            side, str(r["n"]), str(r["lost"]), str(r["stuck"]), str(r["failed"]),
            str(r["stream_breaks"]), str(r["no_end"]), json.dumps(r["submit_errors"]),
            json.dumps(r["stream_errors"]), _f(r.get("api_log_tracebacks")),
        )  # fmt: skip
    console.print(rel)

    hist = _table("history per job (sampled jobs, mean)", "side", "n", "workflow", "events",
                  "wf tasks", "transfers", "child start/end", "signals out/in", "updates",
                  "visibility writes", "activities")  # fmt: skip
    for side, r in _sides(report):
        for part in ("job", "agent", "total"):
            b = r["budget"].get(part)
            if b:
                hist.add_row(
                    side, str(r["n"]), part, _f(b["events"], 1), _f(b["workflow_tasks"], 1),
                    _f(b["transfers"], 1), f"{_f(b['child_starts'], 1)}/{_f(b['child_ends'], 1)}",
                    f"{_f(b['signals_sent'], 1)}/{_f(b['signals_received'], 1)}",
                    _f(b["updates"], 1), _f(b["visibility_writes"], 1), _f(b["activities"], 1),
                )  # fmt: skip
    console.print(hist)

    calls = _table("Temporal frontend calls per job (server counters)", "side", "n",
                   *CALLS.values(), "visibility writes", "persistence")  # fmt: skip
    for side, r in _sides(report):
        c = r["server_calls_per_job"]
        calls.add_row(
            side, str(r["n"]), *(_f(c.get(f"frontend.{op}", 0.0), 2) for op in CALLS),
            _f(c.get("visibility.total", 0.0), 2), _f(c.get("persistence.total", 0.0), 1),
        )  # fmt: skip
    console.print(calls)

    for t in report.get("targets", []):
        mark = "[green]met[/]" if t["met"] else "[red]MISSED[/]"
        console.print(f"target {t['target']}: {t['value']} {mark}")
    console.print(
        f"commit {report['commit']}{' (dirty tree)' if report['tree_dirty'] else ''}; load "
        f"{report['load_avg_at_start']} at start, {report.get('load_avg_at_end')} at end; "
        f"total {report.get('total_s')} s"
        + (f"; logs in {report['kept']}" if report.get("kept") else "")
    )


# -- the command ----------------------------------------------------------------------------


def _git(*args: str) -> str:
    run = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    return run.stdout.strip()


def _write(args: argparse.Namespace, report: dict[str, Any]) -> None:
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2, default=str) + "\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(
        prog="python -m bench.http_load", description=__doc__.split("\n")[0]
    )
    p.add_argument(
        "--levels",
        type=lambda s: [int(x) for x in s.split(",") if x.strip()],
        default=[1, 10, 50, 200, 500],
        help="jobs launched at once, per level (default 1,10,50,200,500)",
    )
    p.add_argument("--bare", action=argparse.BooleanOptionalAction, default=True,
                   help="also run the bare temporalio floor (default: on)")  # fmt: skip
    p.add_argument("--level-timeout", type=float, default=600.0,
                   help="seconds for all forms of a level to show, and again for all jobs to "
                   "end once answered (default 600)")  # fmt: skip
    p.add_argument(
        "--warmup", type=int, default=1, help="unmeasured jobs per side first (default 1)"
    )
    p.add_argument("--budget-sample", type=int, default=5,
                   help="finished jobs per level whose histories are counted (default 5)")  # fmt: skip
    p.add_argument("--json-out", type=Path, help="write the results as JSON here")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    return p.parse_args(argv)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Both sides, one after the other; the report."""
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "tree_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "argv": sys.argv[1:],
        "cpus": os.cpu_count(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    tmp = Path(tempfile.mkdtemp(prefix="durasumi-http-load-"))
    try:
        await durasumi_side(args, tmp, report)
        if args.bare:
            await bare_side(args, tmp, report)
    finally:
        report["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        if args.keep:
            report["kept"] = str(tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    report["targets"] = targets(report)
    report["ok"] = all(
        row["lost"] == 0
        and row["stuck"] == 0
        and row["failed"] == 0
        and not any(code.startswith("5") for code in row["submit_errors"])
        for side in ("durasumi", "bare")
        for row in report.get(side, [])
    )
    return report


def main(argv: list[str] | None = None) -> int:
    """Run, print, write the JSON; 1 if a job was lost, stuck or failed or a submit got a 5xx."""
    args = parse_args(argv)
    started = time.perf_counter()
    report = asyncio.run(run(args))
    report["total_s"] = round(time.perf_counter() - started, 1)
    print_report(console, report)
    _write(args, report)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
