"""LinkedIn posts: write, schedule, publish now, reset, cancel or delete (rules: shared/publishing.py)."""

from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from features.linkedin.client import LinkedInClient, post_url
from features.linkedin.models import TABLES, LinkedInAccount, LinkedInPost, LinkedInPostImage, LinkedInPostSegment
from features.linkedin.network import NETWORK
from features.linkedin.schemas import LinkedInPostCreate, LinkedInPostStaffView, LinkedInPostUpdate
from features.media import api as media_api
from shared import social_service
from shared.config import Settings
from shared.db import Database, utcnow
from shared.errors import InvalidTransition, NotFound, ValidationFailed
from shared.pagination import ListParams, paginate, sort_order
from shared.publishing import ProviderError, check_editable, check_transition, http_error
from shared.social_posts import segment_rows
from shared.social_schemas import PostQueue
from shared.social_service import check_future

SORT_COLUMNS = {"created_at": LinkedInPost.created_at, "scheduled_at": LinkedInPost.scheduled_at,
                "published_at": LinkedInPost.published_at}


def to_view(post: LinkedInPost, segment: LinkedInPostSegment) -> LinkedInPostStaffView:
    urn = segment.provider_post_id
    return LinkedInPostStaffView.model_validate({
        **post.model_dump(), "text": segment.text, "media_ids": list(segment.media_ids or []),
        "provider_post_id": urn, "url": post_url(urn) if urn else None,
    })


async def _check_account(session: AsyncSession, *, account_id: int) -> None:
    if await session.get(LinkedInAccount, account_id) is None:
        raise ValidationFailed("There is no LinkedIn account with this id", field="account_id")


async def _check_images(session: AsyncSession, *, settings: Settings, media_ids: list[int]) -> None:
    await media_api.require_images(session, settings=settings, media_ids=media_ids, field="media_ids")


async def create_post(
    session: AsyncSession, *, settings: Settings, actor_id: int, data: LinkedInPostCreate
) -> tuple[LinkedInPost, LinkedInPostSegment]:
    """A draft, or a scheduled post when `scheduled_at` is given."""
    await _check_account(session, account_id=data.account_id)
    await _check_images(session, settings=settings, media_ids=data.media_ids)
    check_future(data.scheduled_at)
    post = LinkedInPost(
        account_id=data.account_id, created_by=actor_id, scheduled_at=data.scheduled_at,
        next_attempt_at=data.scheduled_at, status="scheduled" if data.scheduled_at else "draft",
    )
    session.add(post)
    await session.flush()
    segment = LinkedInPostSegment(post_id=post.id, position=0, text=data.text, media_ids=data.media_ids)
    session.add(segment)
    await _link_images(session, post_id=post.id, media_ids=data.media_ids)
    return post, segment


async def _link_images(session: AsyncSession, *, post_id: int, media_ids: list[int]) -> None:
    await session.exec(delete(LinkedInPostImage).where(col(LinkedInPostImage.post_id) == post_id))  # type: ignore[call-overload]
    session.add_all(LinkedInPostImage(post_id=post_id, media_id=media_id) for media_id in media_ids)
    await session.flush()


async def get_post(session: AsyncSession, *, post_id: int) -> tuple[LinkedInPost, LinkedInPostSegment]:
    post = await session.get(LinkedInPost, post_id)
    if post is None:
        raise NotFound("LinkedIn post not found")
    [segment] = (await segment_rows(session, tables=TABLES, post_ids=[post_id]))[post_id]
    return post, segment


async def list_posts(
    session: AsyncSession, *, params: ListParams, status: str | None, account_id: int | None, sort: str | None
) -> tuple[list[tuple[LinkedInPost, LinkedInPostSegment]], int]:
    """Posts, newest first, each with its segment (two queries for the page)."""
    statement = select(LinkedInPost)
    if status:
        statement = statement.where(LinkedInPost.status == status)
    if account_id is not None:
        statement = statement.where(LinkedInPost.account_id == account_id)
    order = sort_order(sort, SORT_COLUMNS, [col(LinkedInPost.id).desc()])
    posts, total = await paginate(session, statement=statement, params=params, order_by=order)
    segments = await segment_rows(session, tables=TABLES, post_ids=[p.id for p in posts])
    return [(post, segments[post.id][0]) for post in posts], total


