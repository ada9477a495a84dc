"""Bodies of the webinars slice (CONTRACT.md §5)."""

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
)

from shared.examples import list_example
from shared.i18n import localized
from shared.slugs import Slug
from shared.text import SINGLE_LINE
from shared.timefields import TimeZoneName
from shared.visitors import VisitorFields

WebinarStatus = Literal["draft", "published", "cancelled"]
When = Literal["upcoming", "past"]
EARLIEST_YEAR, LATEST_YEAR = 2000, 2100

# One line of text: no control characters (a title becomes a mail subject, a header).
LocalizedTitle = localized(
    max_length=300, single_line=True, description='Title per language code, e.g. {"en": "Launch", "de": "Start"}'
)
LocalizedHtml = localized(max_length=50_000, description="HTML per language code; sanitized when stored")


def _reasonable_time(value: datetime) -> datetime:
    try:
        in_utc = value.astimezone(UTC)
    except OverflowError:
        in_utc = None
    if in_utc is None or not EARLIEST_YEAR <= in_utc.year <= LATEST_YEAR:
        raise ValueError(f"must lie between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    return in_utc


TimezoneName = Annotated[
    TimeZoneName,
    Field(description="IANA time zone the webinar is announced in, e.g. Europe/Berlin"),
]
StartsAt = Annotated[
    AwareDatetime, AfterValidator(_reasonable_time), Field(description="Start, with an offset; stored in UTC")
]
DurationMinutes = Annotated[int, Field(ge=1, le=24 * 60, description="Length in minutes")]
Presenter = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), SINGLE_LINE]
Capacity = Annotated[int, Field(ge=1, le=1_000_000, description="Seats; null for unlimited")]
JoinUrl = Annotated[HttpUrl, Field(description="Private link to the session; mailed to registrants only")]

_EXAMPLE = {
    "slug": "lead-scoring-101",
    "title": {"en": "Lead scoring 101", "de": "Lead-Scoring 101"},
    "description": {"en": "<p>How to rank leads.</p>", "de": "<p>Wie man Leads bewertet.</p>"},
    "starts_at": "2030-05-07T14:00:00+02:00",
    "duration_minutes": 45,
    "timezone": "Europe/Berlin",
    "presenter": "Ada Lovelace",
    "capacity": 100,
    "join_url": "https://meet.example.com/lead-scoring-101",
    "status": "published",
}


class WebinarCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    slug: Slug
    title: LocalizedTitle
    description: LocalizedHtml | None = None
    starts_at: StartsAt
    duration_minutes: DurationMinutes
    timezone: TimezoneName
    presenter: Presenter | None = None
    capacity: Capacity | None = None
    join_url: JoinUrl | None = None
    status: WebinarStatus = "draft"


class WebinarUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"capacity": 150}, {"status": "cancelled"}]}
    )

    slug: Slug | None = None
    title: LocalizedTitle | None = None
    description: LocalizedHtml | None = None
    starts_at: StartsAt | None = None
    duration_minutes: DurationMinutes | None = None
    timezone: TimezoneName | None = None
    presenter: Presenter | None = None
    capacity: Capacity | None = None
    join_url: JoinUrl | None = None
    status: WebinarStatus | None = Field(default=None, description="`cancelled` mails every registrant, once")


_VISITOR_EXAMPLE = {
    "id": 1, "slug": "lead-scoring-101", "title": _EXAMPLE["title"], "description": _EXAMPLE["description"],
    "starts_at": "2030-05-07T12:00:00Z", "ends_at": "2030-05-07T12:45:00Z", "duration_minutes": 45,
    "timezone": "Europe/Berlin", "presenter": "Ada Lovelace", "capacity": 100, "seats_left": 58, "status": "published",
}


class WebinarVisitorView(BaseModel):
    """A webinar as visitors see it: never the join link."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_VISITOR_EXAMPLE]})

    id: int
    slug: str
    title: dict[str, str]
    description: dict[str, str]
    starts_at: datetime
    ends_at: datetime
    duration_minutes: int
    timezone: str
    presenter: str | None
    capacity: int | None
    seats_left: int | None = Field(description="Free seats; null when the capacity is unlimited")
    status: WebinarStatus


class WebinarStaffView(WebinarVisitorView):
    """A webinar as staff see it: with the join link and the registration count."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_VISITOR_EXAMPLE, "join_url": "https://meet.example.com/lead-scoring-101",
                    "registrations_count": 42, "created_by": 2, "created_at": "2030-03-01T09:00:00Z",
                    "updated_at": "2030-03-02T16:20:00Z", "cancelled_at": None,
                }
            ]
        }
    )

    join_url: str | None
    registrations_count: int
    created_by: int | None
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None


AnyWebinarView = WebinarStaffView | WebinarVisitorView


class WebinarStaffListPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [list_example(WebinarStaffView)]})

    items: list[WebinarStaffView]
    total: int
    limit: int
    offset: int


class WebinarVisitorListPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [list_example(WebinarVisitorView)]})

    items: list[WebinarVisitorView]
    total: int
    limit: int
    offset: int


class RegistrationRequest(VisitorFields):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com",
                    "company": "Navy", "language": "en", "consent_marketing": False,
                }
            ]
        },
    )


_REGISTRATION_EXAMPLE = {"id": 17, "webinar_id": 1, "email": "grace@example.com", "created_at": "2030-04-02T10:11:12Z"}


class RegistrationVisitorView(BaseModel):
    """What the visitor gets back: enough to confirm, nothing about other registrants."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_REGISTRATION_EXAMPLE]})

    id: int
    webinar_id: int
    email: str
    created_at: datetime


class RegistrationStaffView(RegistrationVisitorView):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_REGISTRATION_EXAMPLE, "first_name": "Grace", "last_name": "Hopper", "company": "Navy",
                    "language": "en", "consent_marketing": False,
                }
            ]
        }
    )

    first_name: str
    last_name: str
    company: str | None
    language: str
    consent_marketing: bool
