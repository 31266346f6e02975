"""durasumi: durable, paid, interactive AI agents on Temporal."""
