"""Rich renderings of jobs, forms and events for humans."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from rich.panel import Panel
from rich.table import Table

from durasumi.cli.output import status_text

if TYPE_CHECKING:
    from durasumi.workflows.models import FormRequest, JobEvent, JobView

__all__ = ["answer_command", "event_line", "form_panel", "view_panel"]

# EventKind values.
_KIND_STYLE = {
    "form_rejected": "red",
    "error": "red",
    "result": "green",
    "form_requested": "magenta",
}


def view_panel(view: JobView) -> Panel:
    """A panel with a job's status, times, result or error."""
    table = Table.grid(padding=(0, 2))
    table.add_row("status", status_text(view.status.value))
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


def answer_command(job_id: str, request: FormRequest) -> str:
    """The command that answers ``request``: its required fields, to fill in.

    Fields shown only under a condition are left out; the form panel lists them.
    """
    fields = [
        f"-F {f.id}=" for f in request.form.all_fields() if f.required and f.visible_when is None
    ]
    return " ".join(["durasumi signal", job_id, "--request", request.request_id, *fields])


def event_line(event: JobEvent) -> str:
    """One line per event: number, time, kind, message."""
    style = _KIND_STYLE.get(event.kind.value, "default")
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
