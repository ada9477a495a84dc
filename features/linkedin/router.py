"""HTTP layer of /api/v1/communication/linkedin: accounts, posts, images, engagement (staff)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from features.linkedin import accounts, service
from features.linkedin.network import NETWORK
from features.linkedin.schemas import LinkedInPostCreate, LinkedInPostStaffView, LinkedInPostUpdate
from features.media import api as media_api
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

router = APIRouter(
    prefix="/api/v1/communication/linkedin", tags=["linkedin"], responses=error_responses(400, 401, 403, 422, 500)
)

AccountFilter = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this account's")]
_UPLOAD_BODY = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file", "account_id"],
    "properties": {"file": {"type": "string", "format": "binary"},
                   "account_id": {"type": "integer", "description": "The account the image is for (its owner)"}},
}}}}


def _owner() -> str:
    return f"request:{uuid.uuid4().hex[:12]}"


# --- accounts ----------------------------------------------------------------------------------


@router.post("/accounts/authorize", response_model=AuthorizationStaffView, responses=error_responses(503))
async def authorize_linkedin_account(
    principal: IsAdmin, session: WriteSession, settings: SettingsDep, body: AccountAuthorize | None = None
) -> AuthorizationStaffView:
    """Start connecting a LinkedIn member (admins): open `authorization_url`, then post the redirect's code, state."""
    redirect_uri = str(body.redirect_uri) if body and body.redirect_uri else None
    return await accounts.authorize(session, settings=settings, redirect_uri=redirect_uri, actor_id=principal.user_id)


@router.post(
    "/accounts", response_model=SocialAccountStaffView, status_code=status.HTTP_201_CREATED,
    responses=error_responses(429, 502, 503),
)
async def connect_linkedin_account(
    body: AccountConnect, _admin: IsAdmin, database: DatabaseDep, settings: SettingsDep
) -> SocialAccountStaffView:
    """Finish connecting (admins): exchange the code for tokens, stored encrypted; 400 INVALID_STATE for a bad state."""
    account, _created = await accounts.connect(database, settings=settings, code=body.code, state=body.state)
    return accounts.to_view(account)


@router.get("/accounts", response_model=ListPage[SocialAccountStaffView])
async def list_linkedin_accounts(
    _reader: CanRead, session: ReadSession, params: Pagination
) -> ListPage[SocialAccountStaffView]:
    """Connected LinkedIn accounts and their health (active, expiring within 7 days, reconnect_required)."""
    items, total = await accounts.list_accounts(session, params=params)
    return ListPage(items=[accounts.to_view(a) for a in items], total=total, limit=params.limit, offset=params.offset)


