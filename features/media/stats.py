"""The media slice's figures for the admin analytics."""

from sqlalchemy import func, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from features.media.models import MediaItem
from shared.analytics import Figure, SliceStats, StatsPeriods, per_period


async def stats(session: AsyncSession, *, periods: StatsPeriods) -> SliceStats:
    """`media_bytes_uploaded` per period (of the files still stored); `media_bytes` and `media_items`
    stored now, whatever the range."""
    uploaded = Figure(col(MediaItem.created_at), aggregate=func.sum(col(MediaItem.size)))
    series = await per_period(session, periods=periods, figures={"media_bytes_uploaded": uploaded})
    items, stored = (await session.exec(
        select(func.count(), func.coalesce(func.sum(col(MediaItem.size)), 0)).select_from(MediaItem)
    )).one()
    return SliceStats(series=series, totals={"media_bytes": stored, "media_items": items})
