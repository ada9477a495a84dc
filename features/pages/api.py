"""The pages slice's api: its background job."""

from datetime import timedelta

from features.pages import service
from features.pages.stats import stats
from shared.jobs import JobContext, PeriodicJob


async def _publish_due_pages(context: JobContext) -> None:
    async with context.database.session() as session:
        await service.publish_due_pages(session, now=context.clock())


JOBS = (PeriodicJob(name="publish_due_pages", interval=timedelta(seconds=0), run=_publish_due_pages),)

__all__ = ["JOBS", "stats"]
