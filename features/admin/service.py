"""The admin slice's queries for system health: the mail outbox, its newest failure, the newest backups."""

import re
from datetime import datetime, timedelta

from sqlalchemy import and_, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from features.admin.models import BackupRun
from features.admin.schemas import BackupRunView, MailDeliveryError, MailQueue
from shared.mail import OutgoingMail


async def mail_queue(session: AsyncSession, *, now: datetime) -> MailQueue:
    """The outbox by state, what is due now, and what failed for good in the last day."""
    counts = dict((await session.exec(select(OutgoingMail.status, func.count()).group_by(OutgoingMail.status))).all())
    due, failed_last_day = (await session.exec(
        select(
            func.count().filter(and_(OutgoingMail.status == "pending", col(OutgoingMail.next_attempt_at) <= now)),
            func.count().filter(and_(OutgoingMail.status == "failed",
                                     col(OutgoingMail.last_error_at) >= now - timedelta(days=1))),
        ).where(col(OutgoingMail.status).in_(("pending", "failed")))
    )).one()
    return MailQueue(due=due, failed_last_day=failed_last_day,
                     **{state: counts.get(state, 0) for state in ("pending", "sent", "failed", "skipped")})


# Anything shaped like an address, with its angle brackets: an SMTP 550 often echoes the recipient.
_ADDRESS = re.compile(r"<?[^\s<>()\[\]{}'\",;:@]+@[^\s<>()\[\]{}'\",;:@]+>?")


def without_addresses(text: str) -> str:
    return _ADDRESS.sub("<address>", text)


async def last_mail_error(session: AsyncSession) -> MailDeliveryError | None:
    """The outbox's newest failed delivery attempt; its reason is kept free of recipients' addresses."""
    row = (
        await session.exec(
            select(OutgoingMail)
            .where(col(OutgoingMail.last_error_at).is_not(None))
            .order_by(col(OutgoingMail.last_error_at).desc(), col(OutgoingMail.id).desc())
            .limit(1)
        )
    ).first()
    if row is None or row.id is None or row.last_error_at is None:
        return None
    return MailDeliveryError(
        outbox_id=row.id, template=row.template, status=row.status, attempts=row.attempts,
        failed_at=row.last_error_at, next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
        reason=without_addresses(row.last_error or ""),
    )


async def latest_backup(session: AsyncSession, *, status: str | None = None) -> BackupRunView | None:
    """The newest row of `backup_runs` (by start), or the newest with `status` ("succeeded", say)."""
    query = select(BackupRun).order_by(col(BackupRun.started_at).desc(), col(BackupRun.id).desc()).limit(1)
    if status is not None:
        query = query.where(BackupRun.status == status)
    row = (await session.exec(query)).first()
    return None if row is None else BackupRunView.model_validate(row)
