"""Lead capture, once for every public form: one address rule, one rule for when a lead is news.

Every slice that takes a visitor's details (webinars, whitepapers, bookings) stores the address as
`normalize_email` gives it, records the submission, then calls `capture_lead` with what the
submission changed. A lead is news, and `LeadCaptured` is published in the slice's transaction,
when the submission created the slice's record of this visitor at this source, or changed that
record's marketing consent from no to yes. A submission that records nothing new (a repeat
registration) or withdraws consent publishes nothing, so the email slice and the analytics count
each person once per source.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from shared.events import EventBus, LeadCaptured, Visitor
from shared.visitors import VisitorFields, normalize_email


def visitor_from_form(fields: VisitorFields, *, language: str) -> Visitor:
    """The details a public form gave, as every slice stores them."""
    return Visitor(
        email=normalize_email(fields.email), first_name=fields.first_name, last_name=fields.last_name,
        company=fields.company, language=language, consent_marketing=fields.consent_marketing,
    )


async def capture_lead(
    session: AsyncSession, bus: EventBus, *, source: str, visitor: Visitor, consent_before: bool | None
) -> bool:
    """Publishes LeadCaptured when the submission is news; returns whether it was.

    `source` names the record (`webinar:12`, `whitepaper:3`, `booking:7`); `consent_before` is
    None when this submission created the record, else the consent the record held before it."""
    is_news = consent_before is None or (visitor.consent_marketing and not consent_before)
    if is_news:
        await bus.publish(LeadCaptured(**visitor.as_dict(), source=source), session)
    return is_news


__all__ = ["Visitor", "capture_lead", "visitor_from_form"]
