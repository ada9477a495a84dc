"""Outgoing mail: messages are queued in the database with the change that caused them,
then delivered over SMTP by the worker (or right after the response), with retries.

A message is queued either rendered (`queue_mail`) or as a template name and its parameters
(`queue_template`), rendered when it is sent: hot public endpoints then write one small row
and leave the MIME work to delivery, which runs at EMAIL_SEND_RATE at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import unicodedata
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.header import Header, decode_header, make_header
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid
from functools import partial
from typing import Any

import aiosmtplib
from email_validator import validate_email
from sqlalchemy import Integer, LargeBinary, String, bindparam, delete, insert, or_, update
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.config import Settings
from shared.db import CommitHook, Database, DriverWriter, JSONDocument, SessionWriter, UTCDateTime, delete_batch, utcnow
from shared.dialect import DriverStatement, DriverTransaction, partial_index

logger = logging.getLogger("magnetiq.mail")

MAX_ATTEMPTS = 8
DONE = frozenset({"sent", "skipped"})  # statuses after which a row is only a record
CLAIM_SECONDS = 120


class OutgoingMail(SQLModel, table=True):
    __tablename__ = "mail_outbox"
    # System health shows the newest failure; rows without one (nearly all) stay out of the index.
    __table_args__ = (
        partial_index("ix_mail_outbox_last_error_at", "last_error_at", where="last_error_at IS NOT NULL"),
    )

    id: int | None = Field(default=None, primary_key=True)
    recipient: str = Field(max_length=320)
    subject: str = Field(max_length=500)  # empty until a template is rendered
    message: bytes | None = Field(default=None, sa_type=LargeBinary)  # None: a template, or already delivered
    template: str | None = Field(default=None, max_length=64)
    params: dict[str, Any] | None = Field(default=None, sa_type=JSONDocument)
    # pending, sent, failed, skipped (its template found nothing to send any more)
    status: str = Field(default="pending", max_length=16, index=True)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    claim_id: str | None = Field(default=None, max_length=32)
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=500)
    last_error_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # when a delivery attempt failed
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


OUTBOX = OutgoingMail.__table__  # queued with core inserts: one small row, no ORM unit of work


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # "text/calendar"
    data: bytes
    params: tuple[tuple[str, str], ...] = ()  # extra Content-Type parameters, e.g. (("method", "REQUEST"),)


HEADER_TEXT_LIMIT = 250


def header_text(value: str, limit: int = HEADER_TEXT_LIMIT) -> str:
    """Text fit for a header (a subject, a display name): one line, no control characters, bounded.

    Titles and names are staff or visitor input: a line break in a header would start another one.
    """
    flat = " ".join("".join(" " if unicodedata.category(c)[0] == "C" else c for c in value).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "\u2026"


def subject_header(subject: str) -> str | Header:
    """The Subject header's value as every mail carries it: one clean line, an encoded word when not ASCII."""
    flat = header_text(subject)
    return flat if flat.isascii() else Header(flat, "utf-8")


def message_identity(settings: Settings) -> dict[str, str]:
    """The two headers that differ for every message, even for two copies of the same mail."""
    return {
        "Date": formatdate(localtime=False),
        "Message-ID": make_msgid(domain=settings.smtp_from_email.rsplit("@", 1)[-1]),
    }


def ascii_address(email: str) -> str:
    """The address as plain SMTP (no SMTPUTF8) carries it: an international domain in punycode."""
    if email.isascii():
        return email
    return validate_email(email, check_deliverability=False).ascii_email or email