@router.delete("/accounts/{account_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404))
async def disconnect_linkedin_account(
    account_id: IdPath, _admin: IsAdmin, database: DatabaseDep, settings: SettingsDep
) -> None:
    """Disconnect (admins): tokens revoked at LinkedIn and deleted; its scheduled posts fail with the reason."""
    await accounts.disconnect(database, settings=settings, account_id=account_id)


# --- content -----------------------------------------------------------------------------------


@router.get("/content", response_model=ListPage[LinkedInPostStaffView])
async def list_linkedin_posts(
    _reader: CanRead, session: ReadSession, params: Pagination,
    status: Annotated[PostStatus | None, Query(description="Only posts in this state")] = None,
    account_id: AccountFilter = None,
    sort: Annotated[str | None, Query(max_length=32, description="created_at, scheduled_at or published_at")] = None,
) -> ListPage[LinkedInPostStaffView]:
    """LinkedIn posts, newest first."""
    rows, total = await service.list_posts(session, params=params, status=status, account_id=account_id, sort=sort)
    items = [service.to_view(*row) for row in rows]
    return ListPage(items=items, total=total, limit=params.limit, offset=params.offset)


@router.post("/content", response_model=LinkedInPostStaffView, status_code=status.HTTP_201_CREATED)
async def create_linkedin_post(
    body: LinkedInPostCreate, principal: CanWrite, session: WriteSession, settings: SettingsDep
) -> LinkedInPostStaffView:
    """Write a post (editors): a draft, or scheduled with `scheduled_at`; up to 3,000 characters and 9 images."""
    post, segment = await service.create_post(session, settings=settings, actor_id=principal.user_id, data=body)
    return service.to_view(post, segment)


@router.get("/content/{post_id}", response_model=LinkedInPostStaffView, responses=error_responses(404))
async def read_linkedin_post(post_id: IdPath, _reader: CanRead, session: ReadSession) -> LinkedInPostStaffView:
    """One post, with its state and, once published, its URN and link."""
    return service.to_view(*await service.get_post(session, post_id=post_id))


@router.put("/content/{post_id}", response_model=LinkedInPostStaffView, responses=error_responses(404, 409))
async def update_linkedin_post(
    post_id: IdPath, body: LinkedInPostUpdate, _editor: CanWrite, session: WriteSession, settings: SettingsDep
) -> LinkedInPostStaffView:
    """Change a draft or scheduled post; 409 INVALID_TRANSITION in any other state."""
    return service.to_view(*await service.update_post(session, settings=settings, post_id=post_id, data=body))


@router.delete(
    "/content/{post_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404, 409, 429, 502)
)
async def delete_linkedin_post(
    post_id: IdPath, _admin: CanDelete, database: DatabaseDep, settings: SettingsDep
) -> None:
    """Cancel a draft, scheduled or failed post, or delete a published one at LinkedIn (admins)."""
    await service.cancel_or_delete(database, settings=settings, post_id=post_id)


@router.post(
    "/content/{post_id}/publish", response_model=LinkedInPostStaffView, responses=error_responses(404, 409, 429, 502)
)
async def publish_linkedin_post(
    post_id: IdPath, _editor: CanWrite, database: DatabaseDep, settings: SettingsDep
) -> LinkedInPostStaffView:
    """Publish now and answer with the outcome: 200 published, 502 when it failed or its outcome is unknown."""
    return service.to_view(*await service.publish_now(database, settings=settings, post_id=post_id, owner=_owner()))


@router.post("/content/{post_id}/reset", response_model=LinkedInPostStaffView, responses=error_responses(404, 409))
async def reset_linkedin_post(post_id: IdPath, _editor: CanWrite, session: WriteSession) -> LinkedInPostStaffView:
    """After checking LinkedIn, turn an `unknown` post into `failed`, so it may be published again."""
    return service.to_view(*await service.reset_post(session, post_id=post_id))


# --- images and engagement ---------------------------------------------------------------------


@router.post(
    "/media", response_model=ProviderMediaStaffView, status_code=status.HTTP_201_CREATED,
    openapi_extra={"requestBody": _UPLOAD_BODY}, max_body_size=media_api.UPLOAD_BODY_LIMIT,
    responses=error_responses(404, 409, 413, 415, 429, 502),
)
async def upload_linkedin_image(
    request: Request, principal: CanWrite, database: DatabaseDep, settings: SettingsDep
) -> ProviderMediaStaffView:
    """Upload an image (multipart `file`, form `account_id`): stored as a media item, sent to LinkedIn ahead of time."""
    upload = await media_api.receive_upload(
        request, upload_dir=Path(settings.upload_dir), max_file_size=settings.max_file_size
    )
    try:
        raw_account = upload.fields.get("account_id", "")
        if not (raw_account.isascii() and raw_account.isdigit()) or not 1 <= int(raw_account) <= MAX_ID:
            raise ValidationFailed("account_id: a LinkedIn account id is required", field="account_id")
        async with database.session() as session:
            await accounts.get_account(session, account_id=int(raw_account))
            item, _ = await media_api.store_upload(session, settings=settings, upload=upload,
                                                   created_by=principal.user_id)
            if item.kind != "image":
                raise ValidationFailed("LinkedIn posts take images only", field="file")
    finally:
        upload.discard()
    return await social_service.upload_image(
        database, network=NETWORK, settings=settings, account_id=int(raw_account), media_id=item.id,
        read_media=media_api.upload_reader(database, settings),
    )


@router.get("/engagement", response_model=EngagementStaffView)
async def read_linkedin_engagement(
    _reader: CanRead, session: ReadSession,
    start: Annotated[QueryTime | None, Query(alias="from", description="Published at or after")] = None,
    end: Annotated[QueryTime | None, Query(alias="to", description="Published before")] = None,
    account_id: AccountFilter = None,
) -> EngagementStaffView:
    """Totals of the latest figures over published posts, and each post's figures."""
    return await social_service.summary(session, network=NETWORK, start=start, end=end, account_id=account_id)


@router.get(
    "/engagement/{post_id}", response_model=PostEngagementStaffView, responses=error_responses(404, 409, 429, 502)
)
async def read_linkedin_post_engagement(
    post_id: IdPath, _reader: CanRead, database: DatabaseDep, settings: SettingsDep,
    refresh: Annotated[bool, Query(description="Fetch fresh figures from LinkedIn first")] = False,
) -> PostEngagementStaffView:
    """A post's latest figures and their history; 403 PROVIDER_ERROR when the app lacks r_member_postAnalytics."""
    return await social_service.post_figures(
        database, network=NETWORK, settings=settings, post_id=post_id, refresh=refresh
    )
