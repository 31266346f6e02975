"""The payload keyring: keys, their ids, agents' (vendors') keys, and sealing bytes with them.

This half of the codec needs only ``cryptography``: processes that read a payload without
the Temporal SDK (the CLI's HTTP path, ``durasumi status``) decrypt with it, and
``workers/codec.py`` builds the Temporal payload codec on it. A sealed payload's data is a
12-byte nonce + AES-GCM(plaintext) with the key id bound in as associated data.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "CIPHER",
    "ENCODING",
    "KEY_ID",
    "CodecError",
    "Keyring",
    "KeyringError",
    "Sealer",
    "agent_of",
    "create_keyring_file",
    "load_keyring",
    "parse_agent_keys",
    "parse_keys",
]

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
CIPHER = b"AES256-GCM"
_NONCE = 12
_KEY_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# job-<agent>-<24 hex>-agent (workflows.ids.job_id_for + child_workflow_id)
_AGENT_CHILD = re.compile(r"^job-([a-z][a-z0-9_-]{0,62})-[0-9a-f]{24}-agent$")


class KeyringError(ValueError):
    """The configured keys are unusable (bad id, key length, base64, active key...)."""


class CodecError(ValueError):
    """A payload cannot be decrypted: unknown key id, or it failed authentication."""


def _aad(key_id: str) -> bytes:
    # Binds the key id into the tag: relabelling a payload with another id fails to decrypt.
    return b"durasumi-payload-v1:" + key_id.encode()


def _nonce_key(key: bytes) -> bytes:
    # A key of its own for synthetic nonces, never the AES key itself.
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"durasumi-synthetic-nonce-v1").derive(key)


def _b64(text: str, what: str) -> bytes:
    padded = text.strip().replace("-", "+").replace("_", "/")
    padded += "=" * (-len(padded) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError) as err:
        raise KeyringError(f"{what}: not valid base64") from err


@dataclass(frozen=True)
class Keyring:
    """Key id -> 256-bit key, the id that encrypts, and agents' (vendors') key ids.

    Example:
        >>> ring = Keyring({"k1": bytes(32)}, active="k1")
        >>> ring.key_id_for("trip-planner")
        'k1'
    """

    keys: Mapping[str, bytes] = field(repr=False)
    active: str
    agents: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyringError("the keyring has no keys")
        for key_id, key in self.keys.items():
            if not _KEY_ID_RE.match(key_id):
                raise KeyringError(f"key id {key_id!r}: use 1-64 letters, digits, '.', '_' or '-'")
            if len(key) != 32:
                raise KeyringError(f"key {key_id!r}: {len(key)} bytes, a key must be 32 bytes")
        known = ", ".join(sorted(self.keys))
        if self.active not in self.keys:
            raise KeyringError(f"active key {self.active!r} is not in the keyring ({known})")
        for agent, key_id in self.agents.items():
            if key_id not in self.keys:
                raise KeyringError(
                    f"agent {agent!r} maps to key {key_id!r}, which is not in the keyring ({known})"
                )

    def key_id_for(self, agent: str | None) -> str:
        """The key id that encrypts payloads of ``agent`` (None: platform payloads)."""
        if agent is None:
            return self.active
        return self.agents.get(agent) or self.agents.get("*") or self.active


def parse_keys(text: str) -> dict[str, bytes]:
    """Parse ``id1:base64key,id2:base64key`` (the DURASUMI_CODEC_KEYS format).

    Example:
        >>> sorted(parse_keys("a:" + "A" * 43 + "=,b:" + "B" * 43 + "="))
        ['a', 'b']
    """
    keys: dict[str, bytes] = {}
    items = [part.strip() for part in text.split(",") if part.strip()]
    for n, item in enumerate(items, 1):
        key_id, sep, encoded = item.partition(":")
        if not sep or not key_id.strip() or not encoded.strip():
            raise KeyringError(f"codec key #{n}: expected id:base64key")  # never echo a key
        keys[key_id.strip()] = _b64(encoded, f"key {key_id.strip()!r}")
    return keys


def parse_agent_keys(text: str) -> dict[str, str]:
    """Parse ``agent:key id,...`` (``*`` stands for every agent).

    Example:
        >>> parse_agent_keys("trip-planner:acme-1, *:shared-1")
        {'trip-planner': 'acme-1', '*': 'shared-1'}
    """
    agents: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        agent, sep, key_id = item.partition(":")
        if not sep or not agent.strip() or not key_id.strip():
            raise KeyringError(f"agent key {item!r}: expected agent:keyid")
        agents[agent.strip()] = key_id.strip()
    return agents


def load_keyring(
    *,
    keys: str | None = None,
    active: str | None = None,
    agents: str | None = None,
    file: Path | None = None,
) -> Keyring | None:
    """The keyring from a JSON file and/or settings text; None when no key is configured.

    The file holds ``{"active": id, "keys": {id: base64}, "agents": {agent: id}}``;
    ``keys``/``agents`` text adds to it (same id: the text wins) and ``active`` overrides
    it. With a single key and no active id named, that key is active.
    """
    ring: dict[str, bytes] = {}
    agent_map: dict[str, str] = {}
    file_active: str | None = None
    if file is not None:
        try:
            data = json.loads(file.read_text())
        except (OSError, ValueError) as err:
            raise KeyringError(f"codec keys file {file}: {err}") from err
        if not isinstance(data, dict) or not isinstance(data.get("keys"), dict):
            raise KeyringError(f"codec keys file {file}: expected an object with 'keys'")
        ring |= {str(k): _b64(str(v), f"key {k!r} in {file}") for k, v in data["keys"].items()}
        agent_map |= {str(k): str(v) for k, v in dict(data.get("agents") or {}).items()}
        file_active = data.get("active")
    if keys:
        ring |= parse_keys(keys)
    if agents:
        agent_map |= parse_agent_keys(agents)
    if not ring:
        if active or agent_map:
            raise KeyringError("a codec active key or agent keys are set, but no codec keys")
        return None
    chosen = active or file_active or (next(iter(ring)) if len(ring) == 1 else None)
    if chosen is None:
        raise KeyringError(
            f"several codec keys ({', '.join(sorted(ring))}): set DURASUMI_CODEC_ACTIVE_KEY "
            "to the one that encrypts"
        )
    return Keyring(ring, chosen, agent_map)


def create_keyring_file(path: Path, vendors: Sequence[str] = ()) -> Keyring:
    """Write a new keyring file (mode 0600): a platform key, plus a key per vendor.

    Each vendor's key encrypts every agent's payloads (``*``) when there is one vendor;
    the dev stack uses this so its example agents run with a vendor key of their own.
    """
    stamp = secrets.token_hex(3)
    keys = {f"platform-{stamp}": AESGCM.generate_key(256)}
    agents: dict[str, str] = {}
    for vendor in vendors:
        key_id = f"vendor-{vendor}-{stamp}"
        keys[key_id] = AESGCM.generate_key(256)
        if len(vendors) == 1:
            agents["*"] = key_id
    active = next(iter(keys))
    body = {
        "active": active,
        "keys": {k: base64.b64encode(v).decode() for k, v in keys.items()},
        "agents": agents,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(body, out, indent=2)
    return Keyring(keys, active, agents)


def agent_of(workflow_id: str | None) -> str | None:
    """The agent name if ``workflow_id`` is an agent child workflow's id, else None.

    Example:
        >>> agent_of("job-trip-planner-" + "0" * 24 + "-agent")
        'trip-planner'
    """
    match = _AGENT_CHILD.match(workflow_id or "")
    return match.group(1) if match else None


class Sealer:
    """AES-256-GCM over every key of a keyring: seal with one key id, open with the one named.

    Example:
        >>> sealer = Sealer(Keyring({"k1": bytes(32)}, active="k1"))
        >>> sealer.open("k1", sealer.seal("k1", b"secret"))
        b'secret'
    """

    def __init__(self, keyring: Keyring) -> None:
        self._ciphers = {k: AESGCM(v) for k, v in keyring.keys.items()}
        self._nonce_keys = {k: _nonce_key(v) for k, v in keyring.keys.items()}

    def seal(self, key_id: str, plain: bytes, *, synthetic: bool = False) -> bytes:
        """A fresh nonce + the ciphertext of ``plain`` under ``key_id``.

        With ``synthetic`` the nonce is an HMAC of the plaintext (a synthetic IV): the same
        plaintext seals to the same bytes, so a content-addressed store keeps one copy of a
        big payload written many times; equal plaintexts are then visible as equal.
        """
        if synthetic:
            nonce = hmac.new(self._nonce_keys[key_id], plain, hashlib.sha256).digest()[:_NONCE]
        else:
            nonce = os.urandom(_NONCE)
        return nonce + self._ciphers[key_id].encrypt(nonce, plain, _aad(key_id))

    def open(self, key_id: str, sealed: bytes) -> bytes:
        """The plaintext of what :meth:`seal` made with ``key_id``.

        Raises:
            CodecError: the key id is not in the keyring, or the data fails authentication.
        """
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            known = ", ".join(sorted(self._ciphers))
            raise CodecError(
                f"payload encrypted with key {key_id!r}, which this process does not have "
                f"(keyring: {known}); add it to DURASUMI_CODEC_KEYS or the keys file"
            )
        try:
            return cipher.decrypt(sealed[:_NONCE], sealed[_NONCE:], _aad(key_id))
        except InvalidTag as err:
            raise CodecError(
                f"payload encrypted with key {key_id!r} failed authentication: "
                "it was altered, or the key with that id is not the one that encrypted it"
            ) from err
