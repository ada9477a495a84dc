"""Bodies of the email slice (CONTRACT.md §5 "Email"): contacts, templates, campaigns, recipients."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from shared.http import MAX_ID
from shared.i18n import LanguageCode, localized
from shared.text import SINGLE_LINE
from shared.visitors import Company, ReachableEmail, VisitorName

ContactStatus = Literal["pending", "subscribed", "unsubscribed", "bounced", "no_consent"]
# What staff may set: bounced is the mail system's finding, no_consent the visitor's own choice.
SettableContactStatus = Literal["pending", "subscribed", "unsubscribed"]
ImportStatus = Literal["subscribed", "pending"]
CampaignStatus = Literal["draft", "scheduled", "sending", "paused", "sent", "cancelled", "failed"]
RecipientStatus = Literal["pending", "sending", "sent", "failed", "skipped"]
BounceType = Literal["hard", "soft", "complaint"]

Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), SINGLE_LINE]
Tags = Annotated[list[Tag], Field(max_length=50, description="Free labels, e.g. `customer`, `newsletter`")]
Source = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), SINGLE_LINE]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), SINGLE_LINE]

# --- contacts ----------------------------------------------------------------------------------

_CONTACT_EXAMPLE = {
    "email": "grace@example.com", "first_name": "Grace", "last_name": "Hopper", "company": "Navy",
    "language": "en", "tags": ["customer"], "status": "subscribed",
}


class ContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_CONTACT_EXAMPLE]})

    email: ReachableEmail
    first_name: VisitorName | None = None
    last_name: VisitorName | None = None
    company: Company | None = None
    language: LanguageCode | None = Field(default=None, description="Language of its mails; default language if unset")
    tags: Tags = []
    status: Literal["pending", "subscribed"] = Field(
        default="pending",
        description="`subscribed`: staff attest the person's consent; `pending`: a double opt-in mail goes out",
    )


class ContactUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"tags": ["customer", "vip"]}]})

    first_name: VisitorName | None = None
    last_name: VisitorName | None = None
    company: Company | None = None
    language: LanguageCode | None = None
    tags: Tags | None = None
    status: SettableContactStatus | None = None


class ContactStaffView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 7, **_CONTACT_EXAMPLE, "sources": ["webinar:12", "staff"],
                    "consent_at": "2030-04-02T10:11:12Z", "consent_origin": "staff",
                    "created_at": "2030-04-02T10:11:12Z", "updated_at": "2030-04-02T10:11:12Z",
                }
            ]
        }
    )

    id: int
    email: str
    first_name: str | None
    last_name: str | None
    company: str | None
    language: str
    status: ContactStatus
    tags: list[str]
    sources: list[str]
    consent_at: datetime | None
    consent_origin: str | None
    created_at: datetime
    updated_at: datetime


class RejectedRow(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"row": 17, "reason": "language: unknown language"}]})

    row: int = Field(description="Line number in the file where the row starts (the header is line 1)")
    reason: str


REJECTED_LISTED = 1000  # rows listed in a report at most; `rejected_count` counts them all


class ImportReport(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "imported": 9_998, "updated": 1, "rejected_count": 1,
                    "rejected": [{"row": 17, "reason": "email: value is not a valid email address"}],
                }
            ]
        }
    )

    imported: int = Field(description="New contacts")
    updated: int = Field(description="Contacts that were already known (names filled, tags and source added)")
    rejected: list[RejectedRow] = Field(description=f"Rows not imported and why (the first {REJECTED_LISTED})")
    rejected_count: int = Field(description="How many rows were rejected in all")


class LinkVisitorView(BaseModel):
    """What a confirm or unsubscribe POST did, for a script that asked for JSON."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "unsubscribed", "changed": True}]})

    status: ContactStatus
    changed: bool = Field(description="False when the contact already was in this state (or could not move)")


# --- templates ---------------------------------------------------------------------------------

LocalizedSubject = localized(
    max_length=500, single_line=True,
    description='Subject per language (Jinja2), e.g. {"en": "Hello {{ contact.first_name }}"}',
)
LocalizedBody = localized(max_length=500_000, description="Jinja2 per language, rendered in a sandbox")

_TEMPLATE_EXAMPLE = {
    "name": "Monthly newsletter",
    "subject": {"en": "News for {{ contact.first_name }}", "de": "Neues für {{ contact.first_name }}"},
    "html_body": {
        "en": '<p>Hello {{ contact.first_name }},</p><p>...</p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>',
        "de": '<p>Hallo {{ contact.first_name }},</p><p>...</p><p><a href="{{ unsubscribe_url }}">Abmelden</a></p>',
    },
}


class TemplateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_TEMPLATE_EXAMPLE]})

    name: Name
    subject: LocalizedSubject
    html_body: LocalizedBody
    text_body: LocalizedBody | None = Field(default=None, description="Derived from the HTML where absent")


class TemplateUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "Newsletter (May)"}]})

    name: Name | None = None
    subject: LocalizedSubject | None = None
    html_body: LocalizedBody | None = None
    text_body: LocalizedBody | None = None


