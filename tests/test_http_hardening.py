"""What an anonymous client can do to a real server over loopback: long request targets, huge bodies.

These are about HTTP and about one process's event loop and memory, so they run against a real
`magnetiq serve` process, and read its memory from /proc.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from alembic import command

from shared.migrations import alembic_config
from tests.factories import free_port, running_server

REGISTER = "/api/v1/business/webinars/1/register"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Server:
    base_url: str
    port: int
    pid: int

    def peak_memory_kib(self) -> int:
        """The process's high-water resident set (VmHWM): what it ever held, not what it holds now."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise AssertionError("no VmHWM in /proc status")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("hardening")
    database_url = f"sqlite+aiosqlite:///{tmp / 'hardening.db'}"
    command.upgrade(alembic_config(database_url), "head")
    port = free_port()
    env = os.environ | {
        "DATABASE_URL": database_url, "UPLOAD_DIR": str(tmp / "media"), "WORKER_ENABLED": "false",
        "ENVIRONMENT": "test", "MAX_REQUEST_BODY_BYTES": str(MIB),
    }
    serve = [str(Path(sys.executable).parent / "magnetiq"), "serve", "--port", str(port)]
    with running_server(serve, cwd=tmp, env=env) as process:
        yield Server(base_url=f"http://127.0.0.1:{port}", port=port, pid=process.pid)


def _error_code(response: httpx.Response) -> str:
    body = response.json()
    assert body["success"] is False
    return body["error"]["code"]


# --- request targets --------------------------------------------------------------------------


async def test_a_request_target_past_8_kib_is_a_414_in_the_envelope(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        response = await client.get("/api/v1/public/pages/" + "a" * 30_000)
        query = await client.get("/api/v1/business/webinars", params={"q": "b" * 9_000})
    assert response.status_code == 414 and _error_code(response) == "URI_TOO_LONG"
    assert query.status_code == 414 and _error_code(query) == "URI_TOO_LONG"


async def test_many_long_paths_do_not_stall_the_next_request(server: Server) -> None:
    """Logging a long path is linear work: 32 concurrent 8,000-character paths (just under the 414
    cut) used to block the event loop for seconds, and /health with it."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
        await client.get("/api/v1/health")  # the connection pool is warm
        long_paths = [client.get(f"/api/v1/nothing/{'x' * 8_000}{i}") for i in range(32)]
        started = time.monotonic()
        *answers, health = await asyncio.gather(*long_paths, client.get("/api/v1/health"))
        waited = time.monotonic() - started
    assert {response.status_code for response in answers} == {404}
    assert health.status_code == 200
    # Generous for two shared cores; the quadratic redaction took about 5 s here.
    assert waited < 2.5, f"/health answered after {waited:.1f} s"


def _raw_exchange(port: int, head: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(head)  # may be refused before it is all sent: the answer is already waiting
        response = b""
        while data := sock.recv(65536):
            response += data
    return response


def test_huge_headers_are_refused_with_431_and_memory_stays_flat(server: Server) -> None:
    before = server.peak_memory_kib()
    padding = b"".join(b"X-Padding-%d: %s\r\n" % (n, b"p" * MIB) for n in range(64))  # 64 MiB of headers
    raw = _raw_exchange(server.port, b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + padding + b"\r\n")
    assert raw.startswith(b"HTTP/1.1 431 "), raw[:200]
    assert json.loads(raw.partition(b"\r\n\r\n")[2])["error"]["code"] == "HEADERS_TOO_LARGE"
    grown_mib = (server.peak_memory_kib() - before) / 1024
    assert grown_mib < 20, f"the server's peak memory grew by {grown_mib:.0f} MiB"


def test_a_target_too_long_even_to_parse_is_a_414_in_the_envelope(server: Server) -> None:
    raw = _raw_exchange(server.port, b"GET /" + b"a" * (200 * 1024) + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 414 "), raw[:200]
    assert json.loads(raw.partition(b"\r\n\r\n")[2])["error"]["code"] == "URI_TOO_LONG"


# --- request bodies ---------------------------------------------------------------------------


def _send_chunked_until_answered(port: int, path: str, *, total: int, chunk: int = 64 * 1024) -> tuple[int, bytes]:
    """Streams a chunked JSON body of up to `total` bytes, stopping as soon as the server answers.

    Returns how many body bytes were sent and the raw response."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sent = 0
    try:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        sock.sendall(b'10\r\n{"first_name": "\r\n')  # a JSON string that never ends
        piece = f"{chunk:x}\r\n".encode() + b"a" * chunk + b"\r\n"
        while sent < total:
            if select.select([sock], [], [], 0)[0]:
                break  # the server has answered (or closed): stop sending
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += chunk
        response = b""
        while b"\r\n\r\n" not in response or len(response) < response.find(b"\r\n\r\n") + 4 + 20:
            data = sock.recv(65536)
            if not data:
                break
            response += data
        return sent, response
    finally:
        sock.close()


def test_a_huge_chunked_body_is_refused_while_it_is_read_and_memory_stays_flat(server: Server) -> None:
    before = server.peak_memory_kib()

    sent, raw = _send_chunked_until_answered(server.port, REGISTER, total=1024 * MIB)

    status_line, _, rest = raw.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413"), raw[:200]
    body = rest.partition(b"\r\n\r\n")[2]
    assert json.loads(body[: body.rindex(b"}") + 1])["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert sent < 256 * MIB, f"the server let {sent // MIB} MiB in before refusing"
    grown_mib = (server.peak_memory_kib() - before) / 1024
    assert grown_mib < 50, f"the server's peak memory grew by {grown_mib:.0f} MiB"


def test_a_declared_huge_body_is_refused_before_it_is_read(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(
            f"POST {REGISTER} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {1024 * MIB}\r\n\r\n{{".encode()
        )
        raw = b""
        while b"}}" not in raw:
            data = sock.recv(65536)
            if not data:
                break
            raw += data
    assert raw.startswith(b"HTTP/1.1 413"), raw[:200]
    assert b'"PAYLOAD_TOO_LARGE"' in raw and b"at most 1048576 bytes" in raw


def test_a_body_under_the_limit_still_reaches_validation(server: Server) -> None:
    response = httpx.post(f"{server.base_url}{REGISTER}", json={"first_name": "a" * (MIB // 2)})
    assert response.status_code in (404, 422), response.text  # no such webinar, or the body is not valid


# --- HEAD and methods -------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/health", "/api/v1/business/webinars", "/", "/api/v1/nothing-here"])
def test_head_answers_like_get_without_a_body(server: Server, path: str) -> None:
    get = httpx.get(f"{server.base_url}{path}")
    head = httpx.head(f"{server.base_url}{path}")
    assert head.status_code == get.status_code
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == get.headers["content-length"]
