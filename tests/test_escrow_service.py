"""The Masumi payment-service escrow backend against a payment service on loopback.

Each backend call, the error mapping, the idempotency of every step (a repeated or
crashed step never makes a second request), and whole paid jobs through the saga on the
real dev server with per-workflow time skipping.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from durasumi.activities.escrow.errors import (
    ESCROW_CONFLICT,
    ESCROW_NOT_YET,
    ESCROW_REJECTED,
    ESCROW_UNAVAILABLE,
    ESCROW_UNSUPPORTED,
    EscrowError,
)
from durasumi.activities.escrow.masumi_service import MasumiServiceBackend, parse_agent_identifiers
from durasumi.activities.escrow.port import EscrowActivities
from durasumi.api.routes.masumi_webhook import WEBHOOK_PATH
from durasumi.client import jobs
from durasumi.client.jobs import job_result
from durasumi.workers.escrow import EscrowConfigError, escrow_activities
from durasumi.workers.settings import Settings
from durasumi.workflows.escrow_models import (
    EscrowAction,
    EscrowState,
    EscrowStep,
    EscrowTerms,
    PaymentRequest,
    PaymentRequestInput,
)
from durasumi.workflows.models import JobStatus
from tests.api_fixtures import Api, serve_api
from tests.conftest import ROOT, Stack, wait_until
from tests.masumi_service import (
    MINUTE,
    SCRIPT_ADDRESS,
    SCRIPT_ADDRESS_V2,
    SELLER_VKEY,
    MasumiService,
)
from tests.test_escrow_saga import PRICE, Paid, actions, env, paid_stack  # noqa: F401  (env: fixture)

AGENT_ID = "0c2912d4088fbc6a0c725dbe5233735821109bd741acfa9f13902302" + "6d61737465"
RESULT = "ab" * 32


@pytest.fixture
def service() -> Iterator[MasumiService]:
    s = MasumiService(confirm_delay=0.05, price_lovelace=PRICE).start()
    yield s
    s.stop()


def backend_for(service: MasumiService, **options: object) -> MasumiServiceBackend:
    settings: dict[str, object] = {"confirm_wait": 3.0, "poll_interval": 0.02, "timeout": 5.0}
    settings.update(options)
    return MasumiServiceBackend(service.url, service.token, {"*": AGENT_ID}, **settings)  # type: ignore[arg-type]


def request_input(job_id: str = "job-1") -> PaymentRequestInput:
    return PaymentRequestInput(
        job_id=job_id,
        agent="paid-echo",
        identifier_from_purchaser="a1b2c3d4e5f60718",
        input_hash="cd" * 32,
        price_lovelace=PRICE,
        times=EscrowTerms(price_lovelace=PRICE).times(int(time.time() * 1000)),
    )


def step(request: PaymentRequest, result_hash: str | None = None) -> EscrowStep:
    return EscrowStep(request=request, at_ms=int(time.time() * 1000), result_hash=result_hash)


def failure(call: object, *args: object) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        call(*args)  # type: ignore[operator]
    return info.value


def locked(service: MasumiService, backend: MasumiServiceBackend) -> PaymentRequest:
    request = backend.create_payment_request(request_input())
    service.lock(request.blockchain_identifier)
    deadline = time.monotonic() + 5
    while service.state(request.blockchain_identifier) != "FundsLocked":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return request


# -- each call ------------------------------------------------------------------------


def test_create_payment_request_follows_the_service(service: MasumiService) -> None:
    backend = backend_for(service)
    req = request_input()
    request = backend.create_payment_request(req)
    [bid] = service.bids()
    assert request.blockchain_identifier == bid
    assert request.times == req.times  # sent as ISO dates, read back as POSIX ms
    assert request.price_lovelace == PRICE
    assert (request.seller_vkey, request.script_address) == (SELLER_VKEY, SCRIPT_ADDRESS)
    [post] = service.posts("/payment")
    assert post.body["agentIdentifier"] == AGENT_ID
    assert post.body["network"] == "Preprod"
    assert post.body["identifierFromPurchaser"] == req.identifier_from_purchaser
    assert "RequestedFunds" not in post.body  # fixed pricing: the registered price
    assert not backend.holds_buyer_wallet


def test_create_is_idempotent_even_when_the_answer_is_lost(service: MasumiService) -> None:
    backend = backend_for(service)
    service.fail("drop_after", "/payment")  # created, then the connection drops
    with pytest.raises(EscrowError) as lost:
        backend.create_payment_request(request_input())
    assert (lost.value.kind, lost.value.retryable) == (ESCROW_UNAVAILABLE, True)
    first = backend.create_payment_request(request_input())  # the activity's retry
    again = backend.create_payment_request(request_input())
    assert first.blockchain_identifier == again.blockchain_identifier
    assert len(service.bids()) == 1 and len(service.posts("/payment")) == 1
    other = backend.create_payment_request(request_input("job-2"))
    assert other.blockchain_identifier != first.blockchain_identifier


def test_read_follows_the_chain(service: MasumiService) -> None:
    backend = backend_for(service)
    request = backend.create_payment_request(request_input())
    assert backend.read(request).state is EscrowState.NOT_LOCKED
    service.lock(request.blockchain_identifier)
    status = backend.read(request)
    assert status.state is EscrowState.NOT_LOCKED  # not confirmed yet
    locked_request = request
    deadline = time.monotonic() + 5
    while status.state is EscrowState.NOT_LOCKED:
        assert time.monotonic() < deadline
        status = backend.read(locked_request)
    assert status.state is EscrowState.FUNDS_LOCKED
    assert status.confirmations >= 1 and status.amount_lovelace == PRICE
    assert [t.action for t in status.transactions] == [EscrowAction.LOCK]


def test_short_payment_reads_as_invalid(service: MasumiService) -> None:
    backend = backend_for(service)
    request = backend.create_payment_request(request_input())
    service.lock(request.blockchain_identifier, amount=PRICE // 2)
    escrow = EscrowActivities(backend)
    for _ in range(200):
        status = escrow.read_state(step(request))
        if status.state is not EscrowState.NOT_LOCKED:
            break
        time.sleep(0.01)
    assert status.state is EscrowState.FUNDS_OR_DATUM_INVALID


def test_submit_result_is_requested_once_and_confirmed(service: MasumiService) -> None:
    backend = backend_for(service)
    request = locked(service, backend)
    escrow = EscrowActivities(backend)
    status = escrow.submit_result(step(request, RESULT))
    assert status.state is EscrowState.RESULT_SUBMITTED and status.result_hash == RESULT
    assert [t.action for t in status.transactions] == [
        EscrowAction.LOCK,
        EscrowAction.SUBMIT_RESULT,
    ]
    again = escrow.submit_result(step(request, RESULT))  # a retried activity
    assert again.already_done
    [post] = service.posts("/payment/submit-result")
    assert post.body == {
        "blockchainIdentifier": request.blockchain_identifier,
        "network": "Preprod",
        "submitResultHash": RESULT,
    }
    assert service.actions(request.blockchain_identifier) == [
        "WaitingForExternalAction",
        "WaitingForExternalAction",
        "SubmitResultRequested",
        "SubmitResultInitiated",
        "WaitingForExternalAction",
    ]


def test_a_pending_submission_is_waited_for_not_repeated(service: MasumiService) -> None:
    """A worker sent submit-result and died: the retry finds it pending and waits."""
    slow = MasumiService(confirm_delay=1.0, price_lovelace=PRICE).start()
    try:
        backend = backend_for(slow, confirm_wait=0.2)
        request = locked(slow, backend)
        httpx.post(
            f"{slow.url}/payment/submit-result",
            headers={"token": slow.token},
            json={
                "blockchainIdentifier": request.blockchain_identifier,
                "network": "Preprod",
                "submitResultHash": RESULT,
            },
        ).raise_for_status()
        escrow = EscrowActivities(backend)
        err = failure(escrow.submit_result, step(request, RESULT))
        assert (err.type, err.non_retryable) == (ESCROW_NOT_YET, False)
        assert "not yet confirmed" in err.message
        patient = EscrowActivities(backend_for(slow, confirm_wait=5.0))
        status = patient.submit_result(step(request, RESULT))
        assert status.state is EscrowState.RESULT_SUBMITTED
        assert len(slow.posts("/payment/submit-result")) == 1
    finally:
        slow.stop()


def test_another_pending_result_is_a_conflict(service: MasumiService) -> None:
    slow = MasumiService(confirm_delay=0.6, price_lovelace=PRICE).start()
    try:
        backend = backend_for(slow, confirm_wait=0.1)
        request = locked(slow, backend)
        with pytest.raises(EscrowError):
            backend.perform(EscrowAction.SUBMIT_RESULT, request, 0, "ef" * 32)
        with pytest.raises(EscrowError) as err:
            backend.perform(EscrowAction.SUBMIT_RESULT, request, 0, RESULT)
        assert (err.value.kind, err.value.retryable) == (ESCROW_CONFLICT, False)
        assert len(slow.posts("/payment/submit-result")) == 1
    finally:
        slow.stop()


def test_submit_result_before_the_lock_is_a_conflict(service: MasumiService) -> None:
    backend = backend_for(service)
    request = backend.create_payment_request(request_input())
    with pytest.raises(EscrowError) as err:  # the backend alone: the service says 404
        backend.perform(EscrowAction.SUBMIT_RESULT, request, 0, RESULT)
    assert (err.value.kind, err.value.retryable) == (ESCROW_CONFLICT, False)
    assert "invalid state" in str(err.value)
    through_port = failure(EscrowActivities(backend).submit_result, step(request, RESULT))
    assert (through_port.type, through_port.non_retryable) == (ESCROW_CONFLICT, True)
    with pytest.raises(EscrowError) as bad:
        backend.perform(EscrowAction.SUBMIT_RESULT, request, 0, "not-a-hash")
    assert bad.value.kind == ESCROW_CONFLICT


def test_a_late_submission_fails_for_a_person_to_look_at(service: MasumiService) -> None:
    backend = backend_for(service)
    request = locked(service, backend)
    service.advance(request.times.submit_result_time - int(time.time() * 1000) + MINUTE)
    err = failure(EscrowActivities(backend).submit_result, step(request, RESULT))
    assert (err.type, err.non_retryable) == (ESCROW_REJECTED, True)
    assert "submitResultTime has passed" in err.message
    status = backend.read(request)
    assert status.state is EscrowState.FUNDS_LOCKED and "WaitingForManualAction" in status.detail


def test_withdraw_is_the_services_own_after_unlock(service: MasumiService) -> None:
    backend = backend_for(service, confirm_wait=0.2)
    request = locked(service, backend)
    escrow = EscrowActivities(backend)
    escrow.submit_result(step(request, RESULT))
    early = failure(escrow.withdraw, step(request))
    assert (early.type, early.non_retryable) == (ESCROW_NOT_YET, False)
    assert "withdraws by itself" in early.message
    service.advance(request.times.unlock_time - int(time.time() * 1000) + 11 * MINUTE)
    status = EscrowActivities(backend_for(service)).withdraw(step(request))
    assert status.state is EscrowState.WITHDRAWN
    assert status.tx_of(EscrowAction.WITHDRAW) is not None
    assert "WithdrawRequested" in service.actions(request.blockchain_identifier)


def test_authorize_refund_after_a_dispute(service: MasumiService) -> None:
    backend = backend_for(service)
    request = locked(service, backend)
    escrow = EscrowActivities(backend)
    escrow.submit_result(step(request, RESULT))
    service.request_refund(request.blockchain_identifier)  # the buyer disputes
    for _ in range(500):
        if backend.read(request).state is EscrowState.DISPUTED:
            break
        time.sleep(0.01)
    status = escrow.authorize_refund(step(request))
    assert status.state is EscrowState.REFUND_REQUESTED and status.result_hash == ""
    assert escrow.authorize_refund(step(request)).already_done
    assert len(service.posts("/payment/authorize-refund")) == 1
    assert [t.action for t in status.transactions] == [
        EscrowAction.LOCK,
        EscrowAction.SUBMIT_RESULT,
        EscrowAction.REQUEST_REFUND,
        EscrowAction.AUTHORIZE_REFUND,
    ]


def test_buyer_steps_are_the_buyers(service: MasumiService) -> None:
    backend = backend_for(service)
    request = backend.create_payment_request(request_input())
    err = failure(EscrowActivities(backend).lock_funds, step(request))
    assert (err.type, err.non_retryable) == (ESCROW_UNSUPPORTED, True)
    for action in (EscrowAction.REQUEST_REFUND, EscrowAction.WITHDRAW_REFUND):
        with pytest.raises(EscrowError) as info:
            backend.perform(action, request, 0, None)
        assert info.value.kind == ESCROW_UNSUPPORTED


# -- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["500", "429", "drop"])
def test_service_trouble_is_retryable(service: MasumiService, kind: str) -> None:
    backend = backend_for(service)
    request = backend.create_payment_request(request_input())
    service.fail(kind, "/payment/resolve-blockchain-identifier")  # type: ignore[arg-type]
    err = failure(EscrowActivities(backend).read_state, step(request))
    assert (err.type, err.non_retryable) == (ESCROW_UNAVAILABLE, False)
    assert backend.read(request).state is EscrowState.NOT_LOCKED  # the retry works


def test_unreachable_service_is_retryable() -> None:
    backend = MasumiServiceBackend("http://127.0.0.1:9/api/v1", "t", {"*": AGENT_ID}, timeout=2)
    with pytest.raises(EscrowError) as err:
        backend.create_payment_request(request_input())
    assert (err.value.kind, err.value.retryable) == (ESCROW_UNAVAILABLE, True)


def test_client_errors_are_final_with_the_services_message(service: MasumiService) -> None:
    wrong = MasumiServiceBackend(service.url, "wrong-token", {"*": AGENT_ID})
    err = failure(EscrowActivities(wrong).create_payment_request, request_input())
    assert (err.type, err.non_retryable) == (ESCROW_REJECTED, True)
    assert "401" in err.message and "invalid authentication token" in err.message
    bad = request_input().model_copy(update={"identifier_from_purchaser": "not hex!"})
    err = failure(EscrowActivities(backend_for(service)).create_payment_request, bad)
    assert (err.type, err.non_retryable) == (ESCROW_REJECTED, True)
    assert "Purchaser identifier is not a valid hex string" in err.message
    dynamic = backend_for(service, dynamic_pricing=True)  # a fixed-price agent
    with pytest.raises(EscrowError, match="RequestedFunds must be null"):
        dynamic.create_payment_request(request_input("job-3"))
    [*_, sent] = service.posts("/payment")
    assert sent.body["RequestedFunds"] == [{"amount": str(PRICE), "unit": ""}]


def test_an_agent_without_identifier_is_refused(service: MasumiService) -> None:
    backend = MasumiServiceBackend(service.url, service.token, {"other": AGENT_ID})
    with pytest.raises(EscrowError, match="no Masumi agent identifier") as err:
        backend.create_payment_request(request_input())
    assert (err.value.kind, err.value.retryable) == (ESCROW_UNSUPPORTED, False)
    assert service.posts("/payment") == []


def test_agent_identifiers_setting() -> None:
    assert parse_agent_identifiers(AGENT_ID) == {"*": AGENT_ID}
    assert parse_agent_identifiers(f"echo:{AGENT_ID}, *:{AGENT_ID.upper()}") == {
        "echo": AGENT_ID,
        "*": AGENT_ID,
    }
    with pytest.raises(ValueError, match="57 to 250"):
        parse_agent_identifiers("echo:abc")


# -- whole paid jobs through the saga ---------------------------------------------------


@pytest.fixture
async def paid_service(
    env: WorkflowEnvironment,  # noqa: F811
    tmp_path: Path,
) -> AsyncIterator[tuple[Paid, MasumiService]]:
    service = MasumiService(confirm_delay=0.1, price_lovelace=PRICE).start()
    backend = backend_for(service, confirm_wait=5.0, poll_interval=0.05)
    stack, workers = await paid_stack(env, tmp_path, backend)
    tasks = [asyncio.create_task(w.run()) for w in workers]
    yield stack, service
    await asyncio.gather(*(w.shutdown() for w in workers))
    await asyncio.gather(*tasks, return_exceptions=True)
    backend.close()
    service.stop()


async def _paid_job_with_result_on_chain(
    paid: Paid, service: MasumiService
) -> tuple[jobs.StartedJob, str]:
    """Start a paid job, lock as the buyer, and wait until the result is on chain."""
    with paid.env.with_time_skipping_disabled():  # type: ignore[attr-defined]
        started = await paid.start("ok", platform_buyer=False, poll_seconds=1)
    await wait_until(lambda: len(service.bids()) == 1)
    [bid] = service.bids()
    assert service.payments[bid].metadata is not None
    assert started.job_id in str(service.payments[bid].metadata)
    service.lock(bid)  # the buyer's wallet pays
    await wait_until(lambda: service.state(bid) == "ResultSubmitted", timeout=60)
    return started, bid


async def test_paid_job_submits_the_result_and_the_service_withdraws(
    paid_service: tuple[Paid, MasumiService],
) -> None:
    paid, service = paid_service
    started, bid = await _paid_job_with_result_on_chain(paid, service)
    view = await paid.view(started.job_id)
    assert view.escrow is not None
    # past unlockTime (+10 min, the service's margin) on the service's clock; the
    # workflow's own clock is fast-forwarded to its unlockTime
    service.advance(view.escrow.times.unlock_time - int(time.time() * 1000) + 11 * MINUTE)
    await paid.env.fast_forward(started.handle, None)
    result = await asyncio.wait_for(job_result(started.handle), timeout=60)
    assert result.status is JobStatus.COMPLETED
    view = await paid.view(started.job_id)
    assert view.escrow is not None and view.escrow.state is EscrowState.WITHDRAWN
    assert view.escrow.blockchain_identifier == bid
    assert actions(view) == [EscrowAction.LOCK, EscrowAction.SUBMIT_RESULT, EscrowAction.WITHDRAW]
    assert service.state(bid) == "Withdrawn"
    assert service.payments[bid].result_hash == result.detail["result_hash"]
    assert len(service.posts("/payment")) == 1
    assert len(service.posts("/payment/submit-result")) == 1


async def test_disputed_paid_job_is_refunded(paid_service: tuple[Paid, MasumiService]) -> None:
    paid, service = paid_service
    started, bid = await _paid_job_with_result_on_chain(paid, service)
    service.request_refund(bid)  # the buyer disputes the result
    await wait_until(lambda: service.state(bid) == "RefundRequested", timeout=60)  # authorized
    view = await paid.view(started.job_id)
    assert view.escrow is not None
    service.advance(view.escrow.times.submit_result_time - int(time.time() * 1000) + MINUTE)
    service.withdraw_refund(bid)  # the buyer takes the refund
    result = await asyncio.wait_for(job_result(started.handle), timeout=60)
    assert result.status is JobStatus.COMPLETED
    view = await paid.view(started.job_id)
    assert view.escrow is not None and view.escrow.state is EscrowState.REFUND_WITHDRAWN
    assert actions(view) == [
        EscrowAction.LOCK,
        EscrowAction.SUBMIT_RESULT,
        EscrowAction.REQUEST_REFUND,
        EscrowAction.AUTHORIZE_REFUND,
        EscrowAction.WITHDRAW_REFUND,
    ]
    assert len(service.posts("/payment/authorize-refund")) == 1
    assert len(service.posts("/payment/submit-result")) == 1
    events = await jobs.job_events(paid.client, started.job_id)
    assert any("authorizing the refund" in e.message for e in events)


# -- settings and wiring -----------------------------------------------------------------


def test_the_masumi_backend_from_settings(service: MasumiService, tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        escrow_backend="masumi",
        masumi_url=service.url,
        masumi_token=SecretStr(service.token),
        masumi_agent_identifier=f"paid-echo:{AGENT_ID}",
    )
    escrow = escrow_activities(settings)
    assert escrow is not None and isinstance(escrow.backend, MasumiServiceBackend)
    assert escrow.backend.network == "Preprod" and escrow.backend.agent_identifiers == {
        "paid-echo": AGENT_ID
    }
    request = escrow.create_payment_request(request_input())
    assert request.blockchain_identifier in service.bids()


def test_missing_masumi_settings_are_named(tmp_path: Path) -> None:
    full: dict[str, object] = {
        "home": tmp_path,
        "escrow_backend": "masumi",
        "masumi_url": "https://pay.example/api/v1",
        "masumi_token": SecretStr("t"),
        "masumi_agent_identifier": AGENT_ID,
    }
    for name in ("masumi_url", "masumi_token"):
        with pytest.raises(EscrowConfigError, match=f"DURASUMI_{name.upper()} is required"):
            escrow_activities(Settings(**{**full, name: None}))  # type: ignore[arg-type]
    with pytest.raises(EscrowConfigError, match="DURASUMI_MASUMI_URL must be an http"):
        escrow_activities(Settings(**{**full, "masumi_url": "pay.example"}))  # type: ignore[arg-type]
    with pytest.raises(EscrowConfigError, match="DURASUMI_MASUMI_AGENT_IDENTIFIER: 'x:abc'"):
        escrow_activities(Settings(**{**full, "masumi_agent_identifier": "x:abc"}))  # type: ignore[arg-type]
    mainnet = escrow_activities(Settings(**{**full, "cardano_network": "mainnet"}))  # type: ignore[arg-type]
    assert mainnet is not None and isinstance(mainnet.backend, MasumiServiceBackend)
    assert mainnet.backend.network == "Mainnet"


async def test_worker_names_the_missing_setting(
    env: WorkflowEnvironment,  # noqa: F811
    tmp_path: Path,
) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DURASUMI_")}
    environ |= {
        "DURASUMI_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "DURASUMI_HOME": str(tmp_path),
        "DURASUMI_ESCROW_BACKEND": "masumi",
        "PYTHONPATH": str(ROOT),
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "durasumi.cli.main", "worker", "--platform",
        cwd=tmp_path, env=environ,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2, err.decode()
    [line] = err.decode().strip().splitlines()
    assert line == "error: DURASUMI_MASUMI_URL is required with DURASUMI_ESCROW_BACKEND=masumi"


# -- webhooks ----------------------------------------------------------------------------

HOOK_TOKEN = "hook-token-0123456789"


@dataclass
class Hooked:
    """A paid stack whose payment service posts its webhooks to the platform's API."""

    paid: Paid
    service: MasumiService
    api: Api

    async def locked_job(self, amount: int | None = None) -> tuple[jobs.StartedJob, str, float]:
        """Start a paid job (a long poll: only a webhook wakes it early) and lock its funds."""
        with self.paid.env.with_time_skipping_disabled():  # type: ignore[attr-defined]
            started = await self.paid.start("ok", platform_buyer=False, poll_seconds=3600)
        await wait_until(lambda: len(self.service.bids()) == 1)
        [bid] = self.service.bids()
        for _ in range(100):  # until the saga read NotLocked and sleeps until its next poll
            history = await started.handle.fetch_history()
            if any(e.HasField("timer_started_event_attributes") for e in history.events):
                break
            await asyncio.sleep(0.05)
        locked_at = time.monotonic()
        self.service.lock(bid, amount=amount)
        return started, bid, locked_at

    async def notices(self, job_id: str) -> list[str]:
        events = await jobs.job_events(self.paid.client, job_id)
        return [e.message for e in events if e.message.startswith("payment service:")]


