"""What comes back from recipients: bounces (reported by the mail provider), opens and clicks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from features.email.models import CampaignRecipient, Contact
from features.email.schemas import BounceReport
from shared.visitors import normalize_email

SOFT_BOUNCE_LIMIT = 3  # soft bounces after which an address counts as bounced


async def record_bounce(session: AsyncSession, *, report: BounceReport, now: datetime) -> bool:
    """A hard bounce or a complaint makes the contact bounced at once, the third soft bounce too.
    Returns whether the address belongs to a contact (an unknown one is ignored)."""
    contact = (await session.exec(select(Contact).where(Contact.email == normalize_email(report.email)))).first()
    if contact is None:
        return False
    if report.type == "soft":
        contact.soft_bounces += 1
    bounced = report.type != "soft" or contact.soft_bounces >= SOFT_BOUNCE_LIMIT
    if bounced and contact.status != "bounced":
        contact.status = "bounced"
    contact.updated_at = now
    session.add(contact)
    if bounced and report.campaign_id is not None:
        await session.exec(  # type: ignore[call-overload]
            update(CampaignRecipient)
            .where(CampaignRecipient.campaign_id == report.campaign_id, CampaignRecipient.contact_id == contact.id)
            .where(col(CampaignRecipient.bounced_at).is_(None))
            .values(bounced_at=now)
        )
    return True


async def record_open(session: AsyncSession, *, recipient_id: int, now: datetime) -> None:
    """The first open counts; later ones change nothing."""
    await session.exec(  # type: ignore[call-overload]
        update(CampaignRecipient)
        .where(CampaignRecipient.id == recipient_id, col(CampaignRecipient.opened_at).is_(None))
        .values(opened_at=now)
    )


async def record_click(session: AsyncSession, *, recipient_id: int, now: datetime) -> None:
    """The first click counts, and a click is an open too (images may have been blocked)."""
    await record_open(session, recipient_id=recipient_id, now=now)
    await session.exec(  # type: ignore[call-overload]
        update(CampaignRecipient)
        .where(CampaignRecipient.id == recipient_id, col(CampaignRecipient.clicked_at).is_(None))
        .values(clicked_at=now)
    )
