"""A stable key per activity step, for side effects that must happen once.

Temporal runs activities *at least once*: a worker that dies after a side effect but before
Temporal records the completion (or a server that is down past the heartbeat timeout) makes
the step run again. A side effect is made safe by keying it: the key is the same for every
attempt of one step and different for every other step, so the receiving system (a payment
API's ``Idempotency-Key``, a database's unique constraint, an object store's key) does the
effect once and answers the repeat with the first result.
"""

from __future__ import annotations

from temporalio import activity

__all__ = ["idempotency_key"]


def idempotency_key(scope: str = "") -> str:
    """The calling activity step's idempotency key: the same on every attempt of the step.

    Built from the workflow id, the run id and the activity id: a retry (another attempt,
    another worker, after a server restart) has the same three, a later step of the same
    job another activity id, a continued-as-new run another run id. Call it inside an
    activity; ``scope`` tells several effects of one step apart.

    Args:
        scope: A name for one of several side effects of the same step.

    Example:
        >>> from temporalio.testing import ActivityEnvironment
        >>> def send_invoice() -> str:  # an activity's body
        ...     return idempotency_key("email")
        >>> ActivityEnvironment().run(send_invoice)  # workflow "test", run "test-run", step "test"
        'test/test-run/test/email'
        >>> async def charge(order):  # doctest: +SKIP
        ...     return await payments.charge(order.amount, idempotency_key=idempotency_key())
    """
    info = activity.info()
    key = f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"
    return f"{key}/{scope}" if scope else key
