"""The soak test's SMTP server, a process of its own so that it can be stopped and started again.

`python -m tests.soak.sink PORT LOG` accepts every message and appends one JSON line per message
to LOG (Message-ID, recipients, whether it is a campaign message), flushed before it answers 250:
what it acknowledged survives its own stop, and a message sent twice shows up twice.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

_headers = BytesHeaderParser()


class LoggingSink:
    def __init__(self, log: Any) -> None:
        self.log = log

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        headers = _headers.parsebytes(content if isinstance(content, bytes) else content.encode())
        record = {
            "message_id": headers.get("Message-ID", ""),
            "to": [address.lower() for address in envelope.rcpt_tos],
            # Campaign messages carry the unsubscribe headers; transactional mail does not.
            "campaign": headers.get("List-Unsubscribe-Post") is not None and headers.get("X-Magnetiq-Test") is None,
        }
        self.log.write(json.dumps(record) + "\n")
        self.log.flush()
        return "250 Message accepted for delivery"


async def serve(port: int, log_path: Path) -> None:
    loop = asyncio.get_running_loop()
    with log_path.open("a", encoding="utf-8") as log:
        handler = LoggingSink(log)
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="soak-sink", loop=loop), host="127.0.0.1", port=port
        )
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print("ready", flush=True)
        await stop.wait()
        server.close()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), Path(sys.argv[2])))
