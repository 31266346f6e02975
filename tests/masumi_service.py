"""A Masumi payment service (seller side) on loopback, for the masumi escrow backend's tests.

It follows masumi-payment-service 0.28.0 where the backend touches it: the ``token``
header (401 otherwise), the success/error envelope, POST /payment with its time rules (a
new signed identifier per call, so a second POST is a second request), GET /payment,
POST /payment/resolve-blockchain-identifier, POST /payment/submit-result (only in
FundsLocked / RefundRequested / Disputed while waiting for an external action, else 404
"invalid state"), POST /payment/authorize-refund (Disputed / RefundRequested). Requested
steps go through NextAction ...Requested -> ...Initiated (a pending transaction) -> the
new on-chain state after ``confirm_delay`` seconds, as the real service's batch and
tx-sync jobs do; a submission that would miss submitResultTime fails on "chain" and
leaves the payment waiting for manual action. The seller's withdraw happens by itself
after unlockTime + 10 min (AUTO_WITHDRAW_PAYMENTS).

Webhooks (``docs/webhook-events.md``, ``routes/api/webhooks``, ``services/webhooks``):
POST /webhooks registers a URL for event types (EXTENDED format: an ``authToken`` of 10-200
characters is required; the same URL twice is a 409), GET /webhooks lists them. Every
on-chain state change queues PAYMENT_ON_CHAIN_STATUS_CHANGED, a seller transaction that fails
PAYMENT_ON_ERROR; a delivery thread posts ``{event_type, service_name, timestamp,
webhook_id, data}`` (``data`` as GET /payment shows the payment) with ``Authorization:
Bearer <authToken>`` and retries a failed delivery (the real service: every 10 s).

The test plays the buyer and the clock through the admin hooks (``lock``,
``request_refund``, ``withdraw_refund``, ``advance``) and injects trouble with ``fail``
(a 500, a 429, a connection dropped before or after the request is applied); ``webhook_mode``
makes deliveries go twice (``"twice"``) or never (``"off"``).

Written on the standard library's threaded HTTP server: the backend is a sync client on a
worker thread, and a test must be able to cut a connection after the server has acted.
"""

from __future__ import annotations

import hashlib
import json
import queue
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlparse

__all__ = ["Failure", "MasumiService", "Seen"]

MINUTE = 60_000
HOUR = 60 * MINUTE
SELLER_VKEY = "5f" * 28
SELLER_ADDRESS = "addr_test1vp0h7kcrrqp8d2u4vtecl3avjfpwsxjqa3sklqmk9xvl3ts4ta2se"
SCRIPT_ADDRESS = "addr_test1wz7j4kmg2cs7yf92uat3ed4a3u97kr7axxr4avaz0lhwdsqukgwfm"
SCRIPT_ADDRESS_V2 = "addr_test1wrm4l7k9qgw678d5gyd3lrcxj3ew6vhmdqnfh5jx5nfwrnsfeprsw"


@dataclass
class Failure:
    """Trouble for the next matching request."""

    kind: Literal["500", "429", "drop", "drop_after"]
    path: str | None = None  # None: any path


@dataclass
class Seen:
    """A request the service got (after the token check)."""

    method: str
    path: str
    body: dict[str, Any]


@dataclass
class _Payment:
    id: str
    blockchain_identifier: str
    agent_identifier: str
    input_hash: str
    purchaser: str
    times: tuple[int, int, int, int]
    price: int
    metadata: str | None
    created: str
    source_type: str = "Web3CardanoV1"
    source_index: int | None = None
    on_chain: str | None = None
    result_hash: str = ""
    next_action: dict[str, Any] = field(default_factory=lambda: _next("WaitingForExternalAction"))
    current: dict[str, Any] | None = None
    tx_history: list[dict[str, Any]] = field(default_factory=list)
    action_history: list[dict[str, Any]] = field(default_factory=list)