@pytest.fixture
async def hooked(
    env: WorkflowEnvironment,  # noqa: F811
    tmp_path: Path,
) -> AsyncIterator[Hooked]:
    service = MasumiService(confirm_delay=0.05, price_lovelace=PRICE).start()
    backend = backend_for(service, confirm_wait=5.0, poll_interval=0.05)
    paid, workers = await paid_stack(env, tmp_path, backend)
    tasks = [asyncio.create_task(w.run()) for w in workers]
    prefix = paid.queue.removesuffix("-platform")
    stack = Stack(
        paid.client, env.client.service_client.config.target_host, tmp_path, paid.queue, prefix
    )
    db = f"sqlite:///{tmp_path / 'api.db'}"
    async for api in serve_api(stack, db, tmp_path, masumi_webhook_token=SecretStr(HOOK_TOKEN)):
        await asyncio.to_thread(backend.register_webhook, api.url + WEBHOOK_PATH, HOOK_TOKEN)
        yield Hooked(paid, service, api)
    await asyncio.gather(*(w.shutdown() for w in workers))
    await asyncio.gather(*tasks, return_exceptions=True)
    backend.close()
    service.stop()


def test_the_webhook_is_registered_once(service: MasumiService) -> None:
    backend = backend_for(service)
    first = backend.register_webhook("https://platform.example/escrow/masumi/webhook", HOOK_TOKEN)
    again = backend.register_webhook("https://platform.example/escrow/masumi/webhook", HOOK_TOKEN)
    assert first and again == first  # the service's 409 finds the registration kept
    [hook] = service.webhooks
    assert hook["format"] == "EXTENDED" and hook["authToken"] == HOOK_TOKEN
    assert hook["Events"] == ["PAYMENT_ON_CHAIN_STATUS_CHANGED", "PAYMENT_ON_ERROR"]


