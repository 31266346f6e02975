"""Replay recorded histories against today's workflow code: a deploy must not break running jobs.

tests/data/histories/ holds histories recorded with earlier code (see tests/record_history.py
and the README there). A workflow change that would make one of them non-deterministic fails
here, before it reaches a worker with jobs paused on forms; such a change needs
``workflow.patched`` (or a new worker deployment version for vendor agents).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from durasumi.examples.trip_planner import TripPlanner
from durasumi.workers.plugin import workflow_runner
from durasumi.workflows.job import JobWorkflow

HISTORIES = sorted((Path(__file__).parent / "data" / "histories").glob("*.json"))


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays_with_current_code(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, await asyncio.to_thread(path.read_text))
    replayer = Replayer(
        workflows=[JobWorkflow, TripPlanner],
        workflow_runner=workflow_runner(),
        data_converter=pydantic_data_converter,
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


def test_histories_are_there() -> None:
    assert {p.stem for p in HISTORIES} >= {"trip_planner_job", "trip_planner_agent"}
