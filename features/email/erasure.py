"""What an erasure leaves behind once it committed: the tables it deleted the person from, compacted.

SQLite overwrites deleted rows as it goes (secure_delete); PostgreSQL keeps their bytes in its pages
until a table is written anew (shared/dialect.compaction_statements). The erasure makes the job due
in its own transaction (shared/jobs.run_after_commit): its request runs it after the response, or
a worker's runner does should the process stop first, and a rolled-back erasure asks for nothing.
"""

import logging
from datetime import timedelta

from features.email.models import Contact, ContactSource, ContactTag
from shared.db import compact_tables
from shared.jobs import JobContext, PeriodicJob, make_due
from shared.mail import OutgoingMail

logger = logging.getLogger("magnetiq.email.erasure")

# Every table an erasure deletes from: the contact (its address in the row and the unique index),
# its tags and sources (ON DELETE CASCADE) and the mail still queued to it. Campaign recipient rows
# are not deleted but lose their contact_id (SET NULL): they never held the address, and they are the
# one table of the slice that grows with every campaign, so it is not rewritten for each erasure.
ERASED_FROM: tuple[str, ...] = tuple(
    model.__table__.name for model in (Contact, ContactTag, ContactSource, OutgoingMail)  # type: ignore[attr-defined]
)


# A compaction that went ahead while older transactions still ran (a long backup, say) may have kept
# what they could see: it is run again this much later.
RETRY_AFTER = timedelta(minutes=10)


async def _compact_erased_rows(context: JobContext) -> None:
    if not await compact_tables(context.database, tables=ERASED_FROM):
        logger.warning("compaction after erasure held up by older transactions; tried again later")
        async with context.database.session() as session:
            await make_due(session, job=COMPACT_ERASED_ROWS_JOB, at=context.clock() + RETRY_AFTER)


# Due when an erasure commits; the weekly interval only repeats what an interrupted run may have missed.
COMPACT_ERASED_ROWS_JOB = PeriodicJob(
    name="email.compact_erased_rows", interval=timedelta(days=7), run=_compact_erased_rows,
    lease=timedelta(minutes=2), renew_lease=True,
)