async def test_a_webhook_wakes_the_job_before_its_poll(hooked: Hooked) -> None:
    started, bid, locked_at = await hooked.locked_job()
    # The saga's first poll comes 5 s after the request; the webhook brings it at once,
    # and the agent runs and its result is on chain before that poll.
    await wait_until(lambda: hooked.service.state(bid) == "ResultSubmitted", timeout=30)
    assert time.monotonic() - locked_at < 4.0
    assert ("PAYMENT_ON_CHAIN_STATUS_CHANGED", "FundsLocked", 200) in hooked.service.deliveries
    assert "payment service: PAYMENT_ON_CHAIN_STATUS_CHANGED (FundsLocked)" in (
        await hooked.notices(started.job_id)
    )
    history = await started.handle.fetch_history()
    assert any(e.HasField("timer_canceled_event_attributes") for e in history.events)


async def test_a_webhook_delivered_twice_changes_nothing(hooked: Hooked) -> None:
    hooked.service.webhook_mode = "twice"
    started, bid, _ = await hooked.locked_job()
    await wait_until(lambda: hooked.service.state(bid) == "ResultSubmitted", timeout=30)
    await wait_until(lambda: len(hooked.service.deliveries) >= 4)  # FundsLocked, Result: x2
    notices = await hooked.notices(started.job_id)
    assert notices.count("payment service: PAYMENT_ON_CHAIN_STATUS_CHANGED (FundsLocked)") == 1
    assert len(hooked.service.posts("/payment/submit-result")) == 1


