"""What a visitor types into a public form (webinar registration, whitepaper download, booking)."""

from typing import Annotated

from email_validator import validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from shared.i18n import LanguageCode
from shared.text import SINGLE_LINE


def normalize_email(address: str) -> str:
    """The one form in which every table stores an address and every event carries it."""
    return address.strip().lower()


def _reachable_by_our_mail(value: str) -> str:
    # The mail path speaks plain SMTP (no SMTPUTF8): an international domain is sent as
    # punycode, but a non-ASCII local part cannot be addressed at all, and a lead we
    # cannot write to (no download link, no cancel link) is worse than a clear refusal.
    if not value.isascii() and validate_email(value, check_deliverability=False).ascii_email is None:
        raise ValueError("addresses with non-ASCII characters before the @ are not supported")
    return value


# An address our mail can reach: every form and staff input of an address uses it.
ReachableEmail = Annotated[EmailStr, AfterValidator(_reachable_by_our_mail)]
VisitorName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), SINGLE_LINE]
Company = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), SINGLE_LINE]


class VisitorFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_name: VisitorName
    last_name: VisitorName
    email: ReachableEmail
    company: Company | None = None
    language: LanguageCode | None = Field(default=None, description="Language for mails; default language if unset")
    # Required and never defaulted: consent must be an explicit choice of the visitor.
    consent_marketing: bool = Field(description="Whether the visitor agreed to marketing mail")

    @property
    def normalized_email(self) -> str:
        return normalize_email(self.email)
