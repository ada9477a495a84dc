"""The sender's serializers give byte for byte what the stdlib gives, whatever the headers and parts hold."""

import email

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from features.email.rendering import RenderedMail, campaign_message
from features.email.wire import message_bytes, message_mold
from shared.config import Settings

SETTINGS = Settings(_env_file=None, environment="test")
SUBJECTS = [
    "Plain news",
    "Neues für Sie: Überblick",  # non-ASCII: an encoded word
    "A subject long enough that the stdlib has to fold it over more than one line of the header, " * 2,
    "  leading and trailing spaces  ",
    "Tabs\tinside",
    "=?utf-8?q?looks_encoded?=",
    "Line\nbreak and \x07 bell",
]
UNSUBSCRIBE = "https://example.com/api/v1/public/email/unsubscribe/" + "x" * 120


@pytest.mark.parametrize("subject", SUBJECTS)
def test_message_bytes_is_what_as_bytes_gives(subject):
    rendered = RenderedMail(language="de", subject=subject, html="<p>Hallo Jürgen</p>", text="Hallo Jürgen\n")
    message = campaign_message(
        SETTINGS, to="jürgen@bücher.example", rendered=rendered, unsubscribe_url=UNSUBSCRIBE, campaign_id=7, test=True,
    )
    fast = message_bytes(message)  # first: as_bytes reuses the boundary this sets
    assert fast == message.as_bytes()


def _as_the_stdlib_makes_it(filled: bytes, *, to: str, rendered: RenderedMail, unsubscribe_url: str) -> bytes:
    """campaign_message's bytes for the same values, with the filled message's boundary, Date and Message-ID."""
    parsed = email.message_from_bytes(filled)
    message = campaign_message(SETTINGS, to=to, rendered=rendered, unsubscribe_url=unsubscribe_url, campaign_id=7)
    message.set_boundary(parsed.get_boundary())
    for name in ("Date", "Message-ID"):
        message.replace_header(name, parsed[name])
    return message.as_bytes()


@pytest.mark.parametrize("subject", SUBJECTS)
def test_a_filled_mold_is_what_the_stdlib_makes(subject):
    mold = message_mold(SETTINGS, language="de", campaign_id=7)
    for to in ("jürgen@bücher.example", "ada@example.com"):
        rendered = RenderedMail(language="de", subject=subject, html="<p>Hallo Jürgen</p>" * 40, text="Hallo\n" * 50)
        filled = mold.fill(to=to, rendered=rendered, unsubscribe_url=UNSUBSCRIBE)
        assert filled == _as_the_stdlib_makes_it(filled, to=to, rendered=rendered, unsubscribe_url=UNSUBSCRIBE)


def test_each_filled_message_has_its_own_identity():
    mold = message_mold(SETTINGS, language="en", campaign_id=7)
    rendered = RenderedMail(language="en", subject="News", html="<p>Hi</p>", text="Hi\n")
    first, second = (email.message_from_bytes(mold.fill(to="a@example.com", rendered=rendered, unsubscribe_url="u"))
                     for _ in range(2))
    assert first["Message-ID"] != second["Message-ID"]
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert first["Content-Language"] == "en"


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=300)


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subject=_TEXT, html=_TEXT, text=_TEXT, local=st.from_regex(r"[a-z0-9._-]{1,20}", fullmatch=True),
       link=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=200))
def test_a_filled_mold_is_what_the_stdlib_makes_for_any_values(subject, html, text, local, link):
    mold = message_mold(SETTINGS, language="en", campaign_id=7)
    rendered = RenderedMail(language="en", subject=subject, html=html, text=text)
    to = f"{local}@example.com"
    filled = mold.fill(to=to, rendered=rendered, unsubscribe_url=link)
    assert filled == _as_the_stdlib_makes_it(filled, to=to, rendered=rendered, unsubscribe_url=link)
