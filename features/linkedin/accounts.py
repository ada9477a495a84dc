"""LinkedIn accounts: authorize, connect (the code exchanged with no transaction open), list, disconnect (revoked)."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from features.linkedin.client import LinkedInClient
from features.linkedin.models import LinkedInAccount
from features.linkedin.network import NETWORK
from shared import social_accounts
from shared.config import Settings
from shared.db import Database
from shared.oauth import consume_authorization, start_authorization
from shared.pagination import ListParams
from shared.publishing import (
    Identity,
    ProviderError,
    ProviderNotConfigured,
    TokenSet,
    http_error,
    require_configured,
)
from shared.social_schemas import AuthorizationStaffView, SocialAccountsHealth, SocialAccountStaffView
from shared.token_crypto import token_cipher

PROVIDER = "linkedin"


def require_linkedin_configured(settings: Settings) -> None:
    """503 PROVIDER_NOT_CONFIGURED naming what is missing of LINKEDIN_CLIENT_ID, _SECRET and _REDIRECT_URI."""
    require_configured(
        LINKEDIN_CLIENT_ID=settings.linkedin_client_id,
        LINKEDIN_CLIENT_SECRET=settings.linkedin_client_secret.get_secret_value(),
        LINKEDIN_REDIRECT_URI=settings.linkedin_redirect_uri,
    )


def to_view(account: LinkedInAccount) -> SocialAccountStaffView:
    """The account with its health as of now (the worker stores it too, for system health)."""
    return social_accounts.account_view(NETWORK, account)


async def authorize(
    session: AsyncSession, *, settings: Settings, redirect_uri: str | None, actor_id: int
) -> AuthorizationStaffView:
    """A consent URL with a fresh single-use state (10 minutes)."""
    require_linkedin_configured(settings)
    pending = await start_authorization(
        session, settings=settings, provider=PROVIDER, redirect_uri=redirect_uri or settings.linkedin_redirect_uri,
        pkce=False, created_by=actor_id,
    )
    async with LinkedInClient(settings) as client:
        url = client.authorization_url(state=pending.state, redirect_uri=pending.redirect_uri)
    return AuthorizationStaffView(authorization_url=url, state=pending.state, expires_at=pending.expires_at)


async def _exchange(settings: Settings, *, code: str, redirect_uri: str) -> tuple[TokenSet, Identity]:
    try:
        async with LinkedInClient(settings) as client:
            tokens = await client.exchange_code(code=code, redirect_uri=redirect_uri)
            return tokens, await client.fetch_identity(tokens.access_token)
    except ProviderError as exc:
        raise http_error(exc) from None


async def connect(database: Database, *, settings: Settings, code: str, state: str) -> tuple[LinkedInAccount, bool]:
    """Consumes the state (committed first: single use even if the exchange fails), exchanges the code,
    reads the member, then stores the account, updating it when this member was connected before.
    Returns the account and whether it is new."""
    require_linkedin_configured(settings)
    async with database.session() as session:
        consumed = await consume_authorization(session, settings=settings, provider=PROVIDER, state=state)
    tokens, identity = await _exchange(settings, code=code, redirect_uri=consumed.redirect_uri)
    async with database.session() as session:
        account, created = await social_accounts.store_connection(
            session, network=NETWORK, identity=identity, tokens=tokens, cipher=token_cipher(settings)
        )
    return account, created


async def list_accounts(session: AsyncSession, *, params: ListParams) -> tuple[list[LinkedInAccount], int]:
    return await social_accounts.list_accounts(session, network=NETWORK, params=params)


async def get_account(session: AsyncSession, *, account_id: int) -> LinkedInAccount:
    return await social_accounts.get_account(session, network=NETWORK, account_id=account_id)


async def disconnect(database: Database, *, settings: Settings, account_id: int) -> int:
    """Revokes the member's token at LinkedIn (best effort, logged when it fails), then deletes the account
    and its tokens; its scheduled posts become `failed` with the reason, its other posts stay, without an
    account. Returns how many failed."""
    return await social_accounts.disconnect(
        database, network=NETWORK, settings=settings, account_id=account_id,
        configured=bool(settings.linkedin_client_id),
    )


async def accounts_health(session: AsyncSession, *, settings: Settings) -> SocialAccountsHealth:
    """How many accounts are active, expiring and to reconnect, as of now, and whether the app is configured."""
    try:
        require_linkedin_configured(settings)
        configured = True
    except ProviderNotConfigured:
        configured = False
    return await social_accounts.accounts_health(session, network=NETWORK, configured=configured)
