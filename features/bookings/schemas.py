"""Bodies of the bookings slice (CONTRACT.md §5)."""

from datetime import datetime
from enum import IntEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.http import MAX_ID
from shared.text import MULTI_LINE, SINGLE_LINE
from shared.timefields import TimeZoneName, UtcDatetime
from shared.visitors import VisitorFields

BookingStatus = Literal["pending", "confirmed", "cancelled", "completed", "no_show"]


class Duration(IntEnum):
    """Minutes a consultation lasts (an enum, so a query string's "60" is accepted too)."""

    HALF_HOUR = 30
    HOUR = 60


Topic = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), SINGLE_LINE]
Message = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000), MULTI_LINE]
Phone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=40, pattern=r"^\+?[0-9 ()./-]+$"),
    SINGLE_LINE,
]
Notes = Annotated[str, StringConstraints(max_length=10_000), MULTI_LINE]

_CREATE_EXAMPLE = {
    "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "company": "Analytical Engines",
    "language": "en", "consent_marketing": False, "topic": "Marketing automation", "message": "About our funnel",
    "phone": "+49 30 1234567", "starts_at": "2030-03-04T09:00:00+01:00", "duration_minutes": 30,
    "timezone": "Europe/Berlin",
}


class BookingCreate(VisitorFields):
    """A visitor's request for a consultation."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_CREATE_EXAMPLE]})

    topic: Topic
    message: Message | None = None
    phone: Phone | None = None
    starts_at: UtcDatetime = Field(description="A free slot from the availability list, with an offset")
    duration_minutes: Duration = Duration.HALF_HOUR
    timezone: TimeZoneName | None = Field(
        default=None, description="The visitor's IANA time zone for mails; BOOKING_TIMEZONE if unset"
    )


class BookingUpdate(BaseModel):
    """Staff changes: status (following the state machine), assignee, internal notes."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"status": "confirmed", "assigned_to": 1}]}
    )

    status: BookingStatus | None = None
    assigned_to: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None
    notes: Notes | None = None


_SLOT_EXAMPLE = {"starts_at": "2030-03-04T08:00:00Z", "ends_at": "2030-03-04T08:30:00Z"}
_VISITOR_EXAMPLE = {
    "id": 3, "status": "pending", **_SLOT_EXAMPLE, "duration_minutes": 30, "timezone": "Europe/Berlin",
    "topic": "Marketing automation", "email": "ada@example.com", "created_at": "2030-02-20T16:05:00Z",
}


class BookingStaffView(BaseModel):
    """A booking as staff see it."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    **_VISITOR_EXAMPLE, "status": "confirmed", "message": "About our funnel", "first_name": "Ada",
                    "last_name": "Lovelace", "company": "Analytical Engines", "phone": "+49 30 1234567",
                    "language": "en", "consent_marketing": False, "assigned_to": 1, "notes": "Prefers a call in German",
                    "updated_at": "2030-02-21T09:00:00Z",
                }
            ]
        },
    )

    id: int
    status: BookingStatus
    starts_at: datetime
    ends_at: datetime
    duration_minutes: int
    timezone: str
    topic: str
    message: str | None
    first_name: str
    last_name: str
    email: str
    company: str | None
    phone: str | None
    language: str
    consent_marketing: bool
    assigned_to: int | None
    notes: str | None
    created_at: datetime
    updated_at: datetime


class BookingVisitorView(BaseModel):
    """What the visitor gets back: enough to show, nothing staff wrote."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_VISITOR_EXAMPLE]})

    id: int
    status: BookingStatus
    starts_at: datetime
    ends_at: datetime
    duration_minutes: int
    timezone: str
    topic: str
    email: str
    created_at: datetime


class Slot(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_SLOT_EXAMPLE]})

    starts_at: datetime
    ends_at: datetime


class Availability(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"slots": [_SLOT_EXAMPLE, {"starts_at": "2030-03-04T08:30:00Z", "ends_at": "2030-03-04T09:00:00Z"}]}
            ]
        }
    )

    slots: list[Slot]


class CancelResult(BaseModel):
    """The answer to a visitor's cancellation (JSON when asked for)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"id": 3, "status": "cancelled", "starts_at": "2030-03-04T08:00:00Z", "already_cancelled": False}
            ]
        }
    )

    id: int
    status: BookingStatus
    starts_at: datetime
    already_cancelled: bool