async def test_without_webhooks_polling_still_sees_the_lock(hooked: Hooked) -> None:
    hooked.service.webhook_mode = "off"
    started, bid, locked_at = await hooked.locked_job()
    await wait_until(lambda: hooked.service.state(bid) == "ResultSubmitted", timeout=30)
    assert time.monotonic() - locked_at > 3.0  # at the saga's first poll, 5 s in
    assert await hooked.notices(started.job_id) == []


async def test_funds_or_datum_invalid_ends_the_job(hooked: Hooked) -> None:
    started, bid, _ = await hooked.locked_job(amount=PRICE - 1)
    result = await asyncio.wait_for(job_result(started.handle), timeout=30)
    assert result.status is JobStatus.FAILED
    assert result.error is not None and "FundsOrDatumInvalid" in result.error
    assert "the buyer withdraws them after submitResultTime" in result.error
    assert hooked.service.state(bid) == "FundsOrDatumInvalid"
    assert hooked.service.posts("/payment/submit-result") == []


async def test_the_webhook_route_checks_its_deliveries(hooked: Hooked) -> None:
    url = WEBHOOK_PATH
    delivery = {
        "event_type": "PAYMENT_ON_CHAIN_STATUS_CHANGED",
        "data": {"blockchainIdentifier": "x", "onChainState": "FundsLocked", "metadata": None},
    }
    async with httpx.AsyncClient(base_url=hooked.api.url) as http:
        assert (await http.post(url, json=delivery)).status_code == 401
        wrong = {"Authorization": "Bearer not-the-token"}
        assert (await http.post(url, json=delivery, headers=wrong)).status_code == 401
        auth = {"Authorization": f"Bearer {HOOK_TOKEN}"}
        ignored = await http.post(url, json=delivery, headers=auth)
        assert ignored.status_code == 200 and ignored.json()["status"] == "ignored"
        gone = {
            **delivery,
            "data": {**delivery["data"], "metadata": "durasumi job j-1 purchaser ab"},
        }
        answer = await http.post(url, json=gone, headers=auth)
        assert answer.status_code == 200 and "not running" in answer.json()["reason"]
        other = {**delivery, "event_type": "PURCHASE_ON_ERROR"}
        assert (await http.post(url, json=other, headers=auth)).json()["status"] == "ignored"
        assert (await http.post(url, content=b"{", headers=auth)).status_code == 400


