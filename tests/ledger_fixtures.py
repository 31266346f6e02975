"""What the escrow tests on the offline ledger share: its clock (the ``dev`` chain fixture,
one per test, is in conftest.py so that tests take it by name)."""

from __future__ import annotations

import time

from durasumi.activities.escrow.offline.ledger import Ledger


def now_ms() -> int:
    """Now on the ledger's clock: the start of the current slot, in POSIX milliseconds."""
    return Ledger.posix_of(Ledger.slot_of(int(time.time() * 1000)))
