"""Password hashing (argon2id) and JWTs (HS256 only, every claim required)."""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from shared.db import utcnow
from shared.errors import InvalidToken, TokenExpired

JWT_ALGORITHM = "HS256"
TokenType = Literal["access", "refresh"]
_REQUIRED_CLAIMS = ["exp", "iat", "jti", "sub", "type"]

_STRONG = PasswordHasher()  # argon2id with the library's current recommended parameters
# ENVIRONMENT=test only: the test suite creates and logs in hundreds of users, and the strong
# parameters would spend most of its time hashing. Any other environment uses _STRONG, and a
# login there rehashes a password stored with these (check_needs_rehash sees the difference).
_FAST_FOR_TESTS = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
_hasher = _STRONG
_dummy_hashes: dict[int, str] = {}


def use_password_hashing_for(environment: str) -> None:
    """Picks the parameters for the process: the fast ones for ENVIRONMENT=test, the strong ones otherwise."""
    global _hasher
    _hasher = _FAST_FOR_TESTS if environment == "test" else _STRONG


def _dummy_hash() -> str:
    # Verified against when the email is unknown, so a miss costs what a hit costs.
    hasher = _hasher
    if id(hasher) not in _dummy_hashes:
        _dummy_hashes[id(hasher)] = hasher.hash(secrets.token_urlsafe(16))
    return _dummy_hashes[id(hasher)]


async def hash_password(password: str) -> str:
    # argon2 is deliberately slow; keep it off the event loop.
    return await asyncio.to_thread(_hasher.hash, password)


@dataclass(frozen=True)
class PasswordCheck:
    valid: bool
    new_hash: str | None = None  # set when the stored hash used outdated parameters


def _verify(stored_hash: str | None, password: str) -> PasswordCheck:
    hasher = _hasher
    try:
        hasher.verify(stored_hash or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return PasswordCheck(valid=False)
    if stored_hash is None:
        return PasswordCheck(valid=False)
    if hasher.check_needs_rehash(stored_hash):
        return PasswordCheck(valid=True, new_hash=hasher.hash(password))
    return PasswordCheck(valid=True)


async def verify_password(stored_hash: str | None, password: str) -> PasswordCheck:
    """Checks a password; with no stored hash it still spends the same time and fails."""
    return await asyncio.to_thread(_verify, stored_hash, password)


def digest(value: str) -> str:
    """SHA-256 hex: how opaque tokens and lookup keys are stored."""
    return hashlib.sha256(value.encode()).hexdigest()


def keyed_digest(value: str, *, purpose: str, secret: str) -> str:
    """HMAC-SHA256 hex of `value` under a key bound to `purpose`: a lookup key that cannot be
    reversed by hashing guesses without the secret (an erased address in a suppression list)."""
    return hmac.new(_purpose_key(secret, purpose), value.encode(), hashlib.sha256).hexdigest()


@functools.lru_cache(maxsize=32)
def _purpose_key(secret: str, purpose: str) -> bytes:
    # Derived once per purpose: a campaign message signs its links with it about ten times.
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()


def link_signature(value: str, *, purpose: str, secret: str) -> str:
    """A short URL-safe signature of `value` (128 bits) for links that must not be forged."""
    raw = bytes.fromhex(keyed_digest(value, purpose=purpose, secret=secret))[:16]
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def signature_matches(value: str, signature: str, *, purpose: str, secret: str) -> bool:
    return hmac.compare_digest(link_signature(value, purpose=purpose, secret=secret), signature)


def new_opaque_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    issued_at: datetime
    expires_at: datetime


def create_token(
    *, subject: str, token_type: TokenType, ttl: timedelta, secret: str, claims: dict[str, Any] | None = None
) -> IssuedToken:
    issued_at = utcnow().replace(microsecond=0)
    expires_at = issued_at + ttl
    jti = uuid.uuid4().hex
    payload = {
        **(claims or {}),
        "sub": subject,
        "type": token_type,
        "jti": jti,
        "iat": issued_at,
        "exp": expires_at,
    }
    return IssuedToken(jwt.encode(payload, secret, algorithm=JWT_ALGORITHM), jti, issued_at, expires_at)


def decode_token(token: str, *, expected_type: TokenType, secret: str) -> dict[str, Any]:
    """Verified claims of a token of the expected type; raises InvalidToken or TokenExpired."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[JWT_ALGORITHM], options={"require": _REQUIRED_CLAIMS}
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenExpired() from exc
    except jwt.InvalidTokenError as exc:
        raise InvalidToken() from exc
    if claims.get("type") != expected_type:
        raise InvalidToken(f"An {expected_type} token is required")
    return claims


def create_link_token(
    *, purpose: str, subject: str, ttl: timedelta, secret: str, issued_at: datetime | None = None
) -> str:
    """A signed token for a link in a mail or a download (purpose-bound, expiring).

    The same claims give the same token: a mail rendered later with the `issued_at` of the
    response carries the link the response did, while the outbox holds only the times.
    """
    now = (issued_at or utcnow()).replace(microsecond=0)
    payload = {"sub": subject, "purpose": purpose, "iat": now, "exp": now + ttl}
    return jwt.encode(payload, secret, algorithm=JWT_ALGORITHM)


def read_link_token(token: str, *, purpose: str, secret: str) -> str | None:
    """The subject of a valid, unexpired token made for this purpose; None for anything else."""
    try:
        claims = jwt.decode(token, secret, algorithms=[JWT_ALGORITHM], options={"require": ["sub", "purpose", "exp"]})
    except jwt.InvalidTokenError:
        return None
    return claims["sub"] if claims.get("purpose") == purpose else None
