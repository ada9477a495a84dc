"""The campaign benchmark's SMTP server: accepts every message and drops it, counting.

Run as its own process (`python -m tests.benchmarks.counting_sink PORT COUNTS_FILE`), so that it
never shares an event loop with the sender it measures. Messages are counted by envelope sender
(each benchmark run sends from its own address) together with their distinct recipients; on
SIGTERM the counts are written to COUNTS_FILE as JSON: {mail_from: [messages, distinct recipients]}.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


class CountingSink:
    def __init__(self) -> None:
        self.messages: Counter[str] = Counter()
        self.recipients: defaultdict[str, set[str]] = defaultdict(set)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        sender = envelope.mail_from or ""
        self.messages[sender] += 1
        self.recipients[sender].update(envelope.rcpt_tos)
        return "250 Message accepted for delivery"


async def serve(port: int, counts_file: Path) -> None:
    loop = asyncio.get_running_loop()
    handler = CountingSink()

    def protocol() -> Any:
        return SMTP(handler, hostname="bench-sink", loop=loop)  # a hostname: no FQDN lookup

    server = await loop.create_server(protocol, host="127.0.0.1", port=port)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    server.close()
    counts = {sender: [count, len(handler.recipients[sender])] for sender, count in handler.messages.items()}
    counts_file.write_text(json.dumps(counts))


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), Path(sys.argv[2])))
