"""Agents hiring agents: a sub-job with the hiring job as buyer, forms, budget, cancel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client

from durasumi.client import jobs
from durasumi.db.registry import Registry, describe
from durasumi.examples.trip_broker import TripBroker
from durasumi.examples.trip_planner import TripPlanner
from durasumi.workers.devserver import DevServer
from durasumi.workers.remote import hire_activities
from durasumi.workers.run import agent_worker, platform_worker, watch_worker
from durasumi.workflows.models import CancelRequest, JobStatus, JobView, Submission
from tests.conftest import Stack, agent_queue_prefix
from tests.hire_agents import Hirer

PRICE = 5_000_000  # the trip planner's price in the registry


@dataclass
class HireStack:
    stack: Stack

    async def sub_job(self, job_id: str) -> str | None:
        """The sub-job the hiring job reported, if any."""
        events = await jobs.job_events(self.stack.client, job_id)
        found = [e.data["sub_job"] for e in events if "sub_job" in e.data]
        return str(found[-1]) if found else None


@pytest.fixture
async def hs(client: Client, temporal: DevServer, tmp_path: Path) -> AsyncIterator[HireStack]:
    prefix = agent_queue_prefix()
    stack = Stack(client, temporal.address, tmp_path, f"{prefix}-platform", prefix)
    db_url = f"sqlite:///{tmp_path / 'durasumi.db'}"
    registry = Registry(db_url)
    for agent in (TripPlanner, Hirer, TripBroker):
        record = describe(agent, task_queue=stack.queue(agent.name), vendor="tests")
        if agent is TripPlanner:
            record.price_lovelace = PRICE
        stack.records[agent.name] = registry.upsert(record)
    hire = hire_activities(db_url)
    watches = watch_worker(client, stack.platform_queue, hire=hire)
    assert watches is not None
    async with (
        platform_worker(client, stack.platform_queue, hire=hire),
        watches,
        agent_worker(client, [TripPlanner], stack.queue(TripPlanner.name)),
        agent_worker(client, [Hirer], stack.queue(Hirer.name)),
        agent_worker(client, [TripBroker], stack.queue(TripBroker.name)),
    ):
        yield HireStack(stack)


async def test_a_hire_with_forms_answered_and_relayed(hs: HireStack) -> None:
    stack = hs.stack
    started = await stack.start("hirer", {"destination": "Lima"})
    relayed = await stack.wait_for(started.job_id, JobStatus.AWAITING_INPUT)
    # The sub-agent's first form was answered by the hiring agent, the second is relayed.
    assert relayed.pending_form is not None and relayed.pending_form.form.id == "budget"
    sub_id = await hs.sub_job(started.job_id)
    assert sub_id is not None
    sub = await jobs.job_view(stack.client, sub_id)
    assert sub.buyer == started.job_id and sub.agent == "trip-planner"
    assert sub.status is JobStatus.AWAITING_INPUT
    await jobs.submit_form(
        stack.client,
        started.job_id,
        Submission(request_id=relayed.pending_form.request_id, values={"level": "comfort"}),
    )
    done = await stack.wait_for(started.job_id, JobStatus.COMPLETED)
    assert isinstance(done.result, dict)
    (plan,) = done.result["plans"]
    assert plan["summary"] == "2 traveller(s) to Lima, comfort budget"
    assert (done.usage.hires, done.usage.hire_lovelace) == (1, PRICE)
    sub = await jobs.job_view(stack.client, sub_id)
    assert sub.status is JobStatus.COMPLETED and sub.result == plan


async def test_over_budget_hires_are_refused_before_they_start(hs: HireStack) -> None:
    stack = hs.stack
    cheap = await stack.start("hirer", {"destination": "Lima", "budget": PRICE - 1})
    failed = await stack.wait_for(cheap.job_id, JobStatus.FAILED)
    assert failed.error is not None and failed.error.startswith("HireOverBudget"), failed.error
    assert await hs.sub_job(cheap.job_id) is None  # nothing started
    # The job's own cap (8 ADA) holds one 5 ADA hire, not two.
    twice = await stack.start("hirer", {"destination": "Oslo", "times": 2, "auto": True})
    failed = await stack.wait_for(twice.job_id, JobStatus.FAILED)
    assert failed.error is not None and "3000000 of its 8000000 left" in failed.error
    assert failed.usage.hires == 1  # the first hire ran and was metered


async def test_cancelling_the_hiring_job_cancels_the_sub_job(hs: HireStack) -> None:
    stack = hs.stack
    started = await stack.start("hirer", {"destination": "Rome"})
    await stack.wait_for(started.job_id, JobStatus.AWAITING_INPUT)
    sub_id = await hs.sub_job(started.job_id)
    assert sub_id is not None
    await jobs.cancel_job(stack.client, started.job_id, CancelRequest(reason="changed my mind"))
    await stack.wait_for(started.job_id, JobStatus.CANCELLED)
    sub: JobView = await stack.wait_for(sub_id, JobStatus.CANCELLED)
    assert sub.pending_form is None


async def test_the_trip_broker_example(hs: HireStack) -> None:
    stack = hs.stack
    started = await stack.start("trip-broker", {"destination": "Quito", "adults": 3})
    relayed = await stack.wait_for(started.job_id, JobStatus.AWAITING_INPUT)
    assert relayed.pending_form is not None
    await jobs.submit_form(
        stack.client,
        started.job_id,
        Submission(request_id=relayed.pending_form.request_id, values={"level": "luxury"}),
    )
    done = await stack.wait_for(started.job_id, JobStatus.COMPLETED)
    assert isinstance(done.result, dict)
    assert done.result["summary"] == "3 traveller(s) to Quito, luxury budget"
    assert done.usage.hire_lovelace == PRICE
