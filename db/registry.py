"""The agent registry in the app database (SQLModel; SQLite by default, PostgreSQL in production).

Vendors register the agents they serve (their worker does it at start, or POST /agents);
the CLI and the API look agents up here for their task queue, input form and price.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, Session, SQLModel, select

from durasumi.client.registration import AgentRegistration, registration_for
from durasumi.db.engine import engine_for

if TYPE_CHECKING:
    from durasumi.workflows.agent import AgentWorkflow

__all__ = ["AgentRecord", "Registry", "describe"]


def _now() -> datetime:
    return datetime.now(UTC)


class AgentRecord(SQLModel, table=True):
    """One agent the platform can start jobs for."""

    __tablename__ = "agents"

    name: str = Field(primary_key=True, max_length=63)
    description: str = ""
    vendor: str = Field(default="unknown", index=True)
    task_queue: str
    workflow_type: str
    input_form: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    price_lovelace: int = Field(default=0, ge=0)
    example: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    worker_problem: str | None = Field(default=None, max_length=500)
    # The agent's Masumi registry asset (policy id + asset name, hex), what buyers look up.
    agent_identifier: str | None = Field(default=None, max_length=184)
    # A price in several units:
    # [{"unit": "" (lovelace) or policy id + asset name hex, "amount": int}];
    # None means the price is price_lovelace alone.
    price_amounts: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    # An agent that already serves MIP-003 elsewhere: its base URL and the headers to send it.
    remote_url: str | None = Field(default=None, max_length=2000)
    remote_headers: dict[str, str] | None = Field(default=None, sa_column=Column(JSON))
    registered_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)


WORKER_FIELDS = {"description", "task_queue", "workflow_type", "input_form", "worker_problem"}
"""What a worker's registration sets; everything else is the vendor's, set through the API."""


class Registry:
    """Agents by name, in the database at ``url``.

    Example:
        >>> reg = Registry("sqlite:///:memory:")  # doctest: +SKIP
        >>> reg.upsert(AgentRecord(name="echo", task_queue="q", workflow_type="echo")).name
        'echo'
    """

    def __init__(self, url: str) -> None:
        self.url = url

    def upsert(self, record: AgentRecord) -> AgentRecord:
        """Insert or update an agent, keeping its first registration time."""
        with Session(engine_for(self.url)) as session:
            existing = session.get(AgentRecord, record.name)
            if existing is not None:
                record.registered_at = existing.registered_at
                record.updated_at = _now()
            merged = session.merge(record)
            session.commit()
            session.refresh(merged)
            return merged

    def register_worker(
        self, registration: AgentRegistration, *, vendor: str, task_queue: str
    ) -> AgentRecord:
        """Record what a worker knows of an agent it serves on ``task_queue``.

        Only the worker's fields change (description, queue, workflow type, input form,
        worker problem): a price, demo or identifier set through the API stays, and a
        remote agent a worker now serves becomes native.
        """
        fresh = record_of(registration.model_copy(update={"task_queue": task_queue}), vendor=vendor)
        existing = self.get(registration.name)
        if existing is None:
            return self.upsert(fresh)
        worker = fresh.model_dump(include=WORKER_FIELDS)
        kept = existing.model_dump() | worker | {"remote_url": None, "remote_headers": None}
        return self.upsert(AgentRecord(**kept))

    def get(self, name: str) -> AgentRecord | None:
        """The agent called ``name``, if registered."""
        with Session(engine_for(self.url)) as session:
            return session.get(AgentRecord, name)

    def all(self, vendor: str | None = None) -> list[AgentRecord]:
        """Every registered agent (of ``vendor``, if given), by name."""
        query = select(AgentRecord).order_by(AgentRecord.name)  # type: ignore[arg-type]
        if vendor is not None:
            query = query.where(AgentRecord.vendor == vendor)
        with Session(engine_for(self.url)) as session:
            return list(session.exec(query))


def describe(cls: type[AgentWorkflow], *, task_queue: str, vendor: str) -> AgentRecord:
    """The registry record of an agent class served on ``task_queue`` by ``vendor``.

    What the platform records for a worker's registration; the platform's own processes
    (``durasumi dev``, tests) write it directly, vendors' workers through the API.
    """
    return record_of(registration_for(cls, task_queue), vendor=vendor)


def record_of(registration: AgentRegistration, *, vendor: str) -> AgentRecord:
    """A new registry record from what a worker registers."""
    return AgentRecord(**registration.model_dump(), vendor=vendor)
