"""A campaign message as the bytes that go to the SMTP server.

message_bytes serializes any message as Message.as_bytes() would. MessageMold makes a campaign's
messages without building a Message each: the stdlib serializes one message per campaign and
language, with marks where a recipient's values go, and each recipient's message is that
serialization with the marks filled by the stdlib's own encoders (a header folded by the policy,
a part encoded by its charset). A test holds both to Message.as_bytes() byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from email.charset import Charset
from email.generator import BytesGenerator
from email.message import Message
from email.policy import Compat32
from io import BytesIO
from typing import Any

from features.email.rendering import RenderedMail, campaign_message
from shared.config import Settings
from shared.mail import ascii_address, message_identity, subject_header


class _Compat32Shortcut(Compat32):
    """compat32 (the policy the messages are built with), with a shortcut for every header that
    fits on its line as it is: printable ASCII, no surrogates, nothing to trim, short enough.
    compat32 passes those through email.header.Header unchanged, at about 25 us each."""

    def _fold(self, name: str, value: Any, sanitize: bool) -> str:
        if (
            isinstance(value, str) and value and value.isascii() and value.isprintable() and value.strip() == value
            and len(name) + 2 + len(value) <= (self.max_line_length or 1_000_000)
        ):
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)


_SHORTCUT = _Compat32Shortcut()


class _Generator(BytesGenerator):
    @classmethod
    def _make_boundary(cls, text: bytes | None = None) -> str:
        # The stdlib compiles a regular expression per message to check that its random boundary
        # does not start a line of the parts; a boundary found anywhere in them is drawn again.
        while True:
            boundary = super()._make_boundary()
            if text is None or f"--{boundary}".encode("ascii") not in text:
                return boundary


def message_bytes(message: Message) -> bytes:
    """What message.as_bytes() returns, in about half the time (18 headers per campaign mail):
    about 0.2 ms of CPU per message, which buys the campaign benchmark its ratio."""
    buffer = BytesIO()
    _Generator(buffer, mangle_from_=False, policy=_SHORTCUT).flatten(message)
    return buffer.getvalue()


# Marks where a recipient's values go: printable ASCII that no header fold or encoding alters.
_TO, _SUBJECT, _UNSUBSCRIBE = "MagnetiqMoldTo", "MagnetiqMoldSubject", "MagnetiqMoldUnsubscribe"
_PARTS = {"plain": b"MagnetiqMoldPlainPart", "html": b"MagnetiqMoldHtmlPart"}
_UTF8 = Charset("utf-8")  # what MIMEText(..., "utf-8") encodes its parts with: base64, 76 characters a line

# How each header that holds a mark takes its value, as build_message and campaign_message give it.
_HEADER_VALUES: dict[str, Callable[[str, dict[str, str]], Any]] = {
    "To": lambda template, values: ascii_address(template.replace(_TO, values["to"])),
    "Subject": lambda template, values: subject_header(template.replace(_SUBJECT, values["subject"])),
    "List-Unsubscribe": lambda template, values: template.replace(_UNSUBSCRIBE, values["unsubscribe_url"]),
}


def _encoded(part: str) -> bytes:
    return _UTF8.body_encode(part.encode("utf-8")).encode("ascii") if part else b""


@dataclass(frozen=True)
class MessageMold:
    """One campaign's messages in one language, filled per recipient (see the module's docstring).

    Building a Message per recipient and serializing it took about half of the sender's CPU per
    message; filling a mold takes a tenth of that, and buys the campaign benchmark its ratio."""

    # Each header: its folded bytes, or (name, the value with marks) to fold per message.
    headers: tuple[bytes | tuple[str, Any], ...]
    body: tuple[bytes, ...]  # the body between the marks of the parts, in order
    parts: tuple[str, ...]  # which part ("plain" or "html") goes between body[i] and body[i + 1]
    identity: Callable[[], dict[str, str]]

    def fill(self, *, to: str, rendered: RenderedMail, unsubscribe_url: str) -> bytes:
        values = {"to": to, "subject": rendered.subject, "unsubscribe_url": unsubscribe_url}
        fresh = self.identity()
        chunks: list[bytes] = []
        for header in self.headers:
            if isinstance(header, bytes):
                chunks.append(header)
                continue
            name, template = header
            value = fresh[name] if name in fresh else _HEADER_VALUES[name](template, values)
            chunks.append(_SHORTCUT.fold_binary(name, value))
        chunks.append(b"\n")
        texts = {"plain": rendered.text, "html": rendered.html}
        chunks.append(self.body[0])
        for part, following in zip(self.parts, self.body[1:], strict=True):
            chunks.append(_encoded(texts[part]))
            chunks.append(following)
        return b"".join(chunks)


def message_mold(settings: Settings, *, language: str, campaign_id: int) -> MessageMold:
    """The mold of campaign_message's messages for `campaign_id` in `language`."""
    marked = RenderedMail(language=language, subject=_SUBJECT, html="-", text="-")
    message = campaign_message(settings, to=_TO, rendered=marked, unsubscribe_url=_UNSUBSCRIBE, campaign_id=campaign_id)
    order: list[str] = []
    for part in message.walk():
        if not part.is_multipart():
            subtype = part.get_content_subtype()
            part.set_payload(_PARTS[subtype].decode("ascii"))  # no charset: the mark is written as it is
            order.append(subtype)
    serialized = message_bytes(message)  # sets the boundary, which the mold then keeps for every message
    body = serialized.split(b"\n\n", 1)[1]
    pieces: list[bytes] = [body]
    for subtype in order:
        before, after = pieces[-1].split(_PARTS[subtype], 1)
        pieces[-1:] = [before, after]
    identity = message_identity(settings)
    headers: list[bytes | tuple[str, Any]] = []
    for name, value in message.raw_items():
        if name in identity or (isinstance(value, str) and name in _HEADER_VALUES):
            headers.append((name, value))
        else:
            headers.append(_SHORTCUT.fold_binary(name, value))
    return MessageMold(headers=tuple(headers), body=tuple(pieces), parts=tuple(order),
                       identity=lambda: message_identity(settings))


__all__ = ["MessageMold", "message_bytes", "message_mold"]
