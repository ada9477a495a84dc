"""The email slice's figures for the admin analytics: what happened to campaign messages, per period."""

from sqlmodel.ext.asyncio.session import AsyncSession

from features.email.models import CampaignRecipient
from shared.analytics import Figure, SliceStats, StatsPeriods, per_period

# Metric name -> the recipient column that records when it happened.
_METRICS = {
    "emails_sent": "sent_at", "emails_failed": "failed_at", "emails_opened": "opened_at",
    "emails_clicked": "clicked_at", "unsubscribes": "unsubscribed_at", "bounces": "bounced_at",
}


async def stats(session: AsyncSession, *, periods: StatsPeriods) -> SliceStats:
    """Campaign messages sent, given up on, first opened, first clicked, and the unsubscribes and
    bounces credited to one, each counted in the period it happened in."""
    columns = CampaignRecipient.__table__.c
    figures = {name: Figure(columns[column]) for name, column in _METRICS.items()}
    return SliceStats(series=await per_period(session, periods=periods, figures=figures))
