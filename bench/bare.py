"""The bare-temporalio baseline: one workflow, one form state, one update.

It does the least a paused interactive job can do on Temporal: publish a form in its
state, wait for an update carrying the answer, and return it.
"""

from __future__ import annotations

from temporalio import workflow

FORM: dict[str, object] = {
    "id": "answer",
    "title": "Answer",
    "fields": [{"id": "answer", "type": "text"}],
}


@workflow.defn(name="bench-bare")
class BareWorkflow:
    """Sets a form, waits for ``submit``, returns the answer."""

    @workflow.init
    def __init__(self, job_id: str) -> None:
        self._form: dict[str, object] | None = None
        self._answer: dict[str, str] | None = None

    @workflow.run
    async def run(self, job_id: str) -> dict[str, str]:
        self._form = FORM
        await workflow.wait_condition(lambda: self._answer is not None)
        assert self._answer is not None
        return self._answer

    @workflow.update
    def submit(self, values: dict[str, str]) -> dict[str, str]:
        self._form = None
        self._answer = values
        return values

    @workflow.query
    def form(self) -> dict[str, object] | None:
        return self._form
