"""The recipients of a sending campaign: claiming them and recording each message's outcome.

Everything here runs inside one write transaction per message, as plain synchronous code on the
database driver's thread (shared/db.py's DriverWriter): `per_message` records the outcomes known
since the last transaction, confirms that the message about to go out may still go, gives back
claims that will not be sent, reserves the confirmed message's send slot and claims the next recipient. The sending loop
around it (SMTP, rendering, the order of steps) is features/email/sender.py.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Float, String, bindparam, exists, literal_column, or_, select, update

from features.email.models import Campaign, CampaignRecipient, Contact, SendPace
from shared.db import UTCDateTime
from shared.dialect import DriverStatement, DriverTransaction, driver_upsert, greatest

logger = logging.getLogger("magnetiq.email.sender")

CLAIM_LEASE = timedelta(seconds=90)  # longer than one message may take (the SMTP client's timeout is 30 s)
MAX_ATTEMPTS = 5  # temporary failures of one recipient before it is given up
PAUSE_AFTER_FAILURES = 20  # consecutive failures after which a campaign pauses itself
PACE = "campaigns"

_recipients = CampaignRecipient.__table__.c
_campaigns = Campaign.__table__.c
_pace = SendPace.__table__.c
_contacts = Contact.__table__.c
_WHEN = UTCDateTime()

# The statements of the per-message transaction run hundreds of times a second: compiled once
# and run on the driver's thread, the whole transaction in one trip (shared/db.py's DriverWriter).


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
            # PostgreSQL: a recipient another sender is claiming is passed over (SQLite has one writer).
            ).order_by(_recipients.id).limit(1).with_for_update(skip_locked=True).scalar_subquery(),
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
# Whether a claimed recipient may still be sent to, read right before its content goes out: an
# unsubscribe, bounce, erasure, pause or cancel committed until then is honoured.
_CONFIRM = DriverStatement(
    select(_campaigns.status, _contacts.status)
    .select_from(CampaignRecipient.__table__)
    .join(Campaign.__table__, _campaigns.id == _recipients.campaign_id)
    .outerjoin(Contact.__table__, _contacts.id == _recipients.contact_id)
    .where(_recipients.id == bindparam("recipient_id"))
)
# A claim given back unsent: due again at once, for whichever process claims it.
_RELEASE = DriverStatement(
    update(CampaignRecipient.__table__)
    .where(_recipients.id == bindparam("recipient_id"), _recipients.claimed_by == bindparam("worker", type_=String),
           _recipients.status == "sending")
    .values(status="pending", claimed_by=None, claimed_until=None)
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


# A temporary failure: due again after a backoff.
_RETRY_LATER = DriverStatement(
    update(CampaignRecipient.__table__)
    .where(_recipients.id == bindparam("recipient_id"), _recipients.claimed_by == bindparam("worker", type_=String))
    .values(status="pending", attempts=bindparam("attempts"), last_error=bindparam("error", type_=String),
            next_attempt_at=bindparam("next_attempt_at", type_=_WHEN), claimed_by=None, claimed_until=None)
)
# Given up: a permanent refusal (bounced_at set) or too many temporary ones (bounced_at NULL).
_GIVE_UP = DriverStatement(
    update(CampaignRecipient.__table__)
    .where(_recipients.id == bindparam("recipient_id"), _recipients.claimed_by == bindparam("worker", type_=String))
    .values(status="failed", attempts=bindparam("attempts"), last_error=bindparam("error", type_=String),
            bounced_at=bindparam("bounced_at", type_=_WHEN), failed_at=bindparam("now", type_=_WHEN),
            claimed_by=None, claimed_until=None)
)
_BOUNCE_CONTACT = DriverStatement(
    update(Contact.__table__)
    .where(_contacts.id == bindparam("contact_id"), _contacts.status == "subscribed")
    .values(status="bounced", updated_at=bindparam("now", type_=_WHEN))
)
_COUNT_FAILURE = DriverStatement(
    update(Campaign.__table__)
    .where(_campaigns.id == bindparam("campaign_id"))
    .values(consecutive_failures=_campaigns.consecutive_failures + 1)
    .returning(_campaigns.consecutive_failures, _campaigns.status)
)
_PAUSE_ITSELF = DriverStatement(
    update(Campaign.__table__)
    .where(_campaigns.id == bindparam("campaign_id"), _campaigns.status == "sending")
    .values(status="paused", status_reason=bindparam("reason", type_=String), updated_at=bindparam("now", type_=_WHEN))
)
_SKIP = DriverStatement(
    update(CampaignRecipient.__table__)
    .where(_recipients.id == bindparam("recipient_id"))
    .values(status="skipped", last_error=bindparam("reason", type_=String), claimed_by=None, claimed_until=None)
)
_FINISH_IF_DONE = DriverStatement(
    update(Campaign.__table__)
    .where(_campaigns.id == bindparam("campaign_id"), _campaigns.status == "sending")
    .where(~exists().where(_recipients.campaign_id == bindparam("campaign_id"),
                           or_(_recipients.status == "pending", _recipients.status == "sending")))
    .values(status="sent", finished_at=bindparam("now", type_=_WHEN), updated_at=bindparam("now", type_=_WHEN))
)

@dataclass(frozen=True)
class Claim:
    recipient_id: int
    campaign_id: int
    contact_id: int
    attempts: int
    contact: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    kind: str  # "sent", "retry" (temporary failure) or "failed" (permanent: the contact bounced)
    error: str | None = None


def _subscribed_contact(contact_id: int | None, row: list[Any]) -> dict[str, Any] | None:
    """The claimed recipient's contact (as _CLAIM returns it), or None unless it is still subscribed."""
    email, first_name, last_name, company, language, status = row
    if contact_id is None or status != "subscribed":
        return None
    return {"email": email, "first_name": first_name, "last_name": last_name, "company": company, "language": language}


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(60 * 2 ** (attempts - 1), 3600))


