"""The twitter slice's api (what other slices and the shell may import)."""

from sqlmodel.ext.asyncio.session import AsyncSession

from features.twitter.accounts import accounts_health
from features.twitter.models import TABLES
from features.twitter.service import post_queue
from features.twitter.worker import JOBS
from shared.analytics import SliceStats, StatsPeriods
from shared.social_stats import publishing_stats


async def stats(session: AsyncSession, *, periods: StatsPeriods) -> SliceStats:
    """Posts published and their impressions per period, for the admin analytics."""
    return await publishing_stats(session, tables=TABLES, periods=periods)


__all__ = ["JOBS", "accounts_health", "post_queue", "stats"]
