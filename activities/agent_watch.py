"""How an agent's workflow ended, for a job that continued as new and did not hear it.

The first run of a job starts its agent as a child and awaits it. A continued run is not
that child's parent any more (the child is abandoned so that it survives the hand-over):
the agent tells the job how it ended by a signal (workers/job_context.py). Should that
never come (an operator terminated the agent), the job looks now and then with this.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError

from durasumi.workflows.continuation import AgentOutcome, AgentWatch, outcome_of

__all__ = ["AgentWatchActivities"]


class AgentWatchActivities:
    """Reads agent workflows with the platform's client."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn
    async def agent_outcome(self, watch: AgentWatch) -> AgentOutcome | None:
        """The agent workflow's outcome if it has closed, else None."""
        handle = self._client.get_workflow_handle(watch.workflow_id)
        described = await handle.describe()
        if described.status in (None, WorkflowExecutionStatus.RUNNING):
            return None
        try:
            return AgentOutcome(
                status="completed", result=await handle.result(rpc_timeout=timedelta(seconds=30))
            )
        except WorkflowFailureError as err:
            return outcome_of(err.cause)
