"""The Cardano escrow port: activities, backends and the offline ledger."""
