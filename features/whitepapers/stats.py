"""The whitepapers slice's figures for the admin analytics."""

from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from features.whitepapers.models import WhitepaperDownload
from shared.analytics import Figure, SliceStats, StatsPeriods, per_period


async def stats(session: AsyncSession, *, periods: StatsPeriods) -> SliceStats:
    """`whitepaper_downloads` per period: the visitors who first downloaded a whitepaper then (one
    lead per visitor and whitepaper; asking again later adds none)."""
    return SliceStats(series=await per_period(
        session, periods=periods, figures={"whitepaper_downloads": Figure(col(WhitepaperDownload.created_at))}
    ))
