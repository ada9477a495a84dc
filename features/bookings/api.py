"""The bookings slice's api: its mail templates, its settings check, and what it hears of removed
users (no jobs)."""

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from features.bookings import mails
from features.bookings.models import Booking
from features.bookings.service import settings_problem
from features.bookings.stats import stats
from shared.config import Settings
from shared.events import UserRemoved
from shared.jobs import PeriodicJob

JOBS: tuple[PeriodicJob, ...] = ()
MAIL_TEMPLATES = mails.MAIL_TEMPLATES


async def _release_assignments(event: UserRemoved, session: AsyncSession, _settings: Settings) -> None:
    # What ON DELETE SET NULL would do if users were deleted rather than deactivated.
    await session.exec(  # type: ignore[call-overload]
        update(Booking).where(col(Booking.assigned_to) == event.user_id).values(assigned_to=None)
    )


SUBSCRIPTIONS = ((UserRemoved, _release_assignments),)

__all__ = ["JOBS", "MAIL_TEMPLATES", "SUBSCRIPTIONS", "settings_problem", "stats"]
