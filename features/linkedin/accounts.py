"""LinkedIn accounts: authorize, connect (the code exchanged with no transaction open), list, disconnect."""

from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from features.linkedin.client import LinkedInClient
from features.linkedin.models import TABLES, LinkedInAccount, LinkedInMedia
from shared.config import Settings
from shared.db import Database, utcnow
from shared.errors import NotFound
from shared.oauth import consume_authorization, start_authorization
from shared.pagination import ListParams, paginate
from shared.publishing import (
    Identity,
    ProviderError,
    ProviderNotConfigured,
    TokenSet,
    account_health,
    http_error,
    require_configured,
)
from shared.social_posts import fail_account_posts
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
    status = account_health(
        reconnect_required=account.status == "reconnect_required", token_expires_at=account.token_expires_at,
        can_refresh=False, now=utcnow(),
    )
    return SocialAccountStaffView.model_validate({**account.model_dump(), "status": status})


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
    cipher = token_cipher(settings)
    now = utcnow()
    async with database.session() as session:
        account = (await session.exec(
            select(LinkedInAccount).where(LinkedInAccount.provider_user_id == identity.provider_user_id)
        )).first()
        created = account is None
        account = account or LinkedInAccount(provider_user_id=identity.provider_user_id, display_name="")
        account.display_name = identity.display_name
        account.access_token_encrypted = cipher.encrypt(tokens.access_token)
        account.refresh_token_encrypted = cipher.encrypt(tokens.refresh_token) if tokens.refresh_token else None
        account.token_expires_at, account.refresh_expires_at = tokens.expires_at, tokens.refresh_expires_at
        account.scopes = list(tokens.scopes)
        account.status = account_health(
            reconnect_required=False, token_expires_at=tokens.expires_at, can_refresh=False, now=now
        )
        account.status_reason, account.postponed_until, account.updated_at = None, None, now
        session.add(account)
        await session.flush()
    return account, created


async def list_accounts(session: AsyncSession, *, params: ListParams) -> tuple[list[LinkedInAccount], int]:
    return await paginate(session, select(LinkedInAccount), params, [col(LinkedInAccount.id)])


async def get_account(session: AsyncSession, *, account_id: int) -> LinkedInAccount:
    account = await session.get(LinkedInAccount, account_id)
    if account is None:
        raise NotFound("LinkedIn account not found")
    return account


async def disconnect(session: AsyncSession, *, account_id: int) -> int:
    """Deletes the account and its tokens (no revocation call: none is documented for this flow; the
    member removes the app in LinkedIn's settings); its scheduled posts become `failed` with the
    reason, its other posts stay, without an account. Returns how many failed."""
    account = await get_account(session, account_id=account_id)
    failed = await fail_account_posts(
        session, tables=TABLES, account_id=account_id,
        reason="not published: its LinkedIn account was disconnected",
    )
    await session.exec(delete(LinkedInMedia).where(col(LinkedInMedia.account_id) == account_id))  # type: ignore[call-overload]
    await session.delete(account)
    await session.flush()
    return failed


async def accounts_health(session: AsyncSession, *, settings: Settings) -> SocialAccountsHealth:
    """How many accounts are active, expiring and to reconnect, as of now, and whether the app is configured."""
    counts = {"active": 0, "expiring": 0, "reconnect_required": 0}
    for account in (await session.exec(select(LinkedInAccount))).all():
        counts[to_view(account).status] += 1
    try:
        require_linkedin_configured(settings)
    except ProviderNotConfigured:
        return SocialAccountsHealth(configured=False, **counts)
    return SocialAccountsHealth(configured=True, **counts)
