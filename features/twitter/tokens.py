"""An X account's access token, refreshed before use: X's live two hours, and its refresh tokens rotate.

`fresh_credentials` hands out a token good for at least REFRESH_MARGIN more. When the stored one
is older, one process refreshes it: a short write transaction takes the account's refresh lease
(only where no live lease is held and the token still needs it), the call to X runs with no
transaction open, and one more short transaction stores the new access token and the new refresh
token, encrypted, and gives the lease back. Another process that finds the lease taken waits for
the new token instead of spending the same refresh token a second time, which X would refuse.

A refresh token X refuses, or a stored token no configured key decrypts (ReconnectFirst), marks
the account `reconnect_required`. A refresh that failed for any other reason leaves the account as
it was; for the post that needed it nothing was sent, so a timeout here is reported as
`ProviderUnavailable(sent=False)`, never as an unknown outcome.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import col

from features.twitter.models import TABLES, TwitterAccount
from shared.db import Database, utcnow
from shared.errors import NotFound
from shared.publishing import (
    Credentials,
    ProviderTimeout,
    ProviderUnavailable,
    ReconnectFirst,
    SocialProvider,
    TokenSet,
    Unauthorized,
)
from shared.social_service import UNREADABLE_TOKEN, readable_token
from shared.token_crypto import TokenCipher, TokenUnreadable

REFRESH_MARGIN = timedelta(minutes=5)  # a token that dies sooner is refreshed first
WAIT_STEP_SECONDS = 0.05


def _lease(timeout_seconds: float) -> timedelta:
    # Our client gives up on X after PROVIDER_TIMEOUT_SECONDS, so a live refresher is done well within this.
    return timedelta(seconds=2 * timeout_seconds + 10)


def needs_refresh(account: TwitterAccount, now: datetime) -> bool:
    return account.token_expires_at is None or account.token_expires_at <= now + REFRESH_MARGIN


async def fresh_credentials(
    database: Database,
    *,
    provider: SocialProvider,
    cipher: TokenCipher,
    account_id: int,
    timeout_seconds: float,
    clock: Callable[[], datetime] = utcnow,
) -> Credentials:
    """The account's X user and an access token valid REFRESH_MARGIN more at least, refreshed first if not.

    Raises Unauthorized (the account is then `reconnect_required`) when X refuses the refresh token or a
    stored token cannot be decrypted (ReconnectFirst),
    ProviderUnavailable(sent=False) when X or another process's refresh does not come through in time,
    and RateLimited as X says."""
    owner = secrets.token_hex(16)
    lease = _lease(timeout_seconds)
    give_up_at = clock() + lease
    while True:
        async with database.session(write=False) as session:
            account = await session.get(TwitterAccount, account_id)
        if account is None:
            raise NotFound("X account not found")
        if account.status == "reconnect_required":
            raise ReconnectFirst(f"the X account must be connected again: {account.status_reason or 'X refused it'}")
        now = clock()
        if not needs_refresh(account, now):
            token = await readable_token(
                database, tables=TABLES, account_id=account_id, cipher=cipher, stored=account.access_token_encrypted
            )
            return Credentials(account.provider_user_id, token)
        if account.refresh_token_encrypted is None:
            raise Unauthorized("the X access token has expired and X gave no refresh token")
        refresh_token = await _take_lease(database, account_id=account_id, owner=owner, now=now, until=now + lease)
        if refresh_token is not None:
            break
        if clock() >= give_up_at:
            raise ProviderUnavailable("another process has been refreshing the X token for too long", sent=False)
        await asyncio.sleep(WAIT_STEP_SECONDS)  # another process refreshes: wait for its token

    try:
        plain_refresh_token = cipher.decrypt(refresh_token)
    except TokenUnreadable:
        await _give_lease_back(database, account_id=account_id, owner=owner, reconnect_reason=UNREADABLE_TOKEN)
        raise ReconnectFirst(UNREADABLE_TOKEN) from None
    try:
        tokens = await provider.refresh(plain_refresh_token)
    except Unauthorized as exc:
        await _give_lease_back(database, account_id=account_id, owner=owner, reconnect_reason=exc.message)
        raise
    except ProviderTimeout as exc:
        await _give_lease_back(database, account_id=account_id, owner=owner)
        raise ProviderUnavailable(f"refreshing the X token: {exc.message}", sent=False) from exc
    except BaseException:
        await _give_lease_back(database, account_id=account_id, owner=owner)
        raise
    await _store(database, account_id=account_id, tokens=tokens, cipher=cipher, now=clock())
    return Credentials(account.provider_user_id, tokens.access_token)


async def _take_lease(database: Database, *, account_id: int, owner: str, now: datetime, until: datetime) -> str | None:
    """Takes the refresh lease if no live one is held and the token still needs refreshing; returns the
    (encrypted) refresh token to spend, or None when another process has it or just refreshed."""
    async with database.session() as session:
        expires, lease = col(TwitterAccount.token_expires_at), col(TwitterAccount.token_refresh_until)
        result = await session.exec(  # type: ignore[call-overload]
            update(TwitterAccount)
            .where(
                col(TwitterAccount.id) == account_id,
                col(TwitterAccount.refresh_token_encrypted).is_not(None),
                or_(expires.is_(None), expires <= now + REFRESH_MARGIN),
                or_(lease.is_(None), lease <= now),
            )
            .values(token_refresh_owner=owner, token_refresh_until=until)
            .returning(TwitterAccount.refresh_token_encrypted)
        )
        row = result.first()
    return row[0] if row is not None else None


async def _store(database: Database, *, account_id: int, tokens: TokenSet, cipher: TokenCipher, now: datetime) -> None:
    """The new access token and the rotated refresh token, in the transaction that gives the lease back.

    Stored even if the lease lapsed meanwhile: X has rotated the refresh token, ours is the live one."""
    async with database.session() as session:
        account = await session.get(TwitterAccount, account_id)
        if account is None:  # disconnected meanwhile: nothing to keep
            return
        account.access_token_encrypted = cipher.encrypt(tokens.access_token)
        if tokens.refresh_token:
            account.refresh_token_encrypted = cipher.encrypt(tokens.refresh_token)
        account.token_expires_at = tokens.expires_at
        account.scopes = list(tokens.scopes) or account.scopes
        account.token_refresh_owner = account.token_refresh_until = None
        account.updated_at = now
        session.add(account)


async def _give_lease_back(
    database: Database, *, account_id: int, owner: str, reconnect_reason: str | None = None
) -> None:
    values: dict[str, object] = {"token_refresh_owner": None, "token_refresh_until": None}
    if reconnect_reason is not None:
        values |= {"status": "reconnect_required", "status_reason": reconnect_reason[:500]}
    async with database.session() as session:
        await session.exec(  # type: ignore[call-overload]
            update(TwitterAccount)
            .where(col(TwitterAccount.id) == account_id, col(TwitterAccount.token_refresh_owner) == owner)
            .values(**values)
        )
