"""Engagement snapshots and provider media, written once for every network.

Figures are stored as snapshots: the worker fetches those of published posts hourly while a post
is younger than a week and daily after (`posts_due_for_metrics`), in batches per account, and a
person may ask for fresh ones (`?refresh=true`). A thread's figures are the sum of its segments'.
Provider calls run with no transaction open (shared/outbound.py).

Provider media: an image of the media slice is uploaded once per account and its provider id
kept until it expires (X media expire after a day; LinkedIn images do not): `ensure_media`. When the
provider refuses a stored id anyway, publishing asks for `fresh` uploads (shared/social_posts.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import Database, utcnow
from shared.publishing import Credentials, MediaToUpload, SocialProvider
from shared.social_posts import PrepareMedia, Publication, SegmentState, SocialTables

YOUNG_POST = timedelta(days=7)  # fetched hourly until then, daily after
HOURLY, DAILY = timedelta(hours=1), timedelta(days=1)
MEDIA_EXPIRY_MARGIN = timedelta(minutes=10)  # a provider id expiring sooner is uploaded again


@dataclass(frozen=True)
class DuePost:
    post_id: int
    provider_post_ids: tuple[str, ...]


async def posts_due_for_metrics(
    session: AsyncSession, *, tables: SocialTables, now: datetime, limit: int = 500
) -> dict[int, list[DuePost]]:
    """Published posts whose figures are due, by account id: never fetched, or last fetched an hour
    ago (posts younger than a week) or a day ago (older ones)."""
    post = tables.post
    fetched = col(post.metrics_fetched_at)
    rows = await session.exec(
        select(post.id, post.account_id).where(
            post.status == "published", col(post.account_id).is_not(None),
            or_(
                fetched.is_(None),
                and_(col(post.published_at) > now - YOUNG_POST, fetched <= now - HOURLY),
                fetched <= now - DAILY,
            ),
        ).order_by(fetched.is_not(None), fetched, col(post.id)).limit(limit)
    )
    found = rows.all()
    ids = await provider_ids(session, tables=tables, post_ids=[post_id for post_id, _ in found])
    due: dict[int, list[DuePost]] = defaultdict(list)
    for post_id, account_id in found:
        if ids.get(post_id):
            due[account_id].append(DuePost(post_id, tuple(ids[post_id])))
    return dict(due)


async def provider_ids(session: AsyncSession, *, tables: SocialTables, post_ids: Sequence[int]) -> dict[int, list[str]]:
    """The provider ids of the accepted segments of these posts, in order."""
    segment = tables.segment
    rows = await session.exec(
        select(segment.post_id, segment.provider_post_id)
        .where(col(segment.post_id).in_(post_ids), col(segment.provider_post_id).is_not(None))
        .order_by(col(segment.post_id), col(segment.position))
    )
    found: dict[int, list[str]] = defaultdict(list)
    for post_id, provider_id in rows.all():
        found[post_id].append(provider_id)
    return found


async def fetch_metrics(
    provider: SocialProvider, credentials: Credentials, posts: Sequence[DuePost]
) -> dict[int, dict[str, int]]:
    """One account's figures per post id (a thread's segments summed); raises the provider's errors."""
    by_provider_id = await provider.fetch_metrics(
        credentials, [provider_id for due in posts for provider_id in due.provider_post_ids]
    )
    figures: dict[int, dict[str, int]] = {}
    for due in posts:
        total: dict[str, int] = defaultdict(int)
        for provider_id in due.provider_post_ids:
            for name, value in by_provider_id.get(provider_id, {}).items():
                total[name] += int(value)
        figures[due.post_id] = dict(total)
    return figures


async def store_snapshots(
    session: AsyncSession, *, tables: SocialTables, figures: dict[int, dict[str, int]], now: datetime
) -> None:
    """One snapshot per post, and the post's `metrics_fetched_at` moved to `now`."""
    for post_id, metrics in figures.items():
        session.add(tables.snapshot(post_id=post_id, fetched_at=now, metrics=metrics))
        post = await session.get(tables.post, post_id)
        if post is not None:
            post.metrics_fetched_at = now
            session.add(post)
    await session.flush()


