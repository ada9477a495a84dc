"""The mail carrying a whitepaper's download link, rendered when sent (texts in mail_texts/, en and de).

The outbox holds the lead's id and the link's expiry, never the link: the token is signed at
delivery with the times the response's link was signed with, so the two links are the same.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from pydantic import AwareDatetime, BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from features.whitepapers.models import Whitepaper, WhitepaperDownload
from features.whitepapers.schemas import DownloadLink
from shared.config import Settings
from shared.db import as_utc, utcnow
from shared.i18n import translate
from shared.mail_templates import Draft, MailTemplate, ServedLanguage
from shared.security import create_link_token

DOWNLOAD_PURPOSE = "whitepaper-download"
DOWNLOAD_TTL = timedelta(hours=24)
PATH = "/api/v1/business/whitepapers"
TEXTS = Path(__file__).parent / "mail_texts"


def download_link(settings: Settings, whitepaper_id: int, *, expires_at: datetime | None = None) -> DownloadLink:
    """A signed link to the document, valid 24 hours (until `expires_at`, for a link signed again)."""
    # Taken before the token is signed, so the token never expires before the time we announce.
    expires_at = as_utc(expires_at) if expires_at else utcnow().replace(microsecond=0) + DOWNLOAD_TTL
    token = create_link_token(
        purpose=DOWNLOAD_PURPOSE, subject=str(whitepaper_id), ttl=DOWNLOAD_TTL,
        secret=settings.secret_key.get_secret_value(), issued_at=expires_at - DOWNLOAD_TTL,
    )
    url = f"{settings.public_base_url.rstrip('/')}{PATH}/{whitepaper_id}/file?token={token}"
    return DownloadLink(download_url=url, expires_at=expires_at)


class DownloadMail(BaseModel):
    download_id: int  # the lead (WhitepaperDownload): whom to mail, in which language
    expires_at: AwareDatetime  # the response's link's expiry: the mailed link is signed with it


async def _load(
    session: AsyncSession, settings: Settings, params: DownloadMail, served: ServedLanguage
) -> Draft | None:
    """Nothing to send once the link has expired or the whitepaper is no longer published."""
    lead = await session.get(WhitepaperDownload, params.download_id)
    if lead is None or params.expires_at <= utcnow():
        return None
    whitepaper = await session.get(Whitepaper, lead.whitepaper_id)
    if whitepaper is None or whitepaper.deleted_at is not None or whitepaper.status != "published":
        return None
    language = served(lead.language)
    link = download_link(settings, lead.whitepaper_id, expires_at=params.expires_at)
    values = {
        "first_name": lead.first_name,
        "title": translate(whitepaper.title, language, settings.default_language) or whitepaper.slug,
        "url": link.download_url, "expires": link.expires_at.strftime("%Y-%m-%d %H:%M"),
    }
    return Draft(to=lead.email, language=language, values=values)


DOWNLOAD = MailTemplate(name="whitepapers.download", folder=TEXTS, params=DownloadMail, load=_load)
MAIL_TEMPLATES = (DOWNLOAD,)
