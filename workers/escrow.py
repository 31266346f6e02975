"""Wiring the escrow port: the backend the settings name, built once per worker process."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from durasumi._extras import require_platform
from durasumi.activities.escrow.errors import EscrowError
from durasumi.activities.escrow.port import EscrowActivities
from durasumi.workers.settings import Settings
from durasumi.workflows.escrow_models import EscrowStatus, PaymentRequest

if TYPE_CHECKING:
    from temporalio.client import Client

    from durasumi.activities.escrow.chain import DirectChainBackend
    from durasumi.activities.escrow.masumi_service import MasumiServiceBackend
    from durasumi.activities.escrow.wallet import Wallet

__all__ = [
    "EscrowConfigError",
    "PaymentRefused",
    "ensure_reconciler_schedule",
    "escrow_activities",
    "pay_as_dev_buyer",
]

log = logging.getLogger(__name__)


class EscrowConfigError(ValueError):
    """The escrow settings are missing or wrong; the message names the variable."""


def escrow_activities(settings: Settings) -> EscrowActivities | None:
    """The escrow activities for the platform worker, or None when escrow is off.

    ``offline``: the dev ledger and wallets under ``HOME/escrow`` (created and funded on
    first use); the platform holds the dev buyer's wallet, so paid dev jobs lock by themselves.
    ``blockfrost``: the direct-chain backend on preprod or mainnet with the seller's key.
    ``masumi``: a Masumi payment service performs the seller's steps.

    Raises:
        EscrowConfigError: a setting the backend needs is missing or unusable.
    """
    if settings.escrow_backend == "off":
        return None
    require_platform("the Cardano escrow")
    if settings.escrow_backend == "blockfrost":
        return EscrowActivities(blockfrost_backend(settings))
    if settings.escrow_backend == "masumi":
        return EscrowActivities(masumi_backend(settings))
    from durasumi.activities.escrow.dev import dev_escrow  # pycardano and uplc only where needed

    dev = dev_escrow(
        settings.home / "escrow", block_ms=int(settings.escrow_offline_block_seconds * 1000)
    )
    return EscrowActivities(
        dev.backend(platform_buyer=True, min_confirmations=settings.escrow_min_confirmations)
    )


def blockfrost_backend(settings: Settings) -> DirectChainBackend:
    """The direct-chain backend through Blockfrost (escrow_backend=blockfrost)."""
    from durasumi.activities.escrow.blockfrost import BlockfrostChain, EscrowDeployment
    from durasumi.activities.escrow.chain import DirectChainBackend

    project = _need(settings, "blockfrost_project_id").get_secret_value()
    path = _need(settings, "escrow_deployment_file")
    try:
        deployment = EscrowDeployment.load(path)
        params = deployment.params()
    except ValueError as err:
        raise EscrowConfigError(f"DURASUMI_ESCROW_DEPLOYMENT_FILE ({path}): {err}") from err
    seller = _wallet(settings, "escrow_seller_skey_file")
    buyer = _wallet(settings, "escrow_buyer_skey_file") if settings.escrow_buyer_skey_file else None
    chain = BlockfrostChain(project, settings.cardano_network, base_url=settings.blockfrost_url)
    return DirectChainBackend(
        chain,
        params,
        deployment.script_ref,
        seller,
        buyer,
        min_confirmations=settings.escrow_min_confirmations,
    )


def masumi_backend(settings: Settings) -> MasumiServiceBackend:
    """The Masumi payment-service backend (escrow_backend=masumi)."""
    from durasumi.activities.escrow.masumi_service import (
        MasumiServiceBackend,
        parse_agent_identifiers,
        parse_source_indexes,
    )

    url = _need(settings, "masumi_url")
    if not url.startswith(("http://", "https://")):
        raise EscrowConfigError(f"DURASUMI_MASUMI_URL must be an http(s) URL, not {url!r}")
    token = _need(settings, "masumi_token").get_secret_value()
    try:
        # Optional: an agent's own registry record (agent_identifier) comes first.
        given = settings.masumi_agent_identifier
        identifiers = parse_agent_identifiers(given) if given else {}
    except ValueError as err:
        raise EscrowConfigError(f"DURASUMI_MASUMI_AGENT_IDENTIFIER: {err}") from err
    try:
        indexes = parse_source_indexes(settings.masumi_payment_source_index or "")
    except ValueError as err:
        raise EscrowConfigError(f"DURASUMI_MASUMI_PAYMENT_SOURCE_INDEX: {err}") from err
    try:
        backend = MasumiServiceBackend(
            url,
            token,
            identifiers,
            network="Mainnet" if settings.cardano_network == "mainnet" else "Preprod",
            dynamic_pricing=settings.masumi_dynamic_pricing,
            payment_source_type=settings.masumi_payment_source_type,
            source_indexes=indexes,
        )
    except ValueError as err:
        raise EscrowConfigError(
            f"DURASUMI_MASUMI_PAYMENT_SOURCE_INDEX: {err} (DURASUMI_MASUMI_PAYMENT_SOURCE_TYPE="
            f"{settings.masumi_payment_source_type})"
        ) from err
    hook, secret = settings.masumi_webhook_url, settings.masumi_webhook_token
    if hook and secret:  # without it, or while the service is away, polling alone serves
        try:
            backend.register_webhook(hook, secret.get_secret_value())
        except EscrowError as err:
            log.warning("Masumi webhook %s not registered (polling only): %s", hook, err)
    return backend


def _need(settings: Settings, name: str) -> Any:
    value = getattr(settings, name)
    if value is None or value == "":
        raise EscrowConfigError(
            f"DURASUMI_{name.upper()} is required with "
            f"DURASUMI_ESCROW_BACKEND={settings.escrow_backend}"
        )
    return value


def _wallet(settings: Settings, name: str) -> Wallet:
    """A wallet from an existing .skey file (never created here: these are real funds)."""
    from pycardano import Network, PaymentSigningKey

    from durasumi.activities.escrow.wallet import Wallet

    path = _need(settings, name)
    network = Network.MAINNET if settings.cardano_network == "mainnet" else Network.TESTNET
    try:
        return Wallet(PaymentSigningKey.load(str(path)), network)
    except FileNotFoundError as err:
        raise EscrowConfigError(f"DURASUMI_{name.upper()}: no such file {path}") from err
    except Exception as err:  # pycardano raises several kinds for a file that is not a key
        raise EscrowConfigError(
            f"DURASUMI_{name.upper()}: {path} is not a payment signing key ({err})"
        ) from err


class PaymentRefused(RuntimeError):
    """The dev buyer's payment was refused (the escrow's reason in the message)."""


def pay_as_dev_buyer(home: Path, request: PaymentRequest, at_ms: int) -> EscrowStatus:
    """Lock a job's price from the offline ledger's dev buyer wallet (``durasumi pay``).

    Idempotent: a job already paid answers its escrow as it is.

    Raises:
        PaymentRefused: the ledger refused the lock (wrong window, no funds...).
    """
    require_platform("the Cardano escrow")
    from durasumi.activities.escrow.dev import dev_escrow  # pycardano only where needed
    from durasumi.activities.escrow.errors import EscrowError

    try:
        return dev_escrow(home).pay(request, at_ms)
    except EscrowError as err:
        raise PaymentRefused(str(err)) from err


async def ensure_reconciler_schedule(client: Client, settings: Settings) -> None:
    """Create the Schedule that runs the escrow reconciler, unless it exists.

    One schedule per namespace, shared by every platform worker; its runs never overlap.
    """
    from temporalio.client import (
        Schedule,
        ScheduleActionStartWorkflow,
        ScheduleAlreadyRunningError,
        ScheduleIntervalSpec,
        ScheduleOverlapPolicy,
        SchedulePolicy,
        ScheduleSpec,
    )

    from durasumi.workflows.escrow_models import OrphanQuery
    from durasumi.workflows.reconcile import RECONCILER_ID, EscrowReconciler

    every = timedelta(minutes=settings.escrow_reconcile_minutes)
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            EscrowReconciler.run,
            OrphanQuery(),
            id=RECONCILER_ID,
            task_queue=settings.platform_task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        await client.create_schedule(RECONCILER_ID, schedule)
    except ScheduleAlreadyRunningError:
        pass  # another platform worker made it
