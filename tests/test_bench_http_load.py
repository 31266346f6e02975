"""bench/http_load.py at a tiny level: `durasumi dev` + a vendor worker, two jobs over HTTP.

The lower bounds on the history counts come from Temporal's rules and the job's protocol,
not from a run of the code. BenchAgent asks one form (FORMS = 1).

- Every workflow task that completes writes three events (scheduled, started, completed),
  and every closed run has a started and a closing event: events >= 3 * tasks + 2.
- The JobWorkflow: its first task (the start) must complete before the agent workflow can
  exist (a child is started by a command of a completed task), so the form request it
  relays arrives in a later task; the buyer sees the form only once that task completed,
  so the answer (an update) arrives in a later task still; each further form repeats the
  two. Tasks >= 1 + 2 * FORMS.
- The agent workflow: its first task asks the form; the answer arrives after that task
  completed, in a later task. Tasks >= 1 + FORMS.
- Messages: the job hears of each form and receives each answer (a signal or an update
  each), and the agent receives each answer: job inbound >= 2 * FORMS, agent inbound >=
  FORMS; and the agent is started once. Transfers in all >= 3 * FORMS + 1.
- Each run records its start and its close in visibility: >= 2 per workflow.
- Every completed workflow task in a history was reported by one RespondWorkflowTaskCompleted
  call to the frontend, so the server's count per job is at least the histories' count.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

FORMS = 1
N = 2


def test_http_load_runs_two_jobs_and_counts_their_budget(tmp_path: Path) -> None:
    out = tmp_path / "http_load.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.http_load", "--levels", str(N), "--no-bare",
         "--warmup", "0", "--budget-sample", str(N), "--level-timeout", "60",
         "--json-out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["ok"] is True and "bare" not in report
    [row] = report["durasumi"]
    assert row["n"] == N and row["completed"] == N
    assert row["lost"] == row["stuck"] == row["failed"] == row["no_end"] == 0
    assert row["submit_errors"] == {} and row["start_errors"] == {}
    assert row["forms_visible"] == N and row["forms_in_time"] is True

    # Causal order of what one client sees.
    assert 0 < row["first_event_p50_s"] <= row["form_visible_p50_s"]
    assert 0 < row["resumed_p50_s"] <= row["done_p50_s"]
    assert row["jobs_per_s"] > 0
    cpu = row["cpu_s_per_job"]
    assert cpu["server"] > 0 and cpu["api_platform"] > 0 and cpu["vendor"] > 0

    samples = row["budget"]["samples"]
    assert len(samples) == N
    for sample in samples:
        job, agent = sample["job"], sample["agent"]
        for counts in (job, agent):
            assert all(isinstance(v, int) and v >= 0 for v in counts.values()), counts
            assert counts["events"] >= 3 * counts["workflow_tasks"] + 2
            assert counts["visibility_writes"] >= 2
        assert job["workflow_tasks"] >= 1 + 2 * FORMS
        assert agent["workflow_tasks"] >= 1 + FORMS
        assert job["signals_received"] + job["updates"] >= 2 * FORMS
        assert agent["signals_received"] + agent["updates"] >= FORMS
        assert sample["total"]["transfers"] >= 3 * FORMS + 1
        assert sample["total"] == {k: job[k] + agent[k] for k in job}

    calls = row["server_calls_per_job"]
    tasks_per_job = sum(s["total"]["workflow_tasks"] for s in samples) / N
    assert calls["frontend.RespondWorkflowTaskCompleted"] >= tasks_per_job
