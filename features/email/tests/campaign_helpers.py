"""What the campaign tests share: an SMTP server that can stall or refuse, seeded contacts, a sender."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

from fastapi import FastAPI
from sqlalchemy import insert

from features.email.models import Contact, ContactTag
from features.email.sender import CampaignSender
from shared.db import utcnow
from shared.jobs import JobContext

BASE = "/api/v1/communication/email"

TEMPLATE = {
    "name": "Newsletter",
    "subject": {"en": "News for {{ contact.first_name }}", "de": "Neues für {{ contact.first_name }}"},
    "html_body": {
        "en": '<p>Hello {{ contact.first_name }},</p><p><a href="https://example.com/read?a=1&amp;b=2">Read</a></p>'
              '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>',
        "de": '<p>Hallo {{ contact.first_name }},</p><p><a href="{{ unsubscribe_url }}">Abmelden</a></p>',
    },
}


@dataclass
class ProgrammableSmtp:
    """An aiosmtpd handler that records messages and can stall, refuse with 451 a number of
    times per address, or refuse an address with 550 (as a real server may)."""

    messages: list[EmailMessage] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)
    delay: float = 0.0
    temporary: Counter[str] = field(default_factory=Counter)  # address -> 451s still to answer
    refuse_all_temporarily: bool = False
    permanent: set[str] = field(default_factory=set)
    # Called (on the server's thread) with each message's first recipient before it is accepted.
    while_receiving: Callable[[str], None] | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if address in self.permanent:
            return "550 5.1.1 Mailbox unavailable"
        if self.refuse_all_temporarily:
            return "451 4.3.0 Try again later"
        if self.temporary[address] > 0:
            self.temporary[address] -= 1
            return "451 4.7.1 Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.while_receiving is not None:
            self.while_receiving(envelope.rcpt_tos[0])
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        self.received_at.append(time.monotonic())
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def count_by_recipient(self) -> Counter[str]:
        return Counter(str(m["To"]) for m in self.messages if "X-Magnetiq-Test" not in m)


async def seed_contacts(
    app: FastAPI, count: int, *, status: str = "subscribed", language: str = "en", tags: tuple[str, ...] = (),
    prefix: str = "person",
) -> list[int]:
    """`count` contacts written straight to the table (the audience API is tested on its own)."""
    now = utcnow()
    rows = [
        {"email": f"{prefix}{i}@example.com", "first_name": f"First{i}", "last_name": "Last", "company": None,
         "language": language, "status": status, "consent_at": now, "consent_origin": "staff", "soft_bounces": 0,
         "created_at": now, "updated_at": now}
        for i in range(count)
    ]
    async with app.state.db.session() as session:
        connection = await session.connection()
        result = await connection.execute(insert(Contact).returning(Contact.id), rows)
        ids = [row[0] for row in result.all()]
        if tags:
            await connection.execute(insert(ContactTag), [{"contact_id": i, "tag": t} for i in ids for t in tags])
    return ids


def sender_for(app: FastAPI, *, clock_offset: timedelta = timedelta(0), worker_id: str | None = None) -> CampaignSender:
    def clock() -> datetime:
        return utcnow() + clock_offset

    context = JobContext(database=app.state.db, settings=app.state.settings, mailer=app.state.mailer, clock=clock)
    return CampaignSender(context, worker_id=worker_id)


async def send_all(app: FastAPI, *, clock_offset: timedelta = timedelta(0), rounds: int = 20) -> None:
    """Runs the sender until it reports nothing due (or `rounds` turns)."""
    for _ in range(rounds):
        if not await sender_for(app, clock_offset=clock_offset).run(seconds=30):
            return
