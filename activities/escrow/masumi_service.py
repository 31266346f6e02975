"""The Masumi payment-service escrow backend: the seller's steps through its REST API.

Follows masumi-network/masumi-payment-service 0.28.0 (commit aca38338, July 2026):
``src/routes/api/payments`` (POST /payment, POST /payment/resolve-blockchain-identifier,
POST /payment/submit-result, POST /payment/authorize-refund), their zod schemas
(``schemas.ts``), the ``token`` header of ``payment-core/auth-middleware.ts`` and the
``{"status": "success", "data": ...}`` / ``{"status": "error", "error": {"message"}}``
envelope of ``payment-core/endpoint-factory.ts``. The service holds the seller wallet and
queues every chain action: a request moves ``NextAction`` to ``...Requested``, then
``...Initiated`` with a pending transaction, and the on-chain state changes once its
tx-sync sees the transaction confirmed. The seller's withdraw is the service's own
(``AUTO_WITHDRAW_PAYMENTS``, after unlockTime + 10 min): there is no endpoint for it.

Idempotency, step by step:

- POST /payment is not idempotent by itself: the identifier it signs carries a random
  seller nonce, so a second POST makes a second request (409 with the existing payment
  comes back only for an identical identifier). Each request is tagged (``metadata``) with
  the job, and the newest payments are searched for it before creating one.
- A seller step is requested only when the service is waiting for one
  (``WaitingForExternalAction``); a step already requested or in flight is waited for,
  never requested again, so a worker that crashed after its request cannot make a second
  submission. The port reads the state first as well.
- :meth:`MasumiServiceBackend.perform` returns once the step is confirmed, or raises
  ``EscrowNotYet`` (retryable) while it is still pending, so the activity completes when
  the chain shows the step.

The buyer's steps (lock, refund request, refund withdrawal) are the buyer's own wallet's:
``holds_buyer_wallet`` is False and the saga only watches for them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from durasumi.activities.escrow.errors import (
    ESCROW_CONFLICT,
    ESCROW_NOT_YET,
    ESCROW_REJECTED,
    ESCROW_UNAVAILABLE,
    ESCROW_UNSUPPORTED,
    EscrowError,
)
from durasumi.activities.escrow.port import step_done
from durasumi.workflows.escrow_models import (
    Amount,
    EscrowAction,
    EscrowState,
    EscrowStatus,
    EscrowTimes,
    EscrowTx,
    PaymentRequest,
    PaymentRequestInput,
    tokens_of,
)

__all__ = ["MasumiServiceBackend", "parse_agent_identifiers", "parse_source_indexes"]

log = logging.getLogger(__name__)

# onChainState -> the port's states. WithdrawAuthorized / RefundAuthorized exist only for
# the V2 contract (buyer-authorized withdraw, seller-authorized refund): they are read as
# the V1 state that allows the same next step.
STATE_OF = {
    None: EscrowState.NOT_LOCKED,
    "FundsLocked": EscrowState.FUNDS_LOCKED,
    "FundsOrDatumInvalid": EscrowState.FUNDS_OR_DATUM_INVALID,
    "ResultSubmitted": EscrowState.RESULT_SUBMITTED,
    "WithdrawAuthorized": EscrowState.RESULT_SUBMITTED,
    "RefundRequested": EscrowState.REFUND_REQUESTED,
    "RefundAuthorized": EscrowState.REFUND_REQUESTED,
    "Disputed": EscrowState.DISPUTED,
    "Withdrawn": EscrowState.WITHDRAWN,
    "RefundWithdrawn": EscrowState.REFUND_WITHDRAWN,
    "DisputedWithdrawn": EscrowState.DISPUTED_WITHDRAWN,
}

# A confirmed transaction's (previousOnChainState, newOnChainState) names its redeemer.
_S = EscrowState
ACTION_OF_TRANSITION: dict[tuple[EscrowState, EscrowState], EscrowAction] = {
    (_S.NOT_LOCKED, _S.FUNDS_LOCKED): EscrowAction.LOCK,
    (_S.NOT_LOCKED, _S.FUNDS_OR_DATUM_INVALID): EscrowAction.LOCK,
    (_S.FUNDS_LOCKED, _S.RESULT_SUBMITTED): EscrowAction.SUBMIT_RESULT,
    (_S.RESULT_SUBMITTED, _S.RESULT_SUBMITTED): EscrowAction.SUBMIT_RESULT,
    (_S.REFUND_REQUESTED, _S.DISPUTED): EscrowAction.SUBMIT_RESULT,
    (_S.FUNDS_LOCKED, _S.REFUND_REQUESTED): EscrowAction.REQUEST_REFUND,
    (_S.RESULT_SUBMITTED, _S.DISPUTED): EscrowAction.REQUEST_REFUND,
    (_S.REFUND_REQUESTED, _S.FUNDS_LOCKED): EscrowAction.CANCEL_REFUND_REQUEST,
    (_S.DISPUTED, _S.RESULT_SUBMITTED): EscrowAction.CANCEL_REFUND_REQUEST,
    (_S.DISPUTED, _S.REFUND_REQUESTED): EscrowAction.AUTHORIZE_REFUND,
}
CLOSING_ACTION = {
    _S.WITHDRAWN: EscrowAction.WITHDRAW,
    _S.REFUND_WITHDRAWN: EscrowAction.WITHDRAW_REFUND,
    _S.DISPUTED_WITHDRAWN: EscrowAction.WITHDRAW_DISPUTED,
}

# NextAction values while a seller step is on its way (requested, or its tx in flight).
IN_FLIGHT = {
    EscrowAction.SUBMIT_RESULT: ("SubmitResultRequested", "SubmitResultInitiated"),
    EscrowAction.AUTHORIZE_REFUND: ("AuthorizeRefundRequested", "AuthorizeRefundInitiated"),
    EscrowAction.WITHDRAW: ("WithdrawRequested", "WithdrawInitiated"),
}
ENDPOINT = {
    EscrowAction.SUBMIT_RESULT: "/payment/submit-result",
    EscrowAction.AUTHORIZE_REFUND: "/payment/authorize-refund",
}
WAITING = "WaitingForExternalAction"
NEWEST_PAYMENTS = 100  # the most one page of GET /payment returns
# What the webhook follows: the seller's payments' on-chain changes and their errors.
WEBHOOK_EVENTS = ("PAYMENT_ON_CHAIN_STATUS_CHANGED", "PAYMENT_ON_ERROR")


class _Exists(Exception):
    """409 with the existing object (POST /payment for an identical identifier)."""

    def __init__(self, obj: dict[str, Any]) -> None:
        super().__init__("payment exists")
        self.obj = obj


class MasumiServiceBackend:
    """Escrow steps through a Masumi payment service (seller side).

    Args:
        url: the service's API base, ``https://host/api/v1``.
        token: an API key with pay permission (sent as the ``token`` header).
        agent_identifiers: agent name -> Masumi agent identifier (``"*"``: any agent), for
            agents whose registry record names none (the request's own comes first).
        network: the payment source's network.
        dynamic_pricing: send the job's price (agents registered with dynamic pricing);
            fixed-price agents are charged their registered price.
        payment_source_type: the contract family, ``Web3CardanoV1`` or ``Web3CardanoV2``.
        source_indexes: V2 only (required there, refused for V1): agent name -> the index
            of the agent's advertised Cardano payment source (``supported_payment_sources``
            in its registry metadata) that prices and settles its jobs; ``"*"``: any agent.
        timeout: seconds per HTTP request.
        confirm_wait: seconds :meth:`perform` waits for a requested step to confirm before
            it answers "not yet" (the activity retries later; the request is not repeated).
        poll_interval: seconds between reads while waiting.
        transport: an httpx transport (tests).

    Example:
        >>> backend = MasumiServiceBackend(
        ...     "https://pay.example/api/v1", "key", {"*": "0c2912d4..."}
        ... )  # doctest: +SKIP
        >>> EscrowActivities(backend)  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str,
        token: str,
        agent_identifiers: Mapping[str, str],
        *,
        network: Literal["Preprod", "Mainnet"] = "Preprod",
        dynamic_pricing: bool = False,
        payment_source_type: Literal["Web3CardanoV1", "Web3CardanoV2"] = "Web3CardanoV1",
        source_indexes: Mapping[str, int] | None = None,
        timeout: float = 30.0,
        confirm_wait: float = 10.0,
        poll_interval: float = 1.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.agent_identifiers = dict(agent_identifiers)
        self.network = network
        self.dynamic_pricing = dynamic_pricing
        self.payment_source_type = payment_source_type
        self.source_indexes = dict(source_indexes or {})
        if (payment_source_type == "Web3CardanoV2") != bool(self.source_indexes):
            raise ValueError(
                "a supported payment source index is required for Web3CardanoV2 and "
                "forbidden for Web3CardanoV1"
            )
        self.confirm_wait = confirm_wait
        self.poll_interval = poll_interval
        self._http = httpx.Client(
            base_url=self.url, headers={"token": token}, timeout=timeout, transport=transport
        )

    @property
    def holds_buyer_wallet(self) -> bool:
        """Never: the buyer's steps are the buyer's wallet's."""
        return False

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def register_webhook(self, url: str, auth_token: str) -> str:
        """Have the service post payment status changes and errors to ``url``; its id.

        EXTENDED format: the service sends ``Authorization: Bearer <auth_token>``. The
        service refuses a URL registered twice (409): then the existing registration is
        found and kept.
        """
        body = {
            "url": url,
            "authToken": auth_token,
            "format": "EXTENDED",
            "Events": list(WEBHOOK_EVENTS),
            "name": "durasumi",
        }
        try:
            return str(self._call("POST", "/webhooks", body).get("id") or "")
        except EscrowError as err:
            if err.kind != ESCROW_CONFLICT:
                raise
        for hook in self._call("GET", "/webhooks", params={"limit": 50}).get("Webhooks") or []:
            if isinstance(hook, dict) and hook.get("url") == url:
                log.info("webhook %s already registered (%s)", url, hook.get("id"))
                return str(hook.get("id") or "")
        return ""

    # -- requests ----------------------------------------------------------------------

    def create_payment_request(self, req: PaymentRequestInput) -> PaymentRequest:
        """The job's payment request: found again if an earlier attempt made it."""
        identifier = (
            req.agent_identifier
            or self.agent_identifiers.get(req.agent)
            or self.agent_identifiers.get("*")
        )
        if not identifier:
            raise EscrowError(
                ESCROW_UNSUPPORTED,
                f"no Masumi agent identifier is configured for agent {req.agent!r}",
                retryable=False,
            )
        tag = _metadata(req)
        payment = self._find(tag, req.input_hash)
        if payment is None:
            body: dict[str, Any] = {
                "agentIdentifier": identifier,
                "network": self.network,
                "inputHash": req.input_hash,
                "identifierFromPurchaser": req.identifier_from_purchaser,
                "payByTime": _iso(req.times.pay_by_time),
                "submitResultTime": _iso(req.times.submit_result_time),
                "unlockTime": _iso(req.times.unlock_time),
                "externalDisputeUnlockTime": _iso(req.times.external_dispute_unlock_time),
                "metadata": tag,
            }
            body["paymentSourceType"] = self.payment_source_type
            if self.payment_source_type == "Web3CardanoV2":
                index = self.source_indexes.get(req.agent, self.source_indexes.get("*"))
                if index is None:
                    raise EscrowError(
                        ESCROW_UNSUPPORTED,
                        f"no V2 payment source index is configured for agent {req.agent!r}",
                        retryable=False,
                    )
                body["supportedPaymentSourceIndex"] = index
            if self.dynamic_pricing:
                ada = (
                    [{"amount": str(req.price_lovelace), "unit": ""}] if req.price_lovelace else []
                )
                body["RequestedFunds"] = ada + [
                    {"amount": str(a.amount), "unit": a.unit} for a in req.amounts
                ]
            try:
                payment = self._call("POST", "/payment", body)
            except _Exists as found:
                payment = found.obj
            log.info("payment request %s... created for job %s", _bid(payment)[:16], req.job_id)
        return self._request_of(payment, req, identifier)

    def _find(self, tag: str, input_hash: str) -> dict[str, Any] | None:
        """An earlier request for this job among the newest payments (a retried create)."""
        data = self._call(
            "GET",
            "/payment",
            # Without a filter the service lists V1 payments only.
            params={
                "network": self.network,
                "limit": NEWEST_PAYMENTS,
                "filterPaymentSourceType": self.payment_source_type,
            },
        )
        for p in data.get("Payments") or []:
            if p.get("metadata") == tag and p.get("inputHash") == input_hash:
                return dict(p)
        return None

    def _request_of(
        self, p: dict[str, Any], req: PaymentRequestInput, agent_identifier: str
    ) -> PaymentRequest:
        price = _lovelace(p.get("RequestedFunds"))
        if price != req.price_lovelace:
            log.warning(
                "job %s: the payment service asks %s lovelace, the job's price is %s",
                req.job_id,
                price,
                req.price_lovelace,
            )
        wallet = p.get("SmartContractWallet") or {}
        source = p.get("PaymentSource") or {}
        try:
            times = EscrowTimes(
                pay_by_time=int(p.get("payByTime") or req.times.pay_by_time),
                submit_result_time=int(p["submitResultTime"]),
                unlock_time=int(p["unlockTime"]),
                external_dispute_unlock_time=int(p["externalDisputeUnlockTime"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise _malformed(f"payment times: {err}") from err
        return PaymentRequest(
            blockchain_identifier=_bid(p),
            job_id=req.job_id,
            input_hash=req.input_hash,
            price_lovelace=price or req.price_lovelace,
            collateral_return_lovelace=int(p.get("collateralReturnLovelace") or 0),
            times=times,
            seller_vkey=str(wallet.get("walletVkey") or ""),
            seller_address=str(wallet.get("walletAddress") or ""),
            script_address=str(source.get("smartContractAddress") or ""),
            agent_identifier=str(p.get("agentIdentifier") or agent_identifier),
            amounts=_tokens(p.get("RequestedFunds")) if p.get("RequestedFunds") else req.amounts,
        )

    # -- reading -----------------------------------------------------------------------

    def read(self, request: PaymentRequest) -> EscrowStatus:
        """The escrow as the payment service last saw it on chain."""
        return _status(self._resolve(request.blockchain_identifier))

    def _resolve(self, bid: str) -> dict[str, Any]:
        return self._call(
            "POST",
            "/payment/resolve-blockchain-identifier",
            {"blockchainIdentifier": bid, "network": self.network, "includeHistory": "true"},
        )

    # -- acting ------------------------------------------------------------------------

    def perform(
        self, action: EscrowAction, request: PaymentRequest, at_ms: int, result_hash: str | None
    ) -> str:
        """Request a seller step (unless it is already on its way) and wait for it.

        Returns the confirmed transaction's hash; raises ``EscrowNotYet`` while the
        service has not confirmed it within ``confirm_wait`` seconds.
        """
        bid = request.blockchain_identifier
        if action not in IN_FLIGHT:
            raise EscrowError(
                ESCROW_UNSUPPORTED,
                f"{action.value} is the buyer's (or the admins') step: the payment service "
                "performs only the seller's",
                retryable=False,
            )
        if action is EscrowAction.SUBMIT_RESULT and not _is_hash(result_hash):
            raise EscrowError(ESCROW_CONFLICT, "no 64-hex result hash to submit", retryable=False)
        payment = self._resolve(bid)
        _raise_on_error(payment)
        if not self._on_its_way(action, payment, result_hash):
            if _next(payment) != WAITING:
                raise EscrowError(
                    ESCROW_NOT_YET,
                    f"the payment service is busy with {_next(payment)}",
                    retryable=True,
                )
            if action is not EscrowAction.WITHDRAW:
                payment = self._request_step(action, bid, result_hash)
        return self._wait(action, bid, payment, result_hash)

    def _on_its_way(self, action: EscrowAction, p: dict[str, Any], result_hash: str | None) -> bool:
        if _next(p) not in IN_FLIGHT[action]:
            return False
        pending_hash = (p.get("NextAction") or {}).get("resultHash")
        if action is EscrowAction.SUBMIT_RESULT and pending_hash and pending_hash != result_hash:
            raise EscrowError(
                ESCROW_CONFLICT,
                f"another result ({pending_hash[:16]}...) is being submitted",
                retryable=False,
            )
        return True

    def _request_step(
        self, action: EscrowAction, bid: str, result_hash: str | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"blockchainIdentifier": bid, "network": self.network}
        if action is EscrowAction.SUBMIT_RESULT:
            body["submitResultHash"] = result_hash
        try:
            payment = self._call("POST", ENDPOINT[action], body)
            log.info("payment %s...: %s requested", bid[:16], action.value)
            return payment
        except EscrowError as err:
            if err.kind != ESCROW_CONFLICT:
                raise
            # Not allowed now (404 "invalid state" or 409): ours after all, or a real conflict.
            payment = self._resolve(bid)
            if self._on_its_way(action, payment, result_hash):
                return payment
            raise

    def _wait(
        self, action: EscrowAction, bid: str, payment: dict[str, Any], result_hash: str | None
    ) -> str:
        deadline = time.monotonic() + self.confirm_wait
        while True:
            _raise_on_error(payment)
            status = _status(payment)
            tx_id = status.tx_of(action)
            if step_done(action, status, result_hash) and tx_id is not None:
                return tx_id
            if time.monotonic() >= deadline:
                break
            time.sleep(self.poll_interval)
            payment = self._resolve(bid)
        if action is EscrowAction.WITHDRAW and _next(payment) == WAITING:
            detail = "the payment service withdraws by itself after unlockTime"
        else:
            detail = f"{action.value} is {_next(payment)}, not yet confirmed on chain"
        raise EscrowError(ESCROW_NOT_YET, detail, retryable=True)

    # -- HTTP --------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One API call; the ``data`` of a success, else an EscrowError of the right kind."""
        try:
            response = self._http.request(method, path, json=body, params=params)
        except httpx.TransportError as err:
            raise EscrowError(
                ESCROW_UNAVAILABLE,
                f"payment service unreachable ({type(err).__name__}: {err})",
                retryable=True,
            ) from err
        try:
            payload = response.json()
        except ValueError:
            payload = None
        message = _message(payload) or response.reason_phrase or "no message"
        code = response.status_code
        where = f"{method} {path}"
        if code == 200 and isinstance(payload, dict) and payload.get("status") == "success":
            data = payload.get("data")
            if not isinstance(data, dict):
                raise _malformed(f"{where}: no data object")
            return data
        if code == 409 and isinstance(payload, dict) and isinstance(payload.get("object"), dict):
            raise _Exists(payload["object"])
        if code == 429 or code >= 500:
            raise EscrowError(ESCROW_UNAVAILABLE, f"{where}: {code} {message}", retryable=True)
        # 404 from submit-result / authorize-refund: "not found or in invalid state".
        if code == 409 or (code == 404 and path in ENDPOINT.values()):
            raise EscrowError(ESCROW_CONFLICT, f"{where}: {code} {message}", retryable=False)
        if 400 <= code < 500:
            raise EscrowError(ESCROW_REJECTED, f"{where}: {code} {message}", retryable=False)
        raise _malformed(f"{where}: unexpected {code} {message}")


def parse_source_indexes(text: str) -> dict[str, int]:
    """``"N"`` (every agent) or ``"agent:N,...,*:N"``, N from 0 to 24 (the service's range).

    Example:
        >>> parse_source_indexes("0, echo:2")
        {'*': 0, 'echo': 2}
    """
    found: dict[str, int] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        agent, sep, number = item.rpartition(":")
        try:
            index = int(number)
        except ValueError:
            index = -1
        if not 0 <= index <= 24:
            raise ValueError(f"{item!r}: a payment source index is a number from 0 to 24")
        found[agent.strip() if sep else "*"] = index
    return found


def parse_agent_identifiers(text: str) -> dict[str, str]:
    """``"ID"`` (every agent) or ``"agent:ID,...,*:ID"``; ValueError naming a bad entry.

    Example:
        >>> parse_agent_identifiers("echo:" + "ab" * 30)["echo"][:4]
        'abab'
    """
    found: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        agent, sep, identifier = item.rpartition(":")
        name = agent.strip() if sep else "*"
        identifier = identifier.strip()
        if not (57 <= len(identifier) <= 250) or not _is_hex(identifier):
            raise ValueError(
                f"{item!r}: an agent identifier is a policy id plus asset name, hex, "
                "57 to 250 characters"
            )
        found[name or "*"] = identifier.lower()
    if not found:
        raise ValueError("no agent identifier given")
    return found


def _status(p: dict[str, Any]) -> EscrowStatus:
    state_name = p.get("onChainState")
    if state_name not in STATE_OF:
        raise _malformed(f"unknown onChainState {state_name!r}")
    state = STATE_OF[state_name]
    current = p.get("CurrentTransaction")
    confirmed = [
        t
        for t in [*(p.get("TransactionHistory") or []), *([current] if current else [])]
        if isinstance(t, dict) and t.get("status") == "Confirmed" and t.get("txHash")
    ]
    confirmed.sort(key=lambda t: str(t.get("createdAt") or ""))
    txs: list[EscrowTx] = []
    seen: set[str] = set()
    for t in confirmed:
        action = _action_of(t)
        if action is None or t["txHash"] in seen:
            continue
        seen.add(t["txHash"])
        block_time = t.get("blockTime")
        at_ms = int(block_time) * 1000 if isinstance(block_time, int | float) else None
        txs.append(EscrowTx(action=action, tx_id=str(t["txHash"]), at_ms=at_ms))
    confirmations = 0
    if current and current.get("status") == "Confirmed":
        confirmations = max(int(current.get("confirmations") or 0), 1)
    nxt = p.get("NextAction") or {}
    detail = f"next: {nxt.get('requestedAction')}"
    if nxt.get("errorType") or nxt.get("errorNote"):
        detail += f" ({nxt.get('errorType')}: {nxt.get('errorNote')})"
    return EscrowStatus(
        blockchain_identifier=_bid(p),
        state=state,
        result_hash=str(p.get("resultHash") or ""),
        amount_lovelace=_lovelace(p.get("RequestedFunds")),
        transactions=txs,
        confirmations=confirmations,
        detail=detail,
    )


def _action_of(t: dict[str, Any]) -> EscrowAction | None:
    new = STATE_OF.get(t.get("newOnChainState"))
    if new is None:
        return None
    if new in CLOSING_ACTION:
        return CLOSING_ACTION[new]
    old = STATE_OF.get(t.get("previousOnChainState"), EscrowState.NOT_LOCKED)
    return ACTION_OF_TRANSITION.get((old, new))


def _raise_on_error(p: dict[str, Any]) -> None:
    """The service gave up on a step (its transaction failed): a person must look."""
    nxt = p.get("NextAction") or {}
    if nxt.get("requestedAction") == "WaitingForManualAction" or nxt.get("errorType"):
        raise EscrowError(
            ESCROW_REJECTED,
            f"the payment service needs manual action: {nxt.get('errorType')}: "
            f"{nxt.get('errorNote')}",
            retryable=False,
        )


def _next(p: dict[str, Any]) -> str:
    return str((p.get("NextAction") or {}).get("requestedAction") or "")


def _bid(p: dict[str, Any]) -> str:
    bid = p.get("blockchainIdentifier")
    if not isinstance(bid, str) or not bid:
        raise _malformed("no blockchainIdentifier")
    return bid


def _lovelace(funds: object) -> int:
    if not isinstance(funds, list):
        return 0
    return sum(
        int(f.get("amount") or 0)
        for f in funds
        if isinstance(f, dict) and f.get("unit") in ("", "lovelace")
    )


def _tokens(funds: object) -> list[Amount]:
    """The native-asset amounts of the service's RequestedFunds (lovelace left out)."""
    if not isinstance(funds, list):
        return []
    try:
        found = [
            Amount(unit=str(f.get("unit")), amount=int(f.get("amount") or 0))
            for f in funds
            if isinstance(f, dict)
            and f.get("unit") not in ("", "lovelace", None)
            and int(f.get("amount") or 0) > 0
        ]
    except ValueError as err:  # pydantic's ValidationError is one
        raise _malformed(f"RequestedFunds: {err}") from err
    return tokens_of(found)


def _metadata(req: PaymentRequestInput) -> str:
    return f"durasumi job {req.job_id} purchaser {req.identifier_from_purchaser}"


def _iso(ms: int) -> str:
    """POSIX ms as the ISO 8601 UTC string the service's date fields take."""
    instant = datetime.fromtimestamp(ms // 1000, UTC).replace(microsecond=ms % 1000 * 1000)
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _message(payload: object) -> str:
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return ""


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return True


def _is_hash(text: str | None) -> bool:
    return text is not None and len(text) == 64 and _is_hex(text)


def _malformed(what: str) -> EscrowError:
    return EscrowError(
        ESCROW_UNAVAILABLE, f"unexpected answer from the payment service: {what}", retryable=True
    )