@dataclass(frozen=True)
class Step:
    """What one per-message transaction is asked to do."""

    worker: str  # the claiming process's name, written into each claim
    now: datetime
    send_interval: float  # seconds between two messages of every process (1 / EMAIL_SEND_RATE)
    outcomes: tuple[tuple[Claim, Outcome], ...] = ()
    confirm: Claim | None = None  # the message about to go out
    release: tuple[Claim, ...] = ()  # claims given back unsent
    claim_next: bool = True


def per_message(transaction: DriverTransaction, step: Step) -> tuple[float | None, Claim | None]:
    """Records, confirms, releases and claims as `step` says. Returns when `step.confirm` may be
    sent (time.time(); its slot of EMAIL_SEND_RATE, reserved right before it leaves so that a
    late message never lets the next ones crowd in), or None when it may not (its claim was
    given back or skipped), and the next claim, if any."""
    for claim, outcome in step.outcomes:
        _record(transaction, step, claim, outcome)
    slot = None
    if step.confirm is not None and _confirm(transaction, step, step.confirm):
        [(next_slot,)] = transaction.rows(_RESERVE_SLOT, {"now": time.time(), "interval": step.send_interval})
        slot = float(next_slot) - step.send_interval
    for claim in step.release:
        transaction.run(_RELEASE, {"recipient_id": claim.recipient_id, "worker": step.worker})
    return slot, (_claim_next(transaction, step) if step.claim_next else None)


