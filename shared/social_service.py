"""What each network's slice does around the kernel, written once: publish now, reset, engagement, images.

A slice describes its network once as a `Network`: its tables, its name for people, its provider
client, how an account's credentials are had (LinkedIn: the stored token; X: refreshed first when
it is about to die) and its metric names. The functions below take it; the slice's own modules keep
only what differs (post bodies, segments, the provider's protocol).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.config import Settings
from shared.db import Database, utcnow
from shared.errors import InvalidTransition, NotFound, ValidationFailed
from shared.jobs import JobContext
from shared.publishing import (
    Credentials,
    PermissionMissing,
    ProviderError,
    ProviderRequestFailed,
    RateLimited,
    ReconnectFirst,
    SocialProvider,
    Unauthorized,
    backoff,
    check_transition,
    http_error,
)
from shared.social_engagement import (
    DuePost,
    ReadMedia,
    ensure_media,
    fetch_metrics,
    history,
    latest_snapshots,
    media_preparer,
    posts_due_for_metrics,
    provider_ids,
    store_snapshots,
    totals_of,
)
from shared.social_posts import (
    SocialTables,
    mark_reconnect_required,
    postpone_account,
    postponed_until,
    publish,
    refresh_account_health,
)
from shared.social_schemas import (
    EngagementPost,
    EngagementSnapshotView,
    EngagementStaffView,
    PostEngagementStaffView,
    PostQueue,
    ProviderMediaStaffView,
)
from shared.token_crypto import TokenCipher, TokenUnreadable, token_cipher

logger = logging.getLogger("magnetiq.publishing")

# (database, settings, provider, account id) -> the account's credentials, ready for a call
GetCredentials = Callable[[Database, Settings, SocialProvider, int], Awaitable[Credentials]]


@dataclass(frozen=True)
class Network:
    tables: SocialTables
    label: str  # as people call it: "LinkedIn", "X"
    client: Callable[[Settings], AbstractAsyncContextManager[Any]]  # the provider client, `async with`
    credentials: GetCredentials
    metric_names: tuple[str, ...]
    refreshes_tokens: bool = False  # True: an access token is refreshed before use (X), so its end is no warning


async def reconnect_on_401(database: Database, *, network: Network, account_id: int, call: Awaitable[Any]) -> Any:
    """Awaits a provider call outside publishing; a 401 marks the account `reconnect_required`, then is raised."""
    try:
        return await call
    except Unauthorized as exc:
        await mark_reconnect_required(database, tables=network.tables, account_id=account_id, reason=exc.message)
        raise


UNREADABLE_TOKEN = (
    "the account's stored token cannot be decrypted with TOKEN_ENCRYPTION_KEY (was the key changed?); "
    "connect the account again"
)


async def readable_token(
    database: Database, *, tables: SocialTables, account_id: int, cipher: TokenCipher, stored: str
) -> str:
    """The plain token. When no configured key opens it, the account is marked `reconnect_required` in a
    transaction of its own (committed: the mark outlives the refusal that follows) and
    ReconnectFirst is raised, which the API answers 409 RECONNECT_REQUIRED and the worker
    records as a failed post, like a 401."""
    try:
        return cipher.decrypt(stored)
    except TokenUnreadable:
        await mark_reconnect_required(database, tables=tables, account_id=account_id, reason=UNREADABLE_TOKEN)
        raise ReconnectFirst(UNREADABLE_TOKEN) from None


def check_future(scheduled_at: datetime | None) -> None:
    if scheduled_at is not None and scheduled_at <= utcnow():
        raise ValidationFailed("scheduled_at must lie in the future; publish now instead", field="scheduled_at")


async def get_post_row(session: AsyncSession, *, network: Network, post_id: int) -> Any:
    post = await session.get(network.tables.post, post_id)
    if post is None:
        raise NotFound(f"{network.label} post not found")
    return post


async def reset_post(session: AsyncSession, *, network: Network, post_id: int) -> Any:
    """Staff checked an `unknown` post at the provider: it becomes `failed` and may be published again."""
    post = await get_post_row(session, network=network, post_id=post_id)
    if post.status != "unknown":
        raise InvalidTransition(f"Only a post whose outcome is unknown can be reset; this one is {post.status}")
    check_transition(post.status, "failed")
    post.status, post.updated_at = "failed", utcnow()
    post.error = f"reset by staff after checking {network.label} (was: {post.error})"[:1000]
    session.add(post)
    await session.flush()
    return post


async def publish_now(
    database: Database, *, network: Network, settings: Settings, post_id: int, owner: str, read_media: ReadMedia
) -> None:
    """Publishes at once: the account's credentials had first (a token about to die refreshed), then the
    kernel's `publish`; 502 PROVIDER_ERROR when the post ended `failed` or `unknown`, with its error."""
    async with database.session(write=False) as session:
        post = await get_post_row(session, network=network, post_id=post_id)
    cipher = token_cipher(settings)
    async with network.client(settings) as client:
        if post.account_id is not None and post.status in {"draft", "scheduled", "failed"}:
            try:
                await network.credentials(database, settings, client, post.account_id)
            except ProviderError as exc:
                raise http_error(exc) from None
        images = media_preparer(database, tables=network.tables, provider=client, read_media=read_media)
        outcome = await publish(
            database, tables=network.tables, provider=client, cipher=cipher, post_id=post_id, owner=owner,
            prepare_media=images,
        )
    if outcome.status != "published":
        async with database.session(write=False) as session:
            post = await get_post_row(session, network=network, post_id=post_id)
        raise ProviderRequestFailed(
            f"The post is {post.status}: {post.error}", details=[{"post_id": post_id, "status": post.status}]
        )


