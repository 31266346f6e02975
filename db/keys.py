"""API keys, stored hashed, each with a role and an owner.

A key looks like ``dsk_<id>_<secret>``: the id finds the row, the secret is compared with
its SHA-256 in constant time. Keys are 256-bit random, so a fast hash is the right one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from datetime import UTC, datetime

from sqlmodel import Field, Session, SQLModel, select

from durasumi.client.roles import Role
from durasumi.db.engine import engine_for

__all__ = [
    "OWNER_MAX_LENGTH",
    "ApiKey",
    "IssuedKey",
    "KeyStore",
    "Principal",
    "Role",
    "check_owner",
]

OWNER_MAX_LENGTH = 200
# Control, format (bidi overrides, zero-width), surrogate, private-use and unassigned code
# points, and line/paragraph separators: invisible or unprintable, so two owners could look
# alike; Temporal's SQL visibility cannot compare NUL at all.
_UNPRINTABLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
# Temporal's SQL visibility (SQLite, PostgreSQL) re-escapes these MySQL-style when it renders
# a list filter, so a buyer or vendor named with one could never list its own jobs.
_UNMATCHABLE = {"\\", '"'}
# Temporal strips leading and trailing quotes from a filter value ('alice would list alice's
# jobs), so a name may hold an apostrophe (o'brien) but not start or end with one.
_EDGE_QUOTE = "'"


def check_owner(owner: str) -> str:
    """Return ``owner`` if it can name a buyer or vendor, else raise ValueError saying why.

    An owner name is the identity a key acts for: it is compared for access and stored as a
    Temporal search attribute that ``GET /jobs`` filters on. Letters, digits, spaces inside,
    punctuation (apostrophes too) and symbols in any script are fine.

    Example:
        >>> check_owner("o'brien")
        "o'brien"
    """
    if not owner or owner != owner.strip():
        raise ValueError("an owner name must not be empty or start or end with whitespace")
    if owner.startswith(_EDGE_QUOTE) or owner.endswith(_EDGE_QUOTE):
        raise ValueError("an owner name must not start or end with a quote (')")
    if len(owner) > OWNER_MAX_LENGTH:
        raise ValueError(f"an owner name has at most {OWNER_MAX_LENGTH} characters")
    for char in owner:
        if unicodedata.category(char) in _UNPRINTABLE:
            raise ValueError(f"an owner name must be printable text (found U+{ord(char):04X})")
        if char in _UNMATCHABLE:
            raise ValueError(
                f"an owner name cannot hold {char!r}: Temporal's SQL visibility cannot filter on it"
            )
    return owner


class Principal(SQLModel):
    """Who is calling: a role and the buyer or vendor name it acts for."""

    key_id: str
    role: Role
    owner: str


class ApiKey(SQLModel, table=True):
    """One stored key (never the secret itself)."""

    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=32)
    secret_sha256: str = Field(max_length=64)
    role: Role
    owner: str = Field(max_length=OWNER_MAX_LENGTH, index=True)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    revoked_at: datetime | None = None


class IssuedKey(SQLModel):
    """A freshly created key: the only time the full key is visible."""

    key: str
    principal: Principal


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyStore:
    """Create, verify and revoke API keys in the app database.

    Example:
        >>> store = KeyStore("sqlite://")  # doctest: +SKIP
        >>> issued = store.create(Role.BUYER, "alice")  # doctest: +SKIP
        >>> store.verify(issued.key).owner  # doctest: +SKIP
        'alice'
    """

    def __init__(self, url: str) -> None:
        self.url = url

    def create(self, role: Role, owner: str) -> IssuedKey:
        """Issue a key for ``owner`` (the buyer or vendor name it acts for) with ``role``.

        Raises:
            ValueError: ``owner`` is not a valid owner name (:func:`check_owner` says why).
        """
        check_owner(owner)
        key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        row = ApiKey(id=key_id, secret_sha256=_digest(secret), role=role, owner=owner)
        with Session(engine_for(self.url)) as session:
            session.add(row)
            session.commit()
        return IssuedKey(
            key=f"dsk_{key_id}_{secret}", principal=Principal(key_id=key_id, role=role, owner=owner)
        )

    def verify(self, key: str) -> Principal | None:
        """The principal of a valid, unrevoked key, else None."""
        prefix, _, rest = key.partition("_")
        key_id, _, secret = rest.partition("_")
        if prefix != "dsk" or not key_id or not secret:
            return None
        with Session(engine_for(self.url)) as session:
            row = session.get(ApiKey, key_id)
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.secret_sha256, _digest(secret)):
            return None
        return Principal(key_id=row.id, role=row.role, owner=row.owner)

    def revoke(self, key_id: str) -> bool:
        """Revoke a key by id; False if there is no such key."""
        with Session(engine_for(self.url)) as session:
            row = session.get(ApiKey, key_id)
            if row is None:
                return False
            row.revoked_at = datetime.now(UTC)
            session.add(row)
            session.commit()
            return True

    def all(self) -> list[ApiKey]:
        """Every key, newest first."""
        with Session(engine_for(self.url)) as session:
            return list(session.exec(select(ApiKey).order_by(ApiKey.created_at.desc())))  # type: ignore[attr-defined]
