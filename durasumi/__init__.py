"""durasumi: durable, paid, interactive AI agents on Temporal. This is the vendor's SDK.

An agent is a Temporal workflow that subclasses :class:`AgentWorkflow`; it asks the buyer
for input with forms (:class:`Form`, :class:`Field`, :class:`ShowWhen`, :class:`Group`),
reports progress, and does its I/O in activities (its own through ``self.step``, the
platform's LLM and Ray through ``self.llm`` and ``self.gpu`` with :class:`RayTask` /
:class:`RayJob`). A worker runs it with :class:`DurasumiPlugin`, from ``durasumi worker
--agent module:Class`` or from the vendor's own code.

Everything here installs with ``pip install durasumi``; the platform (API, app database,
Cardano escrow, dev stack) is the ``durasumi[platform]`` extra.

Example:
    >>> from datetime import timedelta
    >>> from temporalio import workflow
    >>> from durasumi import AgentRunInput, AgentWorkflow, Field, Form
    >>> @workflow.defn(name="echo")
    ... class Echo(AgentWorkflow):
    ...     input_form = Form(id="start", title="Echo", fields=[Field.text("text", "Text")])
    ...
    ...     @workflow.run
    ...     async def run(self, job: AgentRunInput) -> str:
    ...         more = await self.ask(
    ...             Form(id="more", title="More?", fields=[Field.text("more", "More")]),
    ...             timeout=timedelta(hours=1),
    ...         )
    ...         return f"{job.input_data['text']} {more['more']}"
    >>> Echo.name
    'echo'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from durasumi.activities.gpu import RayJob, RayTask
    from durasumi.workers.plugin import DurasumiPlugin
    from durasumi.workflows.agent import AgentWorkflow, FormExpired, StepOptions
    from durasumi.workflows.forms import Field, Form, Group, ShowWhen
    from durasumi.workflows.models import AgentRunInput

__all__ = [
    "AgentRunInput",
    "AgentWorkflow",
    "DurasumiPlugin",
    "Field",
    "Form",
    "FormExpired",
    "Group",
    "RayJob",
    "RayTask",
    "ShowWhen",
    "StepOptions",
]

# Where each SDK name lives. Resolved on first use (PEP 562), so importing a submodule
# (the CLI: `durasumi --help`) does not pay for temporalio's worker and the SDK's models.
_SOURCES = {
    "AgentRunInput": "durasumi.workflows.models",
    "AgentWorkflow": "durasumi.workflows.agent",
    "DurasumiPlugin": "durasumi.workers.plugin",
    "Field": "durasumi.workflows.forms",
    "Form": "durasumi.workflows.forms",
    "FormExpired": "durasumi.workflows.agent",
    "Group": "durasumi.workflows.forms",
    "RayJob": "durasumi.activities.gpu",
    "RayTask": "durasumi.activities.gpu",
    "ShowWhen": "durasumi.workflows.forms",
    "StepOptions": "durasumi.workflows.agent",
}


def __getattr__(name: str) -> Any:
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(source), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