def build_message(
    settings: Settings,
    *,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    attachments: tuple[Attachment, ...] = (),
    language: str | None = None,
) -> Message:
    """A MIME message (UTF-8 text, optional HTML alternative and attachments).

    Built with the stdlib's compat32 MIME classes: the newer EmailMessage API parses every
    header through its header registry and costs about three times as much per message.
    """
    body: Message = MIMEText(text, "plain", "utf-8")
    if html:
        alternative = MIMEMultipart("alternative")
        alternative.attach(body)
        alternative.attach(MIMEText(html, "html", "utf-8"))
        body = alternative
    message: Message = body
    if attachments:
        message = MIMEMultipart("mixed")
        message.attach(body)
        for item in attachments:
            maintype, subtype = item.content_type.split("/", 1)
            if maintype == "text":
                part: Message = MIMEText(item.data.decode("utf-8"), subtype, "utf-8")
            else:
                part = MIMEApplication(item.data, subtype)
            for name, value in item.params:
                part.set_param(name, value)
            part.add_header("Content-Disposition", "attachment", filename=item.filename)
            message.attach(part)
    message["From"] = settings.smtp_from_email
    message["To"] = ascii_address(to)
    message["Subject"] = subject_header(subject)
    for name, value in message_identity(settings).items():
        message[name] = value
    if language:
        message["Content-Language"] = language
    return message


def _subject_of(message: Message) -> str:
    return str(make_header(decode_header(message["Subject"] or "")))[:500]


async def queue_mail(session: AsyncSession, *, message: Message) -> None:
    """Stores a rendered message for delivery; it is sent only if the surrounding transaction commits."""
    await _queue(session, recipient=str(message["To"]), subject=_subject_of(message), message=message.as_bytes())


async def queue_template(session: AsyncSession, *, template: str, recipient: str, params: dict[str, Any]) -> None:
    """Stores a message to render at delivery with the renderer registered as `template`.

    One small insert in the caller's transaction: the mail exists if and only if the change does.
    """
    await _queue(session, recipient=ascii_address(recipient), subject="", template=template, params=params)


async def queue_templates(
    session: AsyncSession, *, template: str, messages: Sequence[tuple[str, dict[str, Any]]]
) -> None:
    """`queue_template` for many (recipient, params) at once: one statement run per row by the driver."""
    now = utcnow()  # a core insert skips the model's Python-side defaults
    rows = [
        _row(now, recipient=ascii_address(recipient), subject="", template=template, params=params)
        for recipient, params in messages
    ]
    await _QUEUE.executemany(session, rows)
    if rows:
        session.info[MAIL_QUEUED] = True


async def forget_recipient(session: AsyncSession, *, address: str) -> int:
    """Removes every message to `address`, in the caller's transaction; returns how many. For an erased
    person: nothing queued for them goes out later, and no record of what was sent keeps the address.

    A message a delivery has already claimed may still leave; its outcome then updates no row."""
    addresses = {address, ascii_address(address)}  # queued mail is addressed in punycode
    result = await session.exec(  # type: ignore[call-overload]
        delete(OutgoingMail).where(col(OutgoingMail.recipient).in_(addresses))
    )
    return result.rowcount or 0


# Set on a session that queued mail; the request's commit hook starts delivery once it commits.
MAIL_QUEUED = "magnetiq_mail_queued"


# Compiled once and run in one trip to the driver: public forms queue mail on every request.
_QUEUE = DriverStatement(
    insert(OUTBOX).values(
        {name: bindparam(name, type_=column.type) for name, column in OUTBOX.columns.items() if name != "id"}
    )
)


def _row(now: datetime, **values: Any) -> dict[str, Any]:
    return {
        "message": None, "template": None, "params": None, "status": "pending", "attempts": 0, "claim_id": None,
        "claimed_until": None, "last_error": None, "last_error_at": None, "sent_at": None, "next_attempt_at": now,
        "created_at": now,
        **values,
    }


async def _queue(session: AsyncSession, **values: Any) -> None:
    # A core insert skips the model's Python-side defaults. Nothing in the transaction reads the
    # row back: it is written with the commit, in the same trip.
    await _QUEUE.defer(session, _row(utcnow(), **values))
    session.info[MAIL_QUEUED] = True


# Renders a queued template: the message, or None when there is nothing to send any more
# (say, the registration it confirms was deleted). Reads through the session it is given.
Renderer = Callable[[AsyncSession, Settings, dict[str, Any]], Awaitable[Message | None]]