async def summary(
    session: AsyncSession, *, network: Network, start: datetime | None, end: datetime | None, account_id: int | None
) -> EngagementStaffView:
    """Totals of the latest figures of the posts published in [start, end), and each post's."""
    if start is not None and end is not None and end <= start:
        raise ValidationFailed("`to` must lie after `from`", field="to")
    snapshots = await latest_snapshots(session, tables=network.tables, start=start, end=end, account_id=account_id)
    return EngagementStaffView(
        totals=totals_of(snapshots, network.metric_names),
        posts=[EngagementPost(post_id=s.post_id, metrics=s.metrics, fetched_at=s.fetched_at) for s in snapshots],
    )


async def refresh_figures(
    database: Database, *, network: Network, settings: Settings, account_id: int, posts: list[DuePost],
    now: datetime | None = None,
) -> None:
    """Fetches one account's figures (no transaction open) and stores a snapshot per post; raises ProviderError.

    An account a rate limit postponed is not called before the reset (RateLimited, nothing sent); a 429
    postpones it, as it does its publishing."""
    now = now or utcnow()
    if (until := await postponed_until(database, tables=network.tables, account_id=account_id, now=now)) is not None:
        raise RateLimited(f"{network.label} rate-limits this account until {until.isoformat(timespec='seconds')}",
                          reset_at=until)
    async with network.client(settings) as client:
        credentials = await network.credentials(database, settings, client, account_id)
        try:
            figures = await reconnect_on_401(
                database, network=network, account_id=account_id, call=fetch_metrics(client, credentials, posts)
            )
        except RateLimited as exc:
            exc.reset_at = exc.reset_at if exc.reset_at and exc.reset_at > now else now + backoff(1)
            await postpone_account(database, tables=network.tables, account_id=account_id, until=exc.reset_at)
            raise
    async with database.session() as session:
        await store_snapshots(session, tables=network.tables, figures=figures, now=now)


