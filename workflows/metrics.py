"""Job counters by agent, recorded from JobWorkflow through the workflow's metric meter.

``workflow.metric_meter()`` is replay safe: the SDK records nothing while a workflow task
replays history, so a job rebuilt on another worker (or after a cache eviction) is counted
once. The counters come out wherever the worker's runtime sends its metrics: with
DURASUMI_METRICS_PORT, the platform worker's Prometheus endpoint (``workers/telemetry.py``).
Besides ``agent``, the SDK labels each with namespace, task_queue and workflow_type.
"""

from __future__ import annotations

from temporalio import workflow

from durasumi.workflows.models import JobStatus

__all__ = ["COUNTERS", "count_refund", "count_status"]

# Prometheus name -> help text; one counter per lifecycle event, each labelled by agent.
COUNTERS = {
    "durasumi_jobs_started": "Jobs whose agent started (payment secured, status running).",
    "durasumi_jobs_completed": "Jobs that completed.",
    "durasumi_jobs_failed": "Jobs that failed (agent error, form deadline, unpaid).",
    "durasumi_jobs_cancelled": "Jobs that were cancelled.",
    "durasumi_jobs_refunded": "Paid jobs whose escrow was refunded to the buyer.",
}

_TERMINAL = {
    JobStatus.COMPLETED: "durasumi_jobs_completed",
    JobStatus.FAILED: "durasumi_jobs_failed",
    JobStatus.CANCELLED: "durasumi_jobs_cancelled",
}


def _count(name: str, agent: str) -> None:
    workflow.metric_meter().create_counter(name, COUNTERS[name]).add(1, {"agent": agent})


def count_status(agent: str, previous: JobStatus, status: JobStatus) -> None:
    """Count a job's status change: the first start of its agent, or its end.

    ``awaiting_payment -> running`` happens once per job (later ``running`` states come
    back from ``awaiting_input``); a terminal status is reached once.
    """
    if previous is JobStatus.AWAITING_PAYMENT and status is JobStatus.RUNNING:
        _count("durasumi_jobs_started", agent)
    elif status in _TERMINAL and not previous.terminal:
        _count(_TERMINAL[status], agent)


def count_refund(agent: str) -> None:
    """Count a paid job whose settlement refunded the buyer."""
    _count("durasumi_jobs_refunded", agent)
