"""API keys, stored hashed, each with a role and an owner.

A key looks like ``dsk_<id>_<secret>``: the id finds the row, the secret is compared with
its SHA-256 in constant time. Keys are 256-bit random, so a fast hash is the right one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime

from sqlmodel import Field, Session, SQLModel, select

from durasumi.client.roles import Role
from durasumi.db.engine import engine_for

__all__ = ["ApiKey", "IssuedKey", "KeyStore", "Principal", "Role"]


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
    owner: str = Field(max_length=200, index=True)
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
        """Issue a key for ``owner`` with ``role``."""
        if not owner.strip():
            raise ValueError("a key needs an owner (the buyer or vendor name it acts for)")
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
