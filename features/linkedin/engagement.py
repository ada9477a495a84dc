"""LinkedIn engagement: snapshots fetched by the worker and on demand, totals over published posts;
images uploaded ahead of publishing."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from features.linkedin.client import METRICS, LinkedInClient
from features.linkedin.models import TABLES, LinkedInAccount, LinkedInPost
from features.linkedin.service import media_reader
from shared.config import Settings
from shared.db import Database, utcnow
from shared.errors import NotFound, ValidationFailed
from shared.publishing import Credentials, ProviderError, Unauthorized, http_error
from shared.social_engagement import (
    DuePost,
    ensure_media,
    fetch_metrics,
    history,
    latest_snapshots,
    provider_ids,
    store_snapshots,
    totals_of,
)
from shared.social_posts import mark_reconnect_required
from shared.social_schemas import (
    EngagementPost,
    EngagementSnapshotView,
    EngagementStaffView,
    PostEngagementStaffView,
    ProviderMediaStaffView,
)
from shared.token_crypto import token_cipher

METRIC_NAMES = tuple(METRICS.values())


async def summary(
    session: AsyncSession, *, start: datetime | None, end: datetime | None, account_id: int | None
) -> EngagementStaffView:
    """Totals of the latest figures of the posts published in [start, end), and each post's."""
    if start is not None and end is not None and end <= start:
        raise ValidationFailed("`to` must lie after `from`", field="to")
    snapshots = await latest_snapshots(session, tables=TABLES, start=start, end=end, account_id=account_id)
    return EngagementStaffView(
        totals=totals_of(snapshots, METRIC_NAMES),
        posts=[EngagementPost(post_id=s.post_id, metrics=s.metrics, fetched_at=s.fetched_at) for s in snapshots],
    )


async def credentials_for(session: AsyncSession, *, settings: Settings, account_id: int) -> Credentials:
    account = await session.get(LinkedInAccount, account_id)
    if account is None:
        raise NotFound("LinkedIn account not found")
    return Credentials(account.provider_user_id, token_cipher(settings).decrypt(account.access_token_encrypted))


async def refresh_figures(
    database: Database, *, settings: Settings, account_id: int, posts: list[DuePost]
) -> None:
    """Fetches one account's figures (no transaction open) and stores a snapshot per post; raises
    ProviderError (a 401 marks the account `reconnect_required` first)."""
    async with database.session(write=False) as session:
        credentials = await credentials_for(session, settings=settings, account_id=account_id)
    try:
        async with LinkedInClient(settings) as client:
            figures = await fetch_metrics(client, credentials, posts)
    except Unauthorized as exc:
        await mark_reconnect_required(database, tables=TABLES, account_id=account_id, reason=exc.message)
        raise
    async with database.session() as session:
        await store_snapshots(session, tables=TABLES, figures=figures, now=utcnow())


async def post_figures(
    database: Database, *, settings: Settings, post_id: int, refresh: bool
) -> PostEngagementStaffView:
    """A post's latest figures and their history; with `refresh`, fetched from LinkedIn first
    (403 PROVIDER_ERROR naming r_member_postAnalytics when the app lacks it)."""
    async with database.session(write=False) as session:
        post = await session.get(LinkedInPost, post_id)
        if post is None:
            raise NotFound("LinkedIn post not found")
        ids = (await provider_ids(session, tables=TABLES, post_ids=[post_id])).get(post_id, [])
    if refresh:
        if post.status != "published" or not ids or post.account_id is None:
            raise ValidationFailed("Only a published post of a connected account has figures to fetch",
                                   field="refresh")
        try:
            await refresh_figures(
                database, settings=settings, account_id=post.account_id, posts=[DuePost(post_id, tuple(ids))]
            )
        except ProviderError as exc:
            raise http_error(exc) from None
    async with database.session(write=False) as session:
        snapshots = await history(session, tables=TABLES, post_id=post_id)
    latest = snapshots[0] if snapshots else None
    return PostEngagementStaffView(
        post_id=post_id, status=post.status, metrics=latest.metrics if latest else {},
        fetched_at=latest.fetched_at if latest else None,
        history=[EngagementSnapshotView.model_validate(s) for s in snapshots],
    )


async def upload_image(
    database: Database, *, settings: Settings, account_id: int, media_id: int
) -> ProviderMediaStaffView:
    """Uploads a media item's image to LinkedIn for this account ahead of publishing (reused when posted)."""
    async with database.session(write=False) as session:
        credentials = await credentials_for(session, settings=settings, account_id=account_id)
    try:
        async with LinkedInClient(settings) as client:
            row = await ensure_media(
                database, tables=TABLES, provider=client, account_id=account_id, credentials=credentials,
                media_id=media_id, read_media=media_reader(database, settings),
            )
    except ProviderError as exc:
        raise http_error(exc) from None
    return ProviderMediaStaffView(
        media_id=media_id, account_id=account_id, provider_media_id=row.provider_media_id, expires_at=row.expires_at
    )
