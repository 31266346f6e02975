"""What both sides of ``bench.http_load`` share (a level, its measures), and the bare floor.

A level of the workload: n jobs launched at one instant; each job reports when its form is
visible; once every form is visible (or the level's time is up) all forms are answered at
one instant; each job then reports when it resumed and when it was done. Latencies are taken
from those two shared instants, as a user who launches n jobs and then answers n forms sees
them.

The floor (``bare_job``) runs ``bench.bare.BareWorkflow`` with a Temporal client and a
worker in this process: start, follow the history (long-poll) and query the form after each
completed workflow task (as the API's event stream follows a job), update ``submit``, await
the result.

Measures: CPU and RSS of process groups from /proc (utime + stime, VmRSS), and the Temporal
server's Prometheus counters (``start-dev --metrics-port``): frontend calls by operation,
visibility and persistence writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from bench.bare import BareWorkflow

ANSWER = {"answer": "42"}
TERMINAL = {"completed", "failed", "cancelled"}
SETTLE = 0.5  # seconds after the last job before CPU is read again (close, visibility)


@dataclass
class JobTimes:
    """One job of a level: seconds from the launch instant, or from the answer instant."""

    job_id: str | None = None
    first_event: float | None = None  # launch -> first event the client sees
    form_visible: float | None = None  # launch -> the form is visible to the client
    resumed: float | None = None  # answer -> the job shows it took the answer
    done: float | None = None  # answer -> the job shows its end state
    ended: bool = False  # the client saw the end (stream end event, or the result)
    status: str = "not started"
    breaks: int = 0  # event streams that broke and were reopened
    start_errors: Counter[str] = field(default_factory=Counter)
    submit_errors: Counter[str] = field(default_factory=Counter)
    stream_errors: Counter[str] = field(default_factory=Counter)


class Level:
    """The shared instants of one level and the barrier between forms and answers."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.t0 = 0.0
        self.t_answer: float | None = None
        self.visible = 0
        self.all_visible = asyncio.Event()
        self.answer = asyncio.Event()

    def launch(self) -> None:
        """The launch instant: every job starts now."""
        self.t0 = time.perf_counter()

    def since_launch(self) -> float:
        """Seconds since the launch instant."""
        return time.perf_counter() - self.t0

    def since_answer(self) -> float | None:
        """Seconds since the answer instant (None before it)."""
        return None if self.t_answer is None else time.perf_counter() - self.t_answer

    def form_seen(self) -> None:
        """One more job shows its form."""
        self.visible += 1
        if self.visible >= self.n:
            self.all_visible.set()

    def release(self) -> None:
        """The answer instant: every job answers now."""
        self.t_answer = time.perf_counter()
        self.answer.set()


# -- the bare floor --------------------------------------------------------------------


async def bare_job(client: Client, queue: str, level: Level, t: JobTimes) -> None:
    """One bare job through the level: start, form visible, update at the barrier, result."""
    wid = f"bare-{secrets.token_hex(8)}"
    try:
        handle = await client.start_workflow(BareWorkflow.run, wid, id=wid, task_queue=queue)
    except Exception as err:  # counted, not hidden
        t.start_errors[type(err).__name__] += 1
        return
    t.job_id, t.status = wid, "running"
    async for event in handle.fetch_history_events(wait_new_event=True):
        if event.event_type != EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            continue
        if t.first_event is None:
            t.first_event = level.since_launch()
        if await handle.query(BareWorkflow.form) is not None:
            t.form_visible = level.since_launch()
            level.form_seen()
            break
    await level.answer.wait()
    try:
        await handle.execute_update(BareWorkflow.submit, ANSWER)
    except Exception as err:
        t.submit_errors[type(err).__name__] += 1
        return
    t.resumed = level.since_answer()
    result = await handle.result()
    t.done, t.ended = level.since_answer(), True
    t.status = "completed" if result == ANSWER else f"wrong result {result!r}"


# -- processes: CPU and RSS from /proc ---------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def proc_tree(pid: int) -> list[int]:
    """``pid`` and every descendant still running."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(children.get(p, []))
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU seconds of these processes (all their threads)."""
    ticks = sum(int(f[11]) + int(f[12]) for p in pids if (f := _stat(p)))
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_mb(pids: list[int]) -> float:
    """Resident memory of these processes, MiB."""
    total = 0
    for p in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def listening_ports(pid: int) -> list[int]:
    """TCP ports that process ``pid`` listens on (its socket inodes in /proc/net/tcp)."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                link = os.readlink(fd)
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
    ports = []
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
                    ports.append(int(cols[1].rsplit(":", 1)[1], 16))
    return sorted(set(ports))


# -- the Temporal server's Prometheus counters -------------------------------------------

_SAMPLE = re.compile(r"^(\w+)\{([^}]*)\} (\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


async def find_metrics_url(pid: int, skip: set[int]) -> str | None:
    """The dev server's /metrics (``start-dev`` serves it on a random port by default)."""
    async with httpx.AsyncClient(timeout=2.0) as http:
        for port in listening_ports(pid):
            if port in skip:
                continue
            url = f"http://127.0.0.1:{port}/metrics"
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url)).text.startswith("# HELP"):
                    return url
    return None


