"""Leads become contacts: the slice's reaction to `LeadCaptured`, inside the publisher's transaction.

This runs inside every webinar registration, whitepaper download and booking, the hottest write
paths, so it is a few statements compiled once and sent straight to the driver, together in one
trip to its thread (without consent, in the commit's trip):

- a new address: one INSERT of the contact (which also refuses a suppressed address) and one
  of its source;
- a known address: the INSERT does nothing, the source is added;
- with consent, a third statement asks a known `no_consent` contact once more (it becomes
  `pending`); a contact that is new or asked again gets the double opt-in mail (one outbox row,
  a second trip). Unsubscribed and bounced contacts keep their status: nobody is silently
  resubscribed.
"""

from __future__ import annotations

from sqlalchemy import String, bindparam, exists, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from features.email.contacts import suppression_digest
from features.email.mails import queue_opt_in
from features.email.models import Contact, ContactSource, Suppression
from shared.config import Settings
from shared.db import UTCDateTime, utcnow
from shared.dialect import DriverStatement, driver_upsert, run_together
from shared.events import LeadCaptured

# Plain Core over the tables (as webinar registration does): no ORM cache-key walk per execution.
_contacts = Contact.__table__.c
_sources = ContactSource.__table__.c
_suppressions = Suppression.__table__.c
_NOW = bindparam("now", type_=UTCDateTime)
_VISITOR = ("email", "first_name", "last_name", "company", "language")
_NEW_CONTACT = DriverStatement(
    driver_upsert(Contact.__table__)
    .from_select(
        [*_VISITOR, "status", "soft_bounces", "created_at", "updated_at"],
        select(
            *(bindparam(name, type_=String) for name in _VISITOR), bindparam("status", type_=String),
            bindparam("soft_bounces"), _NOW, _NOW,
        ).where(~exists().where(_suppressions.digest == bindparam("digest", type_=String))),
    )
    .on_conflict_do_nothing(index_elements=["email"])
    .returning(_contacts.id)
)
# By address, so it serves a new contact and a known one alike (and adds nothing for a suppressed one).
_ADD_SOURCE = DriverStatement(
    driver_upsert(ContactSource.__table__)
    .from_select(
        ["contact_id", "source", "created_at"],
        select(_contacts.id, bindparam("source", type_=String), _NOW).where(
            _contacts.email == bindparam("email", type_=String)
        ),
    )
    .on_conflict_do_nothing()
)
_ASK_AGAIN = DriverStatement(
    update(Contact.__table__)
    .where(_contacts.email == bindparam("email", type_=String), _contacts.status == "no_consent")
    .values(status="pending", updated_at=_NOW)
    .returning(_contacts.id)
)


async def record_lead(event: LeadCaptured, session: AsyncSession, settings: Settings) -> None:
    """A lead with consent becomes `pending` (opt-in mail), without `no_consent`; a known one gains its source."""
    now = utcnow()
    status = "pending" if event.consent_marketing else "no_consent"
    steps = [
        (_NEW_CONTACT, {
            "email": event.email, "first_name": event.first_name, "last_name": event.last_name,
            "company": event.company or None, "language": event.language, "status": status, "soft_bounces": 0,
            "now": now, "digest": suppression_digest(settings, event.email),
        }),
        (_ADD_SOURCE, {"source": event.source, "email": event.email, "now": now}),
    ]
    if not event.consent_marketing:
        # Nothing to ask and nothing in the transaction reads the contact back: written with the commit.
        for statement, values in steps:
            await statement.defer(session, values)
        return
    # Matches only a known no_consent contact (a new one is pending already).
    steps.append((_ASK_AGAIN, {"email": event.email, "now": now}))
    # None depends on another's result: one trip to the driver for all of them.
    new_contact, _, asked_again = await run_together(session, *steps)
    to_ask = new_contact or asked_again
    if to_ask:
        await queue_opt_in(session, contact_id=to_ask[0][0], email=event.email)