# -- V2 payment sources ------------------------------------------------------------------


@pytest.fixture
def service_v2() -> Iterator[MasumiService]:
    s = MasumiService(
        confirm_delay=0.05, price_lovelace=PRICE, source_type="Web3CardanoV2", advertised_sources=2
    ).start()
    yield s
    s.stop()


def test_a_v2_payment_source(service_v2: MasumiService) -> None:
    service = service_v2
    backend = backend_for(
        service, payment_source_type="Web3CardanoV2", source_indexes={"*": 0, "paid-echo": 1}
    )
    service.fail("drop_after", "/payment")  # created, then the answer is lost
    with pytest.raises(EscrowError):
        backend.create_payment_request(request_input())
    request = backend.create_payment_request(request_input())  # found again (V2 filter)
    assert len(service.bids()) == 1 and len(service.posts("/payment")) == 1
    [post] = service.posts("/payment")
    assert post.body["paymentSourceType"] == "Web3CardanoV2"
    assert post.body["supportedPaymentSourceIndex"] == 1
    assert request.script_address == SCRIPT_ADDRESS_V2
    service.lock(request.blockchain_identifier)
    escrow = EscrowActivities(backend)
    wait = time.monotonic() + 5
    while escrow.read_state(step(request)).state is not EscrowState.FUNDS_LOCKED:
        assert time.monotonic() < wait
        time.sleep(0.02)
    done = escrow.submit_result(step(request, RESULT))
    assert done.state is EscrowState.RESULT_SUBMITTED and done.result_hash == RESULT