async def scrape(url: str | None) -> defaultdict[str, float]:
    """Frontend calls by operation, visibility writes by operation and persistence calls."""
    out: defaultdict[str, float] = defaultdict(float)
    if url is None:
        return out
    async with httpx.AsyncClient(timeout=30.0) as http:
        text = (await http.get(url)).text
    for line in text.splitlines():
        if not (m := _SAMPLE.match(line)):
            continue
        name, labels, value = m[1], dict(_LABEL.findall(m[2])), float(m[3])
        if labels.get("namespace") in ("temporal_system", "system"):
            continue
        if name == "service_requests" and labels.get("service_name") == "frontend":
            out[f"frontend.{labels.get('operation')}"] += value
        elif name == "visibility_persistence_requests":
            out[f"visibility.{labels.get('operation')}"] += value
            out["visibility.total"] += value
        elif name == "persistence_requests":
            out["persistence.total"] += value
    return out


# The server publishes its counters about once a second: read them until the job-driven
# ones hold still (idle workers keep polling and heartbeating, so those are left out).
WATCHED = ("frontend.QueryWorkflow", "frontend.RespondWorkflowTaskCompleted",
           "frontend.DescribeWorkflowExecution", "frontend.StartWorkflowExecution",
           "frontend.UpdateWorkflowExecution", "frontend.SignalWorkflowExecution",
           "frontend.GetWorkflowExecutionHistory", "visibility.total")  # fmt: skip


async def stable_scrape(url: str | None, tries: int = 10) -> defaultdict[str, float]:
    """The counters once the job-driven ones stopped moving (two reads 1.2 s apart agree)."""
    last = await scrape(url)
    for _ in range(tries if url else 0):
        await asyncio.sleep(1.2)
        now = await scrape(url)
        if all(now[k] == last[k] for k in WATCHED):
            return now
        last = now
    return last


def per_job(before: dict[str, float], after: defaultdict[str, float], n: int) -> dict[str, float]:
    """Counter increments per job (those that moved)."""
    return {
        k: round((after[k] - before.get(k, 0.0)) / n, 2)
        for k in sorted(after)
        if after[k] > before.get(k, 0.0)
    }


# -- one level, either side -----------------------------------------------------------------


@dataclass
class Probe:
    """Where a side's CPU and memory are read: process groups by name."""

    groups: Callable[[], dict[str, list[int]]]
    memory: tuple[str, ...]  # the groups whose RSS holds the paused jobs (the workers)
    metrics_url: str | None


async def idle_cpu(probe: Probe, seconds: float = 3.0) -> dict[str, float]:
    """CPU seconds per second of each group while no job runs (pollers, heartbeats)."""
    before = {name: cpu_seconds(pids) for name, pids in probe.groups().items()}
    await asyncio.sleep(seconds)
    after = {name: cpu_seconds(pids) for name, pids in probe.groups().items()}
    return {name: round((after[name] - before.get(name, 0.0)) / seconds, 4) for name in after}


JobFn = Callable[[Level, JobTimes], Coroutine[Any, Any, None]]


async def drive_level(n: int, job: JobFn, probe: Probe, timeout: float) -> dict[str, Any]:
    """Run n jobs through one level; measure CPU, RSS and server calls around it."""
    level, times = Level(n), [JobTimes() for _ in range(n)]
    m0 = await stable_scrape(probe.metrics_url)
    groups = probe.groups()
    cpu0 = {name: cpu_seconds(pids) for name, pids in groups.items()}
    rss0 = {name: rss_mb(pids) for name, pids in groups.items()}
    bench0 = time.process_time()
    level.launch()
    tasks = [asyncio.create_task(job(level, t)) for t in times]
    forms_in_time = True
    try:
        await asyncio.wait_for(level.all_visible.wait(), timeout)
    except TimeoutError:
        forms_in_time = False  # answer what is visible; the rest count as stuck
    rss1 = {name: rss_mb(pids) for name, pids in probe.groups().items()}
    level.release()
    await asyncio.wait(tasks, timeout=timeout)
    for task in tasks:
        task.cancel()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    crashes = Counter(type(o).__name__ for o in outcomes if isinstance(o, Exception))
    await asyncio.sleep(SETTLE)
    groups = probe.groups()
    cpu = {name: (cpu_seconds(pids) - cpu0.get(name, 0.0)) / n for name, pids in groups.items()}
    cpu["stack"] = sum(cpu.values())
    cpu["bench_process"] = (time.process_time() - bench0) / n
    m1 = await stable_scrape(probe.metrics_url)
    assert level.t_answer is not None
    done_at = [level.t_answer - level.t0 + t.done for t in times if t.done is not None]
    completed = sum(t.status == "completed" for t in times)
    wall = max(done_at) if done_at else None
    workers0 = sum(rss0.get(g, 0.0) for g in probe.memory)
    workers1 = sum(rss1.get(g, 0.0) for g in probe.memory)
    return {
        "n": n,
        "times": times,
        "forms_visible": level.visible,
        "forms_in_time": forms_in_time,
        "answered_after_s": round(level.t_answer - level.t0, 3),
        "wall_s": None if wall is None else round(wall, 3),
        "jobs_per_s": round(completed / wall, 2) if wall else None,
        **latency_summary(times),
        "cpu_s_per_job": {k: round(v, 4) for k, v in cpu.items()},
        "rss_mb": {
            "workers_idle": round(workers0, 1),
            "workers_paused": round(workers1, 1),
            "per_paused_job": round((workers1 - workers0) / n, 3),
            "server_idle": round(rss0.get("server", 0.0), 1),
            "server_paused": round(rss1.get("server", 0.0), 1),
        },
        "server_calls_per_job": per_job(m0, m1, n),
        "bench_crashes": dict(crashes),
    }


