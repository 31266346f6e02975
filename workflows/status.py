"""A job's status values: their own module, free of pydantic and the Temporal SDK.

The CLI's quick reads (client/job_reads.py) and its filters use them without loading the
workflow models; ``workflows.models`` re-exports :class:`JobStatus`.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["JobStatus"]


class JobStatus(StrEnum):
    """MIP-003 job status values, plus ``cancelled``.

    Example:
        >>> JobStatus("failed").terminal, JobStatus.RUNNING.terminal
        (True, False)
    """

    AWAITING_PAYMENT = "awaiting_payment"
    AWAITING_INPUT = "awaiting_input"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """Whether the job can no longer change."""
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)
