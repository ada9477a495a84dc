"""HTTP layer of /api/v1/communication/email: templates and campaigns (staff)."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from features.email import campaigns, templates
from features.email.schemas import (
    CampaignCreate,
    CampaignStaffView,
    CampaignStatus,
    CampaignUpdate,
    PreviewRequest,
    PreviewStaffView,
    RecipientStaffView,
    RecipientStatus,
    TemplateCreate,
    TemplateStaffView,
    TemplateUpdate,
    TestSendRequest,
)
from shared.config import SettingsDep
from shared.db import ReadSession, WriteSession
from shared.errors import error_responses
from shared.http import IdPath
from shared.pagination import ListPage, Pagination
from shared.permissions import CanDelete, CanRead, CanWrite

router = APIRouter(
    prefix="/api/v1/communication/email", tags=["email"], responses=error_responses(400, 401, 403, 422, 500)
)

Search = Annotated[str | None, Query(max_length=200, description="Search in names")]
TemplateSort = Annotated[str | None, Query(max_length=32, description="name, created_at or updated_at; - descending")]
CampaignSort = Annotated[
    str | None, Query(max_length=32, description="name, created_at, scheduled_at or started_at; - descending")
]

# --- templates ---------------------------------------------------------------------------------


@router.get("/templates", response_model=ListPage[TemplateStaffView])
async def list_email_templates(
    _reader: CanRead, session: ReadSession, params: Pagination, q: Search = None, sort: TemplateSort = None
) -> ListPage[TemplateStaffView]:
    """Campaign templates, by name."""
    items, total = await templates.list_templates(session, params=params, q=q, sort=sort)
    views = [TemplateStaffView.model_validate(t) for t in items]
    return ListPage[TemplateStaffView](items=views, total=total, limit=params.limit, offset=params.offset)


@router.post("/templates", response_model=TemplateStaffView, status_code=status.HTTP_201_CREATED)
async def create_email_template(
    body: TemplateCreate, principal: CanWrite, session: WriteSession, settings: SettingsDep
) -> TemplateStaffView:
    """Create a template; a syntax error, an unknown variable or a refused construct is a 422 naming
    the part, language and line."""
    template = await templates.create_template(session, settings=settings, data=body, created_by=principal.user_id)
    return TemplateStaffView.model_validate(template)


@router.get("/templates/{template_id}", response_model=TemplateStaffView, responses=error_responses(404))
async def read_email_template(template_id: IdPath, _reader: CanRead, session: ReadSession) -> TemplateStaffView:
    """One template."""
    return TemplateStaffView.model_validate(await templates.get_template(session, template_id=template_id))


@router.put("/templates/{template_id}", response_model=TemplateStaffView, responses=error_responses(404))
async def update_email_template(
    template_id: IdPath, body: TemplateUpdate, _editor: CanWrite, session: WriteSession, settings: SettingsDep
) -> TemplateStaffView:
    """Change a template; checked as on create."""
    template = await templates.update_template(session, settings=settings, template_id=template_id, data=body)
    return TemplateStaffView.model_validate(template)


@router.delete(
    "/templates/{template_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404, 409)
)
async def delete_email_template(template_id: IdPath, _admin: CanDelete, session: WriteSession) -> None:
    """Delete a template (admins); 409 IN_USE while a campaign that is not finished uses it."""
    await templates.delete_template(session, template_id=template_id)


@router.post("/templates/{template_id}/preview", response_model=PreviewStaffView, responses=error_responses(404))
async def preview_email_template(
    template_id: IdPath, body: PreviewRequest, _reader: CanRead, session: ReadSession, settings: SettingsDep
) -> PreviewStaffView:
    """Render a template with a sample contact, or the values in `data`, in `language`."""
    rendered = await templates.preview_template(session, settings=settings, template_id=template_id, data=body)
    return PreviewStaffView(subject=rendered.subject, html=rendered.html, text=rendered.text)


# --- campaigns ---------------------------------------------------------------------------------


@router.get("/campaigns", response_model=ListPage[CampaignStaffView])
async def list_email_campaigns(
    _reader: CanRead, session: ReadSession, params: Pagination,
    status: Annotated[CampaignStatus | None, Query(description="Only campaigns in this status")] = None,
    q: Search = None, sort: CampaignSort = None,
) -> ListPage[CampaignStaffView]:
    """Campaigns, newest first, each with its live counters."""
    items, total = await campaigns.list_campaigns(session, params=params, status=status, q=q, sort=sort)
    stats = await campaigns.campaign_stats(session, campaign_ids=[c.id or 0 for c in items])
    views = [campaigns.to_view(c, stats[c.id or 0]) for c in items]
    return ListPage[CampaignStaffView](items=views, total=total, limit=params.limit, offset=params.offset)


@router.post("/campaigns", response_model=CampaignStaffView, status_code=status.HTTP_201_CREATED)
async def create_email_campaign(body: CampaignCreate, principal: CanWrite, session: WriteSession) -> CampaignStaffView:
    """Create a draft campaign; `send` starts or schedules it."""
    campaign = await campaigns.create_campaign(session, data=body, created_by=principal.user_id)
    return await campaigns.campaign_view(session, campaign=campaign)


@router.get("/campaigns/{campaign_id}", response_model=CampaignStaffView, responses=error_responses(404))
async def read_email_campaign(campaign_id: IdPath, _reader: CanRead, session: ReadSession) -> CampaignStaffView:
    """One campaign and its progress."""
    campaign = await campaigns.get_campaign(session, campaign_id=campaign_id)
    return await campaigns.campaign_view(session, campaign=campaign)


@router.put("/campaigns/{campaign_id}", response_model=CampaignStaffView, responses=error_responses(404, 409))
async def update_email_campaign(
    campaign_id: IdPath, body: CampaignUpdate, _editor: CanWrite, session: WriteSession
) -> CampaignStaffView:
    """Change a campaign; its template, audience and schedule only until it starts (409 after)."""
    campaign = await campaigns.update_campaign(session, campaign_id=campaign_id, data=body)
    return await campaigns.campaign_view(session, campaign=campaign)


@router.delete(
    "/campaigns/{campaign_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404, 409)
)
async def delete_email_campaign(campaign_id: IdPath, _admin: CanDelete, session: WriteSession) -> None:
    """Delete a campaign and its recipient list (admins); not while it is sending."""
    await campaigns.delete_campaign(session, campaign_id=campaign_id)


@router.post(
    "/campaigns/{campaign_id}/send", response_model=CampaignStaffView, status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(404, 409),
)
async def send_email_campaign(campaign_id: IdPath, _editor: CanWrite, session: WriteSession) -> CampaignStaffView:
    """Start a draft (its recipient list is frozen now) or schedule it when `scheduled_at` lies ahead;
    the worker sends. 409 INVALID_TRANSITION once it is scheduled, sending or sent."""
    campaign = await campaigns.send_campaign(session, campaign_id=campaign_id)
    return await campaigns.campaign_view(session, campaign=campaign)


@router.post("/campaigns/{campaign_id}/pause", response_model=CampaignStaffView, responses=error_responses(404, 409))
async def pause_email_campaign(campaign_id: IdPath, _editor: CanWrite, session: WriteSession) -> CampaignStaffView:
    """Pause a sending campaign; no further message leaves after the one in flight."""
    campaign = await campaigns.pause_campaign(session, campaign_id=campaign_id)
    return await campaigns.campaign_view(session, campaign=campaign)


@router.post("/campaigns/{campaign_id}/resume", response_model=CampaignStaffView, responses=error_responses(404, 409))
async def resume_email_campaign(campaign_id: IdPath, _editor: CanWrite, session: WriteSession) -> CampaignStaffView:
    """Resume a paused campaign where it stopped: nobody skipped, nobody mailed twice."""
    campaign = await campaigns.resume_campaign(session, campaign_id=campaign_id)
    return await campaigns.campaign_view(session, campaign=campaign)


@router.post("/campaigns/{campaign_id}/cancel", response_model=CampaignStaffView, responses=error_responses(404, 409))
async def cancel_email_campaign(campaign_id: IdPath, _editor: CanWrite, session: WriteSession) -> CampaignStaffView:
    """Cancel a campaign for good; recipients not yet mailed are skipped."""
    campaign = await campaigns.cancel_campaign(session, campaign_id=campaign_id)
    return await campaigns.campaign_view(session, campaign=campaign)


@router.post(
    "/campaigns/{campaign_id}/test", status_code=status.HTTP_202_ACCEPTED, response_class=Response,
    responses={202: {"description": "Queued: one message, marked as a test"}, **error_responses(404)},
)
async def test_email_campaign(
    campaign_id: IdPath, body: TestSendRequest, _editor: CanWrite, session: WriteSession, settings: SettingsDep
) -> Response:
    """Send one rendered message to `email`, with the headers of a real one and marked as a test."""
    await campaigns.queue_test_send(session, settings=settings, campaign_id=campaign_id, data=body)
    return Response(status_code=status.HTTP_202_ACCEPTED)


@router.get(
    "/campaigns/{campaign_id}/recipients", response_model=ListPage[RecipientStaffView], responses=error_responses(404)
)
async def list_email_campaign_recipients(
    campaign_id: IdPath, _reader: CanRead, session: ReadSession, params: Pagination,
    status: Annotated[RecipientStatus | None, Query(description="Only recipients in this status")] = None,
) -> ListPage[RecipientStaffView]:
    """Where each recipient of a started campaign stands, in list order."""
    items, total = await campaigns.list_recipients(session, campaign_id=campaign_id, params=params, status=status)
    return ListPage[RecipientStaffView](items=items, total=total, limit=params.limit, offset=params.offset)
