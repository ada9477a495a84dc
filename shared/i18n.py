"""Multilingual fields: objects keyed by language code, checked against SUPPORTED_LANGUAGES."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from shared.config import Settings
from shared.errors import ValidationFailed
from shared.text import MULTI_LINE, SINGLE_LINE

LanguageCode = Annotated[str, StringConstraints(min_length=2, max_length=8, pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")]
MAX_LANGUAGES = 16  # keys a multilingual object may have; the supported languages are checked after


def localized(*, max_length: int, description: str, single_line: bool = False) -> object:
    """A multilingual field type: text per language code, at most `max_length` characters each.

    Single-line text (a title) refuses every control character; other text (HTML, a description)
    allows line breaks and tabs but no other control characters."""
    text = Annotated[str, StringConstraints(max_length=max_length), SINGLE_LINE if single_line else MULTI_LINE]
    return Annotated[dict[LanguageCode, text], Field(max_length=MAX_LANGUAGES, description=description)]


Localized = localized(max_length=200_000, description='Text per language code, e.g. {"en": "Title", "de": "Titel"}')
LocalizedLine = localized(
    max_length=200_000, single_line=True,
    description='One line of text per language code, e.g. {"en": "Title", "de": "Titel"}',
)


def check_localized(value: dict[str, str] | None, *, field: str, settings: Settings, required: bool) -> None:
    """Unknown languages are refused; a required field must have the default language."""
    if value is None:
        if required:
            raise ValidationFailed(f"{field} is required", field=field)
        return
    for code in value:
        if code not in settings.supported_languages:
            raise ValidationFailed(
                f"Unsupported language '{code}'; use one of: {', '.join(settings.supported_languages)}",
                field=f"{field}.{code}",
            )
    default = settings.default_language
    if required and not (value.get(default) or "").strip():
        raise ValidationFailed(f"{field} needs text in the default language '{default}'", field=f"{field}.{default}")


def served_language(requested: str | None, settings: Settings) -> str:
    """The requested language when supported, else the default one."""
    return requested if requested in settings.supported_languages else settings.default_language


def translate(value: dict[str, str] | None, language: str, default_language: str) -> str | None:
    """The text in `language`, falling back to the default language when it is missing."""
    if not value:
        return None
    return value.get(language) or value.get(default_language)


def accepted_language(accept_language: str | None, settings: Settings) -> str:
    """The first supported language of an Accept-Language header, by its q-values; else the default one."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((accept_language or "")[:1000].split(",")):
        tag, _, quality = item.strip().partition(";")
        try:
            q = float(quality.strip()[2:]) if quality.strip().startswith("q=") else 1.0
        except ValueError:
            q = 0.0
        ranked.append((-q, position, tag.strip().split("-")[0].lower()))
    for negative_q, _, language in sorted(ranked):
        if negative_q < 0 and language in settings.supported_languages:
            return language
    return settings.default_language