class Mailer:
    """Sends over SMTP with the settings' server and credentials; renders queued templates."""

    def __init__(self, settings: Settings, templates: Mapping[str, Renderer] | None = None) -> None:
        self.settings = settings
        self.templates = dict(templates or {})

    def client(self) -> aiosmtplib.SMTP:
        """An SMTP client for the configured server, not yet connected."""
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=s.smtp_host, port=s.smtp_port, username=s.smtp_user or None,
            password=s.smtp_password.get_secret_value() or None, start_tls=s.smtp_starttls, use_tls=False,
            timeout=30,
        )

    async def render(self, database: Database, row: OutgoingMail) -> bytes | None:
        """The bytes to send for a queued row (rendering its template if it has one)."""
        if row.message is not None:
            return row.message
        renderer = self.templates.get(row.template or "")
        if renderer is None:
            raise LookupError(f"no mail template named {row.template!r}")
        async with database.session(write=False) as session:
            message = await renderer(session, self.settings, row.params or {})
        if message is None:
            return None
        row.subject = _subject_of(message)
        return message.as_bytes()


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** (attempts - 1), 6 * 3600))


_mail = OUTBOX.c
_WHEN = UTCDateTime()
# Claims due rows in one write, so several workers never send the same message twice, and
# returns what sending them needs in the same trip.
_CLAIM_DUE = DriverStatement(
    update(OUTBOX)
    .where(_mail.id.in_(
        select(_mail.id)
        .where(_mail.status == "pending", _mail.next_attempt_at <= bindparam("now", type_=_WHEN))
        .where(or_(_mail.claimed_until.is_(None), _mail.claimed_until < bindparam("now", type_=_WHEN)))
        .order_by(_mail.id)
        .limit(bindparam("limit", type_=Integer))
        # PostgreSQL: rows another worker is claiming are passed over, not claimed a second time once
        # its UPDATE commits (SQLite's BEGIN IMMEDIATE admits one writer: nothing to say there).
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    ))
    .values(claim_id=bindparam("claim", type_=String), claimed_until=bindparam("until", type_=_WHEN))
    .returning(_mail.id, _mail.recipient, _mail.subject, _mail.message, _mail.template, _mail.params, _mail.attempts)
)


def _outcome_statement(*, done: bool) -> DriverStatement:
    values: dict[str, Any] = {
        "status": bindparam("new_status", type_=String), "subject": bindparam("new_subject", type_=String),
        "attempts": bindparam("new_attempts", type_=Integer), "last_error": bindparam("error", type_=String),
        "last_error_at": bindparam("error_at", type_=_WHEN), "next_attempt_at": bindparam("due", type_=_WHEN),
        "sent_at": bindparam("sent", type_=_WHEN), "claim_id": None, "claimed_until": None,
    }
    if done:
        # A delivered body still carries its links (download, cancel): the outbox keeps
        # who, what and when, not a second copy of what only the recipient should hold.
        values |= {"message": None, "params": None}
    return DriverStatement(update(OUTBOX).where(_mail.id == bindparam("row_id", type_=Integer)).values(**values))


_RECORD_DONE, _RECORD_PENDING = _outcome_statement(done=True), _outcome_statement(done=False)


def _claimed(row: tuple[Any, ...]) -> OutgoingMail:
    mail_id, recipient, subject, message, template, params, attempts = row
    return OutgoingMail(
        id=mail_id, recipient=recipient, subject=subject, message=message, template=template,
        params=json.loads(params) if isinstance(params, str) else params, attempts=attempts,
    )


def _claim_due(transaction: DriverTransaction, limit: int) -> list[OutgoingMail]:
    now = utcnow()
    values = {"now": now, "limit": limit, "claim": uuid.uuid4().hex, "until": now + timedelta(seconds=CLAIM_SECONDS)}
    return sorted((_claimed(row) for row in transaction.rows(_CLAIM_DUE, values)), key=lambda row: row.id or 0)


