"""Import guards for the optional parts of the distribution.

A vendor installs ``durasumi`` (the SDK and ``durasumi worker``); the platform's parts (the
HTTP API, the app database, the Cardano escrow, the dev stack) need ``durasumi[platform]``.
"""

from __future__ import annotations

import importlib.util

__all__ = ["MissingExtra", "require_platform"]

# One module per group of the platform extra's packages, checked without importing it.
_PLATFORM = ("fastapi", "sqlmodel", "alembic", "pycardano", "uvicorn")


class MissingExtra(ImportError):
    """A part of durasumi was used whose optional dependencies are not installed."""


def require_platform(what: str) -> None:
    """Raise :class:`MissingExtra` naming the extra unless the platform's packages are there.

    Example:
        >>> require_platform("the HTTP API")  # with durasumi[platform] installed: nothing
    """
    missing = [name for name in _PLATFORM if not _importable(name)]
    if missing:
        raise MissingExtra(
            f"{what} needs the platform extra ({', '.join(missing)} missing): "
            "pip install 'durasumi[platform]'"
        )


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: blocked in sys.modules (None)
        return False
