"""A worker interceptor around an agent's ``run``: its job's input before, its outcome after.

``AgentWorkflow.hire`` needs the job's platform task queue, which arrives in the
``AgentRunInput`` the agent's ``run`` receives; the base class cannot see a subclass's run
arguments, so this interceptor (wired by :class:`DurasumiPlugin`) stores them on the
workflow instance. Deterministic: it only reads the input.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic_core import to_jsonable_python
from temporalio import workflow
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

__all__ = ["JobContextInterceptor"]


class _Inbound(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        from durasumi.workflows.agent import AgentWorkflow
        from durasumi.workflows.continuation import outcome_of
        from durasumi.workflows.models import AgentOutcome, AgentRunInput

        instance = workflow.instance()
        if isinstance(instance, AgentWorkflow) and input.args:
            first = input.args[0]
            if isinstance(first, AgentRunInput):
                instance._bind(first)
        if not isinstance(instance, AgentWorkflow):
            return await super().execute_workflow(input)
        # The agent's last events go out, then the job hears how the run ended: a job that
        # continued as new is no longer this workflow's parent (workflows/continuation.py).
        try:
            result = await super().execute_workflow(input)
        except workflow.ContinueAsNewError:
            raise
        except asyncio.CancelledError:
            await instance._finished(AgentOutcome(status="cancelled", error="agent was cancelled"))
            raise
        except Exception as err:
            await instance._finished(outcome_of(err))
            raise
        done = AgentOutcome(status="completed", result=to_jsonable_python(result))
        await instance._finished(done)
        return result


class JobContextInterceptor(Interceptor):
    """Stores an agent's ``AgentRunInput`` on its workflow instance (``AgentWorkflow._job``)."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        """The inbound interceptor for every workflow of the worker."""
        return _Inbound