async def post_figures(
    database: Database, *, network: Network, settings: Settings, post_id: int, refresh: bool
) -> PostEngagementStaffView:
    """A post's latest figures and their history; with `refresh`, fetched from the provider first
    (a missing analytics scope is 403 PROVIDER_ERROR naming it)."""
    async with database.session(write=False) as session:
        post = await get_post_row(session, network=network, post_id=post_id)
        ids = (await provider_ids(session, tables=network.tables, post_ids=[post_id])).get(post_id, [])
    if refresh:
        if post.status != "published" or not ids or post.account_id is None:
            raise ValidationFailed("Only a published post of a connected account has figures to fetch",
                                   field="refresh")
        try:
            await refresh_figures(database, network=network, settings=settings, account_id=post.account_id,
                                  posts=[DuePost(post_id, tuple(ids))])
        except ProviderError as exc:
            raise http_error(exc) from None
    async with database.session(write=False) as session:
        snapshots = await history(session, tables=network.tables, post_id=post_id)
    latest = snapshots[0] if snapshots else None
    return PostEngagementStaffView(
        post_id=post_id, status=post.status, metrics=latest.metrics if latest else {},
        fetched_at=latest.fetched_at if latest else None,
        history=[EngagementSnapshotView.model_validate(s) for s in snapshots],
    )


async def upload_image(
    database: Database, *, network: Network, settings: Settings, account_id: int, media_id: int,
    read_media: ReadMedia,
) -> ProviderMediaStaffView:
    """Uploads a media item's image to the provider for this account ahead of publishing (reused while valid)."""
    try:
        async with network.client(settings) as client:
            credentials = await network.credentials(database, settings, client, account_id)
            row = await reconnect_on_401(database, network=network, account_id=account_id, call=ensure_media(
                database, tables=network.tables, provider=client, account_id=account_id, credentials=credentials,
                media_id=media_id, read_media=read_media,
            ))
    except ProviderError as exc:
        raise http_error(exc) from None
    return ProviderMediaStaffView(
        media_id=media_id, account_id=account_id, provider_media_id=row.provider_media_id, expires_at=row.expires_at
    )


# --- the worker's jobs beside publishing ----------------------------------------------------------


async def store_account_health(context: JobContext, *, network: Network) -> None:
    """Stores each account's health: `expiring` within 7 days of what keeps it connected, then
    `reconnect_required` (shared/publishing.py `account_health`); a change is logged as a warning."""
    async with context.database.session() as session:
        await refresh_account_health(
            session, tables=network.tables, refreshes_tokens=network.refreshes_tokens, now=context.clock()
        )


async def fetch_due_figures(context: JobContext, *, network: Network) -> None:
    """Snapshots of published posts' figures: hourly in their first week, daily after; one batch per account.
    An account postponed by a rate limit waits for the reset; one the provider refuses is logged and
    skipped; the others go on."""
    now = context.clock()
    async with context.database.session(write=False) as session:
        due = await posts_due_for_metrics(session, tables=network.tables, now=now)
    for account_id, posts in due.items():
        where = {"network": network.tables.network, "account_id": account_id}
        if await postponed_until(context.database, tables=network.tables, account_id=account_id, now=now):
            continue  # no call before the reset, and no warning every run meanwhile
        try:
            await refresh_figures(
                context.database, network=network, settings=context.settings, account_id=account_id, posts=posts,
                now=now,
            )
        except PermissionMissing as exc:
            logger.warning("analytics not permitted", extra={**where, "scope": exc.scope})
        except ProviderError as exc:
            logger.warning("figures not fetched", extra={**where, "reason": exc.message})


async def post_queue(session: AsyncSession, *, network: Network, now: datetime | None = None) -> PostQueue:
    """How many posts are due for the worker and how many are `unknown`: one query on the status index."""
    post, now = network.tables.post, now or utcnow()
    due, unknown = (await session.exec(
        select(
            func.count().filter(and_(post.status == "scheduled", col(post.next_attempt_at) <= now)),
            func.count().filter(post.status == "unknown"),
        ).where(col(post.status).in_(("scheduled", "unknown")))
    )).one()
    return PostQueue(due=due, unknown=unknown)
