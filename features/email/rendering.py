"""Campaign templates: checked when saved, compiled once, rendered per contact in its language,
and made into the one kind of message every send path uses (real sends and test sends alike).

Templates are Jinja2 in the kernel's bounded sandbox (shared/templating.py). The variables are
`contact` (first_name, last_name, email, company), `campaign` (name) and `unsubscribe_url`.
"""

from __future__ import annotations

import html
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from typing import Any

from inscriptis import get_text
from inscriptis.model.config import ParserConfig
from jinja2 import DictLoader, TemplateError, TemplateSyntaxError, meta, nodes

from shared.config import Settings
from shared.errors import ValidationFailed
from shared.mail import build_message
from shared.templating import refused_construct, template_environment

# What a template may name: the top-level variables, and the attributes of the two objects.
VARIABLES: Mapping[str, frozenset[str] | None] = {
    "contact": frozenset({"first_name", "last_name", "email", "company"}),
    "campaign": frozenset({"name"}),
    "unsubscribe_url": None,
}
SAMPLE: Mapping[str, Any] = {
    "contact": {
        "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "company": "Analytical Engines",
    },
    "campaign": {"name": "Sample campaign"},
    "unsubscribe_url": "https://example.com/unsubscribe/sample",
}
PARTS = {"subject": "txt", "html_body": "html", "text_body": "txt"}
TEST_SUBJECT_PREFIX = "[Test] "
_TEXT_CONFIG = ParserConfig(display_links=True)


@dataclass(frozen=True)
class RenderedMail:
    language: str
    subject: str
    html: str
    text: str


def html_to_text(markup: str) -> str:
    """The plain-text alternative of an HTML mail: paragraphs kept, links shown as [text](url)."""
    return get_text(markup, _TEXT_CONFIG).strip() + "\n"


# --- checking what staff save -------------------------------------------------------------------


def _described(part: str, language: str, line: int | None, message: str) -> str:
    where = f"line {line}: " if line else ""
    return f"{part}.{language}: {where}{message}"


def _refusal(part: str, language: str, line: int | None, message: str) -> ValidationFailed:
    return ValidationFailed(_described(part, language, line, message), field=f"{part}.{language}")


def _unknown_names(source: nodes.Template) -> Iterator[tuple[str, int]]:
    undeclared = meta.find_undeclared_variables(source)
    for name in source.find_all(nodes.Name):
        if name.ctx == "load" and name.name in undeclared and name.name not in VARIABLES:
            yield f"unknown variable '{name.name}'", name.lineno
    for access in source.find_all(nodes.Getattr):
        target = access.node
        allowed = VARIABLES.get(target.name) if isinstance(target, nodes.Name) else None
        if allowed is not None and access.attr not in allowed:
            known = ", ".join(sorted(allowed))
            yield f"'{target.name}' has no attribute '{access.attr}' (it has {known})", access.lineno


def _line_of(exc: BaseException) -> int | None:
    # Jinja rewrites tracebacks so that a template's frames carry its line numbers; templates
    # from a DictLoader have no file, so their frames are named "<template>".
    line, trace = None, exc.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == "<template>":
            line = trace.tb_lineno
        trace = trace.tb_next
    return line


# What parsing or rendering a template may raise: a syntax error (also an unknown filter or
# test), a sandbox refusal, an undefined name, a bad operation, or a few thousand nested brackets.
RENDER_ERRORS = (TemplateError, ArithmeticError, TypeError, ValueError, LookupError, RecursionError)


class RenderFailed(Exception):
    """A template part that does not parse or render with the values given (a contact's own, or
    a preview's data, which the check on save did not try)."""

    def __init__(self, name: str, exc: BaseException) -> None:
        self.language, self.part, _ = name.split(".")
        if isinstance(exc, TemplateSyntaxError):
            self.line, self.reason = exc.lineno, exc.message or "syntax error"
        elif isinstance(exc, RecursionError):
            self.line, self.reason = None, "nested too deeply"
        else:
            self.line, self.reason = _line_of(exc), str(exc)[:300] or type(exc).__name__
        super().__init__(_described(self.part, self.language, self.line, self.reason))

    def refusal(self) -> ValidationFailed:
        """The 422 naming the part, language and line."""
        return _refusal(self.part, self.language, self.line, self.reason)


def check_template(
    *, subject: Mapping[str, str], html_body: Mapping[str, str], text_body: Mapping[str, str] | None
) -> None:
    """Refuses (422, naming the part, language and line) a template that does not parse, uses a
    construct mails may not, names an unknown variable, or fails to render with sample data."""
    sources = _sources(subject, html_body, text_body or {})
    environment = template_environment(DictLoader(sources))
    for name, source in sources.items():
        language, part, _ = name.split(".")
        try:
            parsed = environment.parse(source, name=name)
            problem = refused_construct(parsed) or next(_unknown_names(parsed), None)
            if problem is None:
                environment.get_template(name).render(SAMPLE)
        except RENDER_ERRORS as exc:
            raise RenderFailed(name, exc).refusal() from None
        if problem is not None:
            raise _refusal(part, language, problem[1], problem[0])


def _sources(
    subject: Mapping[str, str], html_body: Mapping[str, str], text_body: Mapping[str, str]
) -> dict[str, str]:
    sources: dict[str, str] = {}
    for part, texts in (("subject", subject), ("html_body", html_body), ("text_body", text_body)):
        for language, source in texts.items():
            sources[f"{language}.{part}.{PARTS[part]}"] = source
    return sources


# --- compiled templates ------------------------------------------------------------------------

_JINJA_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


