"""Steps run at least once; the SDK's idempotency key makes their side effects happen once.

The step's first attempt does its side effect, then its completion is lost: the Temporal
server is stopped and started again (on the same file) while the attempt hangs, and the
attempt times out. Temporal runs the step again, which is its contract; the second attempt
carries the same key, so the outside system records one invoice.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from durasumi.db.registry import describe
from durasumi.workers.devserver import DevServer, free_port
from durasumi.workers.run import agent_worker, platform_worker
from durasumi.workflows.ids import child_workflow_id
from durasumi.workflows.models import JobStatus
from tests.conftest import Stack, wait_until
from tests.idempotent_agents import Invoicer


def rows(ledger: Path, table: str) -> list[tuple]:
    if not ledger.exists():
        return []
    with sqlite3.connect(ledger) as db:
        try:
            return list(db.execute(f"SELECT * FROM {table}"))
        except sqlite3.OperationalError:
            return []


async def test_a_keyed_side_effect_happens_once_across_a_server_restart(tmp_path: Path) -> None:
    server = DevServer(db_file=tmp_path / "temporal.db", port=free_port(), ui_port=None)
    server.start()
    ledger, hold = tmp_path / "ledger.db", tmp_path / "hold"
    hold.touch()
    try:
        client = await Client.connect(server.address, data_converter=pydantic_data_converter)
        stack = Stack(client, server.address, tmp_path, "idem-platform", "idem")
        stack.records["invoicer"] = describe(Invoicer, task_queue="idem-invoicer", vendor="tests")
        workers = [
            platform_worker(client, stack.platform_queue),
            agent_worker(client, [Invoicer], "idem-invoicer"),
        ]
        tasks = [asyncio.create_task(w.run()) for w in workers]
        job = await stack.start(
            "invoicer", {"ledger": str(ledger), "amount": 42, "hold_first_attempt": str(hold)}
        )
        await wait_until(lambda: len(rows(ledger, "attempts")) == 1)

        server.stop()  # the completion of attempt 1 can no longer reach Temporal
        await asyncio.sleep(1)
        server.start()

        await wait_until(lambda: len(rows(ledger, "attempts")) == 2, timeout=60)
        hold.unlink()  # attempt 1 finishes late: Temporal refuses its stale completion
        view = await stack.wait_for(job.job_id, JobStatus.COMPLETED, timeout=60)
        attempts = rows(ledger, "attempts")
        assert [a for _, a in attempts] == [1, 2]
        assert attempts[0][0] == attempts[1][0]  # the same key on both attempts
        assert rows(ledger, "invoices") == [(attempts[0][0], 42)]  # one invoice
        assert view.result == attempts[0][0]
        assert attempts[0][0].startswith(f"{child_workflow_id(job.job_id)}/")
        await asyncio.gather(*(w.shutdown() for w in workers))
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        server.stop()
