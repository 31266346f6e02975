"""Wiring for remote MIP-003 agents and hiring: platform activities reading the registry."""

from __future__ import annotations

from durasumi.activities.hire import HireActivities
from durasumi.activities.remote import RemoteActivities, RemoteSettings
from durasumi.workers.settings import Settings
from durasumi.workflows.hire_models import HireTarget
from durasumi.workflows.remote_models import RemoteTarget

__all__ = ["hire_activities", "remote_activities", "remote_settings"]


def remote_settings(settings: Settings) -> RemoteSettings:
    """The remote activities' settings from durasumi's."""
    return RemoteSettings(
        poll_max_seconds=settings.remote_poll_max_seconds,
        unreachable_seconds=settings.remote_unreachable_seconds,
        job_timeout_minutes=settings.remote_job_timeout_minutes,
    )


def remote_activities(db_url: str, settings: RemoteSettings | None = None) -> RemoteActivities:
    """Remote-agent activities that read each agent's URL and headers from the registry.

    Needs the ``platform`` extra (the app database), as the platform worker does.
    """
    from durasumi.db.registry import Registry

    registry = Registry(db_url)

    def target(agent: str) -> RemoteTarget | None:
        record = registry.get(agent)
        if record is None or not record.remote_url:
            return None
        return RemoteTarget(url=record.remote_url, headers=record.remote_headers or {})

    return RemoteActivities(target, settings)


def hire_activities(db_url: str) -> HireActivities:
    """The platform side of ``hire()``, reading agents from the registry at ``db_url``."""
    from durasumi.db.registry import Registry

    registry = Registry(db_url)

    def target(agent: str) -> HireTarget | None:
        record = registry.get(agent)
        if record is None:
            return None
        return HireTarget(
            agent=record.name,
            task_queue=record.task_queue,
            vendor=record.vendor,
            price_lovelace=record.price_lovelace,
            input_form=record.input_form,
        )

    return HireActivities(target)
