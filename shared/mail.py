"""Outgoing mail: messages are queued in the database with the change that caused them,
then delivered over SMTP by the worker (or right after the response), with retries."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Annotated

import aiosmtplib
from fastapi import BackgroundTasks, Depends, Request
from sqlalchemy import LargeBinary, or_, update
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.config import Settings
from shared.db import Database, UTCDateTime, utcnow

logger = logging.getLogger("magnetiq.mail")

MAX_ATTEMPTS = 8
CLAIM_SECONDS = 120


class OutgoingMail(SQLModel, table=True):
    __tablename__ = "mail_outbox"

    id: int | None = Field(default=None, primary_key=True)
    recipient: str = Field(max_length=320)
    subject: str = Field(max_length=500)
    message: bytes = Field(sa_type=LargeBinary)
    status: str = Field(default="pending", max_length=16, index=True)  # pending, sent, failed
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    claim_id: str | None = Field(default=None, max_length=32)
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # "text/calendar"
    data: bytes


def build_message(
    settings: Settings,
    *,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    attachments: tuple[Attachment, ...] = (),
    language: str | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.smtp_from_email
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.smtp_from_email.rsplit("@", 1)[-1])
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    for item in attachments:
        maintype, subtype = item.content_type.split("/", 1)
        message.add_attachment(item.data, maintype=maintype, subtype=subtype, filename=item.filename)
    if language:  # last: set_content and add_attachment drop or move Content-* headers
        message["Content-Language"] = language
    return message


async def queue_mail(session: AsyncSession, message: EmailMessage) -> OutgoingMail:
    """Stores the message for delivery; it is sent only if the surrounding transaction commits."""
    row = OutgoingMail(recipient=str(message["To"]), subject=str(message["Subject"]), message=message.as_bytes())
    session.add(row)
    await session.flush()
    return row


class Mailer:
    """Sends over SMTP with the settings' server and credentials."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send_raw(self, sender: str, recipient: str, raw: bytes) -> None:
        s = self.settings
        await aiosmtplib.send(
            raw,
            sender=sender,
            recipients=[recipient],
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_user or None,
            password=s.smtp_password.get_secret_value() or None,
            start_tls=s.smtp_starttls,
            use_tls=False,
            timeout=30,
        )


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** (attempts - 1), 6 * 3600))


async def _claim_batch(database: Database, limit: int) -> list[OutgoingMail]:
    # Claimed in one write so several workers never send the same message twice.
    claim_id = uuid.uuid4().hex
    now = utcnow()
    async with database.session() as session:
        due = (
            select(OutgoingMail.id)
            .where(OutgoingMail.status == "pending", OutgoingMail.next_attempt_at <= now)
            .where(or_(col(OutgoingMail.claimed_until).is_(None), col(OutgoingMail.claimed_until) < now))
            .order_by(col(OutgoingMail.id))
            .limit(limit)
        )
        await session.exec(  # type: ignore[call-overload]
            update(OutgoingMail)
            .where(col(OutgoingMail.id).in_(due.scalar_subquery()))
            .values(claim_id=claim_id, claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
        )
        rows = await session.exec(select(OutgoingMail).where(OutgoingMail.claim_id == claim_id))
        return list(rows.all())


async def deliver_due_mail(database: Database, mailer: Mailer, *, batch_size: int = 100) -> int:
    """Sends what is due, at most EMAIL_SEND_RATE a second; returns how many were sent."""
    sent = 0
    pause = 1 / mailer.settings.email_send_rate
    for row in await _claim_batch(database, batch_size):
        try:
            await mailer.send_raw(mailer.settings.smtp_from_email, row.recipient, row.message)
        except Exception as exc:  # one bad message must not hold up the rest of the batch
            row.attempts += 1
            row.last_error = f"{type(exc).__name__}: {str(exc)[:400]}"
            if row.attempts >= MAX_ATTEMPTS:
                row.status = "failed"
            else:
                row.next_attempt_at = utcnow() + _backoff(row.attempts)
            logger.warning("mail delivery failed", extra={"outbox_id": row.id, "attempts": row.attempts})
        else:
            row.status, row.sent_at, row.last_error = "sent", utcnow(), None
            sent += 1
        row.claim_id, row.claimed_until = None, None
        async with database.session() as session:
            await session.merge(row)
        await asyncio.sleep(pause)
    return sent


class DeliveryKicker:
    """One delivery at a time per process; kicks during a run make it go round once more.

    A burst of registrations then costs one SMTP session and a few claims, not one each.
    """

    def __init__(self) -> None:
        self._running = False
        self._again = False

    async def run(self, database: Database, mailer: Mailer) -> None:
        if self._running:
            self._again = True
            return
        self._running = True
        try:
            while True:
                self._again = False
                try:
                    await deliver_due_mail(database, mailer)
                except Exception:  # the worker retries whatever this attempt leaves behind
                    logger.exception("immediate mail delivery failed")
                if not self._again:
                    break
        finally:
            self._running = False


class MailDispatch:
    """Lets a request ask for its queued mail to go out right after the response."""

    def __init__(self, request: Request, background: BackgroundTasks) -> None:
        self._state = request.app.state
        self._background = background

    def deliver_soon(self) -> None:
        self._background.add_task(self._state.mail_kicker.run, self._state.db, self._state.mailer)


async def _mail_dispatch(request: Request, background: BackgroundTasks) -> MailDispatch:
    return MailDispatch(request, background)


# Small dependencies are async: a sync one would cost a threadpool hop on every request.
MailDispatchDep = Annotated[MailDispatch, Depends(_mail_dispatch)]
