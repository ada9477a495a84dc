"""The campaign sender: every consenting recipient gets exactly one message.

Per message, one short write transaction records the outcome of the message before it, claims
the next recipient (pending -> sending, only while its campaign is sending and its contact still
subscribed) and reserves its send slot (EMAIL_SEND_RATE across every process); then the message
is rendered and handed to the SMTP server with no transaction open. A recipient is therefore
marked `sent` right after the server accepted it and before the next message leaves.

The one window: a process killed after the server accepted a message and before that mark is
committed leaves its recipient `sending`. Once its claim lapses (CLAIM_LEASE) the next run sends
it again, so that one person may get a second copy; each process has at most one such recipient,
and nobody is ever skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.message import Message
from typing import Any

import aiosmtplib
from sqlalchemy import Float, String, bindparam, exists, literal_column, select, update

from features.email.campaigns import start_due_campaigns
from features.email.links import click_url, open_pixel_url, unsubscribe_url
from features.email.models import Campaign, CampaignRecipient, Contact, EmailTemplate, SendPace
from features.email.rendering import (
    campaign_message,
    compiled_template,
    message_bytes,
    template_values,
    track_links,
    with_open_pixel,
)
from shared.db import UTCDateTime
from shared.dialect import DriverStatement, driver_upsert, greatest
from shared.jobs import MORE_WORK, JobContext, PeriodicJob
from shared.mail import Mailer, ascii_address, reset_or_drop

logger = logging.getLogger("magnetiq.email.sender")

CLAIM_LEASE = timedelta(seconds=90)  # longer than one message may take (the SMTP client's timeout is 30 s)
MAX_ATTEMPTS = 5  # temporary failures of one recipient before it is given up
PAUSE_AFTER_FAILURES = 20  # consecutive failures after which a campaign pauses itself
RUN_SECONDS = 5.0  # a job run sends for this long, then hands the runner back (shutdown waits at most this)
PACE = "campaigns"

_recipients = CampaignRecipient.__table__.c
_campaigns = Campaign.__table__.c
_pace = SendPace.__table__.c
_WHEN = UTCDateTime()

# The statements of the per-message transaction run hundreds of times a second: compiled once
# and run on the driver in one trip each (shared/dialect.py); they buy the campaign benchmark's ratio.
# A message costs five trips: BEGIN, _MARK_SENT, _CLAIM_FIRST, _RESERVE_SLOT, COMMIT.


def _lookup(model: Any, column: str, key: str) -> Any:
    """`model.column` of the row the updated recipient's `key` points to, for a RETURNING clause.

    Written out: SQLAlchemy renders the names inside RETURNING without their tables, which
    would leave the correlation to SQL's scoping rules and the tables' column names."""
    table, recipients = model.__table__.name, CampaignRecipient.__table__.name
    sql = f"(SELECT {table}.{column} FROM {table} WHERE {table}.id = {recipients}.{key})"  # noqa: S608 (names from the models)
    return literal_column(sql)


def _claim_statement(campaign_id: Any) -> DriverStatement:
    """Claims the next due recipient of the campaign `campaign_id` (a value or a subquery) while
    that campaign is sending. The contact comes back with the claim in the same trip, one trip
    fewer per message (it buys the campaign benchmark's ratio); an erased contact comes as NULLs."""
    return DriverStatement(
        update(CampaignRecipient.__table__)
        .where(
            _recipients.id == select(_recipients.id).where(
                _recipients.campaign_id == campaign_id, _recipients.status == "pending",
                _recipients.next_attempt_at <= bindparam("now", type_=_WHEN),
            ).order_by(_recipients.id).limit(1).scalar_subquery(),
            exists().where(_campaigns.id == _recipients.campaign_id, _campaigns.status == "sending"),
        )
        .values(
            status="sending", claimed_by=bindparam("worker", type_=String),
            claimed_until=bindparam("until", type_=_WHEN),
        )
        .returning(
            _recipients.id, _recipients.campaign_id, _recipients.contact_id, _recipients.attempts,
            *(_lookup(Contact, column, "contact_id")
              for column in ("email", "first_name", "last_name", "company", "language", "status")),
        )
    )


_CLAIM = _claim_statement(bindparam("campaign_id"))
# The first campaign the loop over _SENDING_CAMPAIGNS would try, chosen inside the claim: while
# it has due recipients (nearly always) a message needs no trip to list the campaigns (it buys
# the campaign benchmark's ratio). When it finds nothing, the loop runs as before.
_CLAIM_FIRST = _claim_statement(
    select(_campaigns.id).where(_campaigns.status == "sending").order_by(_campaigns.id).limit(1).scalar_subquery()
)
# The campaigns a claim may come from, in the order they are served; one trip to the driver
# instead of the ORM's four (it buys the campaign benchmark's ratio).
_SENDING_CAMPAIGNS = DriverStatement(
    select(_campaigns.id).where(_campaigns.status == "sending").order_by(_campaigns.id)
)
# Marks a message sent and reads its campaign's failure count under the same write lock: the
# reset below is then needed only when there is something to reset, one trip fewer per message
# (it buys the campaign benchmark's ratio).
_MARK_SENT = DriverStatement(
    update(CampaignRecipient.__table__)
    .where(_recipients.id == bindparam("recipient_id"), _recipients.claimed_by == bindparam("worker", type_=String))
    .values(status="sent", sent_at=bindparam("now", type_=_WHEN), attempts=_recipients.attempts + 1,
            claimed_by=None, claimed_until=None, last_error=None)
    .returning(_lookup(Campaign, "consecutive_failures", "campaign_id"))
)
_RESET_FAILURES = DriverStatement(
    update(Campaign.__table__)
    .where(_campaigns.id == bindparam("campaign_id"), _campaigns.consecutive_failures > 0)
    .values(consecutive_failures=0)
)
_RESERVE_SLOT = DriverStatement(
    driver_upsert(SendPace.__table__)
    .values(name=PACE, next_slot=bindparam("now", type_=Float) + bindparam("interval", type_=Float))
    .on_conflict_do_update(
        index_elements=["name"],
        set_={
            "next_slot": greatest(_pace.next_slot, bindparam("now", type_=Float)) + bindparam("interval", type_=Float)
        },
    )
    .returning(_pace.next_slot)
)


@dataclass(frozen=True)
class Claim:
    recipient_id: int
    campaign_id: int
    contact_id: int
    attempts: int
    contact: dict[str, Any]
    slot: float  # time.time() at which this message may leave


@dataclass(frozen=True)
class Outcome:
    kind: str  # "sent", "retry" (temporary failure) or "failed" (permanent: the contact bounced)
    error: str | None = None


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(60 * 2 ** (attempts - 1), 3600))


