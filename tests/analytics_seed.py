"""Rows of every slice at chosen instants, for the analytics tests (written straight to the tables:
the figures depend on timestamps no request can choose)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from features.bookings.models import Booking
from features.email.models import Campaign, CampaignRecipient, Contact, EmailTemplate
from features.linkedin.models import LinkedInEngagementSnapshot, LinkedInPost
from features.media.models import MediaItem
from features.pages.models import Page
from features.twitter.models import TwitterEngagementSnapshot, TwitterPost
from features.webinars.models import Webinar, WebinarRegistration
from features.whitepapers.models import Whitepaper, WhitepaperDownload

_serial = count(1)


def at(text: str) -> datetime:
    """An instant written as ISO 8601 with Z."""
    return datetime.fromisoformat(text).astimezone(UTC)


def _person() -> dict[str, Any]:
    n = next(_serial)
    return {"first_name": "Ada", "last_name": f"L{n}", "email": f"person{n}@example.com", "language": "en",
            "consent_marketing": True}


class Seeder:
    """Adds rows to one open write session."""

    def __init__(self, session: Any) -> None:
        self.session = session

    async def _add(self, row: Any) -> Any:
        self.session.add(row)
        await self.session.flush()
        return row

    async def webinar(self, starts_at: str, *, capacity: int | None = 10, status: str = "published") -> Webinar:
        n = next(_serial)
        return await self._add(Webinar(
            slug=f"webinar-{n}", title={"en": "W"}, starts_at=at(starts_at), duration_minutes=60,
            timezone="Europe/Berlin", capacity=capacity, status=status,
        ))

    async def registration(self, webinar: Webinar, created_at: str) -> None:
        person = _person()
        await self._add(WebinarRegistration(
            webinar_id=webinar.id, email_normalized=person["email"], created_at=at(created_at), **person
        ))

    async def media(self, created_at: str, size: int) -> MediaItem:
        n = next(_serial)
        return await self._add(MediaItem(
            stored_name=f"m{n}", filename=f"f{n}.pdf", mime_type="application/pdf", kind="document", size=size,
            sha256=f"{n:064d}", created_at=at(created_at),
        ))

    async def download(self, media: MediaItem, created_at: str) -> None:
        n = next(_serial)
        whitepaper = await self._add(Whitepaper(
            slug=f"wp-{n}", title={"en": "P"}, summary={"en": "S"}, language="en", document_media_id=media.id,
            status="published",
        ))
        person = _person()
        await self._add(WhitepaperDownload(whitepaper_id=whitepaper.id, created_at=at(created_at), **person))

    async def booking(self, created_at: str, status: str) -> None:
        starts = at(created_at) + timedelta(days=3, minutes=30 * next(_serial))
        await self._add(Booking(
            topic="Consultation", starts_at=starts, ends_at=starts + timedelta(minutes=30), duration_minutes=30,
            timezone="Europe/Berlin", status=status, created_at=at(created_at), updated_at=at(created_at),
            **_person(),
        ))

    async def campaign(self) -> Campaign:
        template = await self._add(EmailTemplate(name="T", subject={"en": "S"}, html_body={"en": "<p>x</p>"}))
        return await self._add(Campaign(name="C", template_id=template.id, status="sending"))

    async def recipient(self, campaign: Campaign, *, status: str = "sent", **events: str) -> None:
        person = _person()
        contact = await self._add(Contact(email=person["email"], language="en", status="subscribed"))
        await self._add(CampaignRecipient(
            campaign_id=campaign.id, contact_id=contact.id, status=status,
            **{name: at(value) for name, value in events.items()},
        ))

    async def post(self, network: str, published_at: str | None, *snapshots: dict[str, int],
                   status: str = "published") -> None:
        post_table, snapshot_table = {
            "linkedin": (LinkedInPost, LinkedInEngagementSnapshot), "twitter": (TwitterPost, TwitterEngagementSnapshot),
        }[network]
        post = await self._add(post_table(status=status, published_at=at(published_at) if published_at else None))
        for metrics in snapshots:
            await self._add(snapshot_table(post_id=post.id, metrics=metrics))

    async def page(self, published_at: str, *, status: str = "published", deleted: bool = False) -> None:
        n = next(_serial)
        await self._add(Page(
            slug=f"page-{n}", title={"en": "P"}, content={"en": "<p>x</p>"}, status=status,
            is_published=status == "published", published_at=at(published_at),
            deleted_at=at(published_at) if deleted else None,
        ))

    async def volume(self, count: int) -> None:
        """`count` rows of every kind the figures read, six hours apart from 2025-01-01 on (before any
        range the tests ask for): enough pages that a planner with statistics (ANALYZE) prefers the
        index that narrows a read to reading a whole table, as it would on a real database."""
        instants = [at("2025-01-01T00:00Z") + timedelta(hours=6 * i) for i in range(count)]
        webinar = await self.webinar("2025-01-01T10:00Z", capacity=None)
        document = await self.media("2025-01-01T09:00Z", 1)
        n = next(_serial)
        whitepaper = await self._add(Whitepaper(
            slug=f"wp-{n}", title={"en": "P"}, summary={"en": "S"}, language="en", document_media_id=document.id,
            status="published",
        ))
        campaign = await self.campaign()
        statuses = ("pending", "confirmed", "cancelled", "completed", "no_show")
        rows: list[Any] = []
        posts: list[Any] = []
        for i, instant in enumerate(instants):
            person = _person()
            rows.append(WebinarRegistration(webinar_id=webinar.id, email_normalized=person["email"],
                                            created_at=instant, **person))
            rows.append(WhitepaperDownload(whitepaper_id=whitepaper.id, created_at=instant, **_person()))
            rows.append(Booking(
                topic="Consultation", starts_at=instant + timedelta(days=3), ends_at=instant + timedelta(days=3, minutes=30),
                duration_minutes=30, timezone="Europe/Berlin", status=statuses[i % 5], created_at=instant,
                updated_at=instant, **_person(),
            ))
            events = {"sent_at": instant, **({"opened_at": instant} if i % 2 else {}),
                      **({"clicked_at": instant, "unsubscribed_at": instant} if i % 3 == 0 else {})}
            if i % 7 == 0:
                events = {"failed_at": instant, "bounced_at": instant}
            rows.append(CampaignRecipient(campaign_id=campaign.id, contact_id=None,
                                          status="failed" if "failed_at" in events else "sent", **events))
            posts += [LinkedInPost(status="published", published_at=instant),
                      TwitterPost(status="published", published_at=instant)]
            m = next(_serial)
            rows.append(Page(slug=f"page-{m}", title={"en": "P"}, content={"en": "<p>x</p>"}, status="published",
                             is_published=True, published_at=instant))
            rows.append(MediaItem(stored_name=f"m{m}", filename=f"f{m}.pdf", mime_type="application/pdf",
                                  kind="document", size=1, sha256=f"{m:064d}", created_at=instant))
        self.session.add_all(rows + posts)
        await self.session.flush()
        snapshots = {LinkedInPost: LinkedInEngagementSnapshot, TwitterPost: TwitterEngagementSnapshot}
        self.session.add_all([snapshots[type(post)](post_id=post.id, metrics={"impressions": k})
                              for post in posts for k in (1, 2, 3)])
        await self.session.flush()
