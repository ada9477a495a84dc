"""X posts: write tweets and threads, schedule, publish now, reset, cancel or delete (rules: shared/publishing.py).

A thread is one post of several segments; publishing posts them in order, each replying to the
one before, and records each tweet's id the moment X accepts it (shared/social_posts.py), so a
thread that failed in the middle resumes at its first segment without an id.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from features.media import api as media_api
from features.twitter.client import XClient, tweet_url
from features.twitter.models import TABLES, TwitterAccount, TwitterPost, TwitterPostImage, TwitterPostSegment
from features.twitter.network import NETWORK
from features.twitter.schemas import TwitterPostCreate, TwitterPostStaffView, TwitterPostUpdate, TwitterSegmentIn
from features.twitter.segments import check_segments
from shared import social_service
from shared.config import Settings
from shared.db import Database, utcnow
from shared.errors import InvalidTransition, ValidationFailed
from shared.pagination import ListParams, paginate, sort_order
from shared.publishing import (
    ProviderError,
    check_editable,
    check_transition,
    http_error,
)
from shared.social_posts import segment_rows
from shared.social_schemas import PostQueue
from shared.social_service import check_future

SORT_COLUMNS = {"created_at": TwitterPost.created_at, "scheduled_at": TwitterPost.scheduled_at,
                "published_at": TwitterPost.published_at}
Post = tuple[TwitterPost, list[TwitterPostSegment]]


def to_view(post: TwitterPost, segments: list[TwitterPostSegment]) -> TwitterPostStaffView:
    views = [
        {"text": s.text, "media_ids": list(s.media_ids or []), "provider_post_id": s.provider_post_id,
         "url": tweet_url(s.provider_post_id) if s.provider_post_id else None}
        for s in segments
    ]
    first = views[0]
    return TwitterPostStaffView.model_validate({
        **post.model_dump(), "text": first["text"], "media_ids": first["media_ids"], "segments": views,
        "provider_post_id": first["provider_post_id"], "url": first["url"],
    })


async def _check_account(session: AsyncSession, *, account_id: int) -> None:
    if await session.get(TwitterAccount, account_id) is None:
        raise ValidationFailed("There is no X account with this id", field="account_id")


async def _check_texts(segments: list[TwitterSegmentIn]) -> None:
    """Each segment's text as X would take it (422 naming the segment). Called before the request's first
    statement, so no write lock is held meanwhile, and in a thread: the weighing is linear but a thread
    may bring 25 segments of 4,000 characters, and it releases the interpreter between its short regex calls."""
    await asyncio.to_thread(check_segments, [(segment.text, segment.media_ids) for segment in segments])


async def _check_images(session: AsyncSession, *, settings: Settings, segments: list[TwitterSegmentIn]) -> None:
    """Each image a media item that is an image (422 naming the segment)."""
    for index, segment in enumerate(segments):
        await media_api.require_images(
            session, settings=settings, media_ids=segment.media_ids, field=f"segments.{index}.media_ids"
        )


async def _link_images(session: AsyncSession, *, post_id: int, segments: list[TwitterSegmentIn]) -> None:
    await session.exec(delete(TwitterPostImage).where(col(TwitterPostImage.post_id) == post_id))  # type: ignore[call-overload]
    used = dict.fromkeys(media_id for segment in segments for media_id in segment.media_ids)
    session.add_all(TwitterPostImage(post_id=post_id, media_id=media_id) for media_id in used)
    await session.flush()


def _segment_rows(post_id: int, segments: list[TwitterSegmentIn]) -> list[TwitterPostSegment]:
    return [
        TwitterPostSegment(post_id=post_id, position=index, text=segment.text, media_ids=segment.media_ids)
        for index, segment in enumerate(segments)
    ]


async def create_post(session: AsyncSession, *, settings: Settings, actor_id: int, data: TwitterPostCreate) -> Post:
    """A draft, or a scheduled post when `scheduled_at` is given; a tweet, or a thread of several segments."""
    await _check_texts(data.segments)
    await _check_account(session, account_id=data.account_id)
    await _check_images(session, settings=settings, segments=data.segments)
    check_future(data.scheduled_at)
    post = TwitterPost(
        account_id=data.account_id, created_by=actor_id, scheduled_at=data.scheduled_at,
        next_attempt_at=data.scheduled_at, status="scheduled" if data.scheduled_at else "draft",
    )
    session.add(post)
    await session.flush()
    segments = _segment_rows(post.id, data.segments)
    session.add_all(segments)
    await _link_images(session, post_id=post.id, segments=data.segments)
    return post, segments


async def get_post(session: AsyncSession, *, post_id: int) -> Post:
    post = await social_service.get_post_row(session, network=NETWORK, post_id=post_id)
    return post, (await segment_rows(session, tables=TABLES, post_ids=[post_id]))[post_id]


async def list_posts(
    session: AsyncSession, *, params: ListParams, status: str | None, account_id: int | None, sort: str | None
) -> tuple[list[Post], int]:
    """Posts, newest first, each with its segments (two queries for the page)."""
    statement = select(TwitterPost)
    if status:
        statement = statement.where(TwitterPost.status == status)
    if account_id is not None:
        statement = statement.where(TwitterPost.account_id == account_id)
    order = sort_order(sort, SORT_COLUMNS, [col(TwitterPost.id).desc()])
    posts, total = await paginate(session, statement=statement, params=params, order_by=order)
    segments = await segment_rows(session, tables=TABLES, post_ids=[p.id for p in posts])
    return [(post, segments[post.id]) for post in posts], total


async def update_post(session: AsyncSession, *, settings: Settings, post_id: int, data: TwitterPostUpdate) -> Post:
    """Changes a draft or scheduled post (409 otherwise); `scheduled_at` set schedules it, null makes it a draft.

    The segments of a thread part of which X already took (a retry is pending) cannot change: 409."""
    if data.segments is not None:
        await _check_texts(data.segments)
    post, segments = await get_post(session, post_id=post_id)
    check_editable(post.status)
    changes = data.model_dump(exclude_unset=True)
    for name in ("account_id", "segments"):
        if name in changes and changes[name] is None:
            raise ValidationFailed(f"{name} cannot be null", field=name)
    if "account_id" in changes:
        if any(s.provider_post_id for s in segments):
            raise InvalidTransition("Part of this thread is on X already; it stays with its account")
        await _check_account(session, account_id=changes["account_id"])
        post.account_id = changes["account_id"]
    if data.segments is not None:
        if any(s.provider_post_id for s in segments):
            raise InvalidTransition("Part of this thread is on X already; its segments can no longer change")
        await _check_images(session, settings=settings, segments=data.segments)
        await session.exec(delete(TwitterPostSegment).where(col(TwitterPostSegment.post_id) == post_id))  # type: ignore[call-overload]
        segments = _segment_rows(post_id, data.segments)
        session.add_all(segments)
        await _link_images(session, post_id=post_id, segments=data.segments)
    if "scheduled_at" in changes:
        check_future(changes["scheduled_at"])
        post.scheduled_at = post.next_attempt_at = changes["scheduled_at"]
        post.status = "scheduled" if post.scheduled_at else "draft"
        post.attempts = 0
    post.updated_at = utcnow()
    session.add(post)
    await session.flush()
    return post, segments


async def reset_post(session: AsyncSession, *, post_id: int) -> Post:
    """Staff checked an `unknown` post at X: it becomes `failed` and may be published again."""
    post = await social_service.reset_post(session, network=NETWORK, post_id=post_id)
    return post, (await segment_rows(session, tables=TABLES, post_ids=[post_id]))[post_id]


async def publish_now(database: Database, *, settings: Settings, post_id: int, owner: str) -> Post:
    """Publishes at once (the token refreshed first if it is about to die); 502 PROVIDER_ERROR when the
    post ended `failed` or `unknown`, with its error."""
    await social_service.publish_now(
        database, network=NETWORK, settings=settings, post_id=post_id, owner=owner,
        read_media=media_api.upload_reader(database, settings),
    )
    async with database.session(write=False) as session:
        return await get_post(session, post_id=post_id)


async def cancel_or_delete(database: Database, *, settings: Settings, post_id: int) -> None:
    """A draft or scheduled post is cancelled; the tweets of a published post, or of a thread that failed
    part way, are deleted at X first (last first, no transaction open), then it is cancelled. 409 for
    `publishing` and `unknown`."""
    async with database.session() as session:
        post, segments = await get_post(session, post_id=post_id)
        check_transition(post.status, "cancelled")
        on_x = [s.provider_post_id for s in reversed(segments) if s.provider_post_id]
        if not on_x:
            post.status, post.updated_at = "cancelled", utcnow()
            session.add(post)
            return
        if post.account_id is None:
            raise InvalidTransition("The post's account was disconnected; delete its tweets on X itself")
    try:
        async with XClient(settings) as client:
            credentials = await NETWORK.credentials(database, settings, client, post.account_id)
            for tweet_id in on_x:
                await social_service.reconnect_on_401(
                    database, network=NETWORK, account_id=post.account_id, call=client.delete(credentials, tweet_id)
                )
    except ProviderError as exc:
        raise http_error(exc) from None
    async with database.session() as session:
        post = await session.get(TwitterPost, post_id)
        post.status, post.updated_at = "cancelled", utcnow()
        post.error = f"deleted at X ({len(on_x)} tweet{'s' if len(on_x) > 1 else ''})"
        session.add(post)


async def post_queue(session: AsyncSession) -> PostQueue:
    """Posts due for the worker and posts `unknown` (waiting for a person), for system health."""
    return await social_service.post_queue(session, network=NETWORK)
