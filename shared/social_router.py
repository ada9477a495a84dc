"""The HTTP layer every social network's slice shares, written once: accounts, posts, images, engagement.

`social_router` builds a slice's APIRouter under /api/v1/communication/{slug} from what the slice
hands in: its `Network`, its accounts and service modules (the same functions in each slice), its
post schemas, and the words that differ (`SocialRouterDocs`). Operation ids, paths, statuses and
bodies are those of CONTRACT.md §5 for both networks; only the provider's own protocol stays in
the slice. The media slice's api is handed in too, since shared/ imports no slice.

No `from __future__ import annotations` here: the handlers are made inside `social_router`, and
FastAPI reads their annotations (the slice's schemas, local to the call) as objects, not names.
"""

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel

from shared import social_service
from shared.config import SettingsDep
from shared.db import DatabaseDep, ReadSession, WriteSession
from shared.errors import ValidationFailed, error_responses
from shared.http import MAX_ID, IdPath
from shared.pagination import ListPage, Pagination
from shared.permissions import CanDelete, CanRead, CanWrite, IsAdmin
from shared.publishing import PostStatus
from shared.social_schemas import (
    AccountAuthorize,
    AccountConnect,
    AuthorizationStaffView,
    EngagementStaffView,
    PostEngagementStaffView,
    ProviderMediaStaffView,
    QueryTime,
    SocialAccountStaffView,
)
from shared.social_service import Network

AccountFilter = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this account's")]


@dataclass(frozen=True)
class SocialRouterDocs:
    """What the OpenAPI document says differently for each network (one-line descriptions)."""

    authorize: str
    connect: str
    create_post: str
    read_post: str
    delete_post: str
    publish_post: str
    upload_image: str
    read_post_engagement: str
    upload_account_id: str  # the multipart field's description
    an_account: str  # "a LinkedIn account", "an X account": in the upload's 422


@dataclass(frozen=True)
class SocialSlice:
    slug: str  # "linkedin": the path segment, the tag, and the middle of each operation id
    network: Network
    accounts: Any  # the slice's accounts module: authorize, connect, list_accounts, get_account, to_view, disconnect
    service: Any  # the slice's service module: list/create/get/update_post, cancel_or_delete, publish_now, ...
    media: Any  # features.media.api
    post_create: type[BaseModel]
    post_update: type[BaseModel]
    post_view: type[BaseModel]
    docs: SocialRouterDocs


def _owner() -> str:
    return f"request:{uuid.uuid4().hex[:12]}"


def _upload_body(account_description: str) -> dict[str, Any]:
    return {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file", "account_id"],
        "properties": {"file": {"type": "string", "format": "binary"},
                       "account_id": {"type": "integer", "description": account_description}},
    }}}}


def social_router(slice_: SocialSlice) -> APIRouter:
    """The slice's router: every operation of CONTRACT.md §5 "LinkedIn and X", thin handlers over its modules."""
    router = APIRouter(
        prefix=f"/api/v1/communication/{slice_.slug}", tags=[slice_.slug],
        responses=error_responses(400, 401, 403, 422, 500),
    )
    _account_routes(router, slice_)
    _content_routes(router, slice_)
    _media_and_engagement_routes(router, slice_)
    return router


