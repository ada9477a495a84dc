"""Named mail templates: one language rule, one header cleaner, strict rendering at delivery."""

from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError
from sqlmodel import select

from shared.calendar import invite_uid
from shared.config import Settings
from shared.mail import Mailer, OutgoingMail, deliver_due_mail, header_text
from shared.mail_templates import Draft, MailTemplate, mail_language


class Greeting(BaseModel):
    name: str
    language: str | None = None


def _texts(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


GREETING_TEXTS = {
    "greeting.en.txt": "{% block subject %}Hello {{ name }}{% endblock %}\n{% block text %}\nHi {{ name }}.\n{% endblock %}\n",
    "greeting.de.txt": "{% block subject %}Hallo {{ name }}{% endblock %}\n{% block text %}\nHallo {{ name }}.\n{% endblock %}\n",
    "farewell.en.txt": "{% block subject %}Bye{% endblock %}{% block text %}Bye {{ name }}, {{ nobody }}{% endblock %}",
}


async def _load(session, settings, params: Greeting, served) -> Draft:
    return Draft(to="ann@example.com", language=served(params.language), values=params.model_dump())


def _template(folder: Path, name: str = "test.greeting") -> MailTemplate[Greeting]:
    return MailTemplate(name=name, folder=_texts(folder, GREETING_TEXTS), params=Greeting, load=_load)


async def _deliver(app, template: MailTemplate, *params: Greeting) -> dict[str, OutgoingMail]:
    async with app.state.db.session() as session:
        for item in params:
            await template.queue(session, recipient="ann@example.com", params=item)
    await deliver_due_mail(app.state.db, Mailer(app.state.settings, {template.name: template}))
    async with app.state.db.session(write=False) as session:
        return {row.id: row for row in (await session.exec(select(OutgoingMail))).all()}


def test_the_visitors_language_then_the_default_language_of_supported_languages():
    settings = Settings(_env_file=None, supported_languages=["de", "en", "fr"])
    written = frozenset({"en", "de"})
    assert mail_language("en", written, settings) == "en"  # supported and written
    assert mail_language("it", written, settings) == "de"  # unsupported: the default (the first), not English
    assert mail_language("fr", written, settings) == "de"  # supported, not written: the default
    assert mail_language(None, written, settings) == "de"
    with pytest.raises(LookupError):
        mail_language("fr", frozenset({"en"}), settings)  # no text in the default language is an error


async def test_a_german_visitor_gets_german_and_an_unsupported_language_the_default(app, mailbox, tmp_path):
    template = _template(tmp_path / "mail_texts")
    await _deliver(app, template, Greeting(name="Ada", language="de"), Greeting(name="Bob", language="fr"))
    german, default = mailbox.to("ann@example.com")
    assert german["Subject"] == "Hallo Ada" and german["Content-Language"] == "de"
    assert german.get_body(preferencelist=("plain",)).get_content() == "Hallo Ada.\n"
    assert default["Subject"] == "Hello Bob" and default["Content-Language"] == "en"


async def test_a_missing_translation_falls_back_to_the_default_language(app, mailbox, tmp_path):
    folder = _texts(tmp_path / "only_en", {"greeting.en.txt": GREETING_TEXTS["greeting.en.txt"]})
    template = MailTemplate(name="test.greeting", folder=folder, params=Greeting, load=_load)
    assert template.languages == {"en"}
    await _deliver(app, template, Greeting(name="Ada", language="de"))  # de is supported, but not written
    [message] = mailbox.to("ann@example.com")
    assert message["Subject"] == "Hello Ada" and message["Content-Language"] == "en"


async def test_a_line_break_in_a_value_cannot_add_a_header(app, mailbox, tmp_path):
    template = _template(tmp_path / "mail_texts")
    await _deliver(app, template, Greeting(name="Ada\r\nBcc: thief@example.com\n\nbody", language="en"))
    [message] = mailbox.to("ann@example.com")
    assert message["Bcc"] is None and message["Subject"] == "Hello Ada Bcc: thief@example.com body"
    assert mailbox.messages == [message]
    assert header_text("a\u0000b\u2028c\td " * 100).startswith("a b c d a b c d")
    assert len(header_text("x" * 1000)) == 250 and header_text("x" * 1000).endswith("\u2026")


async def test_an_unknown_variable_is_an_error_and_the_mail_is_retried_never_sent_blank(app, mailbox, tmp_path):
    template = MailTemplate(
        name="test.farewell", folder=_texts(tmp_path / "mail_texts", GREETING_TEXTS), params=Greeting, load=_load
    )
    [row] = (await _deliver(app, template, Greeting(name="Ada"))).values()
    assert row.status == "pending" and row.attempts == 1 and row.last_error.startswith("UndefinedError")
    assert mailbox.messages == []


async def test_parameters_are_validated_when_queued_and_when_rendered(app, mailbox, tmp_path):
    template = _template(tmp_path / "mail_texts")
    with pytest.raises(ValidationError):
        Greeting(name=None)
    from shared.mail import queue_template

    async with app.state.db.session() as session:  # a row stored by older code, say, with the wrong shape
        await queue_template(session, template=template.name, recipient="ann@example.com", params={"nom": "Ada"})
    [row] = (await _deliver(app, template)).values()
    assert row.status == "pending" and row.last_error.startswith("ValidationError") and mailbox.messages == []


def test_every_invite_takes_its_domain_from_smtp_from_email():
    settings = Settings(_env_file=None, smtp_from_email="events@example.org", public_base_url="https://api.example.net")
    assert invite_uid("webinar", 7, settings) == "webinar-7@example.org"
    assert invite_uid("booking", 7, settings) == "booking-7@example.org"


def test_a_default_language_no_mail_is_written_in_is_refused_at_start(tmp_path):
    """Every mail falls back to the first of SUPPORTED_LANGUAGES: without its texts no mail could go out."""
    from magnetiq.app import create_app

    settings = Settings(
        _env_file=None, environment="test", supported_languages=["fr", "en"], worker_enabled=False,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
    )
    with pytest.raises(RuntimeError, match=r"SUPPORTED_LANGUAGES starts with 'fr'.*webinars\.confirmation"):
        create_app(settings)


async def test_many_mails_are_queued_in_one_statement_and_each_rendered_when_sent(app, mailbox, tmp_path):
    template = _template(tmp_path / "mail_texts")
    async with app.state.db.session() as session:
        await template.queue_many(session, messages=[])  # nothing to queue: nothing written
        await template.queue_many(
            session, messages=[("ann@example.com", Greeting(name="Ada", language="de")), ("bob@bücher.example", Greeting(name="Bob"))]
        )
        rows = (await session.exec(select(OutgoingMail).order_by(OutgoingMail.id))).all()
    assert [(r.recipient, r.template, r.params, r.status) for r in rows] == [
        ("ann@example.com", "test.greeting", {"name": "Ada", "language": "de"}, "pending"),
        ("bob@xn--bcher-kva.example", "test.greeting", {"name": "Bob", "language": None}, "pending"),
    ]
    assert await deliver_due_mail(app.state.db, Mailer(app.state.settings, {template.name: template})) == 2
    assert sorted(m["Subject"] for m in mailbox.to("ann@example.com")) == ["Hallo Ada", "Hello Bob"]  # _load's address
