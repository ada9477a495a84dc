"""Contacts: staff reads and writes, erasure into the suppression list, and the visitor's own links.

Addresses are stored as `normalize_email` gives them. An erased address lives on only as a
keyed digest in email_suppressions; every way in (staff, import, lead) asks `is_suppressed`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, exists, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from features.email.erasure import COMPACT_ERASED_ROWS_JOB
from features.email.errors import EmailSuppressed, EmailTaken, InvalidTransition, LinkInvalid
from features.email.links import read_confirm_token, read_unsubscribe_token
from features.email.mails import queue_opt_in
from features.email.models import CampaignRecipient, Contact, ContactSource, ContactTag, Suppression
from features.email.schemas import ContactCreate, ContactStaffView, ContactStatus, ContactUpdate
from shared.config import Settings
from shared.db import utcnow
from shared.dialect import insert_or_update
from shared.errors import NotFound, ValidationFailed
from shared.jobs import run_after_commit
from shared.mail import forget_recipient
from shared.pagination import ListParams, paginate, sort_order, text_contains
from shared.security import keyed_digest
from shared.visitors import normalize_email

SUPPRESSION_PURPOSE = "email-suppression"
SORT_COLUMNS = {
    "created_at": Contact.created_at, "updated_at": Contact.updated_at, "email": Contact.email,
    "last_name": Contact.last_name, "status": Contact.status,
}
# Who may be moved where by staff. Unsubscribed people come back only by their own confirmation
# (staff set `pending`, which mails them the opt-in link); nobody's consent is invented.
_STAFF_MOVES: dict[str, frozenset[str]] = {
    "subscribed": frozenset({"pending", "no_consent", "bounced"}),
    "pending": frozenset({"no_consent", "unsubscribed", "bounced"}),
    "unsubscribed": frozenset({"pending", "subscribed", "no_consent", "bounced"}),
}


def suppression_digest(settings: Settings, email: str) -> str:
    """The only trace an erased address leaves: a keyed digest of its normalized form."""
    return keyed_digest(
        normalize_email(email), purpose=SUPPRESSION_PURPOSE, secret=settings.secret_key.get_secret_value()
    )


async def suppressed_digests(session: AsyncSession, *, digests: Iterable[str]) -> set[str]:
    """Which of these digests are in the suppression list."""
    wanted = list(digests)
    if not wanted:
        return set()
    rows = await session.exec(select(Suppression.digest).where(col(Suppression.digest).in_(wanted)))
    return set(rows.all())


def check_language(language: str | None, settings: Settings, *, field: str = "language") -> str:
    """A supported language, or the default one when none is given; another is a 422."""
    if language is None:
        return settings.default_language
    if language not in settings.supported_languages:
        raise ValidationFailed(
            f"Unsupported language '{language}'; use one of: {', '.join(settings.supported_languages)}", field=field
        )
    return language


def unique_tags(tags: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(tag.strip() for tag in tags if tag.strip()))


# --- views --------------------------------------------------------------------------------------


async def to_views(session: AsyncSession, *, contacts: Sequence[Contact]) -> list[ContactStaffView]:
    """Contacts with their tags and sources: two set-based reads for any number of contacts."""
    ids = [contact.id for contact in contacts]
    tags: dict[int, list[str]] = defaultdict(list)
    sources: dict[int, list[str]] = defaultdict(list)
    if ids:
        for contact_id, tag in await session.exec(
            select(ContactTag.contact_id, ContactTag.tag).where(col(ContactTag.contact_id).in_(ids))
            .order_by(col(ContactTag.tag))
        ):
            tags[contact_id].append(tag)
        for contact_id, source in await session.exec(
            select(ContactSource.contact_id, ContactSource.source).where(col(ContactSource.contact_id).in_(ids))
            .order_by(col(ContactSource.created_at), col(ContactSource.source))
        ):
            sources[contact_id].append(source)
    return [
        ContactStaffView.model_validate(
            {**contact.model_dump(), "tags": tags[contact.id or 0], "sources": sources[contact.id or 0]}
        )
        for contact in contacts
    ]


async def to_view(session: AsyncSession, *, contact: Contact) -> ContactStaffView:
    [view] = await to_views(session, contacts=[contact])
    return view


# --- staff --------------------------------------------------------------------------------------


async def get_contact(session: AsyncSession, *, contact_id: int) -> Contact:
    contact = await session.get(Contact, contact_id)
    if contact is None:
        raise NotFound("Contact not found")
    return contact


async def _insert_ignoring_known(session: AsyncSession, *, table: Any, rows: list[dict[str, Any]]) -> None:
    # One statement compiled once, run for every row by the driver (executemany): a thousand
    # rows in one multi-row VALUES would cost SQLAlchemy far more to compile than SQLite to run.
    if rows:
        connection = await session.connection()
        await connection.execute(insert_or_update(session, table).on_conflict_do_nothing(), rows)


async def add_tags(session: AsyncSession, *, rows: list[dict[str, Any]]) -> None:
    """Adds (contact_id, tag) pairs, ignoring those already there: one statement."""
    await _insert_ignoring_known(session, table=ContactTag.__table__, rows=rows)


async def add_sources(session: AsyncSession, *, rows: list[dict[str, Any]]) -> None:
    """Adds (contact_id, source, created_at) rows, ignoring those already there: one statement."""
    await _insert_ignoring_known(session, table=ContactSource.__table__, rows=rows)


async def create_contact(session: AsyncSession, *, settings: Settings, data: ContactCreate) -> ContactStaffView:
    """A contact staff add (source `staff`): `subscribed` attests consent, `pending` mails the opt-in link."""
    email = normalize_email(data.email)
    language = check_language(data.language, settings)
    if await suppressed_digests(session, digests=[suppression_digest(settings, email)]):
        raise EmailSuppressed(field="email")
    if (await session.exec(select(Contact.id).where(Contact.email == email))).first() is not None:
        raise EmailTaken(field="email")
    now = utcnow()
    contact = Contact(
        email=email, first_name=data.first_name, last_name=data.last_name, company=data.company or None,
        language=language, status=data.status, created_at=now, updated_at=now,
    )
    if data.status == "subscribed":
        contact.consent_at, contact.consent_origin = now, "staff"
    session.add(contact)
    await session.flush()
    assert contact.id is not None
    await add_tags(session, rows=[{"contact_id": contact.id, "tag": tag} for tag in unique_tags(data.tags)])
    await add_sources(session, rows=[{"contact_id": contact.id, "source": "staff", "created_at": now}])
    if data.status == "pending":
        await queue_opt_in(session, contact_id=contact.id, email=email)
    return await to_view(session, contact=contact)


def _filtered(
    *, email: str | None, status: ContactStatus | None, tag: str | None, source: str | None, q: str | None
) -> Any:
    statement = select(Contact)
    if email:
        statement = statement.where(Contact.email == normalize_email(email))
    if status:
        statement = statement.where(Contact.status == status)
    if tag:
        statement = statement.where(
            exists().where(col(ContactTag.contact_id) == col(Contact.id), ContactTag.tag == tag.strip())
        )
    if source:
        statement = statement.where(
            exists().where(col(ContactSource.contact_id) == col(Contact.id), ContactSource.source == source.strip())
        )
    if q and q.strip():
        search = q.strip()
        statement = statement.where(
            or_(*(text_contains(column, search) for column in (
                Contact.email, Contact.first_name, Contact.last_name, Contact.company
            )))
        )
    return statement


async def list_contacts(
    session: AsyncSession, *, params: ListParams, email: str | None = None, status: ContactStatus | None = None,
    tag: str | None = None, source: str | None = None, q: str | None = None, sort: str | None = None,
) -> tuple[list[ContactStaffView], int]:
    """A page of contacts, newest first unless sorted otherwise, with their tags and sources."""
    order = sort_order(sort, SORT_COLUMNS, [col(Contact.id).desc()])
    statement = _filtered(email=email, status=status, tag=tag, source=source, q=q)
    contacts, total = await paginate(session, statement=statement, params=params, order_by=order)
    return await to_views(session, contacts=contacts), total


def _move(contact: Contact, status: str) -> bool:
    """Applies a staff status change; returns whether the opt-in mail should go out."""
    if status == contact.status:
        return False
    if contact.status not in _STAFF_MOVES[status]:
        raise InvalidTransition(
            f"A contact cannot move from {contact.status} to {status}"
            + (" (set pending: they confirm by mail)" if contact.status == "unsubscribed" else ""),
            field="status",
        )
    contact.status = status
    if status == "subscribed":
        contact.consent_at, contact.consent_origin = utcnow(), "staff"
    return status == "pending"


async def update_contact(
    session: AsyncSession, *, settings: Settings, contact_id: int, data: ContactUpdate
) -> ContactStaffView:
    """Changes names, company, language, tags (replaced) or status; `pending` mails the opt-in link."""
    contact = await get_contact(session, contact_id=contact_id)
    changes = data.model_dump(exclude_unset=True)
    for name in ("first_name", "last_name", "company"):
        if name in changes:
            setattr(contact, name, changes[name] or None)
    if changes.get("language") is not None:
        contact.language = check_language(changes["language"], settings)
    opt_in = _move(contact, changes["status"]) if changes.get("status") is not None else False
    if changes.get("tags") is not None:
        await session.exec(delete(ContactTag).where(col(ContactTag.contact_id) == contact_id))  # type: ignore[call-overload]
        await add_tags(session, rows=[{"contact_id": contact_id, "tag": tag} for tag in unique_tags(changes["tags"])])
    contact.updated_at = utcnow()
    session.add(contact)
    await session.flush()
    if opt_in:
        await queue_opt_in(session, contact_id=contact_id, email=contact.email)
    return await to_view(session, contact=contact)


async def erase_contact(session: AsyncSession, *, settings: Settings, contact_id: int) -> None:
    """Right to erasure: the row, its tags and sources go, and any mail still queued to it; the
    address stays only as a suppression digest, so no lead, import or staff create brings it back.
    Campaign recipient rows keep their status, without the person (ON DELETE SET NULL)."""
    contact = await get_contact(session, contact_id=contact_id)
    suppression = {"digest": suppression_digest(settings, contact.email), "reason": "erased", "created_at": utcnow()}
    await session.exec(  # type: ignore[call-overload]
        insert_or_update(session, Suppression.__table__).values(suppression).on_conflict_do_nothing()
    )
    await forget_recipient(session, address=contact.email)
    await session.exec(delete(Contact).where(col(Contact.id) == contact_id))  # type: ignore[call-overload]
    session.expunge(contact)
    # PostgreSQL keeps deleted rows' bytes in its pages: once this commits, those tables are rewritten.
    await run_after_commit(session, job=COMPACT_ERASED_ROWS_JOB)


# --- the visitor's links ------------------------------------------------------------------------


async def contact_for_confirm_link(session: AsyncSession, *, settings: Settings, token: str) -> Contact:
    """The contact a confirm link was made for; 404 for a forged, expired or erased one."""
    contact_id = read_confirm_token(settings, token)
    contact = await session.get(Contact, contact_id) if contact_id else None
    if contact is None:
        raise LinkInvalid()
    return contact


async def confirm(session: AsyncSession, *, settings: Settings, token: str) -> tuple[Contact, bool]:
    """Double opt-in: a pending contact becomes subscribed; returns it and whether it changed."""
    contact = await contact_for_confirm_link(session, settings=settings, token=token)
    if contact.status != "pending":
        return contact, False
    now = utcnow()
    contact.status, contact.consent_at, contact.consent_origin, contact.updated_at = (
        "subscribed", now, "double_opt_in", now
    )
    session.add(contact)
    await session.flush()
    return contact, True


async def contact_for_unsubscribe_link(
    session: AsyncSession, *, settings: Settings, token: str
) -> tuple[Contact, int | None]:
    """The contact (and campaign recipient row, if any) an unsubscribe link names; 404 otherwise."""
    found = read_unsubscribe_token(settings, token)
    contact = await session.get(Contact, found[0]) if found else None
    if contact is None or found is None:
        raise LinkInvalid()
    return contact, found[1]


async def unsubscribe(session: AsyncSession, *, settings: Settings, token: str) -> tuple[Contact, bool]:
    """Unsubscribes the link's contact (idempotent) and credits the campaign it came from."""
    contact, recipient_id = await contact_for_unsubscribe_link(session, settings=settings, token=token)
    if contact.status == "unsubscribed":
        return contact, False
    now = utcnow()
    contact.status, contact.updated_at = "unsubscribed", now
    session.add(contact)
    await session.flush()
    if recipient_id is not None:
        await session.exec(  # type: ignore[call-overload]
            update(CampaignRecipient)
            .where(col(CampaignRecipient.id) == recipient_id, col(CampaignRecipient.contact_id) == contact.id)
            .where(col(CampaignRecipient.unsubscribed_at).is_(None))
            .values(unsubscribed_at=now)
        )
    return contact, True
