"""Named transactional mails: typed parameters, texts per language, rendered when they are sent.

A slice declares each of its mails as a `MailTemplate` in its `slice.py` (`mail_templates=`).
Queueing stores the name and the validated parameters, nothing rendered; delivery validates
them again, asks the template's `load` for what holds then, picks the language by one rule
(`mail_language`) and renders the slice's Jinja2 text for it.

Texts live in the slice's `mail_texts/` folder, one file per mail and language,
`<file>.<language>.txt`, with a `{% block subject %}` and a `{% block text %}` (other blocks,
an invite's description say, reach `Draft.attachments` through `Rendered.blocks`); a
`<file>.<language>.html` beside it, if there is one, becomes the HTML alternative.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import Message
from functools import cache
from pathlib import Path
from typing import Any, Generic, TypeVar

from jinja2 import FileSystemLoader
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.config import Settings
from shared.mail import Attachment, build_message, queue_template, queue_templates
from shared.templating import template_environment

P = TypeVar("P", bound=BaseModel)


@dataclass(frozen=True)
class Rendered:
    """A mail's texts in one language, before they become a MIME message."""

    language: str
    subject: str
    text: str
    html: str | None = None
    blocks: Mapping[str, str] = field(default_factory=dict)  # every block, e.g. an invite's description


@dataclass(frozen=True)
class Draft:
    """What a template's `load` found to send: to whom, in which language, with which values."""

    to: str
    language: str  # from the `served` function `load` is given: the one language rule
    values: Mapping[str, Any]
    # Attachments, or a function of the rendered texts that makes them (an invite that quotes the body).
    attachments: tuple[Attachment, ...] | Callable[[Rendered], tuple[Attachment, ...]] = ()


# The served language for a visitor's requested one (supported and written, else the default).
ServedLanguage = Callable[[str | None], str]
# Reads what the mail is about through the delivery's session; None when there is nothing to send any more.
Load = Callable[[AsyncSession, Settings, P, ServedLanguage], Awaitable[Draft | None]]


def mail_language(requested: str | None, available: frozenset[str], settings: Settings) -> str:
    """The one fallback rule: the visitor's language if supported and written, else the default language."""
    if requested in settings.supported_languages and requested in available:
        return requested
    if settings.default_language in available:
        return settings.default_language
    raise LookupError(f"no mail text in the default language {settings.default_language!r}")


@cache
def _environment(folder: Path) -> SandboxedEnvironment:
    return template_environment(FileSystemLoader(folder))


@dataclass(frozen=True)
class MailTemplate(Generic[P]):
    """A named mail: its parameter type, what it loads when sent, and its texts (a `Renderer`)."""

    name: str  # "<slice>.<mail>", as stored in the outbox
    folder: Path  # the slice's mail_texts/
    params: type[P]
    load: Load[P]
    file: str = ""  # the texts' file name before the language; default: the name after the slice
    languages: frozenset[str] = field(init=False)
    html_languages: frozenset[str] = field(init=False)  # those with an .html alternative

    def __post_init__(self) -> None:
        if not self.file:
            object.__setattr__(self, "file", self.name.rsplit(".", 1)[-1])
        found = frozenset(path.name.split(".")[-2] for path in self.folder.glob(f"{self.file}.*.txt"))
        if not found:
            raise LookupError(f"mail template {self.name!r} has no texts in {self.folder}")
        object.__setattr__(self, "languages", found)
        with_html = frozenset(path.name.split(".")[-2] for path in self.folder.glob(f"{self.file}.*.html"))
        object.__setattr__(self, "html_languages", with_html)

    def language(self, requested: str | None, settings: Settings) -> str:
        return mail_language(requested, self.languages, settings)

    def render_texts(self, language: str, values: Mapping[str, Any]) -> Rendered:
        """The subject, text and HTML in `language`; an unknown variable raises (StrictUndefined)."""
        environment = _environment(self.folder)
        template = environment.get_template(f"{self.file}.{language}.txt")
        context = template.new_context(dict(values))
        blocks = {name: "".join(render(context)) for name, render in template.blocks.items()}
        html = None
        if language in self.html_languages:
            html = environment.get_template(f"{self.file}.{language}.html").render(values)
        return Rendered(
            language=language, subject=blocks["subject"], text=blocks["text"], html=html, blocks=blocks
        )

    async def queue(self, session: AsyncSession, *, recipient: str, params: P) -> None:
        """Queues this mail in the caller's transaction: its name and parameters, nothing rendered."""
        checked = self.params.model_validate(params.model_dump())
        await queue_template(session, template=self.name, recipient=recipient, params=checked.model_dump(mode="json"))

    async def queue_many(self, session: AsyncSession, *, messages: Sequence[tuple[str, P]]) -> None:
        """`queue` for many (recipient, params) at once, in one statement (an import's opt-in mails)."""
        checked = [
            (recipient, self.params.model_validate(params.model_dump()).model_dump(mode="json"))
            for recipient, params in messages
        ]
        await queue_templates(session, template=self.name, messages=checked)

    async def __call__(self, session: AsyncSession, settings: Settings, params: dict[str, Any]) -> Message | None:
        """Renders a queued mail with what holds now; None when there is nothing to send any more."""
        draft = await self.load(session, settings, self.params.model_validate(params), self._served(settings))
        if draft is None:
            return None
        if draft.language not in self.languages:
            raise LookupError(f"mail template {self.name!r} has no text in {draft.language!r}")
        rendered = self.render_texts(draft.language, draft.values)
        attachments = draft.attachments(rendered) if callable(draft.attachments) else draft.attachments
        return build_message(
            settings, to=draft.to, subject=rendered.subject, text=rendered.text, html=rendered.html,
            attachments=attachments, language=rendered.language,
        )

    def _served(self, settings: Settings) -> ServedLanguage:
        return lambda requested: self.language(requested, settings)
