"""Connected accounts, written once for every network (shared/social_service.py `Network`): their health,
storing a connection, listing, removing, and the counts system health shows.

Each slice keeps what its provider does differently: the consent URL (PKCE or not), the code exchange.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.config import Settings
from shared.db import Database, utcnow
from shared.errors import NotFound
from shared.pagination import ListParams, paginate
from shared.publishing import AccountStatus, Identity, ProviderError, TokenSet, account_health
from shared.social_posts import fail_account_posts
from shared.social_schemas import SocialAccountsHealth, SocialAccountStaffView
from shared.social_service import Network
from shared.token_crypto import TokenCipher, TokenUnreadable, token_cipher

logger = logging.getLogger("magnetiq.publishing")


def health(network: Network, account: Any) -> AccountStatus:
    """As of now. Where the slice refreshes tokens before use, the access token's own end does not matter."""
    return account_health(
        reconnect_required=account.status == "reconnect_required", token_expires_at=account.token_expires_at,
        can_refresh=network.refreshes_tokens and account.refresh_token_encrypted is not None,
        refresh_expires_at=account.refresh_expires_at, now=utcnow(),
    )


def account_view(network: Network, account: Any) -> SocialAccountStaffView:
    """The account with its health as of now (the worker stores it too, for system health); never a token."""
    return SocialAccountStaffView.model_validate({**account.model_dump(), "status": health(network, account)})


async def store_connection(
    session: AsyncSession, *, network: Network, identity: Identity, tokens: TokenSet, cipher: TokenCipher
) -> tuple[Any, bool]:
    """Stores a connected account, its tokens encrypted; the same provider user again updates their account
    (and heals a `reconnect_required` one). Returns the account and whether it is new."""
    table = network.tables.account
    account = (await session.exec(select(table).where(table.provider_user_id == identity.provider_user_id))).first()
    created = account is None
    account = account or table(provider_user_id=identity.provider_user_id, display_name="")
    account.display_name = identity.display_name
    account.access_token_encrypted = cipher.encrypt(tokens.access_token)
    account.refresh_token_encrypted = cipher.encrypt(tokens.refresh_token) if tokens.refresh_token else None
    account.token_expires_at, account.refresh_expires_at = tokens.expires_at, tokens.refresh_expires_at
    account.scopes = list(tokens.scopes)
    account.status, account.status_reason = "active", None
    account.status = health(network, account)
    account.postponed_until, account.updated_at = None, utcnow()
    session.add(account)
    await session.flush()
    return account, created


async def list_accounts(session: AsyncSession, *, network: Network, params: ListParams) -> tuple[list[Any], int]:
    table = network.tables.account
    return await paginate(session, statement=select(table), params=params, order_by=[col(table.id)])


async def get_account(session: AsyncSession, *, network: Network, account_id: int) -> Any:
    account = await session.get(network.tables.account, account_id)
    if account is None:
        raise NotFound(f"{network.label} account not found")
    return account


async def remove_account(session: AsyncSession, *, network: Network, account_id: int) -> int:
    """Deletes the account, its tokens and its provider media rows; its scheduled posts become `failed`
    with the reason, its other posts stay, without an account. Returns how many failed."""
    account = await get_account(session, network=network, account_id=account_id)
    failed = await fail_account_posts(
        session, tables=network.tables, account_id=account_id,
        reason=f"not published: its {network.label} account was disconnected",
    )
    media = network.tables.media
    await session.exec(delete(media).where(col(media.account_id) == account_id))  # type: ignore[call-overload]
    await session.delete(account)
    await session.flush()
    return failed


async def disconnect(
    database: Database, *, network: Network, settings: Settings, account_id: int, configured: bool
) -> int:
    """Revokes the account's tokens at the provider (best effort, no transaction open: a refusal, an
    outage or an unreadable stored token is logged, without the token, and the disconnect goes on),
    then deletes the account and its tokens (`remove_account`). Returns how many scheduled posts failed."""
    async with database.session(write=False) as session:
        account = await get_account(session, network=network, account_id=account_id)
    if configured:
        cipher = token_cipher(settings)
        stored = [(account.refresh_token_encrypted, True), (account.access_token_encrypted, False)]
        async with network.client(settings) as client:
            for encrypted, is_refresh in stored:
                if encrypted is None:
                    continue
                try:
                    await client.revoke(cipher.decrypt(encrypted), is_refresh_token=is_refresh)
                except (ProviderError, TokenUnreadable) as exc:  # the tokens are deleted here all the same
                    logger.warning("token not revoked at the provider", extra={
                        "network": network.tables.network, "account_id": account_id, "reason": str(exc),
                        "token": "refresh" if is_refresh else "access",
                    })
    async with database.session() as session:
        return await remove_account(session, network=network, account_id=account_id)


async def accounts_health(session: AsyncSession, *, network: Network, configured: bool) -> SocialAccountsHealth:
    """How many accounts are active, expiring and to reconnect, as of now, and whether the app is configured."""
    counts = {"active": 0, "expiring": 0, "reconnect_required": 0}
    for account in (await session.exec(select(network.tables.account))).all():
        counts[health(network, account)] += 1
    return SocialAccountsHealth(configured=configured, **counts)
