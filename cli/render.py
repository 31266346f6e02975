"""Rich renderings of jobs, forms and events for humans."""

from __future__ import annotations

import json

from rich.panel import Panel
from rich.table import Table

from durasumi.workflows.models import EventKind, FormRequest, JobEvent, JobStatus, JobView

__all__ = ["event_line", "form_panel", "view_panel"]

_STATUS_STYLE = {
    JobStatus.AWAITING_PAYMENT: "yellow",
    JobStatus.AWAITING_INPUT: "magenta",
    JobStatus.RUNNING: "cyan",
    JobStatus.COMPLETED: "green",
    JobStatus.FAILED: "red",
    JobStatus.CANCELLED: "red",
}

_KIND_STYLE = {
    EventKind.FORM_REJECTED: "red",
    EventKind.ERROR: "red",
    EventKind.RESULT: "green",
    EventKind.FORM_REQUESTED: "magenta",
}


def view_panel(view: JobView) -> Panel:
    """A panel with a job's status, times, result or error."""
    table = Table.grid(padding=(0, 2))
    style = _STATUS_STYLE[view.status]
    table.add_row("status", f"[bold {style}]{view.status.value}[/]")
    table.add_row("agent", view.agent)
    table.add_row("buyer", view.buyer)
    table.add_row("created", f"{view.created_at:%Y-%m-%d %H:%M:%S}")
    table.add_row("updated", f"{view.updated_at:%Y-%m-%d %H:%M:%S}")
    table.add_row("events", str(view.last_seq))
    u = view.usage
    if u.llm_calls or u.gpu_calls:
        table.add_row(
            "usage",
            f"{u.input_tokens} tokens in, {u.output_tokens} out ({u.llm_calls} LLM call(s)); "
            f"{u.gpu_seconds:g} GPU-seconds ({u.gpu_calls} GPU call(s))",
        )
    if view.result is not None:
        table.add_row("result", json.dumps(view.result, indent=2, ensure_ascii=False))
    if view.error:
        table.add_row("error", f"[red]{view.error}[/]")
    return Panel(table, title=view.job_id, expand=False)


def form_panel(request: FormRequest) -> Panel:
    """A panel describing the pending form and how to answer it."""
    table = Table("field", "type", "label", "rules")
    for f in request.form.all_fields():
        rules = ", ".join(f"{v.validation}={v.value}" for v in f.validations)
        if f.visible_when is not None:
            rules = ", ".join(filter(None, [rules, f"shown when {f.visible_when.model_dump()}"]))
        table.add_row(f.id, f.type.value, f.name, rules)
    deadline = (
        f", answer before {request.deadline:%Y-%m-%d %H:%M:%S} UTC" if request.deadline else ""
    )
    title = (
        f"pending form {request.form.id}: {request.form.title} "
        f"(request {request.request_id}{deadline})"
    )
    return Panel(table, title=title, subtitle="durasumi signal JOB --field KEY=VALUE ...")


def event_line(event: JobEvent) -> str:
    """One line per event: number, time, kind, message."""
    style = _KIND_STYLE.get(event.kind, "default")
    detail = ""
    errors = event.data.get("errors")
    if isinstance(errors, list):
        detail = " — " + "; ".join(
            f"{e.get('field')}: {e.get('message')}" for e in errors if isinstance(e, dict)
        )
    return (
        f"[dim]{event.seq:>4} {event.at:%H:%M:%S}[/] [{style}]{event.kind.value:<15}[/] "
        f"{event.message}{detail}"
    )