def _record_outcome(transaction: DriverTransaction, row: OutgoingMail) -> None:
    transaction.run(_RECORD_DONE if row.status in DONE else _RECORD_PENDING, {
        "row_id": row.id, "new_status": row.status, "new_subject": row.subject, "new_attempts": row.attempts,
        "error": row.last_error, "error_at": row.last_error_at, "due": row.next_attempt_at, "sent": row.sent_at,
    })


def _record_failure(row: OutgoingMail, exc: BaseException) -> None:
    row.attempts += 1
    row.last_error = f"{type(exc).__name__}: {str(exc)[:400]}"
    row.last_error_at = utcnow()
    if row.attempts >= MAX_ATTEMPTS:
        row.status = "failed"
    else:
        row.next_attempt_at = utcnow() + _backoff(row.attempts)
    logger.warning("mail delivery failed", extra={"outbox_id": row.id, "attempts": row.attempts})


async def reset_or_drop(client: aiosmtplib.SMTP | None) -> aiosmtplib.SMTP | None:
    """After a failed message: a clean SMTP transaction for the next one, or a new connection."""
    if client is None or not client.is_connected:
        return None
    try:
        await client.rset()
    except Exception:
        client.close()
        return None
    return client


async def _send_batch(
    rows: list[OutgoingMail], database: Database, mailer: Mailer, writer: DriverWriter | SessionWriter
) -> int:
    sent = 0
    pause = 1 / mailer.settings.email_send_rate
    client: aiosmtplib.SMTP | None = None
    try:
        for row in rows:
            try:
                raw = await mailer.render(database, row)
                if raw is None:
                    row.status, row.last_error, row.last_error_at = "skipped", "nothing to send any more", None
                else:
                    if client is None or not client.is_connected:
                        client = mailer.client()
                        await client.connect()
                    await client.sendmail(mailer.settings.smtp_from_email, [row.recipient], raw)
                    row.status, row.sent_at, row.last_error, row.last_error_at = "sent", utcnow(), None, None
                    sent += 1
            except Exception as exc:  # one bad message must not hold up the rest of the batch
                _record_failure(row, exc)
                client = await reset_or_drop(client)
            # Recorded before the next message leaves: a process killed mid-batch re-sends at most
            # the one message the server took before its mark was committed.
            await writer.transaction(lambda transaction, row=row: _record_outcome(transaction, row))
            if row.status == "sent":
                await asyncio.sleep(pause)
    finally:
        if client is not None and client.is_connected:
            with contextlib.suppress(Exception):
                await client.quit()
    return sent


async def deliver_due_mail(database: Database, mailer: Mailer, *, batch_size: int = 50) -> int:
    """Sends what is due over one SMTP session, at most EMAIL_SEND_RATE a second; returns how many were sent.

    Delivery is at least once: each message's outcome is written as soon as the server has
    answered, so a process that dies mid-batch may have sent one message whose mark never
    committed; that one and the rest of the batch wait for their claims to lapse (CLAIM_SECONDS)
    and are sent then.
    """
    # The claim and each outcome take one trip to the database's thread instead of a session's ten
    # or more: delivery right after a registration's commit is most of its database work, and
    # this buys the registration benchmark its ratio.
    async with database.driver_writer() as writer:
        rows = await writer.transaction(lambda transaction: _claim_due(transaction, batch_size))
        if not rows:
            return 0
        return await _send_batch(rows, database, mailer, writer)


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

    def commit_hook(self, database: Database, mailer: Mailer) -> CommitHook:
        """Delivery right after the response of any request whose committed transaction queued mail."""

        def after_commit(info: dict[str, Any]) -> Callable[[], Awaitable[None]] | None:
            if info.pop(MAIL_QUEUED, False):
                return partial(self.run, database, mailer)
            return None

        return after_commit


async def prune_finished_mail(session: AsyncSession, *, created_before: datetime, limit: int) -> int:
    """Deletes up to `limit` outbox rows that are only a record now (delivered, skipped, given up on)."""
    return await delete_batch(
        session, OutgoingMail, col(OutgoingMail.status).in_(("sent", "skipped", "failed")),
        col(OutgoingMail.created_at) < created_before, limit=limit,
    )
