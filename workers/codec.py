"""Encrypted payloads: an AES-256-GCM payload codec over a keyring with rotation.

Every payload a durasumi process sends to Temporal (job inputs, form answers, results,
signal and update arguments, failure messages) is replaced by ciphertext whose metadata
names the key that encrypted it, so Temporal's history and database hold no plaintext:

- ``encoding: binary/encrypted`` and ``encryption-key-id: <id>`` in the metadata;
- data = 12-byte nonce + AES-GCM(the original ``Payload`` protobuf), so decoding restores
  the exact payload, its own encoding metadata included.

Keys rotate without breaking old jobs: one key encrypts (the active one), decoding uses
whatever key the payload names, so a keyring that keeps the old keys reads every job ever
written. A payload naming a key this process lacks fails with an error naming that key.

Per-vendor keys: the codec learns from Temporal's serialization context which workflow a
payload belongs to. Payloads of an agent child workflow (``job-<agent>-<hash>-agent``: its
input, the form answers forwarded to it, its activities, its result) are encrypted with
the key mapped to that agent (``agents``: agent name, or ``*``, to key id); everything
else with the active key. The platform's processes hold every key; a vendor's worker holds
only its own key as its active key, so it can read and write its agents' payloads and
nothing of other vendors'. ``docs/architecture.md`` ("Encrypted payloads") has the setup.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import Self

from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    ExternalStorage,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

from durasumi.workers.keyring import (
    CIPHER,
    ENCODING,
    KEY_ID,
    CodecError,
    Keyring,
    KeyringError,
    Sealer,
    agent_of,
    create_keyring_file,
    load_keyring,
    parse_agent_keys,
    parse_keys,
)

__all__ = [
    "ENCODING",
    "KEY_ID",
    "CodecError",
    "Keyring",
    "KeyringCodec",
    "KeyringError",
    "agent_of",
    "create_keyring_file",
    "data_converter",
    "load_keyring",
    "parse_agent_keys",
    "parse_keys",
]


class KeyringCodec(PayloadCodec, WithSerializationContext):
    """AES-256-GCM payload codec; the key comes from the keyring and the payload's context.

    Payloads that are already encrypted pass through encode untouched, and plain payloads
    (written before keys were configured) pass through decode, so turning encryption on
    keeps old jobs readable.

    Example:
        >>> import asyncio
        >>> codec = KeyringCodec(Keyring({"k1": bytes(32)}, active="k1"))
        >>> plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"secret"')
        >>> sealed = asyncio.run(codec.encode([plain]))[0]
        >>> sealed.metadata["encryption-key-id"], asyncio.run(codec.decode([sealed]))[0] == plain
        (b'k1', True)
    """

    def __init__(
        self, keyring: Keyring, key_id: str | None = None, *, synthetic_over: int | None = None
    ) -> None:
        self.keyring = keyring
        self.key_id = key_id or keyring.active
        # Payloads this big or bigger get a synthetic nonce (see Sealer.seal): they go to
        # the claim-check store, where the same answer read twice is then one object.
        self.synthetic_over = synthetic_over
        self._sealer = Sealer(keyring)

    def with_context(self, context: SerializationContext) -> Self:
        """This codec set to the key of the workflow the payloads belong to."""
        workflow_id = None
        if isinstance(context, WorkflowSerializationContext | ActivitySerializationContext):
            workflow_id = context.workflow_id
        return self.for_agent(agent_of(workflow_id))

    def for_agent(self, agent: str | None) -> Self:
        """This codec set to the key of ``agent``'s payloads (None: the platform's)."""
        key_id = self.keyring.key_id_for(agent)
        if key_id == self.key_id:
            return self
        clone = copy.copy(self)  # shares the keyring and the sealer
        clone.key_id = key_id
        return clone

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt each payload with this codec's key."""
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt each encrypted payload with the key it names; plain ones pass through.

        Raises:
            CodecError: a payload names a key not in the keyring, or fails authentication.
        """
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        """One payload, encrypted (unchanged if it already is)."""
        if payload.metadata.get("encoding") == ENCODING:
            return payload
        plain = payload.SerializeToString(deterministic=True)
        synthetic = self.synthetic_over is not None and len(plain) >= self.synthetic_over
        sealed = self._sealer.seal(self.key_id, plain, synthetic=synthetic)
        return Payload(
            metadata={
                "encoding": ENCODING,
                KEY_ID: self.key_id.encode(),
                "encryption-cipher": CIPHER,
            },
            data=sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        """One payload, decrypted (unchanged if it is not encrypted)."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        restored = Payload()
        restored.ParseFromString(self._sealer.open(key_id, payload.data))
        return restored


def data_converter(
    keyring: Keyring | None, storage: ExternalStorage | None = None
) -> DataConverter:
    """The pydantic data converter, encrypting with ``keyring`` when there is one.

    With a keyring, failure messages and stack traces move into an encoded (so encrypted)
    attribute too: they may quote user input. With ``storage`` (the claim check,
    workers/claim_check.py), payloads over its threshold go to object storage after they
    are encrypted, and history holds a reference: what is stored is ciphertext.

    Example:
        >>> data_converter(None).payload_codec is None
        True
    """
    if keyring is None and storage is None:
        return pydantic_data_converter
    if keyring is None:
        return dataclasses.replace(pydantic_data_converter, external_storage=storage)
    # Sealing adds a nonce, a tag and metadata (under 256 bytes): a plaintext this big is
    # claim-checked once sealed, so it gets a synthetic nonce; smaller ones keep random ones.
    synthetic_over = max(0, storage.payload_size_threshold - 256) if storage is not None else None
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=KeyringCodec(keyring, synthetic_over=synthetic_over),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
        external_storage=storage,
    )
