"""Custom search attributes: they make ``durasumi list`` a visibility query.

The dev server registers them at start (``--search-attribute NAME=Keyword``); a production
cluster registers them once with ``temporal operator search-attribute create``.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

__all__ = ["AGENT", "ALL", "BUYER", "STATUS", "VENDOR", "dev_server_args"]

AGENT = SearchAttributeKey.for_keyword("DurasumiAgent")
STATUS = SearchAttributeKey.for_keyword("DurasumiStatus")
BUYER = SearchAttributeKey.for_keyword("DurasumiBuyer")
VENDOR = SearchAttributeKey.for_keyword("DurasumiVendor")

ALL = (AGENT, STATUS, BUYER, VENDOR)


def dev_server_args() -> list[str]:
    """``temporal server start-dev`` arguments that register every attribute."""
    args: list[str] = []
    for key in ALL:
        args += ["--search-attribute", f"{key.name}=Keyword"]
    return args