async def update_post(
    session: AsyncSession, *, settings: Settings, post_id: int, data: LinkedInPostUpdate
) -> tuple[LinkedInPost, LinkedInPostSegment]:
    """Changes a draft or scheduled post (409 otherwise); `scheduled_at` set schedules it, null makes it a draft."""
    post, segment = await get_post(session, post_id=post_id)
    check_editable(post.status)
    changes = data.model_dump(exclude_unset=True)
    for name in ("account_id", "text", "media_ids"):
        if name in changes and changes[name] is None:
            raise ValidationFailed(f"{name} cannot be null", field=name)
    if "account_id" in changes:
        await _check_account(session, account_id=changes["account_id"])
        post.account_id = changes["account_id"]
    if "media_ids" in changes:
        await _check_images(session, settings=settings, media_ids=changes["media_ids"])
        segment.media_ids = changes["media_ids"]
        await _link_images(session, post_id=post.id, media_ids=changes["media_ids"])
    if "text" in changes:
        segment.text = changes["text"]
    if "scheduled_at" in changes:
        check_future(changes["scheduled_at"])
        post.scheduled_at = post.next_attempt_at = changes["scheduled_at"]
        post.status = "scheduled" if post.scheduled_at else "draft"
        post.attempts = 0
    post.updated_at = utcnow()
    session.add_all([post, segment])
    await session.flush()
    return post, segment


async def reset_post(session: AsyncSession, *, post_id: int) -> tuple[LinkedInPost, LinkedInPostSegment]:
    """Staff checked an `unknown` post at LinkedIn: it becomes `failed` and may be published again."""
    await social_service.reset_post(session, network=NETWORK, post_id=post_id)
    return await get_post(session, post_id=post_id)


async def publish_now(
    database: Database, *, settings: Settings, post_id: int, owner: str
) -> tuple[LinkedInPost, LinkedInPostSegment]:
    """Publishes at once (shared/social_service.py); 502 PROVIDER_ERROR when the post ended `failed` or
    `unknown`, with its error."""
    await social_service.publish_now(
        database, network=NETWORK, settings=settings, post_id=post_id, owner=owner,
        read_media=media_api.upload_reader(database, settings),
    )
    async with database.session(write=False) as session:
        return await get_post(session, post_id=post_id)


async def cancel_or_delete(database: Database, *, settings: Settings, post_id: int) -> None:
    """A draft, scheduled or failed post is cancelled; a published one is deleted at LinkedIn first
    (no transaction open meanwhile), then marked cancelled. 409 for `publishing` and `unknown`."""
    async with database.session() as session:
        post, segment = await get_post(session, post_id=post_id)
        check_transition(post.status, "cancelled")
        if post.status != "published":
            post.status, post.updated_at = "cancelled", utcnow()
            session.add(post)
            return
        if post.account_id is None:
            raise InvalidTransition("The post's account was disconnected; delete the post on LinkedIn itself")
    try:
        async with LinkedInClient(settings) as client:
            credentials = await NETWORK.credentials(database, settings, client, post.account_id)
            await social_service.reconnect_on_401(
                database, network=NETWORK, account_id=post.account_id,
                call=client.delete(credentials, segment.provider_post_id),
            )
    except ProviderError as exc:
        raise http_error(exc) from None
    async with database.session() as session:
        post = await session.get(LinkedInPost, post_id)
        post.status, post.updated_at = "cancelled", utcnow()
        post.error = "deleted at LinkedIn"
        session.add(post)


async def post_queue(session: AsyncSession) -> PostQueue:
    """Posts due for the worker and posts `unknown` (waiting for a person), for system health."""
    return await social_service.post_queue(session, network=NETWORK)
