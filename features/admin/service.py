"""System health for admins: the public health plus workers, jobs and the mail queue."""

import platform
import re
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select

from features.admin.schemas import MailDeliveryError, MailOutboxCounts, SystemHealth
from features.health.api import detailed_health
from features.linkedin import api as linkedin_api
from features.twitter import api as twitter_api
from shared.config import Settings
from shared.db import Database, utcnow
from shared.jobs import worker_status
from shared.mail import OutgoingMail
from shared.social_schemas import SocialAccountsHealth


async def mail_outbox_counts(database: Database) -> MailOutboxCounts:
    async with database.session(write=False) as session:
        rows = (await session.exec(select(OutgoingMail.status, func.count()).group_by(OutgoingMail.status))).all()
    counts = dict(rows)
    return MailOutboxCounts(**{state: counts.get(state, 0) for state in ("pending", "sent", "failed", "skipped")})


# Anything shaped like an address, with its angle brackets: an SMTP 550 often echoes the recipient.
_ADDRESS = re.compile(r"<?[^\s<>()\[\]{}'\",;:@]+@[^\s<>()\[\]{}'\",;:@]+>?")


def without_addresses(text: str) -> str:
    return _ADDRESS.sub("<address>", text)


async def last_mail_error(database: Database) -> MailDeliveryError | None:
    """The outbox's newest failed delivery attempt; its reason is kept free of recipients' addresses."""
    async with database.session(write=False) as session:
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
        last_mail_error=await last_mail_error(database),
        social_accounts=await social_accounts(database, settings),
    )


async def social_accounts(database: Database, settings: Settings) -> dict[str, SocialAccountsHealth]:
    async with database.session(write=False) as session:
        return {
            "linkedin": await linkedin_api.accounts_health(session, settings=settings),
            "twitter": await twitter_api.accounts_health(session, settings=settings),
        }
