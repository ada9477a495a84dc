"""What a visitor types into a public form (webinar registration, whitepaper download, booking)."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from shared.i18n import LanguageCode

VisitorName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class VisitorFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_name: VisitorName
    last_name: VisitorName
    email: EmailStr
    company: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    language: LanguageCode | None = Field(default=None, description="Language for mails; default language if unset")
    # Required and never defaulted: consent must be an explicit choice of the visitor.
    consent_marketing: bool = Field(description="Whether the visitor agreed to marketing mail")

    @property
    def normalized_email(self) -> str:
        return self.email.strip().lower()
