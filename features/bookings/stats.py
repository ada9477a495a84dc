"""The bookings slice's figures for the admin analytics."""

from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from features.bookings.models import STATUSES, Booking
from shared.analytics import Figure, SliceStats, StatsPeriods, per_period


async def stats(session: AsyncSession, *, periods: StatsPeriods) -> SliceStats:
    """`bookings_by_status.<status>` per period: the bookings asked for then, by the status they have now."""
    figures = {
        f"bookings_by_status.{status}": Figure(col(Booking.created_at), where=(Booking.status == status,))
        for status in STATUSES
    }
    return SliceStats(series=await per_period(session, periods=periods, figures=figures))
