"""Webinars: writing them (staff), and what visitors and staff may read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import case, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from features.webinars.errors import InvalidTransition
from features.webinars.mails import queue_cancellations
from features.webinars.models import Webinar, WebinarRegistration
from features.webinars.schemas import AnyWebinarView, WebinarCreate, WebinarStaffView, WebinarUpdate, WebinarVisitorView
from shared.config import Settings
from shared.db import utcnow
from shared.dialect import is_foreign_key_violation
from shared.errors import InUse, NotFound, ValidationFailed
from shared.html import sanitize_html
from shared.i18n import check_localized
from shared.pagination import ListParams, localized_text_contains, paginate, sort_order
from shared.permissions import Principal
from shared.slugs import ensure_slug_free, flush_guarding_slug

SORT_COLUMNS = {
    "starts_at": Webinar.starts_at, "created_at": Webinar.created_at, "updated_at": Webinar.updated_at,
    "slug": Webinar.slug,
}
# Fields a PUT may set to null; the others, once set, cannot be emptied.
NULLABLE_FIELDS = frozenset({"description", "presenter", "capacity", "join_url"})


def to_view(webinar: Webinar, registrations: int, *, staff: bool) -> AnyWebinarView:
    """The response for staff (join link included) or for visitors (never the join link)."""
    fields: dict[str, Any] = {
        **webinar.model_dump(),
        "ends_at": webinar.starts_at + timedelta(minutes=webinar.duration_minutes),
        "seats_left": None if webinar.capacity is None else max(0, webinar.capacity - registrations),
    }
    if staff:
        return WebinarStaffView.model_validate({**fields, "registrations_count": registrations})
    return WebinarVisitorView.model_validate(fields)


def _clean(changes: dict[str, Any], settings: Settings) -> dict[str, Any]:
    if "title" in changes:
        check_localized(changes["title"], field="title", settings=settings, required=True)
    if "description" in changes:
        description = changes["description"] or {}
        check_localized(description, field="description", settings=settings, required=False)
        # Stored sanitized, so a webinar page can never carry script to visitors.
        changes["description"] = {lang: sanitize_html(html) for lang, html in description.items()}
    if changes.get("join_url") is not None:
        changes["join_url"] = str(changes["join_url"])
    for name, value in changes.items():
        if value is None and name not in NULLABLE_FIELDS:
            raise ValidationFailed(f"{name} cannot be null", field=name)
    return changes


def _check_publishable(webinar: Webinar) -> None:
    if webinar.status == "published" and not webinar.join_url:
        raise ValidationFailed("A published webinar needs a join_url for its confirmation mails", field="join_url")


async def create_webinar(
    session: AsyncSession, *, settings: Settings, actor: Principal, data: WebinarCreate
) -> Webinar:
    fields = _clean(data.model_dump(exclude_none=True), settings)
    await ensure_slug_free(session, model=Webinar, slug=data.slug)
    webinar = Webinar(**fields, created_by=actor.user_id)
    if webinar.status == "cancelled":
        webinar.cancelled_at = utcnow()
    _check_publishable(webinar)
    session.add(webinar)
    await flush_guarding_slug(session)
    return webinar


async def get_webinar(session: AsyncSession, *, webinar_id: int, staff: bool = True) -> Webinar:
    """A webinar by id; visitors are told 'not found' for anything not published."""
    webinar = await session.get(Webinar, webinar_id)
    if webinar is None or (not staff and webinar.status != "published"):
        raise NotFound("Webinar not found")
    return webinar


async def registration_counts(session: AsyncSession, *, webinar_ids: Sequence[int]) -> dict[int, int]:
    if not webinar_ids:
        return {}
    rows = await session.exec(
        select(WebinarRegistration.webinar_id, func.count())
        .where(col(WebinarRegistration.webinar_id).in_(webinar_ids))
        .group_by(col(WebinarRegistration.webinar_id))
    )
    return dict(rows.all())


async def registration_count(session: AsyncSession, *, webinar_id: int) -> int:
    return (await registration_counts(session, webinar_ids=[webinar_id])).get(webinar_id, 0)


async def list_webinars(
    session: AsyncSession, *, params: ListParams, staff: bool, status: str | None = None,
    when: str | None = None, q: str | None = None, sort: str | None = None,
) -> tuple[list[tuple[Webinar, int]], int]:
    """Webinars with their registration counts; by default upcoming ones first (soonest first), then past ones."""
    now = utcnow()
    statement = select(Webinar)
    if not staff:
        statement = statement.where(Webinar.status == "published")
    if status:
        statement = statement.where(Webinar.status == status)
    if when == "upcoming":
        statement = statement.where(Webinar.starts_at > now)
    elif when == "past":
        statement = statement.where(Webinar.starts_at <= now)
    if q:
        statement = statement.where(localized_text_contains(Webinar.title, q))
    upcoming = col(Webinar.starts_at) > now
    default = [
        case((upcoming, 0), else_=1), case((upcoming, Webinar.starts_at)).asc(),
        col(Webinar.starts_at).desc(), col(Webinar.id).desc(),
    ]
    order = sort_order(sort, SORT_COLUMNS, default)
    webinars, total = await paginate(session, statement=statement, params=params, order_by=order)
    counts = await registration_counts(session, webinar_ids=[w.id for w in webinars if w.id is not None])
    return [(w, counts.get(w.id or 0, 0)) for w in webinars], total


async def _apply_changes(session: AsyncSession, *, webinar: Webinar, changes: dict[str, Any]) -> None:
    if changes.get("slug") and changes["slug"] != webinar.slug:
        await ensure_slug_free(session, model=Webinar, slug=changes["slug"], except_id=webinar.id)
    if changes.get("capacity") is not None:
        taken = await registration_count(session, webinar_id=webinar.id or 0)
        if changes["capacity"] < taken:
            raise ValidationFailed(
                f"{taken} people are registered already; the capacity cannot be lower", field="capacity"
            )
    moved = any(
        name in changes and changes[name] != getattr(webinar, name) for name in ("starts_at", "duration_minutes")
    )
    for name, value in changes.items():
        setattr(webinar, name, value)
    if moved:
        webinar.sequence += 1


async def update_webinar(
    session: AsyncSession, *, settings: Settings, webinar_id: int, data: WebinarUpdate
) -> tuple[Webinar, int]:
    """Changes a webinar; cancelling it queues a mail to every registrant. Returns it and the mails queued."""
    webinar = await get_webinar(session, webinar_id=webinar_id)
    changes = _clean(data.model_dump(exclude_unset=True), settings)
    was_cancelled = webinar.status == "cancelled"
    if was_cancelled and changes.get("status", "cancelled") != "cancelled":
        raise InvalidTransition(field="status")
    await _apply_changes(session, webinar=webinar, changes=changes)
    _check_publishable(webinar)
    webinar.updated_at = utcnow()
    queued = 0
    if webinar.status == "cancelled" and not was_cancelled:
        # Only the transition mails, and a cancelled webinar stays cancelled: each registrant hears once.
        webinar.cancelled_at = webinar.updated_at
        queued = await queue_cancellations(session, settings=settings, webinar=webinar)
    session.add(webinar)
    await flush_guarding_slug(session)
    return webinar, queued


async def delete_webinar(session: AsyncSession, *, webinar_id: int) -> None:
    """Deletes a webinar nobody registered for; otherwise 409 IN_USE (cancel it instead)."""
    webinar = await get_webinar(session, webinar_id=webinar_id)
    if await registration_count(session, webinar_id=webinar_id):
        raise InUse("People are registered for this webinar; cancel it instead")
    await session.delete(webinar)
    try:
        await session.flush()
    except IntegrityError as exc:  # a registration that slipped in on a database without up-front write locks
        if is_foreign_key_violation(exc):
            raise InUse("People are registered for this webinar; cancel it instead") from exc
        raise
