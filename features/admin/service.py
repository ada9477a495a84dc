"""System health for admins: the public health plus workers, jobs and the mail queue."""

import platform
from datetime import datetime

from sqlalchemy import func
from sqlmodel import select

from features.admin.schemas import MailOutboxCounts, SystemHealth
from features.health.api import detailed_health
from shared.config import Settings
from shared.db import Database, utcnow
from shared.jobs import worker_status
from shared.mail import OutgoingMail


async def mail_outbox_counts(database: Database) -> MailOutboxCounts:
    async with database.session(write=False) as session:
        rows = (await session.exec(select(OutgoingMail.status, func.count()).group_by(OutgoingMail.status))).all()
    counts = dict(rows)
    return MailOutboxCounts(**{state: counts.get(state, 0) for state in ("pending", "sent", "failed", "skipped")})


async def system_health(database: Database, settings: Settings, started_at: datetime) -> SystemHealth:
    status = await worker_status(database)
    return SystemHealth(
        health=await detailed_health(database, settings),
        started_at=started_at,
        uptime_seconds=round((utcnow() - started_at).total_seconds(), 1),
        python_version=platform.python_version(),
        worker_enabled_in_api=settings.worker_enabled,
        workers=status["workers"],
        jobs=status["jobs"],
        mail_outbox=await mail_outbox_counts(database),
    )
