"""An agent whose one step has a side effect keyed by the SDK's idempotency key.

The side effect is a row in an SQLite file (the "outside system"): the key is its primary
key, so a repeated attempt of the same step inserts nothing. Every attempt is counted too,
so a test can see that the step really ran twice and the effect happened once.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel
from temporalio import activity, workflow

from durasumi import AgentRunInput, AgentWorkflow, StepOptions
from durasumi.activities.idempotency import idempotency_key


class Invoice(BaseModel):
    ledger: str
    amount: int
    hold_first_attempt: str = ""  # a file: attempt 1 waits while it exists


@activity.defn
def send_invoice(invoice: Invoice) -> str:
    key = idempotency_key("invoice")
    with sqlite3.connect(invoice.ledger) as db:
        db.execute("CREATE TABLE IF NOT EXISTS attempts (key TEXT, attempt INTEGER)")
        db.execute("CREATE TABLE IF NOT EXISTS invoices (key TEXT PRIMARY KEY, amount INTEGER)")
        db.execute("INSERT INTO attempts VALUES (?, ?)", (key, activity.info().attempt))
        db.execute("INSERT OR IGNORE INTO invoices VALUES (?, ?)", (key, invoice.amount))
    if activity.info().attempt == 1 and invoice.hold_first_attempt:
        # The effect is done; the completion is what gets lost (no heartbeats from here).
        while Path(invoice.hold_first_attempt).exists():
            time.sleep(0.1)
    return key


@workflow.defn(name="invoicer")
class Invoicer(AgentWorkflow):
    description = "Sends one invoice, exactly once."
    activities = (send_invoice,)
    step_options = StepOptions(timeout=timedelta(seconds=4))

    @workflow.run
    async def run(self, job: AgentRunInput) -> str:
        invoice = Invoice.model_validate(job.input_data)
        return str(await self.step(send_invoice, invoice))