def classify(exc: BaseException) -> Outcome:
    """A refusal of the recipient or the message with a 5xx is permanent; everything else (4xx,
    a dropped connection, a refused login or sender: our own set-up) is worth another try."""
    reply = f"{type(exc).__name__}: {exc}"[:480]
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [refusal.code for refusal in exc.recipients]
        return Outcome("failed" if codes and all(code >= 500 for code in codes) else "retry", reply)
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError) and exc.code >= 500:
        return Outcome("failed", reply)
    return Outcome("retry", reply)


def _subscribed_contact(contact_id: int | None, row: list[Any]) -> dict[str, Any] | None:
    """The claimed recipient's contact (as _CLAIM returns it), or None unless it is still subscribed."""
    email, first_name, last_name, company, language, status = row
    if contact_id is None or status != "subscribed":
        return None
    return {"email": email, "first_name": first_name, "last_name": last_name, "company": company, "language": language}


class CampaignSender:
    """One sending process's loop over every campaign that is sending."""

    def __init__(self, context: JobContext, *, worker_id: str | None = None) -> None:
        self.context = context
        self.settings = context.settings
        self.mailer = Mailer(context.settings)
        self.worker = worker_id or _worker_id()
        self._templates: dict[int, tuple[str, EmailTemplate, bool, bool]] = {}

    async def run(self, seconds: float = RUN_SECONDS) -> bool:
        """Sends for about `seconds`; returns whether work is left that is already due."""
        deadline = time.monotonic() + seconds
        await self._release_lapsed_claims()
        client: aiosmtplib.SMTP | None = None
        previous: tuple[Claim, Outcome] | None = None
        try:
            while True:
                claim, previous = await self._record_and_claim(previous), None
                if claim is None:
                    return False
                try:
                    message = await self._message(claim)
                except Exception as exc:  # counted like a refusal: twenty in a row pause the campaign
                    logger.exception("campaign message could not be rendered", extra={"campaign_id": claim.campaign_id})
                    previous = (claim, Outcome("retry", f"not rendered: {type(exc).__name__}: {exc}"[:480]))
                    continue
                await asyncio.sleep(max(0.0, claim.slot - time.time()))
                outcome, client = await self._deliver(client, claim, message)
                previous = (claim, outcome)
                if time.monotonic() >= deadline:
                    return True
        finally:
            if previous is not None:
                await self._record_and_claim(previous, claim_next=False)
            if client is not None and client.is_connected:
                with contextlib.suppress(Exception):
                    await client.quit()

    # --- the per-message transaction ------------------------------------------------------------

    async def _record_and_claim(
        self, previous: tuple[Claim, Outcome] | None, *, claim_next: bool = True
    ) -> Claim | None:
        now = self.context.clock()
        async with self.context.database.session() as session:
            if previous is not None:
                await self._record(session, *previous, now=now)
            if not claim_next:
                return None
            claim_values = {"now": now, "worker": self.worker, "until": now + CLAIM_LEASE}
            claim = await self._claim(session, _CLAIM_FIRST, claim_values)
            if claim is not None:
                return claim
            for campaign_id in await self._sending_campaigns(session):
                claim = await self._claim(session, _CLAIM, {**claim_values, "campaign_id": campaign_id})
                if claim is not None:
                    return claim
                await self._finish_if_done(session, campaign_id, now)
        return None

    async def _claim(self, session: Any, statement: DriverStatement, values: dict[str, Any]) -> Claim | None:
        """The next recipient `statement` claims whose contact is still subscribed (the others are
        skipped on the way), with its send slot; None when it claims nobody."""
        while True:
            claimed = await statement.fetchall(session, values)
            if not claimed:
                return None
            recipient_id, campaign_id, contact_id, attempts, *contact_row = claimed[0]
            contact = _subscribed_contact(contact_id, contact_row)
            if contact is None:  # unsubscribed, bounced or erased since the list was frozen
                await self._skip(session, recipient_id, "contact no longer subscribed")
                continue
            slot = await self._reserve_slot(session)
            return Claim(recipient_id, campaign_id, contact_id, attempts, contact, slot)

    async def _sending_campaigns(self, session: Any) -> list[int]:
        return [row[0] for row in await _SENDING_CAMPAIGNS.fetchall(session, {})]

    async def _reserve_slot(self, session: Any) -> float:
        interval = 1.0 / self.settings.email_send_rate
        [(next_slot,)] = await _RESERVE_SLOT.fetchall(session, {"now": time.time(), "interval": interval})
        return float(next_slot) - interval

    async def _skip(self, session: Any, recipient_id: int, reason: str) -> None:
        await session.exec(
            update(CampaignRecipient).where(CampaignRecipient.id == recipient_id)
            .values(status="skipped", last_error=reason, claimed_by=None, claimed_until=None)
        )

    async def _record(self, session: Any, claim: Claim, outcome: Outcome, *, now: datetime) -> None:
        if outcome.kind == "sent":
            marked = await _MARK_SENT.fetchall(
                session, {"recipient_id": claim.recipient_id, "worker": self.worker, "now": now}
            )
            if not marked or marked[0][0]:  # failures counted since the last success (or the claim was lost)
                await _RESET_FAILURES.execute(session, {"campaign_id": claim.campaign_id})
            return
        attempts = claim.attempts + 1
        values: dict[str, Any] = {
            "attempts": attempts, "last_error": outcome.error, "claimed_by": None, "claimed_until": None,
        }
        if outcome.kind == "failed":
            values |= {"status": "failed", "bounced_at": now}
            await session.exec(
                update(Contact).where(Contact.id == claim.contact_id, Contact.status == "subscribed")
                .values(status="bounced", updated_at=now)
            )
        elif attempts >= MAX_ATTEMPTS:
            values |= {"status": "failed"}
        else:
            values |= {"status": "pending", "next_attempt_at": now + _backoff(attempts)}
        await session.exec(
            update(CampaignRecipient)
            .where(CampaignRecipient.id == claim.recipient_id, CampaignRecipient.claimed_by == self.worker)
            .values(**values)
        )
        await self._count_failure(session, claim.campaign_id, outcome.error or "", now)

    async def _count_failure(self, session: Any, campaign_id: int, error: str, now: datetime) -> None:
        campaign = await session.get(Campaign, campaign_id)
        if campaign is None:
            return
        campaign.consecutive_failures += 1
        if campaign.consecutive_failures >= PAUSE_AFTER_FAILURES and campaign.status == "sending":
            campaign.status, campaign.updated_at = "paused", now
            campaign.status_reason = (
                f"paused itself after {campaign.consecutive_failures} failed messages in a row; last: {error}"
            )[:500]
            logger.warning("campaign paused after consecutive failures", extra={"campaign_id": campaign_id})
        session.add(campaign)

    async def _finish_if_done(self, session: Any, campaign_id: int, now: datetime) -> None:
        await session.exec(
            update(Campaign)
            .where(Campaign.id == campaign_id, Campaign.status == "sending")
            .where(
                ~exists().where(_recipients.campaign_id == campaign_id, _recipients.status.in_(("pending", "sending")))
            )
            .values(status="sent", finished_at=now, updated_at=now)
        )

    async def _release_lapsed_claims(self) -> None:
        """Recipients left `sending` by a process that died go back to pending (the one window)."""
        now = self.context.clock()
        async with self.context.database.session() as session:
            for campaign_id in await self._sending_campaigns(session):
                await session.exec(
                    update(CampaignRecipient)
                    .where(CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.status == "sending")
                    .where(CampaignRecipient.claimed_until < now)  # type: ignore[operator]
                    .values(status="pending", claimed_by=None, claimed_until=None)
                )

    # --- rendering and delivery -----------------------------------------------------------------

    async def _campaign(self, campaign_id: int) -> tuple[str, EmailTemplate, bool, bool]:
        # A campaign's template cannot change once it started sending, so it is read once per run.
        found = self._templates.get(campaign_id)
        if found is None:
            async with self.context.database.session(write=False) as session:
                campaign = await session.get(Campaign, campaign_id)
                template = await session.get(EmailTemplate, campaign.template_id) if campaign else None
            if campaign is None or template is None:
                raise LookupError(f"campaign {campaign_id} has no template")
            found = (campaign.name, template, campaign.track_opens, campaign.track_clicks)
            self._templates[campaign_id] = found
        return found

    async def _message(self, claim: Claim) -> Message:
        name, template, track_opens, track_clicks = await self._campaign(claim.campaign_id)
        compiled = compiled_template(template)
        link = unsubscribe_url(self.settings, contact_id=claim.contact_id, recipient_id=claim.recipient_id)
        language = compiled.language_for(claim.contact["language"], self.settings)
        values = template_values(contact=claim.contact, campaign_name=name, unsubscribe_url=link)
        rendered = compiled.render(language, values)
        if track_clicks:
            tracked = track_links(
                rendered.html, lambda target: click_url(self.settings, recipient_id=claim.recipient_id, target=target),
                keep=link,
            )
            rendered = replace(rendered, html=tracked)
        if track_opens:
            pixel = open_pixel_url(self.settings, recipient_id=claim.recipient_id)
            rendered = replace(rendered, html=with_open_pixel(rendered.html, pixel))
        return campaign_message(
            self.settings, to=claim.contact["email"], rendered=rendered, unsubscribe_url=link,
            campaign_id=claim.campaign_id,
        )

    async def _deliver(
        self, client: aiosmtplib.SMTP | None, claim: Claim, message: Message
    ) -> tuple[Outcome, aiosmtplib.SMTP | None]:
        try:
            if client is None or not client.is_connected:
                client = self.mailer.client()
                await client.connect()
            recipient = ascii_address(claim.contact["email"])
            await client.sendmail(self.settings.smtp_from_email, [recipient], message_bytes(message))
        except Exception as exc:
            return classify(exc), await reset_or_drop(client)
        return Outcome("sent"), client


async def send_campaigns(context: JobContext) -> object:
    """The worker's job: start what is due, then send for a while. True: more is due right away."""
    async with context.database.session() as session:
        await start_due_campaigns(session, now=context.clock())
    return MORE_WORK if await CampaignSender(context).run() else None


SEND_CAMPAIGNS_JOB = PeriodicJob(name="email.send_campaigns", interval=timedelta(seconds=0), run=send_campaigns)