def finish_row(row: dict[str, Any]) -> dict[str, Any]:
    """Outcome counts; the per-job times leave the row (they do not go to JSON)."""
    times: list[JobTimes] = row.pop("times")
    row.update(summarize_times(times))
    row["lost"] = sum(t.job_id is None or t.status == "lost" for t in times)
    row["stuck"] = sum(t.job_id is not None and t.status not in TERMINAL | {"lost"} for t in times)
    row["failed"] = sum(t.status in ("failed", "cancelled") for t in times)
    row["not_completed"] = Counter(t.status for t in times if t.status != "completed")
    return row


# -- statistics and history budgets ----------------------------------------------------


def pct(values: Iterable[float | None], p: int) -> float | None:
    """The p-th percentile (inclusive method) of the values that are not None."""
    known = [v for v in values if v is not None]
    if not known:
        return None
    if len(known) == 1:
        return known[0]
    return statistics.quantiles(known, n=100, method="inclusive")[p - 1]


def latency_summary(times: list[JobTimes]) -> dict[str, float | None]:
    """p50/p95 of the four latencies, in seconds."""
    out: dict[str, float | None] = {}
    for name in ("first_event", "form_visible", "resumed", "done"):
        for p in (50, 95):
            value = pct((getattr(t, name) for t in times), p)
            out[f"{name}_p{p}_s"] = None if value is None else round(value, 4)
    return out


_CLOSES = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
}
_CHILD_ENDS = {
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED,
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED,
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT,
}
TRANSFERS = ("child_starts", "child_ends", "signals_sent", "signals_received", "updates")


def history_budget(events: list[HistoryEvent]) -> dict[str, int]:
    """What one workflow's history cost: events, workflow tasks, transfers, visibility writes.

    Transfers are the hops between workflows (and from clients) recorded in this history:
    a signal from one workflow to another counts once where it is sent and once where it is
    received. Visibility writes: the start and the close (one record each) plus every search
    attribute upsert or properties change (one visibility update each).
    """
    kinds = Counter(e.event_type for e in events)
    budget = {
        "events": len(events),
        "workflow_tasks": kinds[EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED],
        "child_starts": kinds[EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED],
        "child_ends": sum(kinds[k] for k in _CHILD_ENDS),
        "signals_sent": kinds[EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED],
        "signals_received": kinds[EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED],
        "updates": kinds[EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED],
        "visibility_writes": kinds[EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED]
        + sum(kinds[k] for k in _CLOSES)
        + kinds[EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES]
        + kinds[EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED],
        "activities": kinds[EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED],
        "timers": kinds[EventType.EVENT_TYPE_TIMER_STARTED],
    }
    budget["transfers"] = sum(budget[k] for k in TRANSFERS)
    return budget


async def workflow_budget(client: Client, workflow_id: str) -> dict[str, int]:
    """The budget of a workflow's latest run (raw history: payloads stay undecoded)."""
    handle = client.get_workflow_handle(workflow_id)
    return history_budget([e async for e in handle.fetch_history_events()])


def mean_budget(samples: list[dict[str, int]]) -> dict[str, float]:
    """The mean of each count over the sampled jobs."""
    if not samples:
        return {}
    return {k: round(statistics.mean(s[k] for s in samples), 2) for k in samples[0]}


def summarize_times(times: list[JobTimes]) -> dict[str, Any]:
    """Counts of outcomes and errors over a level's jobs."""
    errors: dict[str, Counter[str]] = {"start": Counter(), "submit": Counter(), "stream": Counter()}
    for t in times:
        errors["start"] += t.start_errors
        errors["submit"] += t.submit_errors
        errors["stream"] += t.stream_errors
    return {
        "jobs": len(times),
        "completed": sum(t.status == "completed" for t in times),
        "stream_breaks": sum(t.breaks for t in times),
        "no_end": sum(not t.ended for t in times if t.job_id is not None),
        "start_errors": dict(errors["start"]),
        "submit_errors": dict(errors["submit"]),
        "stream_errors": dict(errors["stream"]),
    }
