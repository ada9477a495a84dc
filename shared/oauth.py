"""OAuth 2.0 authorization state, kept server side: single use, 10 minutes, optionally with PKCE.

`start_authorization` makes a random `state` (and, for PKCE, a verifier and its S256 challenge)
for the authorization URL; `consume_authorization` takes the state back from the provider's
redirect exactly once. The state is a bearer secret for the connect step, so the table holds
only its SHA-256 digest; the PKCE verifier is stored encrypted (shared/token_crypto.py). A
state reused, unknown, expired or issued for another provider is 400 INVALID_STATE.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Field, SQLModel, col
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.config import Settings
from shared.db import UTCDateTime, delete_batch, utcnow
from shared.errors import BadRequest
from shared.security import digest
from shared.token_crypto import TokenUnreadable, token_cipher

STATE_LIFETIME = timedelta(minutes=10)
REDIRECT_URI_MAX_LENGTH = 2083  # the column's length, which PostgreSQL enforces and SQLite does not


class OAuthState(SQLModel, table=True):
    __tablename__ = "oauth_states"

    state_digest: str = Field(primary_key=True, max_length=64)  # SHA-256 hex of the state, never the state
    provider: str = Field(max_length=32)
    redirect_uri: str = Field(max_length=REDIRECT_URI_MAX_LENGTH)
    code_verifier_encrypted: str | None = Field(default=None, max_length=500)
    created_by: int | None = Field(default=None, foreign_key="admin_users.id", ondelete="CASCADE")
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)


class InvalidState(BadRequest):
    code = "INVALID_STATE"
    default_message = "The authorization state is unknown, expired or already used; start the connection again"


@dataclass(frozen=True)
class PendingAuthorization:
    """What goes into the authorization URL: the state, and the PKCE challenge when PKCE is used."""

    state: str
    redirect_uri: str
    code_challenge: str | None  # S256 of the verifier; None without PKCE
    expires_at: datetime

    @property
    def code_challenge_method(self) -> str | None:
        return "S256" if self.code_challenge else None


@dataclass(frozen=True)
class ConsumedAuthorization:
    """What the token exchange needs back: the redirect URI sent at authorize, and the PKCE verifier."""

    provider: str
    redirect_uri: str
    code_verifier: str | None
    created_by: int | None


def s256_challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(verifier)) without padding (fakes check verifiers with it too)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


async def start_authorization(
    session: AsyncSession, *, settings: Settings, provider: str, redirect_uri: str, pkce: bool,
    created_by: int | None = None, now: datetime | None = None,
) -> PendingAuthorization:
    """Stores a new single-use state (digest only) valid 10 minutes, with a PKCE verifier when `pkce`.

    Expired states of every provider are deleted on the way: the table holds only live ones."""
    now = now or utcnow()
    await session.exec(delete(OAuthState).where(col(OAuthState.expires_at) < now))  # type: ignore[call-overload]
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64) if pkce else None  # 86 characters: RFC 7636 allows 43 to 128
    expires_at = now + STATE_LIFETIME
    session.add(OAuthState(
        state_digest=digest(state), provider=provider, redirect_uri=redirect_uri, created_by=created_by,
        code_verifier_encrypted=token_cipher(settings).encrypt(verifier) if verifier else None,
        expires_at=expires_at,
    ))
    await session.flush()
    return PendingAuthorization(
        state=state, redirect_uri=redirect_uri, code_challenge=s256_challenge(verifier) if verifier else None,
        expires_at=expires_at,
    )


async def consume_authorization(
    session: AsyncSession, *, settings: Settings, provider: str, state: str, now: datetime | None = None
) -> ConsumedAuthorization:
    """Takes a state back exactly once: its row is deleted whatever follows. InvalidState (400) when
    it is unknown, used already, expired, or was issued for another provider.

    Commit the session before calling the provider with the code: a failed exchange then cannot
    bring the state back for a second try."""
    now = now or utcnow()
    row = await session.get(OAuthState, digest(state)) if state else None
    if row is None:
        raise InvalidState(field="state")
    await session.delete(row)
    await session.flush()
    if row.provider != provider or row.expires_at <= now:
        raise InvalidState(field="state")
    try:
        verifier = token_cipher(settings).decrypt(row.code_verifier_encrypted) if row.code_verifier_encrypted else None
    except TokenUnreadable:  # TOKEN_ENCRYPTION_KEY changed since authorize: only a new start can go on
        raise InvalidState(field="state") from None
    return ConsumedAuthorization(
        provider=row.provider, redirect_uri=row.redirect_uri, code_verifier=verifier, created_by=row.created_by
    )


async def prune_expired_states(session: AsyncSession, *, expired_before: datetime, limit: int) -> int:
    """Deletes up to `limit` states that expired before then (abandoned connections nobody retried)."""
    return await delete_batch(session, OAuthState, col(OAuthState.expires_at) < expired_before, limit=limit)
