"""The roles of the platform's API keys (part of the HTTP API's contract)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Role"]


class Role(StrEnum):
    """What a key may do.

    Example:
        >>> Role("vendor") is Role.VENDOR
        True
    """

    BUYER = "buyer"  # starts jobs, sees and answers only its own
    VENDOR = "vendor"  # registers its agents, sees their jobs
    OPERATOR = "operator"  # everything
