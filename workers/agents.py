"""Finding agent classes (``module:Class``) for a worker to serve."""

from __future__ import annotations

import importlib

from temporalio import workflow

from durasumi.workflows.agent import AgentWorkflow
from durasumi.workflows.ids import validate_agent_name

__all__ = ["AgentSpecError", "load_agent"]


class AgentSpecError(ValueError):
    """A ``module:Class`` reference that does not name a usable agent."""


def load_agent(spec: str) -> type[AgentWorkflow]:
    """Import ``module:Class`` and check it is an AgentWorkflow with an agent name.

    Example:
        >>> load_agent("durasumi.examples.trip_planner:TripPlanner").name
        'trip-planner'
    """
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
        raise AgentSpecError(f"{spec!r} is not decorated with @workflow.defn(name=...)")
    try:
        validate_agent_name(defn.name or "")
    except ValueError as err:
        raise AgentSpecError(
            f"{spec!r}: the @workflow.defn name is the agent's name: {err}"
        ) from err
    return cls
