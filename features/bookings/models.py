"""Tables of the bookings slice."""

from datetime import datetime

from sqlalchemy import CheckConstraint, Index
from sqlmodel import Field

from shared.db import Timestamps, UTCDateTime
from shared.dialect import partial_unique_index

STATUSES = ("pending", "confirmed", "cancelled", "completed", "no_show")
ACTIVE_STATUSES = ("pending", "confirmed")  # these hold their time slot
DURATIONS = (30, 60)


class Booking(Timestamps, table=True):
    """A consultation a visitor asked for, at a time inside business hours."""

    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'confirmed', 'cancelled', 'completed', 'no_show')", name="status_known"),
        CheckConstraint("duration_minutes IN (30, 60)", name="duration_allowed"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        # The service refuses overlaps inside one serialized write; this also stops two
        # writers that somehow got past it from both holding the very same start.
        partial_unique_index("uq_bookings_active_start", "starts_at", where="status IN ('pending', 'confirmed')"),
        Index("ix_bookings_starts_at_ends_at", "starts_at", "ends_at"),
        Index("ix_bookings_status_created_at", "status", "created_at"),  # the analytics, by status
    )

    id: int | None = Field(default=None, primary_key=True)
    first_name: str = Field(max_length=100)
    last_name: str = Field(max_length=100)
    email: str = Field(max_length=320, index=True)
    company: str | None = Field(default=None, max_length=200)
    language: str = Field(max_length=8)
    consent_marketing: bool
    phone: str | None = Field(default=None, max_length=40)
    topic: str = Field(max_length=200)
    message: str | None = Field(default=None, max_length=5000)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    duration_minutes: int
    timezone: str = Field(max_length=64)
    status: str = Field(default="pending", max_length=16, index=True)
    assigned_to: int | None = Field(default=None, foreign_key="admin_users.id", ondelete="SET NULL", index=True)
    notes: str | None = Field(default=None, max_length=10_000)