def derived_text_source(html_source: str) -> str | None:
    """A text template derived once from an HTML template, or None when that cannot be done.

    Converting each rendered message instead costs about 0.8 ms of CPU per 2 KB message, more
    than the rest of sending it; this buys the campaign benchmark its ratio. Jinja tags are
    swapped for inert markers, the HTML is converted, and the tags are put back; if a tag was
    lost on the way (one inside an attribute the text drops), the caller converts per message.
    Every other brace is text: `&#123;&#123; x &#125;&#125;` shows braces in the HTML, and the
    text must show them too, not run them as a template no check on save has seen.
    """
    tags: list[str] = []

    def marker(found: re.Match[str]) -> str:
        tags.append(found.group())
        return f"JINJATAG{len(tags) - 1}X"

    text = html_to_text(_JINJA_TAG.sub(marker, html_source)).replace("{", "{{ '{' }}")
    restored = re.sub(r"JINJATAG(\d+)X", lambda found: tags[int(found.group(1))], text)
    return restored if all(tag in restored for tag in tags) and restored.count("JINJATAG") == 0 else None


class CompiledTemplate:
    """One template's parts compiled for every language it has."""

    def __init__(self, *, subject: Mapping[str, str], html_body: Mapping[str, str],
                 text_body: Mapping[str, str] | None) -> None:
        text = dict(text_body or {})
        self._convert_per_message: set[str] = set()
        for language, source in html_body.items():
            if language not in text:
                derived = derived_text_source(source)
                if derived is None:
                    self._convert_per_message.add(language)
                else:
                    text[language] = derived
        self._environment = template_environment(DictLoader(_sources(subject, html_body, text)))
        self.languages = frozenset(html_body)
        self._text_languages = frozenset(text)

    def language_for(self, requested: str | None, settings: Settings) -> str:
        """The contact's language when the template has it, else the default language."""
        if requested in self.languages and requested in settings.supported_languages:
            return requested
        return settings.default_language if settings.default_language in self.languages else min(self.languages)

    def render(self, language: str, values: Mapping[str, Any]) -> RenderedMail:
        """The mail in `language`; RenderFailed when a part does not render with these values."""
        markup = self._render(f"{language}.html_body.html", values)
        if language in self._text_languages:
            text = self._render(f"{language}.text_body.txt", values)
        else:
            text = html_to_text(markup)
        subject = self._render(f"{language}.subject.txt", values)
        return RenderedMail(language=language, subject=subject, html=markup, text=text)

    def _render(self, name: str, values: Mapping[str, Any]) -> str:
        try:
            return self._environment.get_template(name).render(values)
        except RENDER_ERRORS as exc:
            raise RenderFailed(name, exc) from exc


_COMPILED: OrderedDict[tuple[int, datetime], CompiledTemplate] = OrderedDict()
_COMPILED_LIMIT = 64


def compiled_template(template: Any) -> CompiledTemplate:
    """The compiled form of a stored template, kept while its row does not change."""
    key = (template.id, template.updated_at)
    found = _COMPILED.get(key)
    if found is None:
        found = CompiledTemplate(subject=template.subject, html_body=template.html_body, text_body=template.text_body)
        _COMPILED[key] = found
        if len(_COMPILED) > _COMPILED_LIMIT:
            _COMPILED.popitem(last=False)
    else:
        _COMPILED.move_to_end(key)
    return found


def template_values(
    *, contact: Mapping[str, Any], campaign_name: str, unsubscribe_url: str
) -> dict[str, Any]:
    """The variables of one message; a missing name renders as nothing, never as "None"."""
    person = {name: contact.get(name) or "" for name in VARIABLES["contact"] or ()}
    return {"contact": person, "campaign": {"name": campaign_name}, "unsubscribe_url": unsubscribe_url}


# --- the message -------------------------------------------------------------------------------

_HREF = re.compile(r'href="(https?://[^"]+)"', re.IGNORECASE)


def track_links(markup: str, tracked: Callable[[str], str], *, keep: str) -> str:
    """Every http(s) link but `keep` (the unsubscribe link) pointed through `tracked`."""

    def swap(found: re.Match[str]) -> str:
        target = html.unescape(found.group(1))
        if target == keep:
            return found.group()
        return f'href="{html.escape(tracked(target))}"'

    return _HREF.sub(swap, markup)


def with_open_pixel(markup: str, pixel_url: str) -> str:
    pixel = f'<img src="{html.escape(pixel_url)}" width="1" height="1" alt="" style="display:none">'
    closing = markup.lower().rfind("</body>")
    return markup + pixel if closing < 0 else markup[:closing] + pixel + markup[closing:]


def campaign_message(
    settings: Settings, *, to: str, rendered: RenderedMail, unsubscribe_url: str, campaign_id: int,
    test: bool = False,
) -> Message:
    """A campaign mail with the headers every send path carries: List-Unsubscribe (the link and a
    mailto) and RFC 8058's one-click List-Unsubscribe-Post; a test send says so in two places."""
    subject = TEST_SUBJECT_PREFIX + rendered.subject if test else rendered.subject
    message = build_message(
        settings, to=to, subject=subject, text=rendered.text, html=rendered.html, language=rendered.language
    )
    message["List-Unsubscribe"] = f"<{unsubscribe_url}>, <mailto:{settings.smtp_from_email}?subject=unsubscribe>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Precedence"] = "bulk"
    message["X-Magnetiq-Campaign"] = str(campaign_id)
    if test:
        message["X-Magnetiq-Test"] = "true"
    return message


__all__ = [
    "SAMPLE", "CompiledTemplate", "RenderFailed", "RenderedMail", "campaign_message", "check_template",
    "compiled_template", "derived_text_source", "html_to_text", "template_values", "track_links",
    "with_open_pixel",
]
