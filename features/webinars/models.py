"""Tables of the webinars slice: webinars and the visitors registered for them."""

from datetime import datetime

from sqlalchemy import CheckConstraint, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.db import JSONDocument, Timestamps, UTCDateTime, utcnow


class Webinar(Timestamps, table=True):
    __tablename__ = "webinars"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'published', 'cancelled')", name="status_known"),
        CheckConstraint("capacity IS NULL OR capacity >= 1", name="capacity_positive"),
        CheckConstraint("duration_minutes >= 1", name="duration_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=200, unique=True)
    title: dict[str, str] = Field(sa_type=JSONDocument)
    description: dict[str, str] = Field(default_factory=dict, sa_type=JSONDocument)  # sanitized HTML per language
    starts_at: datetime = Field(sa_type=UTCDateTime, index=True)
    duration_minutes: int
    timezone: str = Field(max_length=64)  # IANA name, for display and calendar clients
    presenter: str | None = Field(default=None, max_length=200)
    capacity: int | None = None  # None: unlimited
    join_url: str | None = Field(default=None, max_length=2083)  # private: staff and registrants' mail only
    status: str = Field(default="draft", max_length=16, index=True)
    # Grows when the time changes, so calendar clients replace an older invite (iCalendar SEQUENCE).
    sequence: int = 0
    created_by: int | None = Field(default=None, foreign_key="admin_users.id", ondelete="SET NULL")
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebinarRegistration(SQLModel, table=True):
    """A visitor registered for a webinar: a lead. A webinar with registrations cannot be deleted."""

    __tablename__ = "webinar_registrations"
    # One registration per address and webinar; the prefix also serves counting a webinar's seats.
    __table_args__ = (UniqueConstraint("webinar_id", "email_normalized"),)

    id: int | None = Field(default=None, primary_key=True)
    webinar_id: int = Field(foreign_key="webinars.id", ondelete="RESTRICT")
    first_name: str = Field(max_length=100)
    last_name: str = Field(max_length=100)
    email: str = Field(max_length=320)
    email_normalized: str = Field(max_length=320)
    company: str | None = Field(default=None, max_length=200)
    language: str = Field(max_length=8)
    consent_marketing: bool
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
