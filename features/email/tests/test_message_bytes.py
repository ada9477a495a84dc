"""The sender's serializer gives byte for byte what the stdlib gives, whatever the headers hold."""

import pytest

from features.email.rendering import RenderedMail, campaign_message, message_bytes
from shared.config import Settings

SUBJECTS = [
    "Plain news",
    "Neues für Sie: Überblick",  # non-ASCII: an encoded word
    "A subject long enough that the stdlib has to fold it over more than one line of the header, " * 2,
    "  leading and trailing spaces  ",
    "Tabs\tinside",
    "=?utf-8?q?looks_encoded?=",
]


@pytest.mark.parametrize("subject", SUBJECTS)
def test_message_bytes_is_what_as_bytes_gives(subject):
    settings = Settings(_env_file=None, environment="test")
    rendered = RenderedMail(language="de", subject=subject, html="<p>Hallo Jürgen</p>", text="Hallo Jürgen\n")
    message = campaign_message(
        settings, to="jürgen@bücher.example", rendered=rendered,
        unsubscribe_url="https://example.com/api/v1/public/email/unsubscribe/" + "x" * 120, campaign_id=7, test=True,
    )
    fast = message_bytes(message)  # first: as_bytes reuses the boundary this sets
    assert fast == message.as_bytes()