def _account_routes(router: APIRouter, slice_: SocialSlice) -> None:
    accounts, slug, label = slice_.accounts, slice_.slug, slice_.network.label

    @router.post(
        "/accounts/authorize", response_model=AuthorizationStaffView, responses=error_responses(503),
        name=f"authorize_{slug}_account", description=slice_.docs.authorize,
    )
    async def authorize(
        principal: IsAdmin, session: WriteSession, settings: SettingsDep, body: AccountAuthorize | None = None
    ) -> AuthorizationStaffView:
        redirect_uri = str(body.redirect_uri) if body and body.redirect_uri else None
        return await accounts.authorize(
            session, settings=settings, redirect_uri=redirect_uri, actor_id=principal.user_id
        )

    @router.post(
        "/accounts", response_model=SocialAccountStaffView, status_code=status.HTTP_201_CREATED,
        responses=error_responses(429, 502, 503), name=f"connect_{slug}_account", description=slice_.docs.connect,
    )
    async def connect(
        body: AccountConnect, _admin: IsAdmin, database: DatabaseDep, settings: SettingsDep
    ) -> SocialAccountStaffView:
        # 201 for a provider user connected before too (their account updated): CONTRACT.md §5.
        account, _created = await accounts.connect(database, settings=settings, code=body.code, state=body.state)
        return accounts.to_view(account)

    @router.get(
        "/accounts", response_model=ListPage[SocialAccountStaffView], name=f"list_{slug}_accounts",
        description=f"Connected {label} accounts and their health (active, expiring within 7 days, "
        "reconnect_required).",
    )
    async def list_accounts(
        _reader: CanRead, session: ReadSession, params: Pagination
    ) -> ListPage[SocialAccountStaffView]:
        items, total = await accounts.list_accounts(session, params=params)
        return ListPage(
            items=[accounts.to_view(a) for a in items], total=total, limit=params.limit, offset=params.offset
        )

    @router.delete(
        "/accounts/{account_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404),
        name=f"disconnect_{slug}_account",
        description=f"Disconnect (admins): tokens revoked at {label} and deleted; its scheduled posts become failed "
        "with the reason.",
    )
    async def disconnect(account_id: IdPath, _admin: IsAdmin, database: DatabaseDep, settings: SettingsDep) -> None:
        await accounts.disconnect(database, settings=settings, account_id=account_id)


def _content_routes(router: APIRouter, slice_: SocialSlice) -> None:
    service, slug, label, docs = slice_.service, slice_.slug, slice_.network.label, slice_.docs
    post_create, post_update, post_view = slice_.post_create, slice_.post_update, slice_.post_view

    @router.get("/content", response_model=ListPage[post_view], name=f"list_{slug}_posts",
                description=f"{label} posts, newest first.")
    async def list_posts(
        _reader: CanRead, session: ReadSession, params: Pagination,
        status: Annotated[PostStatus | None, Query(description="Only posts in this state")] = None,
        account_id: AccountFilter = None,
        sort: Annotated[
            str | None, Query(max_length=32, description="created_at, scheduled_at or published_at")
        ] = None,
    ) -> Any:
        rows, total = await service.list_posts(session, params=params, status=status, account_id=account_id, sort=sort)
        items = [service.to_view(*row) for row in rows]
        return ListPage(items=items, total=total, limit=params.limit, offset=params.offset)

    @router.post("/content", response_model=post_view, status_code=status.HTTP_201_CREATED,
                 name=f"create_{slug}_post", description=docs.create_post)
    async def create_post(body: post_create, principal: CanWrite, session: WriteSession, settings: SettingsDep) -> Any:
        return service.to_view(
            *await service.create_post(session, settings=settings, actor_id=principal.user_id, data=body)
        )

    @router.get("/content/{post_id}", response_model=post_view, responses=error_responses(404),
                name=f"read_{slug}_post", description=docs.read_post)
    async def read_post(post_id: IdPath, _reader: CanRead, session: ReadSession) -> Any:
        return service.to_view(*await service.get_post(session, post_id=post_id))

    @router.put("/content/{post_id}", response_model=post_view, responses=error_responses(404, 409),
                name=f"update_{slug}_post",
                description="Change a draft or scheduled post; 409 INVALID_TRANSITION in any other state.")
    async def update_post(
        post_id: IdPath, body: post_update, _editor: CanWrite, session: WriteSession, settings: SettingsDep
    ) -> Any:
        return service.to_view(*await service.update_post(session, settings=settings, post_id=post_id, data=body))

    @router.delete(
        "/content/{post_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404, 409, 429, 502),
        name=f"delete_{slug}_post", description=docs.delete_post,
    )
    async def delete_post(post_id: IdPath, _admin: CanDelete, database: DatabaseDep, settings: SettingsDep) -> None:
        await service.cancel_or_delete(database, settings=settings, post_id=post_id)

    @router.post("/content/{post_id}/publish", response_model=post_view,
                 responses=error_responses(404, 409, 429, 502), name=f"publish_{slug}_post",
                 description=docs.publish_post)
    async def publish_post(post_id: IdPath, _editor: CanWrite, database: DatabaseDep, settings: SettingsDep) -> Any:
        return service.to_view(*await service.publish_now(database, settings=settings, post_id=post_id, owner=_owner()))

    @router.post("/content/{post_id}/reset", response_model=post_view, responses=error_responses(404, 409),
                 name=f"reset_{slug}_post",
                 description=f"After checking {label}, turn an `unknown` post into `failed`, so it may be published "
                 "again.")
    async def reset_post(post_id: IdPath, _editor: CanWrite, session: WriteSession) -> Any:
        return service.to_view(*await service.reset_post(session, post_id=post_id))


