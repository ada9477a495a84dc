"""uvicorn's httptools protocol with a bound on the request head, which uvicorn leaves unbounded.

httptools hands uvicorn a request's target and headers piece by piece and uvicorn keeps them
all: one request with a few hundred megabytes of headers is held in memory before the app
sees anything. Here the head stops at MAX_REQUEST_HEAD_BYTES and the client gets 414 (a target
that long) or 431 (headers that long) in the error envelope, and the connection closes.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shared.errors import error_body

# Far above the app's own 8 KiB request-target limit (shared/middleware.py) and above what
# browsers send (cookies included); far below what could hurt.
MAX_REQUEST_HEAD_BYTES = 64 * 1024
# After refusing, the rest of what the client sends is read and dropped this long before the
# connection closes: closing with unread data makes the kernel reset the connection, which can
# destroy the answer before the client has read it (a "lingering close", as nginx does).
LINGER_SECONDS = 2.0

_REFUSALS = {
    414: (b"URI Too Long", "URI_TOO_LONG", "The request's path and query are too long"),
    431: (b"Request Header Fields Too Large", "HEADERS_TOO_LARGE", "The request's headers are too large"),
}


class _HeadTooLarge(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """`magnetiq serve` runs uvicorn with this (`--http magnetiq.http:BoundedHttpToolsProtocol`)."""

    _head_bytes = 0
    _refused: int | None = None
    _discarding = False

    def data_received(self, data: bytes) -> None:
        if not self._discarding:
            super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._count(len(url), status=414)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value), status=431)
        super().on_header(name, value)

    def _count(self, size: int, *, status: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_REQUEST_HEAD_BYTES:
            self._refused = status
            raise _HeadTooLarge(status)  # httptools stops parsing; uvicorn answers through send_400_response

    def send_400_response(self, msg: str) -> None:
        if self._refused is None:
            super().send_400_response(msg)
            return
        reason, code, message = _REFUSALS[self._refused]
        body = json.dumps(error_body(code, message)).encode()
        head = [f"HTTP/1.1 {self._refused} ".encode() + reason + b"\r\n"]
        for name, value in self.server_state.default_headers:
            head.append(name + b": " + value + b"\r\n")
        head.append(b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        self.transport.write(b"".join(head) + body)
        self._discarding = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)
