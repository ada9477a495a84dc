"""`magnetiq mail-sink`: a development SMTP server that prints every message and keeps it as a .eml file."""

from __future__ import annotations

import asyncio
import errno
import signal
import sys
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TextIO

from aiosmtpd.smtp import SMTP, Envelope, Session

TEXT_LIMIT = 1500  # characters of the text part shown; the .eml file has all of it
TEXT_LINES = 25


class PortTaken(Exception):
    """Another program (a real mail catcher, or a second sink) listens there already."""


def text_part(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    if body is None:
        return "(no text part)"
    try:
        text = body.get_content().strip()
    except (LookupError, KeyError):  # an unknown charset: the file still has the bytes
        return "(text part not decodable)"
    lines = text.splitlines()
    shown = "\n".join(lines[:TEXT_LINES])[:TEXT_LIMIT]
    return shown + ("\n[...]" if shown != text else "")


class MailSink:
    """aiosmtpd handler: accepts every message, writes it to `directory`, prints a summary."""

    def __init__(self, directory: Path, out: TextIO = sys.stdout) -> None:
        self.directory = directory
        self.out = out
        self.received = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)  # decode_data=False
        now = datetime.now(UTC)
        self.received += 1
        path = self.directory / f"{now:%Y%m%d-%H%M%S-%f}-{self.received}.eml"
        await asyncio.to_thread(path.write_bytes, raw)
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        body = "\n".join(f"    {line}" for line in text_part(message).splitlines())
        print(
            f"--- mail received {now:%Y-%m-%d %H:%M:%S} UTC, saved as {path}\n"
            f"From:    {envelope.mail_from}\n"
            f"To:      {', '.join(envelope.rcpt_tos)}\n"
            f"Subject: {message['Subject'] or ''}\n"
            f"{body}\n",
            file=self.out, flush=True,
        )
        return "250 Message accepted for delivery"


async def serve_mail_sink(host: str, port: int, directory: Path) -> None:
    """Listen until SIGINT or SIGTERM; raises PortTaken when the address is in use."""
    loop = asyncio.get_running_loop()
    handler = MailSink(directory)

    def protocol() -> Any:
        # hostname given: aiosmtpd would otherwise look up this machine's FQDN, which may hang on DNS
        return SMTP(handler, hostname="magnetiq-mail-sink", enable_SMTPUTF8=True, loop=loop)

    try:
        server = await loop.create_server(protocol, host=host, port=port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortTaken(f"{host}:{port}") from exc
        raise
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"mail sink listening on {host}:{port}; messages are printed here and saved in {directory}", flush=True)
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()
        print(f"mail sink stopped ({handler.received} messages received)", flush=True)
