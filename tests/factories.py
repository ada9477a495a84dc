"""What tests build, in one module: users, logins, the schema; and the two helpers tests share.

Fixtures in the root conftest.py use these; a test that needs one imports it from here.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI
from httpx import AsyncClient

from features.auth.api import UserCreate, UserStaffView, create_user
from features.auth.models import RefreshToken
from magnetiq.registry import metadata
from shared.db import utcnow
from shared.logging import JsonFormatter, configure_logging
from shared.migrations import stamp_head
from shared.permissions import Role
from shared.security import create_token
from tests.engines import stored_bytes, stored_bytes_after_erasure

TEST_PASSWORD = "correct-horse-battery-staple"


# Ports for servers tests start come from a block of this test process's own, below the kernel's
# ephemeral range (32768 and up, where bind(0) and outgoing connections take theirs): under xdist a
# port one worker picked (even one a test counts on nobody listening at) is never another worker's.
_PORTS_FROM, _PORTS_TO = 15000, 32500
_port_counter = itertools.count()


def _port_block() -> range:
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    size = min(1000, (_PORTS_TO - _PORTS_FROM) // max(workers, 1))
    start = _PORTS_FROM + index * size
    return range(start, start + size)


def free_port() -> int:
    """A loopback port nothing listens on, from this process's block, each call the next one."""
    block = _port_block()
    for _ in block:
        port = block[next(_port_counter) % len(block)]
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:  # taken, or still in TIME_WAIT: the next one
                continue
            return port
    raise RuntimeError(f"no free port in {block}")


async def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def release_framework_caches() -> None:
    """Empties FastAPI's process-wide caches of callables, as the harness does after every test.

    FastAPI classifies every endpoint and dependency once (`functools.lru_cache`s of 4,096 entries
    keyed by the callable). An app's callables include closures over the app (fastapi-offline's
    docs pages, say), so each cached entry keeps a whole app alive, with its routes and hundreds of
    pydantic adapters: 2 to 3 MiB per app, 1.7 GB over the suite. The caches only save work.
    """
    for name, module in list(sys.modules.items()):
        if module is not None and (name == "fastapi" or name.startswith("fastapi.")):
            for value in list(vars(module).values()):
                if callable(getattr(value, "cache_clear", None)) and hasattr(value, "cache_info"):
                    value.cache_clear()
    routing = sys.modules.get("fastapi.routing")
    if routing is not None and isinstance(getattr(routing, "_endpoint_context_cache", None), dict):
        routing._endpoint_context_cache.clear()  # keyed by id(): a dead app's ids are reused


def build_schema(connection) -> None:
    """Every table, at head, as `magnetiq db upgrade` leaves it (health checks the revision)."""
    metadata.create_all(connection)
    stamp_head(connection)


async def create_schema(app: FastAPI) -> None:
    async with app.state.db.engine.begin() as connection:
        await connection.run_sync(build_schema)


async def make_user(app: FastAPI, *, email: str, role: Role = Role.VIEWER, password: str = TEST_PASSWORD) -> UserStaffView:
    async with app.state.db.session() as db_session:
        return await create_user(
            db_session, data=UserCreate(email=email, password=password, first_name="Test", last_name=role.value, role=role)
        )


async def login_headers(client: AsyncClient, email: str, password: str = TEST_PASSWORD) -> dict[str, str]:
    """A login over HTTP, as a frontend does it: for tests about logging in."""
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def mint_headers(app: FastAPI, user: UserStaffView) -> dict[str, str]:
    """An access token for `user` as a login would issue it, without the login: a login of its own
    (a stored refresh token names its family, so logout and revocation work on it as usual)."""
    settings = app.state.settings
    family = uuid.uuid4().hex
    async with app.state.db.session() as session:
        session.add(RefreshToken(
            jti=uuid.uuid4().hex, user_id=user.id, family_id=family, expires_at=utcnow() + timedelta(days=1)
        ))
    access = create_token(
        subject=str(user.id), token_type="access", secret=settings.secret_key.get_secret_value(),
        ttl=timedelta(minutes=settings.access_token_expire_minutes), claims={"fam": family, "role": user.role},
    )
    return {"Authorization": f"Bearer {access.token}"}


@contextmanager
def running_server(command: list[str], *, cwd: Path, env: dict[str, str], deadline_seconds: float = 30) -> Iterator[
    subprocess.Popen
]:
    """A server process started with `command` (cwd: a test's own folder, so no developer's .env leaks
    in), once its /api/v1/health answers 200 at the `--port` in the command; stopped afterwards."""
    port = command[command.index("--port") + 1]
    log = cwd / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + deadline_seconds
        while True:
            if process.poll() is not None:
                raise AssertionError(f"the server exited with {process.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"no 200 from /api/v1/health within {deadline_seconds} s:\n{log.read_text()}")
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def job_context(app: FastAPI, clock=None):
    """The context a worker hands its jobs, for this app; `clock` moves "now" instead of sleeping."""
    from shared.jobs import JobContext

    extra = {"clock": clock} if clock is not None else {}
    return JobContext(database=app.state.db, settings=app.state.settings, mailer=app.state.mailer, **extra)


def assert_declared(app: FastAPI, response) -> None:
    """The status of this response is one its operation declares in /openapi.json (CONTRACT.md §4)."""
    import re

    request = response.request
    paths = app.openapi()["paths"]
    [template] = [t for t in paths if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", t), request.url.path)
                  and request.method.lower() in paths[t]]
    declared = paths[template][request.method.lower()]["responses"]
    assert str(response.status_code) in declared, (
        f"{request.method} {template} answers {response.status_code}, declares {sorted(declared)}"
    )


class LoopbackServer:
    """Serves an ASGI app (a provider's fake) on 127.0.0.1 with uvicorn, in the test's own event loop."""

    def __init__(self, app) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off", access_log=False,
            timeout_graceful_shutdown=1,
        ))
        self.task: asyncio.Task | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> LoopbackServer:
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                self.task.result()
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *_exc) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, timeout=5)


class KeptLogLines(logging.Handler):
    """Every log line as the app writes it to stderr (its JSON formatter), DEBUG and up."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@contextmanager
def debug_log_lines() -> Iterator[KeptLogLines]:
    """The app's logging as DEBUG=true sets it up (the most a log line could ever say), every line kept."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging(debug=True)
    kept = KeptLogLines()
    root.addHandler(kept)
    try:
        yield kept
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def database_bytes(settings) -> bytes:
    """Every byte the test's database holds, on either engine (tests/engines.py `stored_bytes`)."""
    return stored_bytes(settings.database_url)


def erased_database_bytes(settings) -> bytes:
    """What the test's database holds once deleted rows are reclaimed (`stored_bytes_after_erasure`)."""
    return stored_bytes_after_erasure(settings.database_url)


def png_bytes(width: int = 3, height: int = 2, color: tuple[int, int, int] = (200, 10, 10)) -> bytes:
    """A real PNG image (Pillow), as an upload or a provider's media would be."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def visitor(email: str = "grace@example.com", **overrides: object) -> dict:
    """A visitor's form (webinar registration, whitepaper download, booking): no marketing consent by
    default, since with it the email slice mails a double opt-in too (its own tests cover that)."""
    return {
        "first_name": "Grace", "last_name": "Hopper", "email": email, "company": "Navy", "consent_marketing": False,
        **overrides,
    }
