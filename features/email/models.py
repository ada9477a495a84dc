"""Tables of the email slice: the audience (contacts, their tags and sources, the suppression
list), the templates staff write, campaigns and the frozen list of each campaign's recipients."""

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.db import JSONDocument, Timestamps, UTCDateTime, utcnow
from shared.dialect import partial_index

CONTACT_STATUSES = ("pending", "subscribed", "unsubscribed", "bounced", "no_consent")
CAMPAIGN_STATUSES = ("draft", "scheduled", "sending", "paused", "sent", "cancelled", "failed")
RECIPIENT_STATUSES = ("pending", "sending", "sent", "failed", "skipped")
# When each thing happened to a campaign message (columns of CampaignRecipient).
EVENTS = ("sent_at", "failed_at", "opened_at", "clicked_at", "unsubscribed_at", "bounced_at")


def _one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    return CheckConstraint(f"{column} IN ({', '.join(repr(v) for v in values)})", name=f"{column}_known")


class Contact(Timestamps, table=True):
    """One person of the audience, by address (stored normalized: shared/visitors.normalize_email)."""

    __tablename__ = "email_contacts"
    # AUTOINCREMENT: an erased contact's id is never given to another person, so a confirm or
    # unsubscribe link in an old mail can never act on someone else.
    __table_args__ = (
        _one_of("status", CONTACT_STATUSES), CheckConstraint("soft_bounces >= 0", name="soft_bounces"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    company: str | None = Field(default=None, max_length=200)
    language: str = Field(max_length=8)
    status: str = Field(max_length=16, index=True)
    consent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Where the consent came from: "double_opt_in", "staff" (attested) or "import" (attested by staff).
    consent_origin: str | None = Field(default=None, max_length=32)
    soft_bounces: int = 0  # three soft bounces make a contact bounced


class ContactTag(SQLModel, table=True):
    __tablename__ = "email_contact_tags"

    contact_id: int = Field(foreign_key="email_contacts.id", ondelete="CASCADE", primary_key=True)
    tag: str = Field(max_length=64, primary_key=True, index=True)


class ContactSource(SQLModel, table=True):
    """A place the address came from: `webinar:12`, `whitepaper:3`, `booking:7`, `import`, `staff`."""

    __tablename__ = "email_contact_sources"

    contact_id: int = Field(foreign_key="email_contacts.id", ondelete="CASCADE", primary_key=True)
    source: str = Field(max_length=64, primary_key=True, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Suppression(SQLModel, table=True):
    """An address that must never be mailed again, kept only as a keyed digest (an erased contact)."""

    __tablename__ = "email_suppressions"

    digest: str = Field(primary_key=True, max_length=64)
    reason: str = Field(max_length=16)  # "erased"
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class EmailTemplate(Timestamps, table=True):
    """A campaign template: Jinja2 (sandboxed) per language, checked when saved."""

    __tablename__ = "email_templates"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    subject: dict[str, str] = Field(sa_type=JSONDocument)
    html_body: dict[str, str] = Field(sa_type=JSONDocument)
    text_body: dict[str, str] | None = Field(default=None, sa_type=JSONDocument)  # None: derived from the HTML
    created_by: int | None = Field(default=None, foreign_key="admin_users.id", ondelete="SET NULL")


class Campaign(Timestamps, table=True):
    __tablename__ = "email_campaigns"
    __table_args__ = (_one_of("status", CAMPAIGN_STATUSES),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    # A template is refused deletion while an unfinished campaign uses it (409 IN_USE); a finished
    # campaign keeps its counters without it.
    template_id: int | None = Field(default=None, foreign_key="email_templates.id", ondelete="SET NULL", index=True)
    audience: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDocument)  # tags, sources, languages
    status: str = Field(default="draft", max_length=16, index=True)
    scheduled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    track_opens: bool = False
    track_clicks: bool = False
    # Why the campaign paused itself or failed, for staff to read before they resume or resend.
    status_reason: str | None = Field(default=None, max_length=500)
    consecutive_failures: int = 0
    created_by: int | None = Field(default=None, foreign_key="admin_users.id", ondelete="SET NULL")


class CampaignRecipient(SQLModel, table=True):
    """One contact of a campaign's frozen list and where its one message stands.

    pending -> sending (claimed by one sender, right before its message) -> sent | failed | skipped.
    """

    __tablename__ = "email_campaign_recipients"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id"),
        # The sender's next-recipient lookup and the counters: by campaign, status, then order.
        Index("ix_email_campaign_recipients_progress", "campaign_id", "status", "id"),
        _one_of("status", RECIPIENT_STATUSES),
        # The analytics count each event per period over these; partial, so the rows a campaign
        # freezes (every timestamp NULL) cost no index entry until the event happens.
        *(partial_index(f"ix_email_campaign_recipients_{name}", name, where=f"{name} IS NOT NULL") for name in EVENTS),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="email_campaigns.id", ondelete="CASCADE")
    # SET NULL: an erased contact's row stays, without the person, so the counters still add up.
    contact_id: int | None = Field(default=None, foreign_key="email_contacts.id", ondelete="SET NULL", index=True)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    claimed_by: str | None = Field(default=None, max_length=100)
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=500)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # given up on
    opened_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    clicked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    unsubscribed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    bounced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SendPace(SQLModel, table=True):
    """When the next campaign message may leave, shared by every sending process (EMAIL_SEND_RATE)."""

    __tablename__ = "email_send_pace"

    name: str = Field(primary_key=True, max_length=32)
    next_slot: float = 0.0  # seconds since the epoch
