"""X accounts: authorize (PKCE), connect (the code exchanged with no transaction open), list, disconnect (revoked)."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from features.twitter.client import XClient
from features.twitter.models import TwitterAccount
from features.twitter.network import NETWORK
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

PROVIDER = "twitter"


def require_x_configured(settings: Settings) -> None:
    """503 PROVIDER_NOT_CONFIGURED naming what is missing of X_CLIENT_ID, X_CLIENT_SECRET and X_REDIRECT_URI."""
    require_configured(
        X_CLIENT_ID=settings.x_client_id,
        X_CLIENT_SECRET=settings.x_client_secret.get_secret_value(),
        X_REDIRECT_URI=settings.x_redirect_uri,
    )


def to_view(account: TwitterAccount) -> SocialAccountStaffView:
    """The account with its health as of now (with a refresh token the two-hour access token is no warning)."""
    return social_accounts.account_view(NETWORK, account)


async def authorize(
    session: AsyncSession, *, settings: Settings, redirect_uri: str | None, actor_id: int
) -> AuthorizationStaffView:
    """X's consent URL with a fresh single-use state and PKCE verifier (kept server side, 10 minutes)."""
    require_x_configured(settings)
    pending = await start_authorization(
        session, settings=settings, provider=PROVIDER, redirect_uri=redirect_uri or settings.x_redirect_uri,
        pkce=True, created_by=actor_id,
    )
    async with XClient(settings) as client:
        url = client.authorization_url(
            state=pending.state, redirect_uri=pending.redirect_uri, code_challenge=pending.code_challenge
        )
    return AuthorizationStaffView(authorization_url=url, state=pending.state, expires_at=pending.expires_at)


async def _exchange(
    settings: Settings, *, code: str, redirect_uri: str, code_verifier: str | None
) -> tuple[TokenSet, Identity]:
    try:
        async with XClient(settings) as client:
            tokens = await client.exchange_code(code=code, redirect_uri=redirect_uri, code_verifier=code_verifier)
            return tokens, await client.fetch_identity(tokens.access_token)
    except ProviderError as exc:
        raise http_error(exc) from None


async def connect(database: Database, *, settings: Settings, code: str, state: str) -> tuple[TwitterAccount, bool]:
    """Consumes the state (committed first: single use even if the exchange fails), exchanges the code with
    the PKCE verifier, reads the X user, then stores the account, updating it when this user was connected
    before. Returns the account and whether it is new."""
    require_x_configured(settings)
    async with database.session() as session:
        consumed = await consume_authorization(session, settings=settings, provider=PROVIDER, state=state)
    tokens, identity = await _exchange(
        settings, code=code, redirect_uri=consumed.redirect_uri, code_verifier=consumed.code_verifier
    )
    async with database.session() as session:
        account, created = await social_accounts.store_connection(
            session, network=NETWORK, identity=identity, tokens=tokens, cipher=token_cipher(settings)
        )
        account.token_refresh_owner = account.token_refresh_until = None  # a lease of the old tokens is moot
        session.add(account)
    return account, created


async def list_accounts(session: AsyncSession, *, params: ListParams) -> tuple[list[TwitterAccount], int]:
    return await social_accounts.list_accounts(session, network=NETWORK, params=params)


async def get_account(session: AsyncSession, *, account_id: int) -> TwitterAccount:
    return await social_accounts.get_account(session, network=NETWORK, account_id=account_id)


async def disconnect(database: Database, *, settings: Settings, account_id: int) -> int:
    """Revokes the account's tokens at X (best effort, logged when it fails), then deletes the account and
    its tokens; its scheduled posts become `failed` with the reason, its other posts stay, without an
    account. Returns how many failed."""
    return await social_accounts.disconnect(
        database, network=NETWORK, settings=settings, account_id=account_id, configured=bool(settings.x_client_id)
    )


async def accounts_health(session: AsyncSession, *, settings: Settings) -> SocialAccountsHealth:
    """How many X accounts are active, expiring and to reconnect, as of now, and whether the app is configured."""
    try:
        require_x_configured(settings)
        configured = True
    except ProviderNotConfigured:
        configured = False
    return await social_accounts.accounts_health(session, network=NETWORK, configured=configured)