def _record(transaction: DriverTransaction, step: Step, claim: Claim, outcome: Outcome) -> None:
    mine = {"recipient_id": claim.recipient_id, "worker": step.worker}
    if outcome.kind == "sent":
        marked = transaction.rows(_MARK_SENT, {**mine, "now": step.now})
        if not marked or marked[0][0]:  # failures counted since the last success (or the claim was lost)
            transaction.run(_RESET_FAILURES, {"campaign_id": claim.campaign_id})
        return
    attempts, error = claim.attempts + 1, outcome.error
    if outcome.kind == "failed":
        given_up = {**mine, "attempts": attempts, "error": error, "bounced_at": step.now, "now": step.now}
        transaction.run(_GIVE_UP, given_up)
        transaction.run(_BOUNCE_CONTACT, {"contact_id": claim.contact_id, "now": step.now})
    elif attempts >= MAX_ATTEMPTS:
        transaction.run(_GIVE_UP, {**mine, "attempts": attempts, "error": error, "bounced_at": None, "now": step.now})
    else:
        transaction.run(_RETRY_LATER, {
            **mine, "attempts": attempts, "error": error, "next_attempt_at": step.now + _backoff(attempts),
        })
    [(failures, status)] = transaction.rows(_COUNT_FAILURE, {"campaign_id": claim.campaign_id}) or [(0, None)]
    if failures >= PAUSE_AFTER_FAILURES and status == "sending":
        reason = f"paused itself after {failures} failed messages in a row; last: {error or ''}"[:500]
        transaction.run(_PAUSE_ITSELF, {"campaign_id": claim.campaign_id, "reason": reason, "now": step.now})
        logger.warning("campaign paused after consecutive failures", extra={"campaign_id": claim.campaign_id})


def _confirm(transaction: DriverTransaction, step: Step, claim: Claim) -> bool:
    """Whether the claimed recipient may still be sent to; if not, its claim is given back."""
    found = transaction.rows(_CONFIRM, {"recipient_id": claim.recipient_id})
    campaign_status, contact_status = found[0] if found else (None, None)
    if campaign_status == "sending" and contact_status == "subscribed":
        return True
    if campaign_status == "cancelled":
        transaction.run(_SKIP, {"recipient_id": claim.recipient_id, "reason": "campaign cancelled"})
    elif campaign_status == "sending":  # unsubscribed, bounced or erased since the claim
        transaction.run(_SKIP, {"recipient_id": claim.recipient_id, "reason": "contact no longer subscribed"})
    else:  # paused: sent when the campaign resumes
        transaction.run(_RELEASE, {"recipient_id": claim.recipient_id, "worker": step.worker})
    return False


def _claim_next(transaction: DriverTransaction, step: Step) -> Claim | None:
    values = {"now": step.now, "worker": step.worker, "until": step.now + CLAIM_LEASE}
    claim = _claim(transaction, _CLAIM_FIRST, values)
    if claim is None:
        for (campaign_id,) in transaction.rows(_SENDING_CAMPAIGNS, {}):
            claim = _claim(transaction, _CLAIM, {**values, "campaign_id": campaign_id})
            if claim is not None:
                break
            transaction.run(_FINISH_IF_DONE, {"campaign_id": campaign_id, "now": step.now})
    if claim is None:
        return None
    return claim


def _claim(transaction: DriverTransaction, statement: DriverStatement, values: dict[str, Any]) -> Claim | None:
    """The next recipient `statement` claims whose contact is still subscribed (the others are
    skipped on the way); None when it claims nobody."""
    while claimed := transaction.rows(statement, values):
        recipient_id, campaign_id, contact_id, attempts, *contact_row = claimed[0]
        contact = _subscribed_contact(contact_id, contact_row)
        if contact is not None:
            return Claim(recipient_id, campaign_id, contact_id, attempts, contact)
        # unsubscribed, bounced or erased since the list was frozen
        transaction.run(_SKIP, {"recipient_id": recipient_id, "reason": "contact no longer subscribed"})
    return None


async def sending_campaign_ids(session: Any) -> list[int]:
    """The campaigns a claim may come from, in the order they are served."""
    return [row[0] for row in await _SENDING_CAMPAIGNS.fetchall(session, {})]
