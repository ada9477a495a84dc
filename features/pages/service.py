"""Pages: writing with revisions, publishing (now or scheduled), and what visitors may read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from features.pages.cache import bump_cache_version
from features.pages.models import Page, PageRevision
from features.pages.schemas import PageCreate, PageSummaryVisitorView, PageUpdate, PageVisitorView
from shared.config import Settings
from shared.db import utcnow
from shared.errors import NotFound, PreconditionFailed, ValidationFailed
from shared.html import sanitize_html
from shared.http import etag_matches
from shared.i18n import check_localized, translate
from shared.pagination import ListParams, localized_text_contains, paginate, sort_order
from shared.permissions import Principal
from shared.slugs import ensure_slug_free, flush_guarding_slug

CACHE_NAMESPACE = "pages"
LOCALIZED_FIELDS = ("title", "content", "meta_description", "seo_title", "seo_keywords")
REQUIRED_FIELDS = ("title", "content")
SORT_COLUMNS = {
    "created_at": Page.created_at, "updated_at": Page.updated_at, "published_at": Page.published_at, "slug": Page.slug,
}


def etag_for(page: Page) -> str:
    return f'"page-{page.id}-v{page.version}"'


def _check_and_clean(changes: dict[str, Any], settings: Settings) -> dict[str, Any]:
    for name in LOCALIZED_FIELDS:
        if name in changes:
            check_localized(changes[name], field=name, settings=settings, required=name in REQUIRED_FIELDS)
    if changes.get("content"):
        # Stored sanitized, so a page can never carry script to visitors, whoever reads it later.
        changes["content"] = {lang: sanitize_html(html) for lang, html in changes["content"].items()}
    return changes


def _apply_status(page: Page, status: str, publish_at: datetime | None, now: datetime) -> None:
    if status == "scheduled":
        if publish_at is None or publish_at <= now:
            raise ValidationFailed("A scheduled page needs a publish_at in the future", field="publish_at")
        page.publish_at, page.published_at = publish_at, None
    elif status == "published":
        if not page.is_published:
            page.published_at = now
        page.publish_at = None
    else:
        page.published_at = page.publish_at = None
    # The one place both are set, so they cannot disagree (a CHECK constraint guards it too).
    page.status, page.is_published = status, status == "published"


async def _changed(session: AsyncSession, *, page: Page) -> None:
    page.version += 1
    page.updated_at = utcnow()
    session.add(page)
    await flush_guarding_slug(session)
    await bump_cache_version(session, namespace=CACHE_NAMESPACE)


async def create_page(session: AsyncSession, *, settings: Settings, actor: Principal, data: PageCreate) -> Page:
    fields = _check_and_clean(data.model_dump(exclude={"status", "publish_at"}), settings)
    await ensure_slug_free(session, model=Page, slug=data.slug)
    page = Page(**fields, created_by=actor.user_id, updated_by=actor.user_id)
    _apply_status(page, data.status, data.publish_at, utcnow())
    session.add(page)
    await flush_guarding_slug(session)
    await bump_cache_version(session, namespace=CACHE_NAMESPACE)
    return page


async def get_page(session: AsyncSession, *, page_id: int, include_deleted: bool = False) -> Page:
    page = await session.get(Page, page_id)
    if page is None or (page.deleted_at is not None and not include_deleted):
        raise NotFound("Page not found")
    return page


async def list_pages(
    session: AsyncSession, *, params: ListParams, status: str | None = None, q: str | None = None,
    sort: str | None = None, include_deleted: bool = False,
) -> tuple[list[Page], int]:
    statement = select(Page)
    if not include_deleted:
        statement = statement.where(col(Page.deleted_at).is_(None))
    if status:
        statement = statement.where(Page.status == status)
    if q:
        statement = statement.where(localized_text_contains(Page.title, q))
    order = sort_order(sort, SORT_COLUMNS, [col(Page.id).desc()])
    return await paginate(session, statement=statement, params=params, order_by=order)


def _snapshot(page: Page) -> dict[str, Any]:
    return {
        "slug": page.slug, "status": page.status, "version": page.version,
        "publish_at": page.publish_at.isoformat() if page.publish_at else None,
        **{name: getattr(page, name) for name in LOCALIZED_FIELDS},
    }


async def _record_revision(session: AsyncSession, *, page: Page, actor: Principal) -> None:
    latest = (
        await session.exec(select(func.max(PageRevision.revision)).where(PageRevision.page_id == page.id))
    ).one()
    session.add(
        PageRevision(
            page_id=page.id, revision=(latest or 0) + 1, snapshot=_snapshot(page),
            author_id=actor.user_id, author_email=actor.email,
        )
    )


def _require_current(page: Page, if_match: str | None) -> None:
    if if_match is not None and not etag_matches(if_match, etag_for(page)):
        raise PreconditionFailed("The page changed since you loaded it; reload and apply your edit again")


async def update_page(
    session: AsyncSession, *, settings: Settings, actor: Principal, page_id: int, data: PageUpdate,
    if_match: str | None = None,
) -> Page:
    page = await get_page(session, page_id=page_id)
    _require_current(page, if_match)
    changes = _check_and_clean(data.model_dump(exclude_unset=True, exclude={"status", "publish_at"}), settings)
    if "slug" in changes and changes["slug"] is None:
        raise ValidationFailed("A page needs a slug", field="slug")
    if changes.get("slug") and changes["slug"] != page.slug:
        await ensure_slug_free(session, model=Page, slug=changes["slug"], except_id=page.id)
    await _record_revision(session, page=page, actor=actor)
    for name, value in changes.items():
        setattr(page, name, value)
    if data.status is not None or "publish_at" in data.model_fields_set:
        _apply_status(page, data.status or page.status, data.publish_at, utcnow())
    page.updated_by = actor.user_id
    await _changed(session, page=page)
    return page


async def delete_page(session: AsyncSession, *, page_id: int) -> None:
    """Soft delete: gone from lists and public reads, its slug free for reuse."""
    page = await get_page(session, page_id=page_id)
    page.deleted_at = utcnow()
    await _changed(session, page=page)


async def restore_page(session: AsyncSession, *, page_id: int) -> Page:
    page = await get_page(session, page_id=page_id, include_deleted=True)
    if page.deleted_at is not None:
        await ensure_slug_free(session, model=Page, slug=page.slug, except_id=page.id)
        page.deleted_at = None
        await _changed(session, page=page)
    return page


async def list_revisions(session: AsyncSession, *, page_id: int, params: ListParams) -> tuple[list[PageRevision], int]:
    await get_page(session, page_id=page_id, include_deleted=True)
    statement = select(PageRevision).where(PageRevision.page_id == page_id)
    return await paginate(session, statement=statement, params=params, order_by=[col(PageRevision.revision).desc()])


async def restore_revision(
    session: AsyncSession, *, actor: Principal, page_id: int, revision: int, if_match: str | None = None
) -> Page:
    """Brings back a revision's text; the state it replaces becomes a revision itself."""
    page = await get_page(session, page_id=page_id)
    _require_current(page, if_match)
    stored = (
        await session.exec(
            select(PageRevision).where(PageRevision.page_id == page_id, PageRevision.revision == revision)
        )
    ).first()
    if stored is None:
        raise NotFound("Revision not found")
    await _record_revision(session, page=page, actor=actor)
    for name in LOCALIZED_FIELDS:
        setattr(page, name, stored.snapshot.get(name))
    page.updated_by = actor.user_id
    await _changed(session, page=page)
    return page


