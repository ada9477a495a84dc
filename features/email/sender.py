"""The campaign sender: every consenting recipient gets exactly one message.

Per message, one short write transaction records the outcome of the message before it, confirms
that the message about to go out may still go (its campaign sending, its contact subscribed),
reserves its send slot (EMAIL_SEND_RATE across every process) and claims the recipient after
it (pending -> sending). While that transaction runs, the message's envelope
(MAIL FROM, RCPT TO) travels to the SMTP server; its content (DATA) goes only after the commit,
and the next message is rendered while the server takes it. A recipient is therefore marked
`sent` right after the server accepted it and before the next message's content leaves, and a
pause, cancel, unsubscribe or erasure committed before that transaction is honoured.

The one window: a process killed after the server accepted a message and before that mark is
committed leaves its recipient `sending`. Once its claim lapses (CLAIM_LEASE) the next run sends
it again, so that one person may get a second copy; each process has at most one such recipient,
and nobody is ever skipped. (The recipient claimed ahead is left `sending` too, but it was never
sent: it gets its first copy when the claim lapses.)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import aiosmtplib
from sqlalchemy import update

from features.email.campaigns import start_due_campaigns
from features.email.links import click_url, open_pixel_url, unsubscribe_url
from features.email.models import Campaign, CampaignRecipient, EmailTemplate
from features.email.recipients import Claim, Outcome, Step, per_message, sending_campaign_ids
from features.email.rendering import RenderFailed, compiled_template, template_values, track_links, with_open_pixel
from features.email.wire import MessageMold, message_mold
from shared.db import DriverWriter
from shared.jobs import MORE_WORK, JobContext, PeriodicJob
from shared.mail import Mailer, ascii_address, reset_or_drop

RUN_SECONDS = 5.0  # a job run sends for this long, then hands the runner back (shutdown waits at most this)

__all__ = ["SEND_CAMPAIGNS_JOB", "CampaignSender", "classify", "send_campaigns"]


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


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


class _Connection:
    """The sender's SMTP connection, driven a step at a time so that a message's envelope (MAIL
    FROM, RCPT TO) travels while the previous message's outcome is being committed, and its
    content (DATA) only after that commit: the pipelining buys the campaign benchmark its ratio."""

    def __init__(self, mailer: Mailer, settings: Any) -> None:
        self.mailer, self.sender = mailer, settings.smtp_from_email
        self.client: aiosmtplib.SMTP | None = None

    async def open_envelope(self, recipient: str, size: int) -> BaseException | None:
        """MAIL FROM and RCPT TO for one message; the error, if the server or the network refused."""
        try:
            if self.client is None or not self.client.is_connected:
                self.client = self.mailer.client()
                await self.client.connect()
            client = self.client
            if client.is_ehlo_or_helo_needed:
                await client.ehlo()
            options = [f"size={size}"] if client.supports_extension("size") else []
            await client.mail(self.sender, options=options)
            await client.rcpt(recipient)
        except Exception as exc:
            return exc
        return None

    async def send_content(self, message: bytes) -> BaseException | None:
        """DATA: when it returns None, the server has accepted the message."""
        assert self.client is not None
        try:
            await self.client.data(message)
        except Exception as exc:
            return exc
        return None

    async def abandon_envelope(self) -> None:
        """Nothing of the open transaction is delivered (RSET, or a new connection next time)."""
        self.client = await reset_or_drop(self.client)

    async def close(self) -> None:
        if self.client is not None and self.client.is_connected:
            with contextlib.suppress(Exception):
                await self.client.quit()


@dataclass(frozen=True)
class Prepared:
    claim: Claim
    recipient: str  # the address as SMTP carries it
    content: bytes


class CampaignSender:
    """One sending process's loop over every campaign that is sending.

    Two recipients at most are claimed by a process at once: the message on its way to the
    server and the next one, claimed and rendered while the first travels. The next message's
    content goes out only after the transaction that records the previous outcome has committed
    and confirmed that the campaign still sends and the contact is still subscribed."""

    def __init__(self, context: JobContext, *, worker_id: str | None = None) -> None:
        self.context = context
        self.settings = context.settings
        self.mailer = Mailer(context.settings)
        self.worker = worker_id or _worker_id()
        self._templates: dict[int, tuple[str, EmailTemplate, bool, bool]] = {}
        self._molds: dict[tuple[int, str], MessageMold] = {}
        self._writer: DriverWriter | None = None

    async def run(self, seconds: float = RUN_SECONDS) -> bool:
        """Sends for about `seconds`; returns whether work is left that is already due."""
        deadline = time.monotonic() + seconds
        await self._release_lapsed_claims()
        connection = _Connection(self.mailer, self.settings)
        async with self.context.database.driver_writer() as self._writer:
            return await self._run(connection, deadline)

    async def _run(self, connection: _Connection, deadline: float) -> bool:
        outcomes: list[tuple[Claim, Outcome]] = []  # known, not yet recorded
        unsent: list[Claim] = []  # claimed by this run and certainly not handed to the server
        try:
            current = await self._next_prepared(await self._claim_ahead(outcomes, unsent), outcomes, unsent)
            while current is not None:
                envelope = asyncio.create_task(connection.open_envelope(current.recipient, len(current.content)))
                try:
                    slot, ahead = await self._record_and_claim(
                        outcomes, confirm=current.claim, claim_next=time.monotonic() < deadline
                    )
                except BaseException:
                    envelope.cancel()
                    raise
                refused = await envelope
                if ahead is not None:
                    unsent.append(ahead)
                following: Prepared | None = None
                if slot is None:  # paused, cancelled or unsubscribed meanwhile: given back, not sent
                    unsent.remove(current.claim)
                    await connection.abandon_envelope()
                else:
                    if refused is None:
                        await asyncio.sleep(max(0.0, slot - time.time()))
                    # From here on the server may have it while its claim says `sending`: the one window.
                    unsent.remove(current.claim)
                    if refused is None:
                        delivery = asyncio.create_task(connection.send_content(current.content))
                        await asyncio.sleep(0)  # the content is on its way before this thread renders the next one
                        try:
                            following = await self._next_prepared(ahead, outcomes, unsent)
                            ahead = None
                        finally:
                            refused = await delivery
                            outcomes.append((current.claim, Outcome("sent") if refused is None else classify(refused)))
                    else:
                        outcomes.append((current.claim, classify(refused)))
                    if refused is not None:
                        await connection.abandon_envelope()
                if ahead is not None:
                    following = await self._next_prepared(ahead, outcomes, unsent)
                if following is None and time.monotonic() < deadline:
                    # Nothing was left to claim ahead: record this outcome and look once more,
                    # which also finishes a campaign whose last message this was.
                    following = await self._next_prepared(await self._claim_ahead(outcomes, unsent), outcomes, unsent)
                current = following
            return time.monotonic() >= deadline
        finally:
            await self._record_and_claim(outcomes, confirm=None, claim_next=False, release=tuple(unsent))
            await connection.close()

    # --- the per-message transaction ------------------------------------------------------------

    async def _next_prepared(
        self, claim: Claim | None, outcomes: list[tuple[Claim, Outcome]], unsent: list[Claim]
    ) -> Prepared | None:
        """`claim`'s message, or the next claim's when one does not render (its outcome noted)."""
        while claim is not None:
            prepared = await self._prepare(claim, outcomes)
            if prepared is not None:
                return prepared
            unsent.remove(claim)
            claim = await self._claim_ahead(outcomes, unsent)
        return None

    async def _claim_ahead(self, outcomes: list[tuple[Claim, Outcome]], unsent: list[Claim]) -> Claim | None:
        _, claim = await self._record_and_claim(outcomes, confirm=None, claim_next=True)
        if claim is not None:
            unsent.append(claim)
        return claim

    async def _record_and_claim(
        self, outcomes: list[tuple[Claim, Outcome]], *, confirm: Claim | None, claim_next: bool,
        release: tuple[Claim, ...] = (),
    ) -> tuple[float | None, Claim | None]:
        """One transaction (features/email/recipients.py): records `outcomes` (emptying the list),
        confirms `confirm` (its send time, or None), gives back `release` and claims the next
        recipient when asked."""
        assert self._writer is not None
        step = Step(
            worker=self.worker, now=self.context.clock(), send_interval=1.0 / self.settings.email_send_rate,
            outcomes=tuple(outcomes), confirm=confirm, release=release, claim_next=claim_next,
        )
        result = await self._writer.transaction(lambda transaction: per_message(transaction, step))
        outcomes.clear()
        return result

    async def _release_lapsed_claims(self) -> None:
        """Recipients left `sending` by a process that died go back to pending (the one window)."""
        now = self.context.clock()
        async with self.context.database.session() as session:
            for campaign_id in await sending_campaign_ids(session):
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

    async def _content(self, claim: Claim) -> bytes:
        """The claimed recipient's message, as campaign_message would make it (from its mold)."""
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
        mold = self._molds.get((claim.campaign_id, language))
        if mold is None:
            mold = self._molds[claim.campaign_id, language] = message_mold(
                self.settings, language=language, campaign_id=claim.campaign_id
            )
        return mold.fill(to=claim.contact["email"], rendered=rendered, unsubscribe_url=link)

    async def _prepare(self, claim: Claim, outcomes: list[tuple[Claim, Outcome]]) -> Prepared | None:
        """The claimed recipient's message, ready to send; None (its outcome noted) when it does not render."""
        try:
            content = await self._content(claim)
        except RenderFailed as failed:
            # This contact's values break the template (the check on save tried the sample
            # only): tried again later like a temporary failure, so that a template broken for
            # everyone pauses the campaign and loses nobody, rather than the run ending here with
            # the recipient claimed, to be claimed and fail again forever.
            outcomes.append((claim, Outcome("retry", f"template: {failed}"[:480])))
            return None
        return Prepared(claim, ascii_address(claim.contact["email"]), content)


async def send_campaigns(context: JobContext) -> object:
    """The worker's job: start what is due, then send for a while. True: more is due right away."""
    async with context.database.session() as session:
        await start_due_campaigns(session, now=context.clock())
    return MORE_WORK if await CampaignSender(context).run() else None


# A run lasts RUN_SECONDS, or up to the SMTP timeout more for its last message; the lease is short
# and renewed while the run lasts, so a killed sender holds up every campaign for 90 s at most.
SEND_CAMPAIGNS_JOB = PeriodicJob(
    name="email.send_campaigns", interval=timedelta(seconds=0), run=send_campaigns, lease=timedelta(seconds=90),
    renew_lease=True,
)
