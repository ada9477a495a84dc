"""Campaigns: written by staff, started (their recipient list frozen) at once or when due,
paused, resumed, cancelled; their counters come from the recipient rows themselves.

Status: draft -> scheduled -> sending <-> paused -> sent; draft, scheduled, sending and paused
may be cancelled; a scheduled campaign found more than LATE_LIMIT late fails, to be sent again
deliberately. The sender (sender.py) moves recipients and finishes campaigns.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, case, exists, insert, literal, or_, update
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from features.email.errors import InvalidTransition
from features.email.links import unsubscribe_url
from features.email.models import Campaign, CampaignRecipient, Contact, ContactSource, ContactTag, EmailTemplate
from features.email.rendering import RenderFailed, campaign_message, compiled_template, template_values
from features.email.schemas import (
    Audience,
    CampaignCreate,
    CampaignStaffView,
    CampaignStats,
    CampaignUpdate,
    RecipientStaffView,
    TestSendRequest,
)
from features.email.templates import get_template
from shared.config import Settings
from shared.db import as_utc, utcnow
from shared.errors import NotFound, ValidationFailed
from shared.mail import queue_mail
from shared.pagination import ListParams, paginate, sort_order, text_contains
from shared.visitors import normalize_email

LATE_LIMIT = timedelta(hours=1)
SENDABLE = ("draft", "failed")  # `send` starts these; a failed one only ever failed before it started
EDITABLE = ("draft", "scheduled", "failed")  # until the recipient list is frozen
CANCELLABLE = ("draft", "scheduled", "sending", "paused")
SORT_COLUMNS = {
    "name": Campaign.name, "created_at": Campaign.created_at, "scheduled_at": Campaign.scheduled_at,
    "started_at": Campaign.started_at,
}
_R = CampaignRecipient


async def get_campaign(session: AsyncSession, *, campaign_id: int) -> Campaign:
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound("Campaign not found")
    return campaign


async def _template_for(session: AsyncSession, *, template_id: int) -> EmailTemplate:
    template = await session.get(EmailTemplate, template_id)
    if template is None:
        raise ValidationFailed("There is no template with this id", field="template_id")
    return template


async def create_campaign(session: AsyncSession, *, data: CampaignCreate, created_by: int | None) -> Campaign:
    await _template_for(session, template_id=data.template_id)
    campaign = Campaign(
        name=data.name, template_id=data.template_id, audience=data.audience.model_dump(),
        scheduled_at=as_utc(data.scheduled_at) if data.scheduled_at else None,
        track_opens=data.track_opens, track_clicks=data.track_clicks, created_by=created_by,
    )
    session.add(campaign)
    await session.flush()
    return campaign


async def list_campaigns(
    session: AsyncSession, *, params: ListParams, status: str | None = None, q: str | None = None,
    sort: str | None = None,
) -> tuple[list[Campaign], int]:
    statement = select(Campaign)
    if status:
        statement = statement.where(Campaign.status == status)
    if q:
        statement = statement.where(text_contains(Campaign.name, q))
    order = sort_order(sort, SORT_COLUMNS, [col(Campaign.created_at).desc(), col(Campaign.id).desc()])
    return await paginate(session, statement=statement, params=params, order_by=order)


async def update_campaign(session: AsyncSession, *, campaign_id: int, data: CampaignUpdate) -> Campaign:
    campaign = await get_campaign(session, campaign_id=campaign_id)
    changes = data.model_dump(exclude_unset=True)
    frozen = {"template_id", "audience", "scheduled_at"} & changes.keys()
    if frozen and campaign.status not in EDITABLE:
        raise InvalidTransition(f"{', '.join(sorted(frozen))} cannot change once a campaign has started")
    if data.template_id is not None:
        await _template_for(session, template_id=data.template_id)
        campaign.template_id = data.template_id
    if data.audience is not None:
        campaign.audience = data.audience.model_dump()
    if "scheduled_at" in changes:
        campaign.scheduled_at = as_utc(data.scheduled_at) if data.scheduled_at else None
        if campaign.scheduled_at is None and campaign.status == "scheduled":
            campaign.status = "draft"  # unscheduled: no worker would start it, and `send` refuses "scheduled"
    for name in ("name", "track_opens", "track_clicks"):
        if changes.get(name) is not None:
            setattr(campaign, name, changes[name])
    campaign.updated_at = utcnow()
    session.add(campaign)
    await session.flush()
    return campaign


async def delete_campaign(session: AsyncSession, *, campaign_id: int) -> None:
    campaign = await get_campaign(session, campaign_id=campaign_id)
    if campaign.status == "sending":
        raise InvalidTransition("Pause or cancel the campaign before deleting it")
    await session.delete(campaign)


# --- counters ------------------------------------------------------------------------------------


def _count(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def campaign_stats(session: AsyncSession, *, campaign_ids: list[int]) -> dict[int, CampaignStats]:
    """Every counter of each campaign, from its recipient rows in one grouped query."""
    rows = await session.exec(
        select(  # type: ignore[call-overload]
            _R.campaign_id, func.count(),
            _count(col(_R.status).in_(("pending", "sending"))), _count(_R.status == "sent"),
            _count(_R.status == "failed"), _count(_R.status == "skipped"),
            func.count(_R.opened_at), func.count(_R.clicked_at), func.count(_R.unsubscribed_at),
            func.count(_R.bounced_at),
        ).where(col(_R.campaign_id).in_(campaign_ids)).group_by(_R.campaign_id)
    )
    names = ("recipients", "pending", "sent", "failed", "skipped", "opened", "clicked", "unsubscribed", "bounced")
    stats = {campaign_id: CampaignStats(**dict.fromkeys(names, 0)) for campaign_id in campaign_ids}
    for campaign_id, *counts in rows.all():
        stats[campaign_id] = CampaignStats(**dict(zip(names, (int(c) for c in counts), strict=True)))
    return stats


def to_view(campaign: Campaign, stats: CampaignStats) -> CampaignStaffView:
    return CampaignStaffView.model_validate(
        {**campaign.model_dump(), "audience": Audience.model_validate(campaign.audience or {}), "stats": stats}
    )


async def campaign_view(session: AsyncSession, *, campaign: Campaign) -> CampaignStaffView:
    stats = await campaign_stats(session, campaign_ids=[campaign.id or 0])
    return to_view(campaign, stats[campaign.id or 0])


# --- starting ----------------------------------------------------------------------------------


def _audience_filter(audience: Audience) -> list[Any]:
    contacts = Contact.__table__.c
    conditions: list[Any] = [contacts.status == "subscribed"]
    if audience.tags:
        tags = ContactTag.__table__.c
        conditions.append(exists().where(tags.contact_id == contacts.id, tags.tag.in_(audience.tags)))
    if audience.sources:
        sources = ContactSource.__table__.c
        # "webinar" means every webinar; "webinar:12" that one.
        matches = [
            sources.source == source if ":" in source
            else or_(sources.source == source, sources.source.like(f"{source}:%"))
            for source in audience.sources
        ]
        conditions.append(exists().where(sources.contact_id == contacts.id, or_(*matches)))
    if audience.languages:
        conditions.append(contacts.language.in_(audience.languages))
    return conditions


async def start_campaign(session: AsyncSession, *, campaign: Campaign, now: datetime) -> int:
    """Freezes the recipient list (one set-based insert, one row per contact) and starts sending;
    a campaign with nobody to send to is sent at once. Returns the number of recipients."""
    contacts = Contact.__table__.c
    audience = Audience.model_validate(campaign.audience or {})
    chosen = select(  # type: ignore[call-overload]
        literal(campaign.id, Integer), contacts.id, literal("pending"), literal(0),
        literal(now, _R.__table__.c.next_attempt_at.type),
    ).where(and_(*_audience_filter(audience)))
    columns = ["campaign_id", "contact_id", "status", "attempts", "next_attempt_at"]
    result = await session.exec(insert(_R.__table__).from_select(columns, chosen))  # type: ignore[call-overload]
    recipients = result.rowcount or 0
    campaign.status = "sending" if recipients else "sent"
    campaign.started_at, campaign.status_reason, campaign.consecutive_failures = now, None, 0
    campaign.finished_at = None if recipients else now
    campaign.updated_at = now
    session.add(campaign)
    await session.flush()
    return recipients


async def send_campaign(session: AsyncSession, *, campaign_id: int, now: datetime | None = None) -> Campaign:
    """`send`: scheduled when its time lies ahead, else started now."""
    now = now or utcnow()
    campaign = await get_campaign(session, campaign_id=campaign_id)
    if campaign.status not in SENDABLE:
        raise InvalidTransition(f"A campaign that is {campaign.status} cannot be sent")
    if campaign.template_id is None:
        raise ValidationFailed("The campaign has no template", field="template_id")
    if campaign.scheduled_at is not None and campaign.scheduled_at > now:
        campaign.status, campaign.status_reason, campaign.updated_at = "scheduled", None, now
        session.add(campaign)
        await session.flush()
        return campaign
    await start_campaign(session, campaign=campaign, now=now)
    return campaign


async def start_due_campaigns(session: AsyncSession, *, now: datetime) -> tuple[int, int]:
    """Starts the scheduled campaigns that are due; one found more than LATE_LIMIT late (the
    server was down when it was due) fails with the reason instead. Returns (started, failed)."""
    due = await session.exec(
        select(Campaign)
        .where(Campaign.status == "scheduled", col(Campaign.scheduled_at) <= now)
        .order_by(col(Campaign.id))
    )
    started = failed = 0
    for campaign in due.all():
        late = now - (campaign.scheduled_at or now)
        if late > LATE_LIMIT:
            minutes = int(late.total_seconds() // 60)
            campaign.status, campaign.updated_at = "failed", now
            campaign.status_reason = (
                f"not sent: found {minutes} minutes after its scheduled time (the server was not running); "
                "send it again if it is still wanted"
            )
            session.add(campaign)
            failed += 1
        else:
            await start_campaign(session, campaign=campaign, now=now)
            started += 1
    await session.flush()
    return started, failed


# --- pause, resume, cancel ---------------------------------------------------------------------


async def _move(session: AsyncSession, *, campaign_id: int, allowed: tuple[str, ...], to: str) -> Campaign:
    campaign = await get_campaign(session, campaign_id=campaign_id)
    if campaign.status not in allowed:
        raise InvalidTransition(f"A campaign that is {campaign.status} cannot become {to}")
    campaign.status, campaign.updated_at = to, utcnow()
    if to != "paused":
        campaign.status_reason = None
    if to == "sending":
        campaign.consecutive_failures = 0
    session.add(campaign)
    await session.flush()
    return campaign


async def pause_campaign(session: AsyncSession, *, campaign_id: int) -> Campaign:
    """Takes effect before the next message: the sender claims only from sending campaigns."""
    campaign = await _move(session, campaign_id=campaign_id, allowed=("sending",), to="paused")
    campaign.status_reason = "paused by staff"
    return campaign


async def resume_campaign(session: AsyncSession, *, campaign_id: int) -> Campaign:
    return await _move(session, campaign_id=campaign_id, allowed=("paused",), to="sending")


async def cancel_campaign(session: AsyncSession, *, campaign_id: int) -> Campaign:
    """Cancelled for good; its recipients not yet sent to are skipped."""
    campaign = await _move(session, campaign_id=campaign_id, allowed=CANCELLABLE, to="cancelled")
    campaign.finished_at = campaign.updated_at
    await session.exec(  # type: ignore[call-overload]
        update(CampaignRecipient)
        .where(CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.status == "pending")
        .values(status="skipped", last_error="campaign cancelled")
    )
    return campaign


# --- test sends and recipients -----------------------------------------------------------------


async def queue_test_send(
    session: AsyncSession, *, settings: Settings, campaign_id: int, data: TestSendRequest
) -> None:
    """One message as a recipient would get it, to `data.email`, marked as a test; it goes out
    once the request commits. A known contact's own values fill it, else the sample ones."""
    campaign = await get_campaign(session, campaign_id=campaign_id)
    if campaign.template_id is None:
        raise ValidationFailed("The campaign has no template", field="template_id")
    compiled = compiled_template(await get_template(session, template_id=campaign.template_id))
    address = normalize_email(data.email)
    contact = (await session.exec(select(Contact).where(Contact.email == address))).first()
    person = contact.model_dump() if contact else {"email": address, "first_name": "", "last_name": "", "company": ""}
    link = unsubscribe_url(settings, contact_id=contact.id or 0 if contact else 0)
    language = compiled.language_for(data.language or (contact.language if contact else None), settings)
    values = template_values(contact=person, campaign_name=campaign.name, unsubscribe_url=link)
    try:
        rendered = compiled.render(language, values)
    except RenderFailed as failed:  # the contact's own values, which the check on save did not try
        raise failed.refusal() from None
    message = campaign_message(
        settings, to=address, rendered=rendered, unsubscribe_url=link, campaign_id=campaign.id or 0, test=True
    )
    await queue_mail(session, message=message)


async def list_recipients(
    session: AsyncSession, *, campaign_id: int, params: ListParams, status: str | None = None
) -> tuple[list[RecipientStaffView], int]:
    await get_campaign(session, campaign_id=campaign_id)
    statement = (
        select(CampaignRecipient, Contact.email)  # type: ignore[call-overload]
        .join(Contact, col(Contact.id) == col(CampaignRecipient.contact_id), isouter=True)
        .where(CampaignRecipient.campaign_id == campaign_id)
    )
    count = select(func.count()).select_from(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign_id)
    if status:
        statement = statement.where(CampaignRecipient.status == status)
        count = count.where(CampaignRecipient.status == status)
    total = (await session.exec(count)).one()
    rows = await session.exec(statement.order_by(col(CampaignRecipient.id)).limit(params.limit).offset(params.offset))
    items = [
        RecipientStaffView.model_validate({**recipient.model_dump(), "email": email}) for recipient, email in rows.all()
    ]
    return items, total
