"""Wiring the escrow port: the backend the settings name, built once per worker process."""

from __future__ import annotations

from activities.escrow.port import EscrowActivities
from workers.settings import Settings

__all__ = ["escrow_activities"]


def escrow_activities(settings: Settings) -> EscrowActivities | None:
    """The escrow activities for the platform worker, or None when escrow is off.

    ``offline``: the dev ledger and wallets under ``HOME/escrow`` (created and funded on
    first use); the platform holds the dev buyer's wallet, so paid dev jobs lock by themselves.
    """
    if settings.escrow_backend == "off":
        return None
    from activities.escrow.dev import dev_escrow  # pycardano and uplc only where needed

    return EscrowActivities(dev_escrow(settings.home / "escrow").backend(platform_buyer=True))