async def publish_due_pages(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Publishes scheduled pages whose time has come; returns how many."""
    now = now or utcnow()
    result = await session.exec(  # type: ignore[call-overload]
        update(Page)
        .where(Page.status == "scheduled", col(Page.publish_at) <= now, col(Page.deleted_at).is_(None))
        .values(
            status="published", is_published=True, published_at=Page.publish_at, publish_at=None,
            version=Page.version + 1, updated_at=now,
        )
    )
    if result.rowcount:
        await bump_cache_version(session, namespace=CACHE_NAMESPACE)
    return result.rowcount


PUBLIC_TEXT_FIELDS = ("title", "content", "meta_description", "seo_title", "seo_keywords")


def _live_published():
    return select(Page).where(Page.is_published == True, col(Page.deleted_at).is_(None))  # noqa: E712


async def public_page(session: AsyncSession, *, settings: Settings, slug: str, language: str) -> PageVisitorView | None:
    page = (await session.exec(_live_published().where(Page.slug == slug))).first()
    if page is None:
        return None
    default = settings.default_language
    fields = {name: getattr(page, name) for name in PUBLIC_TEXT_FIELDS}
    # Each field falls back on its own: a German title is served even where the body is not translated yet.
    fallbacks = [name for name, value in fields.items() if value and not value.get(language) and language != default]
    return PageVisitorView(
        slug=page.slug, language=language if page.content.get(language) else default, fallback_fields=fallbacks,
        title=translate(page.title, language, default) or "",
        content=translate(page.content, language, default) or "",
        meta_description=translate(page.meta_description, language, default),
        seo_title=translate(page.seo_title, language, default),
        seo_keywords=translate(page.seo_keywords, language, default),
        published_at=page.published_at,
    )


async def public_page_summaries(
    session: AsyncSession, *, settings: Settings, language: str, params: ListParams
) -> tuple[list[PageSummaryVisitorView], int]:
    pages, total = await paginate(
        session, statement=_live_published(), params=params,
        order_by=[col(Page.published_at).desc(), col(Page.id).desc()],
    )
    default = settings.default_language
    return [
        PageSummaryVisitorView(
            slug=page.slug, language=language if page.title.get(language) else default,
            title=translate(page.title, language, default) or "", published_at=page.published_at,
        )
        for page in pages
    ], total
