"""Lead capture: a visitor asks for a whitepaper, gets a signed link by response and by mail."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from features.media import api as media_api
from features.whitepapers.emails import DOWNLOAD, DOWNLOAD_PURPOSE, DownloadMail, download_link
from features.whitepapers.models import Whitepaper, WhitepaperDownload
from features.whitepapers.schemas import DownloadLink
from features.whitepapers.service import get_whitepaper
from shared.config import Settings
from shared.db import utcnow
from shared.dialect import serialize_on
from shared.errors import NotFound, PermissionDenied
from shared.events import EventBus
from shared.i18n import served_language
from shared.leads import Visitor, capture_lead, visitor_from_form
from shared.pagination import ListParams, paginate, sort_order
from shared.security import read_link_token
from shared.visitors import VisitorFields

LEAD_SORT_COLUMNS = {
    "created_at": WhitepaperDownload.created_at, "last_downloaded_at": WhitepaperDownload.last_downloaded_at,
    "email": WhitepaperDownload.email, "times": WhitepaperDownload.times,
}
CSV_COLUMNS = (
    "email", "first_name", "last_name", "company", "language", "consent_marketing", "times", "created_at",
    "last_downloaded_at",
)


async def _record_download(
    session: AsyncSession, *, whitepaper_id: int, visitor: Visitor
) -> tuple[WhitepaperDownload, bool | None]:
    """Records the download; returns the record and the consent it held before (None for a new record).

    A repeat download updates the visitor's record (the latest answers win: a visitor may correct
    their name or change their consent) rather than adding a second lead."""
    # The request's transaction began IMMEDIATE (it holds SQLite's write lock), so this
    # read-then-write cannot race another download; the unique constraint backs it up. On
    # PostgreSQL a lock on the whitepaper serializes the downloads of it instead.
    await serialize_on(session, f"whitepaper-downloads:{whitepaper_id}")
    lead = (
        await session.exec(
            select(WhitepaperDownload).where(
                WhitepaperDownload.whitepaper_id == whitepaper_id, WhitepaperDownload.email == visitor.email
            )
        )
    ).first()
    now = utcnow()
    consent_before = None if lead is None else lead.consent_marketing
    if lead is None:
        lead = WhitepaperDownload(
            whitepaper_id=whitepaper_id, created_at=now, last_downloaded_at=now, **visitor.as_dict()
        )
    else:
        lead.sqlmodel_update({**visitor.as_dict(), "times": lead.times + 1, "last_downloaded_at": now})
    session.add(lead)
    await session.exec(  # type: ignore[call-overload]
        update(Whitepaper)
        .where(col(Whitepaper.id) == whitepaper_id)
        .values(download_count=Whitepaper.download_count + 1)
    )
    await session.flush()
    return lead, consent_before


async def request_download(
    session: AsyncSession, *, settings: Settings, events: EventBus, whitepaper_id: int, form: VisitorFields
) -> DownloadLink:
    """Records the lead and the download, publishes LeadCaptured when it is news, queues the mail for the link."""
    await get_whitepaper(session, whitepaper_id=whitepaper_id, published_only=True)  # 404 unless published
    visitor = visitor_from_form(form, language=served_language(form.language, settings))
    lead, consent_before = await _record_download(session, whitepaper_id=whitepaper_id, visitor=visitor)
    await capture_lead(
        session, events, source=f"whitepaper:{whitepaper_id}", visitor=visitor, consent_before=consent_before
    )
    link = download_link(settings, whitepaper_id)
    assert lead.id is not None
    # The mail is rendered when sent, with a link signed then for the same expiry: the outbox holds no link.
    await DOWNLOAD.queue(
        session, recipient=visitor.email, params=DownloadMail(download_id=lead.id, expires_at=link.expires_at)
    )
    return link


async def document_for_token(
    session: AsyncSession, *, settings: Settings, whitepaper_id: int, token: str | None
) -> media_api.MediaFile:
    """The document behind a signed link; the token is checked before anything is looked up."""
    if not token:
        raise PermissionDenied("A download link is needed: request the whitepaper first")
    subject = read_link_token(token, purpose=DOWNLOAD_PURPOSE, secret=settings.secret_key.get_secret_value())
    if subject != str(whitepaper_id):
        raise PermissionDenied("This download link is invalid or has expired: request the whitepaper again")
    whitepaper = await get_whitepaper(session, whitepaper_id=whitepaper_id, published_only=True)
    document = await media_api.media_file(session, settings=settings, media_id=whitepaper.document_media_id)
    if not document.path.is_file():
        raise NotFound("The document is missing")
    return document


def _leads(whitepaper_id: int, consent_marketing: bool | None):
    statement = select(WhitepaperDownload).where(WhitepaperDownload.whitepaper_id == whitepaper_id)
    if consent_marketing is not None:
        statement = statement.where(WhitepaperDownload.consent_marketing == consent_marketing)
    return statement


async def list_leads(
    session: AsyncSession, *, whitepaper_id: int, params: ListParams, consent_marketing: bool | None = None,
    sort: str | None = None,
) -> tuple[list[WhitepaperDownload], int]:
    """Who downloaded a whitepaper (a deleted one's leads included: leads are never lost)."""
    await get_whitepaper(session, whitepaper_id=whitepaper_id, include_deleted=True)
    order = sort_order(sort, LEAD_SORT_COLUMNS, [col(WhitepaperDownload.id).desc()])
    return await paginate(session, statement=_leads(whitepaper_id, consent_marketing), params=params, order_by=order)


async def export_statement(
    session: AsyncSession, *, whitepaper_id: int, consent_marketing: bool | None = None, sort: str | None = None
) -> Any:
    """What selects every lead of a whitepaper, for the CSV export."""
    await get_whitepaper(session, whitepaper_id=whitepaper_id, include_deleted=True)
    order = sort_order(sort, LEAD_SORT_COLUMNS, [col(WhitepaperDownload.id).desc()])
    return _leads(whitepaper_id, consent_marketing).order_by(*order)
