"""The agent registry in the app database (SQLModel; SQLite by default, PostgreSQL in production).

Vendor workers register the agents they serve; the CLI and the API look agents up here to
know their task queue and input schema before a job starts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, create_engine, select

__all__ = ["AgentRecord", "Registry"]


def _now() -> datetime:
    return datetime.now(UTC)


class AgentRecord(SQLModel, table=True):
    """One agent the platform can start jobs for."""

    __tablename__ = "agents"

    name: str = Field(primary_key=True, max_length=63)
    description: str = ""
    vendor: str = "unknown"
    task_queue: str
    input_form: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    workflow_type: str
    registered_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)


class Registry:
    """Agents by name, in the database at ``url``.

    Example:
        >>> reg = Registry("sqlite://")
        >>> reg.upsert(AgentRecord(name="echo", task_queue="q", workflow_type="echo")).name
        'echo'
    """

    def __init__(self, url: str) -> None:
        self.url = url

    @cached_property
    def engine(self) -> Engine:
        """The engine, created (with its tables) on first use."""
        if self.url.startswith("sqlite:///"):
            Path(self.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(self.url)
        SQLModel.metadata.create_all(engine)
        return engine

    def upsert(self, record: AgentRecord) -> AgentRecord:
        """Insert or update an agent, keeping its first registration time."""
        with Session(self.engine) as session:
            existing = session.get(AgentRecord, record.name)
            if existing is not None:
                record.registered_at = existing.registered_at
                record.updated_at = _now()
            merged = session.merge(record)
            session.commit()
            session.refresh(merged)
            return merged

    def get(self, name: str) -> AgentRecord | None:
        """The agent called ``name``, if registered."""
        with Session(self.engine) as session:
            return session.get(AgentRecord, name)

    def all(self) -> list[AgentRecord]:
        """Every registered agent, by name."""
        with Session(self.engine) as session:
            return list(session.exec(select(AgentRecord).order_by(AgentRecord.name)))  # type: ignore[arg-type]