def _media_and_engagement_routes(router: APIRouter, slice_: SocialSlice) -> None:
    network, media, slug, docs = slice_.network, slice_.media, slice_.slug, slice_.docs

    @router.post(
        "/media", response_model=ProviderMediaStaffView, status_code=status.HTTP_201_CREATED,
        openapi_extra={"requestBody": _upload_body(docs.upload_account_id)}, max_body_size=media.UPLOAD_BODY_LIMIT,
        responses=error_responses(404, 409, 413, 415, 429, 502), name=f"upload_{slug}_image",
        description=docs.upload_image,
    )
    async def upload_image(
        request: Request, principal: CanWrite, database: DatabaseDep, settings: SettingsDep
    ) -> ProviderMediaStaffView:
        upload = await media.receive_upload(
            request, upload_dir=Path(settings.upload_dir), max_file_size=settings.max_file_size
        )
        try:
            raw_account = upload.fields.get("account_id", "")
            if not (raw_account.isascii() and raw_account.isdigit()) or not 1 <= int(raw_account) <= MAX_ID:
                raise ValidationFailed(f"account_id: {docs.an_account} id is required", field="account_id")
            async with database.session() as session:
                await slice_.accounts.get_account(session, account_id=int(raw_account))
                item, _ = await media.store_upload(session, settings=settings, upload=upload,
                                                   created_by=principal.user_id)
                if item.kind != "image":
                    raise ValidationFailed(f"{network.label} posts take images only", field="file")
        finally:
            upload.discard()
        return await social_service.upload_image(
            database, network=network, settings=settings, account_id=int(raw_account), media_id=item.id,
            read_media=media.upload_reader(database, settings),
        )

    @router.get("/engagement", response_model=EngagementStaffView, name=f"read_{slug}_engagement",
                description="Totals of the latest figures over published posts, and each post's figures.")
    async def read_engagement(
        _reader: CanRead, session: ReadSession,
        start: Annotated[QueryTime | None, Query(alias="from", description="Published at or after")] = None,
        end: Annotated[QueryTime | None, Query(alias="to", description="Published before")] = None,
        account_id: AccountFilter = None,
    ) -> EngagementStaffView:
        return await social_service.summary(session, network=network, start=start, end=end, account_id=account_id)

    @router.get(
        "/engagement/{post_id}", response_model=PostEngagementStaffView, responses=error_responses(404, 409, 429, 502),
        name=f"read_{slug}_post_engagement", description=docs.read_post_engagement,
    )
    async def read_post_engagement(
        post_id: IdPath, _reader: CanRead, database: DatabaseDep, settings: SettingsDep,
        refresh: Annotated[bool, Query(description=f"Fetch fresh figures from {network.label} first")] = False,
    ) -> PostEngagementStaffView:
        return await social_service.post_figures(
            database, network=network, settings=settings, post_id=post_id, refresh=refresh
        )
