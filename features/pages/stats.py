"""The pages slice's figures for the admin analytics."""

from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from features.pages.models import Page
from shared.analytics import Figure, SliceStats, StatsPeriods, per_period


async def stats(session: AsyncSession, *, periods: StatsPeriods) -> SliceStats:
    """`pages_published` per period: pages first published then that are published and not deleted now."""
    published = Figure(col(Page.published_at), where=(Page.status == "published", col(Page.deleted_at).is_(None)))
    return SliceStats(series=await per_period(session, periods=periods, figures={"pages_published": published}))
