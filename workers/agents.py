"""Finding agent classes (``module:Class``) and describing them for the registry."""

from __future__ import annotations

import importlib

from temporalio import workflow

from durasumi.db.registry import AgentRecord
from durasumi.workflows.agent import AgentWorkflow
from durasumi.workflows.ids import validate_agent_name

__all__ = ["AgentSpecError", "describe", "load_agent"]


class AgentSpecError(ValueError):
    """A ``module:Class`` reference that does not name a usable agent."""


def load_agent(spec: str) -> type[AgentWorkflow]:
    """Import ``module:Class`` and check it is a workflow-decorated AgentWorkflow."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise AgentSpecError(f"agent {spec!r} must look like 'package.module:ClassName'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise AgentSpecError(f"cannot import {module_name!r}: {err}") from err
    cls = getattr(module, attr, None)
    if not (isinstance(cls, type) and issubclass(cls, AgentWorkflow)):
        raise AgentSpecError(f"{spec!r} is not an AgentWorkflow subclass")
    defn = workflow._Definition.from_class(cls)
    if defn is None:
        raise AgentSpecError(f"{spec!r} is not decorated with @workflow.defn")
    if defn.name != getattr(cls, "name", None):
        raise AgentSpecError(
            f"{spec!r}: class attribute name={getattr(cls, 'name', None)!r} must equal the "
            f"@workflow.defn name {defn.name!r}"
        )
    validate_agent_name(defn.name or "")
    return cls


def describe(cls: type[AgentWorkflow], *, task_queue: str, vendor: str) -> AgentRecord:
    """The registry record for an agent class served on ``task_queue``."""
    return AgentRecord(
        name=cls.name,
        description=cls.description,
        vendor=vendor,
        task_queue=task_queue,
        input_form=cls.input_form.model_dump(mode="json") if cls.input_form else None,
        workflow_type=cls.name,
    )