def _sum(metrics: Sequence[dict[str, int]]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for figures in metrics:
        for name, value in figures.items():
            totals[name] += value
    return dict(totals)


async def latest_snapshots(
    session: AsyncSession, *, tables: SocialTables, start: datetime | None, end: datetime | None,
    account_id: int | None,
) -> list[Any]:
    """The newest snapshot of each published post published in [start, end) (of one account, if given)."""
    post, snapshot = tables.post, tables.snapshot
    newest = (
        select(snapshot.post_id, func.max(snapshot.id).label("snapshot_id"))
        .group_by(col(snapshot.post_id)).subquery()
    )
    statement = (
        select(snapshot).join(newest, snapshot.id == newest.c.snapshot_id)
        .join(post, post.id == snapshot.post_id).where(post.status == "published")
    )
    if start is not None:
        statement = statement.where(col(post.published_at) >= start)
    if end is not None:
        statement = statement.where(col(post.published_at) < end)
    if account_id is not None:
        statement = statement.where(post.account_id == account_id)
    return list((await session.exec(statement.order_by(col(snapshot.post_id)))).all())


def totals_of(snapshots: Sequence[Any], metric_names: Sequence[str]) -> dict[str, int]:
    """Every metric of the network summed over these snapshots (0 where none reported it)."""
    return {name: 0 for name in metric_names} | _sum([s.metrics for s in snapshots])


async def history(session: AsyncSession, *, tables: SocialTables, post_id: int, limit: int = 500) -> list[Any]:
    """A post's snapshots, newest first."""
    snapshot = tables.snapshot
    rows = await session.exec(
        select(snapshot).where(snapshot.post_id == post_id).order_by(col(snapshot.id).desc()).limit(limit)
    )
    return list(rows.all())


# --- provider media ----------------------------------------------------------------------------

ReadMedia = Callable[[int], Awaitable[MediaToUpload]]  # a media item's bytes (the media slice's api)


def _still_valid(stored: Any, provider: SocialProvider, now: datetime) -> bool:
    """The stored provider id outlives the margin: by the provider's word (`expires_at`) and by its
    media lifetime counted from the upload (X: a day), whichever ends first."""
    ends = [stored.expires_at] if stored.expires_at is not None else []
    if provider.media_lifetime is not None:
        ends.append(stored.uploaded_at + provider.media_lifetime)
    return all(end > now + MEDIA_EXPIRY_MARGIN for end in ends)


async def ensure_media(
    database: Database, *, tables: SocialTables, provider: SocialProvider, account_id: int,
    credentials: Credentials, media_id: int, read_media: ReadMedia, clock: Callable[[], datetime] = utcnow,
    fresh: bool = False,
) -> Any:
    """The provider media row for this item and account: the stored one while it is valid (and not
    `fresh`: the provider refused it), else a new upload recorded in its own short transaction (none
    open during the upload)."""
    media = tables.media
    async with database.session(write=False) as session:
        stored = (await session.exec(
            select(media).where(media.media_id == media_id, media.account_id == account_id)
        )).first()
    if stored is not None and not fresh and _still_valid(stored, provider, clock()):
        return stored
    uploaded = await provider.upload_media(credentials, await read_media(media_id))
    async with database.session() as session:
        row = (await session.exec(
            select(media).where(media.media_id == media_id, media.account_id == account_id)
        )).first() or media(media_id=media_id, account_id=account_id)
        row.provider_media_id, row.expires_at = uploaded.provider_media_id, uploaded.expires_at
        row.uploaded_at = clock()
        session.add(row)
    return row


def media_preparer(
    database: Database, *, tables: SocialTables, provider: SocialProvider, read_media: ReadMedia,
    clock: Callable[[], datetime] = utcnow,
) -> PrepareMedia:
    """A `PrepareMedia` for shared/social_posts.py's `publish`: each image of a segment uploaded, or
    reused while valid; all uploaded again with `fresh` (the provider refused the ids)."""

    async def prepare(publication: Publication, segment: SegmentState, *, fresh: bool = False) -> tuple[str, ...]:
        rows = [
            await ensure_media(
                database, tables=tables, provider=provider, account_id=publication.account_id,
                credentials=publication.credentials, media_id=media_id, read_media=read_media, clock=clock,
                fresh=fresh,
            )
            for media_id in segment.media_ids
        ]
        return tuple(row.provider_media_id for row in rows)

    return prepare
