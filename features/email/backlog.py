"""How much campaign mail is still to leave, for system health."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from features.email.models import Campaign, CampaignRecipient

UNFINISHED = ("scheduled", "sending", "paused")


class CampaignBacklog(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"recipients_pending": 4200, "campaigns_sending": 1,
                                                               "campaigns_paused": 0}]})

    recipients_pending: int  # of campaigns scheduled, sending or paused: their message has not left yet
    campaigns_sending: int
    campaigns_paused: int  # paused by staff or by itself after repeated failures (its status_reason says)


async def campaign_backlog(session: AsyncSession) -> CampaignBacklog:
    """Pending recipients of unfinished campaigns (the progress index, campaign by campaign) and their states."""
    campaigns = dict((await session.exec(
        select(Campaign.status, func.count()).where(col(Campaign.status).in_(UNFINISHED)).group_by(Campaign.status)
    )).all())
    pending = (await session.exec(
        select(func.count()).select_from(CampaignRecipient)
        .join(Campaign, col(Campaign.id) == CampaignRecipient.campaign_id)
        .where(col(Campaign.status).in_(UNFINISHED), CampaignRecipient.status == "pending")
    )).one()
    return CampaignBacklog(recipients_pending=pending, campaigns_sending=campaigns.get("sending", 0),
                           campaigns_paused=campaigns.get("paused", 0))
