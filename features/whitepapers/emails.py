"""The mail carrying a whitepaper's download link, in the visitor's language (en or de)."""

from datetime import datetime
from email.message import Message

from shared.config import Settings
from shared.mail import build_message

_SUBJECTS = {"en": "Your download: {title}", "de": "Ihr Download: {title}"}
_TEXTS = {
    "en": (
        "Hello {first_name},\n\n"
        "thank you for your interest in \u201c{title}\u201d. Download it here:\n\n"
        "{url}\n\n"
        "The link works until {expires} (UTC). If it has expired, request the whitepaper again.\n"
    ),
    "de": (
        "Hallo {first_name},\n\n"
        "vielen Dank f\u00fcr Ihr Interesse an \u201e{title}\u201c. Hier k\u00f6nnen Sie es herunterladen:\n\n"
        "{url}\n\n"
        "Der Link ist bis {expires} (UTC) g\u00fcltig. Ist er abgelaufen, fordern Sie das Whitepaper einfach "
        "erneut an.\n"
    ),
}
MAIL_LANGUAGES = tuple(_TEXTS)


def _one_line(text: str, limit: int = 200) -> str:
    # Titles are staff input: a line break in a header would break the message.
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "\u2026"


def download_message(
    settings: Settings, *, to: str, first_name: str, title: str, url: str, expires_at: datetime, language: str
) -> Message:
    """The download mail; languages without a template get the English one."""
    language = language if language in _TEXTS else "en"
    title = _one_line(title)
    text = _TEXTS[language].format(
        first_name=first_name, title=title, url=url, expires=expires_at.strftime("%Y-%m-%d %H:%M")
    )
    subject = _SUBJECTS[language].format(title=title)
    return build_message(settings, to=to, subject=subject, text=text, language=language)
