"""The webinars slice's figures for the admin analytics: registrations per period, and how full
the webinars held in the range were."""

from sqlalchemy import case, func, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from features.webinars.models import Webinar, WebinarRegistration
from shared.analytics import Figure, SliceStats, StatsPeriods, per_period


async def stats(session: AsyncSession, *, periods: StatsPeriods) -> SliceStats:
    """`webinar_registrations` per period (by when they registered); the webinars that started in the
    range (`webinars_held`) and, of those with a capacity, seats taken over seats (`webinar_fill_rate`)."""
    series = await per_period(
        session, periods=periods, figures={"webinar_registrations": Figure(col(WebinarRegistration.created_at))}
    )
    taken = (
        select(func.count()).where(WebinarRegistration.webinar_id == Webinar.id)
        .correlate(Webinar).scalar_subquery()
    )
    capacity = col(Webinar.capacity)
    held, seats, seats_taken = (await session.exec(
        select(
            func.count(), func.coalesce(func.sum(capacity), 0),
            # A webinar over capacity (staff added seats, then took them away) counts as full, not more.
            func.coalesce(func.sum(case((capacity.is_(None), 0), (taken > capacity, capacity), else_=taken)), 0),
        ).where(
            Webinar.status == "published", col(Webinar.starts_at) >= periods.start, col(Webinar.starts_at) < periods.end
        )
    )).one()
    return SliceStats(
        series=series,
        totals={
            "webinars_held": held, "webinar_seats": seats, "webinar_seats_taken": seats_taken,
            "webinar_fill_rate": round(seats_taken / seats, 4) if seats else None,
        },
    )
