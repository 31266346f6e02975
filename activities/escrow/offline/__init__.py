"""An offline Cardano ledger behind pycardano's ChainContext (tests and ``durasumi dev``)."""

from durasumi.activities.escrow.offline.ledger import Ledger, LedgerError, LedgerView, TxRecord

__all__ = ["Ledger", "LedgerError", "LedgerView", "TxRecord"]
