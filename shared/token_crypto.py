"""Provider tokens at rest: Fernet (AES-128-CBC with HMAC-SHA256) under TOKEN_ENCRYPTION_KEY.

TOKEN_ENCRYPTION_KEY is one Fernet key or several, comma separated: the first encrypts, every
one decrypts (MultiFernet), so a key is rotated by putting a new one first and, once `rotate`
has re-encrypted what is stored, dropping the old one. Without it (development and test only)
the key is derived from SECRET_KEY with HKDF; production refuses to start without one
(`token_key_problem`, checked by the shell with the slices' settings checks).

Plain tokens live only in memory, for the provider call that needs them: never in a response,
a log line, an error body, or the database file.
"""

from __future__ import annotations

import base64
from functools import lru_cache
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

if TYPE_CHECKING:  # the settings validate TOKEN_ENCRYPTION_KEY with parse_keys: no import cycle
    from shared.config import Settings

_DERIVATION_INFO = b"magnetiq provider token encryption"


class TokenUnreadable(RuntimeError):
    """A stored token no configured key decrypts (the key changed): the account must be reconnected."""


def parse_keys(value: str) -> list[bytes]:
    """The Fernet keys of a TOKEN_ENCRYPTION_KEY value; ValueError naming what is wrong with it."""
    keys = [part.strip().encode() for part in value.split(",") if part.strip()]
    if not keys:
        raise ValueError("must hold at least one Fernet key")
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            raise ValueError(
                f"key {position} is not a Fernet key (32 url-safe base64-encoded bytes; make one with "
                "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
            ) from None
    return keys


def _derived_key(secret_key: str) -> bytes:
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_DERIVATION_INFO).derive(secret_key.encode())
    return base64.urlsafe_b64encode(raw)


class TokenCipher:
    """Encrypts and decrypts provider tokens; the first key encrypts, every key decrypts."""

    def __init__(self, keys: list[bytes]) -> None:
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def encrypt(self, plain: str) -> str:
        """The token as stored: an opaque Fernet string that reveals nothing without the key."""
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, stored: str) -> str:
        """The plain token; TokenUnreadable when no configured key opens it (never the stored text)."""
        try:
            return self._fernet.decrypt(stored.encode()).decode()
        except InvalidToken:
            raise TokenUnreadable("a stored provider token cannot be decrypted with TOKEN_ENCRYPTION_KEY") from None

    def rotate(self, stored: str) -> str:
        """The token re-encrypted under the first key (for moving stored tokens to a new key)."""
        try:
            return self._fernet.rotate(stored.encode()).decode()
        except InvalidToken:
            raise TokenUnreadable("a stored provider token cannot be decrypted with TOKEN_ENCRYPTION_KEY") from None


@lru_cache(maxsize=8)
def _cipher_for(configured: str | None, secret_key: str) -> TokenCipher:
    keys = parse_keys(configured) if configured else [_derived_key(secret_key)]
    return TokenCipher(keys)


def token_cipher(settings: Settings) -> TokenCipher:
    """The cipher for these settings: TOKEN_ENCRYPTION_KEY, or in development and test one derived from SECRET_KEY."""
    configured = settings.token_encryption_key.get_secret_value() if settings.token_encryption_key else None
    return _cipher_for(configured, settings.secret_key.get_secret_value())


def token_key_problem(settings: Settings) -> str | None:
    """Why these settings cannot keep provider tokens, or None: production needs its own TOKEN_ENCRYPTION_KEY."""
    if settings.environment == "production" and settings.token_encryption_key is None:
        return (
            "TOKEN_ENCRYPTION_KEY must be set when ENVIRONMENT=production (it encrypts stored LinkedIn and X "
            "tokens; make one with python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())')"
        )
    return None
