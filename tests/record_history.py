"""Record the histories that tests/test_replay.py replays against the current workflow code.

Run it from a checkout of the commit whose behaviour the histories should pin (for example a
`git worktree` of the release before a workflow change), with that checkout on sys.path:

    cd /tmp/old && PYTHONPATH=. /path/to/.venv/bin/python /path/to/tests/record_history.py \
        /path/to/tests/data/histories

It runs one trip-planner job (two forms, the conditional field answered, an emit and a step)
on its own dev server and writes the JobWorkflow's and the agent's histories as JSON.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from durasumi.client.jobs import job_result, job_view, start_job, submit_form
from durasumi.db.registry import describe
from durasumi.examples.trip_planner import TripPlanner
from durasumi.workers.devserver import DevServer, free_port
from durasumi.workers.run import agent_worker, platform_worker
from durasumi.workflows.ids import child_workflow_id
from durasumi.workflows.models import JobStatus, Submission

ANSWERS = [
    {"adults": 2, "children": True, "children_ages": "4, 7"},
    {"level": "comfort", "notes": "by the sea"},
]


async def record(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = DevServer(db_file=Path(tmp) / "t.db", port=free_port(), ui_port=None)
        server.start()
        try:
            client = await Client.connect(server.address, data_converter=pydantic_data_converter)
            record = describe(TripPlanner, task_queue="rec-agent", vendor="local")
            async with (
                platform_worker(client, "rec-platform"),
                agent_worker(client, [TripPlanner], "rec-agent"),
            ):
                started = await start_job(
                    client,
                    record,
                    "abcdef0123456789",
                    {"destination": "Lisbon"},
                    platform_task_queue="rec-platform",
                    buyer="rec",
                )
                for answer in ANSWERS:
                    view = await job_view(client, started.job_id)
                    while view.pending_form is None:
                        await asyncio.sleep(0.05)
                        view = await job_view(client, started.job_id)
                    submission = Submission(request_id=view.pending_form.request_id, values=answer)
                    await submit_form(client, started.job_id, submission)
                result = await job_result(started.handle)
                assert result.status is JobStatus.COMPLETED, result
                for wid, name in (
                    (started.job_id, "job"),
                    (child_workflow_id(started.job_id), "agent"),
                ):
                    history = await client.get_workflow_handle(wid).fetch_history()
                    (out / f"trip_planner_{name}.json").write_text(history.to_json())
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(record(Path(sys.argv[1])))