class MasumiService:
    """The payment service on 127.0.0.1, started with :meth:`start`.

    Example:
        >>> service = MasumiService().start()  # doctest: +SKIP
        >>> backend = MasumiServiceBackend(service.url, service.token, {"*": AGENT})  # doctest: +SKIP
    """

    def __init__(
        self,
        token: str = "test-token",
        *,
        network: str = "Preprod",
        confirm_delay: float = 0.2,
        price_lovelace: int = 20_000_000,
        source_type: str = "Web3CardanoV1",
        advertised_sources: int = 1,
    ) -> None:
        self.token = token
        self.network = network
        self.confirm_delay = confirm_delay
        self.price_lovelace = price_lovelace
        # The agent's registry source (its contract family) and, for V2, how many payment
        # sources its metadata advertises (supported_payment_sources).
        self.source_type = source_type
        self.advertised_sources = advertised_sources
        self.payments: dict[str, _Payment] = {}
        self.seen: list[Seen] = []
        self.failures: deque[Failure] = deque()
        self.offset_ms = 0
        self._lock = threading.RLock()
        self._timers: list[threading.Timer] = []
        self._server: ThreadingHTTPServer | None = None
        self._auto = threading.Event()
        self.webhooks: list[dict[str, Any]] = []
        self.webhook_mode: Literal["on", "twice", "off"] = "on"
        self.deliveries: list[tuple[str, str, int]] = []  # (event, state, HTTP status)
        self._outbox: queue.Queue[tuple[dict[str, Any], dict[str, Any]] | None] = queue.Queue()

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> MasumiService:
        """Serve on a free loopback port (and run the service's periodic jobs)."""
        service = self

        class Handler(_Handler):
            owner = service

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        threading.Thread(target=self._periodic, daemon=True).start()
        threading.Thread(target=self._deliver, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._auto.set()
        self._outbox.put(None)
        for t in self._timers:
            t.cancel()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        """The API base, ``http://127.0.0.1:PORT/api/v1``."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/v1"

    # -- admin hooks: the buyer, the clock, trouble ------------------------------------

    def now_ms(self) -> int:
        """The service's clock (real time plus :meth:`advance`)."""
        return int(time.time() * 1000) + self.offset_ms

    def advance(self, ms: int) -> None:
        """Move the service's (and its chain's) clock forward."""
        with self._lock:
            self.offset_ms += ms

    def fail(
        self,
        kind: Literal["500", "429", "drop", "drop_after"],
        path: str | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` requests (to ``path``) fail this way."""
        with self._lock:
            self.failures.extend(Failure(kind, path) for _ in range(times))

    def bids(self) -> list[str]:
        """Every payment's blockchain identifier, oldest first."""
        with self._lock:
            return list(self.payments)

    def lock(self, bid: str, *, amount: int | None = None) -> None:
        """The buyer locks the funds (confirmed after the delay); FundsOrDatumInvalid if short."""
        with self._lock:
            p = self.payments[bid]
            assert p.on_chain is None, p.on_chain
            assert self.now_ms() < p.times[0], "payByTime passed"
            paid = self.price_lovelace if amount is None else amount
            new = "FundsLocked" if paid >= p.price else "FundsOrDatumInvalid"
        self._later(lambda: self._confirm(p, _tx(), new))

    def request_refund(self, bid: str) -> None:
        """The buyer asks for a refund (a dispute once a result is on chain)."""
        with self._lock:
            p = self.payments[bid]
            assert p.on_chain in ("FundsLocked", "ResultSubmitted", "Disputed"), p.on_chain
            assert self.now_ms() < p.times[2], "unlockTime passed"
            new = "Disputed" if p.result_hash else "RefundRequested"
        self._later(lambda: self._confirm(p, _tx(), new))

    def withdraw_refund(self, bid: str) -> None:
        """The buyer takes the refund (after submitResultTime, no result on chain)."""
        with self._lock:
            p = self.payments[bid]
            assert p.on_chain in ("FundsLocked", "RefundRequested"), p.on_chain
            assert not p.result_hash
            assert self.now_ms() >= p.times[1], "before submitResultTime"
        self._later(lambda: self._confirm(p, _tx(), "RefundWithdrawn"))

    def posts(self, path: str) -> list[Seen]:
        """The requests to ``path`` the service got."""
        with self._lock:
            return [s for s in self.seen if s.path == path and s.method == "POST"]

    def state(self, bid: str) -> str | None:
        """A payment's on-chain state."""
        with self._lock:
            return self.payments[bid].on_chain

    def actions(self, bid: str) -> list[str]:
        """Every NextAction the payment went through, oldest first."""
        with self._lock:
            p = self.payments[bid]
            return [a["requestedAction"] for a in [*p.action_history, p.next_action]]

    # -- the service's own jobs --------------------------------------------------------

    def _later(self, fn: Any, delay: float | None = None) -> None:
        t = threading.Timer(self.confirm_delay if delay is None else delay, fn)
        t.daemon = True
        self._timers.append(t)
        t.start()

    def _periodic(self) -> None:
        """Auto-withdraw: ResultSubmitted, waiting, unlockTime at least 10 min ago."""
        while not self._auto.wait(0.05):
            with self._lock:
                due = [
                    p
                    for p in self.payments.values()
                    if p.on_chain == "ResultSubmitted"
                    and p.next_action["requestedAction"] == "WaitingForExternalAction"
                    and p.times[2] <= self.now_ms() - 10 * MINUTE
                ]
                for p in due:
                    self._set_next(p, _next("WithdrawRequested"))
            for p in due:
                self._run_seller_tx(p, "WithdrawInitiated", "Withdrawn")

    def _set_next(self, p: _Payment, action: dict[str, Any]) -> None:
        p.action_history.append(p.next_action)
        p.next_action = action

    def _run_seller_tx(
        self, p: _Payment, initiated: str, new: str, result_hash: str | None = None
    ) -> None:
        """The batch job builds and submits the tx; tx-sync confirms it."""

        def initiate() -> None:
            with self._lock:
                if new in ("ResultSubmitted", "Disputed") and self.now_ms() >= p.times[1]:
                    self._set_next(
                        p,
                        {
                            **_next("WaitingForManualAction"),
                            "errorType": "Unknown",
                            "errorNote": "transaction failed: submitResultTime has passed",
                        },
                    )
                    self._trigger("PAYMENT_ON_ERROR", p)
                    return
                tx_hash = _tx()
                if p.current is not None:
                    p.tx_history.append(p.current)
                p.current = _transaction(tx_hash, "Pending")
                self._set_next(p, {**_next(initiated), "resultHash": result_hash})
            self._later(lambda: self._confirm(p, tx_hash, new))

        self._later(initiate, self.confirm_delay / 2)

    def _confirm(self, p: _Payment, tx_hash: str, new: str) -> None:
        """tx-sync: the transaction is in a block; the on-chain state moves."""
        with self._lock:
            confirming = p.current is not None and p.current["txHash"] == tx_hash
            if p.current is not None and not confirming:
                p.tx_history.append(p.current)
            t = _transaction(tx_hash, "Confirmed")
            t.update(
                previousOnChainState=p.on_chain,
                newOnChainState=new,
                confirmations=1,
                blockTime=self.now_ms() // 1000,
                blockHeight=1000 + len(p.tx_history),
            )
            if new in ("ResultSubmitted", "Disputed") and p.next_action.get("resultHash"):
                p.result_hash = p.next_action["resultHash"]
            if new == "RefundRequested" and p.on_chain == "Disputed":
                p.result_hash = ""  # AuthorizeRefund clears the result
            p.current = t
            p.on_chain = new
            self._set_next(p, _next("WaitingForExternalAction"))
            self._trigger("PAYMENT_ON_CHAIN_STATUS_CHANGED", p)

    # -- webhooks ----------------------------------------------------------------------

    def _trigger(self, event: str, p: _Payment) -> None:
        """Queue a delivery of ``event`` to every active webhook that follows it."""
        for hook in self.webhooks:
            if hook["isActive"] and event in hook["Events"]:
                payload = {
                    "event_type": event,
                    "service_name": "masumi-payment-service",
                    "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    "webhook_id": hook["id"],
                    "data": self._view(p, history=True),
                }
                self._outbox.put((hook, payload))

    def _deliver(self) -> None:
        """The delivery job: POST each queued event, retrying a failed one a few times."""
        while (item := self._outbox.get()) is not None:
            hook, payload = item
            if self.webhook_mode == "off":
                continue
            for _ in range(2 if self.webhook_mode == "twice" else 1):
                self._post(hook, payload)

    def _post(self, hook: dict[str, Any], payload: dict[str, Any]) -> None:
        request = urllib.request.Request(
            hook["url"],
            data=json.dumps(payload).encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {hook['authToken']}",
                "X-Masumi-Event": payload["event_type"],
                "X-Masumi-Timestamp": payload["timestamp"],
            },
        )
        code = 0
        for attempt in range(3):
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    code = response.status
            except urllib.error.HTTPError as err:
                code = err.code
            except OSError:
                code = 0
            if 200 <= code < 300:
                break
            time.sleep(0.1 * (attempt + 1))
        with self._lock:
            state = str(payload["data"].get("onChainState"))
            self.deliveries.append((payload["event_type"], state, code))

    def _register(self, b: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        url, token, events = b.get("url"), b.get("authToken"), b.get("Events")
        known = ("PAYMENT_ON_CHAIN_STATUS_CHANGED", "PAYMENT_ON_ERROR", "PURCHASE_ON_ERROR")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return 400, _error("url: Invalid url")
        if b.get("format", "EXTENDED") == "EXTENDED" and not (
            isinstance(token, str) and 10 <= len(token) <= 200
        ):
            return 400, _error("authToken is required when format is EXTENDED")
        if not isinstance(events, list) or not events or any(e not in known for e in events):
            return 400, _error("Events: Invalid enum value")
        if any(h["url"] == url for h in self.webhooks):
            return 409, _error("Webhook URL already registered for this payment source")
        hook = {
            "id": secrets.token_hex(12),
            "url": url,
            "authToken": token,
            "format": b.get("format", "EXTENDED"),
            "Events": list(events),
            "name": b.get("name"),
            "isActive": True,
            "paymentSourceId": b.get("paymentSourceId"),
        }
        self.webhooks.append(hook)
        return 200, {k: v for k, v in hook.items() if k != "authToken"}

    # -- endpoints ---------------------------------------------------------------------

    def handle(
        self, method: str, path: str, body: dict[str, Any], query: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        """One API call (the token already checked): status and JSON answer."""
        route = (method, path.removeprefix("/api/v1").rstrip("/"))
        with self._lock:
            self.seen.append(Seen(method, route[1], body))
            if route == ("POST", "/payment"):
                return self._create(body)
            if route == ("GET", "/payment"):
                limit = int(query.get("limit", "10"))
                # No type filter: V1 only, for pre-V2 clients (the service's compatibility rule).
                kind = query.get("filterPaymentSourceType", "Web3CardanoV1")
                mine = [p for p in self.payments.values() if p.source_type == kind]
                newest = sorted(mine, key=lambda p: p.created, reverse=True)
                return 200, {"Payments": [self._view(p) for p in newest[:limit]]}
            if route == ("POST", "/payment/resolve-blockchain-identifier"):
                p = self.payments.get(str(body.get("blockchainIdentifier")))
                if p is None or body.get("network") != self.network:
                    return 404, _error("Payment not found")
                history = str(body.get("includeHistory", "false")).lower() == "true"
                return 200, self._view(p, history=history)
            if route == ("POST", "/payment/submit-result"):
                return self._submit(body)
            if route == ("POST", "/payment/authorize-refund"):
                return self._authorize(body)
            if route == ("POST", "/webhooks"):
                return self._register(body)
            if route == ("GET", "/webhooks"):
                shown = [{k: v for k, v in h.items() if k != "authToken"} for h in self.webhooks]
                return 200, {"Webhooks": shown}
        return 404, _error(f"Can not {method} {path}")

    def _create(self, b: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        missing = [
            k
            for k in ("inputHash", "network", "agentIdentifier", "identifierFromPurchaser")
            if not b.get(k)
        ]
        if missing:
            return 400, _error(f"{missing[0]}: Required")
        if b["network"] != self.network:
            return 404, _error("Network and policyId combination not supported")
        if not 57 <= len(b["agentIdentifier"]) <= 250:
            return 400, _error("agentIdentifier: String must contain at least 57 character(s)")
        purchaser = b["identifierFromPurchaser"]
        if not 14 <= len(purchaser) <= 26 or not _hex(purchaser):
            return 400, _error("Purchaser identifier is not a valid hex string")
        if not _hex(b["inputHash"]):
            return 400, _error("Input hash is not a valid hex string")
        kind = b.get("paymentSourceType")
        if kind is not None and kind != self.source_type:
            return 400, _error("paymentSourceType does not match the agent registry source")
        index = b.get("supportedPaymentSourceIndex")
        if self.source_type == "Web3CardanoV2":
            if index is None:
                return 400, _error(
                    "V2 Cardano payments require supportedPaymentSourceIndex to select a "
                    "priced Cardano source"
                )
            if not isinstance(index, int) or not 0 <= index < self.advertised_sources:
                return 400, _error(
                    f"supportedPaymentSourceIndex {index} is not advertised by this agent"
                )
        elif index is not None:
            return 400, _error(
                "V1 Cardano payments must not set supportedPaymentSourceIndex; pricing comes "
                "from AgentPricing"
            )
        if b.get("RequestedFunds") is not None:
            return 400, _error("For fixed pricing, RequestedFunds must be null")
        try:
            pay_by, submit = _ms(b["payByTime"]), _ms(b["submitResultTime"])
            unlock = _ms(b["unlockTime"]) if b.get("unlockTime") else submit + 6 * HOUR
            dispute = (
                _ms(b["externalDisputeUnlockTime"])
                if b.get("externalDisputeUnlockTime")
                else submit + 12 * HOUR
            )
        except (KeyError, ValueError) as err:
            return 400, _error(f"invalid date: {err}")
        now = self.now_ms()
        if pay_by > submit - 5 * MINUTE:
            return 400, _error("Pay by time must be before submit result time (min. 5 minutes)")
        if pay_by < now - 5 * MINUTE:
            return 400, _error("Pay by time must be in the future (max. 5 minutes)")
        if dispute < unlock + 15 * MINUTE:
            return 400, _error(
                "External dispute unlock time must be after unlock time "
                "(min. 15 minutes difference)"
            )
        if submit < now + 15 * MINUTE:
            return 400, _error("Submit result time must be in the future (min. 15 minutes)")
        if submit > unlock - 15 * MINUTE:
            return 400, _error(
                "Submit result time must be before unlock time with at least 15 minutes difference"
            )
        # The real identifier is a signed payload with a random seller id: never the same twice.
        seller_nonce = secrets.token_hex(16)
        payload = json.dumps(
            [
                b["inputHash"],
                b["agentIdentifier"],
                purchaser,
                seller_nonce,
                pay_by,
                submit,
                unlock,
                dispute,
            ],
            separators=(",", ":"),
        )
        bid = "bid1" + hashlib.sha256(payload.encode()).hexdigest() * 4
        p = _Payment(
            id=secrets.token_hex(12),
            blockchain_identifier=bid,
            agent_identifier=b["agentIdentifier"],
            input_hash=b["inputHash"],
            purchaser=purchaser,
            times=(pay_by, submit, unlock, dispute),
            price=self.price_lovelace,
            metadata=b.get("metadata"),
            created=f"{time.time():020.6f}",
            source_type=self.source_type,
            source_index=index,
        )
        self.payments[bid] = p
        return 200, self._view(p)

    def _submit(self, b: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        result_hash = str(b.get("submitResultHash") or "")
        if len(result_hash) != 64 or not _hex(result_hash):
            return 400, _error("submitResultHash must be a 64-char hex sha256 digest")
        p = self.payments.get(str(b.get("blockchainIdentifier")))
        if (
            p is None
            or b.get("network") != self.network
            or p.on_chain not in ("RefundRequested", "Disputed", "FundsLocked")
            or p.next_action["requestedAction"] != "WaitingForExternalAction"
            or p.current is None
        ):
            return 404, _error("Payment not found or in invalid state")
        self._set_next(p, {**_next("SubmitResultRequested"), "resultHash": result_hash})
        new = "ResultSubmitted" if p.on_chain == "FundsLocked" else "Disputed"
        self._run_seller_tx(p, "SubmitResultInitiated", new, result_hash)
        return 200, self._view(p)

    def _authorize(self, b: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        p = self.payments.get(str(b.get("blockchainIdentifier")))
        if (
            p is None
            or b.get("network") != self.network
            or p.on_chain not in ("Disputed", "RefundRequested")
            or p.next_action["requestedAction"] != "WaitingForExternalAction"
            or p.current is None
        ):
            return 404, _error("Payment not found or in invalid state")
        self._set_next(p, _next("AuthorizeRefundRequested"))
        self._run_seller_tx(p, "AuthorizeRefundInitiated", "RefundRequested")
        return 200, self._view(p)

    def _view(self, p: _Payment, *, history: bool = False) -> dict[str, Any]:
        pay_by, submit, unlock, dispute = p.times
        return {
            "id": p.id,
            "blockchainIdentifier": p.blockchain_identifier,
            "agentIdentifier": p.agent_identifier,
            "onChainState": p.on_chain,
            "NextAction": dict(p.next_action),
            "payByTime": str(pay_by),
            "submitResultTime": str(submit),
            "unlockTime": str(unlock),
            "externalDisputeUnlockTime": str(dispute),
            "collateralReturnLovelace": None,
            "inputHash": p.input_hash,
            "resultHash": p.result_hash,
            "metadata": p.metadata,
            "RequestedFunds": [{"amount": str(p.price), "unit": ""}],
            "CurrentTransaction": dict(p.current) if p.current else None,
            "TransactionHistory": [dict(t) for t in p.tx_history] if history else None,
            "ActionHistory": [dict(a) for a in p.action_history] if history else None,
            "PaymentSource": {
                "network": self.network,
                "smartContractAddress": (
                    SCRIPT_ADDRESS_V2 if p.source_type == "Web3CardanoV2" else SCRIPT_ADDRESS
                ),
                "paymentSourceType": p.source_type,
            },
            "SmartContractWallet": {"walletVkey": SELLER_VKEY, "walletAddress": SELLER_ADDRESS},
            "BuyerWallet": None,
        }


class _Handler(BaseHTTPRequestHandler):
    owner: MasumiService
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        service = self.owner
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.headers.get("token") != service.token:
            self._send(401, _error("Unauthorized, invalid authentication token provided"))
            return
        with service._lock:
            failure = next(
                (f for f in service.failures if f.path is None or url.path.endswith(f.path)), None
            )
            if failure is not None:
                service.failures.remove(failure)
        if failure is not None and failure.kind in ("500", "429"):
            code = int(failure.kind)
            self._send(
                code, _error("Internal Server Error" if code == 500 else "Too Many Requests")
            )
            return
        if failure is not None and failure.kind == "drop":
            self._drop()
            return
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            self._send(400, _error("invalid JSON"))
            return
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        code, data = service.handle(method, url.path, body if isinstance(body, dict) else {}, query)
        if failure is not None and failure.kind == "drop_after":
            self._drop()
            return
        self._send(code, {"status": "success", "data": data} if code == 200 else data)

    def _send(self, code: int, payload: dict[str, Any]) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _drop(self) -> None:
        """Hang up without an answer (the client sees the connection close)."""
        self.close_connection = True
        self.connection.close()


def _error(message: str) -> dict[str, Any]:
    return {"status": "error", "error": {"message": message}}


def _next(action: str) -> dict[str, Any]:
    return {"requestedAction": action, "errorType": None, "errorNote": None, "resultHash": None}


def _transaction(tx_hash: str, status: str) -> dict[str, Any]:
    return {
        "id": secrets.token_hex(8),
        "createdAt": f"{time.time():020.6f}",
        "txHash": tx_hash,
        "status": status,
        "previousOnChainState": None,
        "newOnChainState": None,
        "confirmations": None,
        "blockHeight": None,
        "blockTime": None,
        "fees": None,
    }


def _tx() -> str:
    return secrets.token_hex(32)


def _hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return True


def _ms(value: object) -> int:
    """express-zod-api's dateIn: an ISO 8601 date or date-time string."""
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO date string, got {value!r}")
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