class TemplateStaffView(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 3, **_TEMPLATE_EXAMPLE, "text_body": None, "created_by": 2,
                    "created_at": "2030-04-02T10:11:12Z", "updated_at": "2030-04-02T10:11:12Z",
                }
            ]
        },
    )

    id: int
    name: str
    subject: dict[str, str]
    html_body: dict[str, str]
    text_body: dict[str, str] | None
    created_by: int | None
    created_at: datetime
    updated_at: datetime


class PreviewRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"language": "de", "data": {"contact": {"first_name": "Ada"}}}]},
    )

    language: LanguageCode | None = None
    data: dict[str, Any] | None = Field(
        default=None, description="Variables to render with, over a sample contact (`contact`, `campaign`)"
    )


class PreviewStaffView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"subject": "News for Ada", "html": "<p>Hello Ada,</p>", "text": "Hello Ada,"}]}
    )

    subject: str
    html: str
    text: str


# --- campaigns ---------------------------------------------------------------------------------


class Audience(BaseModel):
    """Who receives a campaign: subscribed contacts with any of these tags, sources and languages
    (each list that is not empty must match; all empty: every subscribed contact)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"tags": ["newsletter"], "sources": ["webinar"], "languages": []}]},
    )

    tags: Annotated[list[Tag], Field(max_length=50)] = []
    sources: Annotated[list[Source], Field(max_length=50)] = []
    languages: Annotated[list[LanguageCode], Field(max_length=16)] = []


_CAMPAIGN_EXAMPLE = {
    "name": "May newsletter", "template_id": 3, "audience": {"tags": ["newsletter"], "sources": [], "languages": []},
    "scheduled_at": None, "track_opens": False, "track_clicks": False,
}


class CampaignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_CAMPAIGN_EXAMPLE]})

    name: Name
    template_id: int = Field(ge=1, le=MAX_ID)
    audience: Audience = Audience()
    scheduled_at: AwareDatetime | None = Field(default=None, description="When `send` should start it; null: at once")
    track_opens: bool = False
    track_clicks: bool = False


class CampaignUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "June newsletter"}]})

    name: Name | None = None
    template_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    audience: Audience | None = None
    scheduled_at: AwareDatetime | None = None
    track_opens: bool | None = None
    track_clicks: bool | None = None


_STATS_EXAMPLE = {
    "recipients": 1200, "pending": 200, "sent": 990, "failed": 4, "skipped": 6, "opened": 0, "clicked": 0,
    "unsubscribed": 3, "bounced": 4,
}


class CampaignStats(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_STATS_EXAMPLE]})

    recipients: int
    pending: int
    sent: int
    failed: int
    skipped: int
    opened: int
    clicked: int
    unsubscribed: int
    bounced: int


class CampaignStaffView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 5, **_CAMPAIGN_EXAMPLE, "status": "sending", "status_reason": None,
                    "started_at": "2030-05-01T08:00:00Z", "finished_at": None, "stats": _STATS_EXAMPLE,
                    "created_by": 2, "created_at": "2030-04-30T10:00:00Z", "updated_at": "2030-05-01T08:00:00Z",
                }
            ]
        }
    )

    id: int
    name: str
    template_id: int | None = Field(description="null once a finished campaign's template was deleted")
    audience: Audience
    status: CampaignStatus
    status_reason: str | None = Field(description="Why it paused itself or failed")
    scheduled_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    track_opens: bool
    track_clicks: bool
    stats: CampaignStats
    created_by: int | None
    created_at: datetime
    updated_at: datetime


class TestSendRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"email": "me@example.com", "language": "de"}]}
    )

    email: EmailStr
    language: LanguageCode | None = None


class RecipientStaffView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 81, "contact_id": 7, "email": "grace@example.com", "status": "sent", "attempts": 1,
                    "last_error": None, "sent_at": "2030-05-01T08:00:03Z", "opened_at": None, "clicked_at": None,
                }
            ]
        }
    )

    id: int
    contact_id: int | None = Field(description="null once the contact was erased")
    email: str | None
    status: RecipientStatus
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    opened_at: datetime | None
    clicked_at: datetime | None


# --- public ------------------------------------------------------------------------------------


class BounceReport(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"email": "grace@example.com", "type": "hard", "reason": "550 5.1.1 no such user"}]
        },
    )

    email: EmailStr
    type: BounceType
    campaign_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None


IMPORT_REQUEST_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file", "status"],
                "properties": {
                    "file": {
                        "type": "string", "format": "binary",
                        "description": "CSV, UTF-8, comma separated, with a header row: `email` and any of "
                                       "`first_name`, `last_name`, `company`, `language`, `tags` (`;` between tags)",
                    },
                    "status": {
                        "type": "string", "enum": ["subscribed", "pending"],
                        "description": "`subscribed`: staff attest every person's consent; `pending`: each new "
                                       "contact gets a double opt-in mail",
                    },
                },
            }
        }
    },
}