def test_the_contract_family_must_match_the_agents(service_v2: MasumiService) -> None:
    v1 = backend_for(service_v2)  # a V1 platform, a V2 agent
    err = failure(EscrowActivities(v1).create_payment_request, request_input())
    assert err.type == ESCROW_REJECTED and "does not match the agent registry source" in str(err)
    v2 = backend_for(service_v2, payment_source_type="Web3CardanoV2", source_indexes={"*": 5})
    err = failure(EscrowActivities(v2).create_payment_request, request_input())
    assert err.type == ESCROW_REJECTED and "5 is not advertised" in str(err)
    with pytest.raises(ValueError, match="required for Web3CardanoV2"):
        backend_for(service_v2, payment_source_type="Web3CardanoV2")
    with pytest.raises(ValueError, match="forbidden for Web3CardanoV1"):
        backend_for(service_v2, source_indexes={"*": 0})


def test_v2_settings(tmp_path: Path) -> None:
    base: dict[str, object] = {
        "home": tmp_path,
        "escrow_backend": "masumi",
        "masumi_url": "https://pay.example/api/v1",
        "masumi_token": SecretStr("t"),
        "masumi_payment_source_type": "Web3CardanoV2",
    }
    with pytest.raises(EscrowConfigError, match="DURASUMI_MASUMI_PAYMENT_SOURCE_INDEX"):
        escrow_activities(Settings(**base))  # type: ignore[arg-type]
    with pytest.raises(EscrowConfigError, match="from 0 to 24"):
        escrow_activities(Settings(**{**base, "masumi_payment_source_index": "echo:99"}))  # type: ignore[arg-type]
    escrow = escrow_activities(Settings(**{**base, "masumi_payment_source_index": "1, echo:0"}))  # type: ignore[arg-type]
    assert escrow is not None and isinstance(escrow.backend, MasumiServiceBackend)
    assert escrow.backend.source_indexes == {"*": 1, "echo": 0}
    assert escrow.backend.agent_identifiers == {}  # agents' own registry records name theirs
