"""Fixtures for every test: a fresh file database per test, the app, an HTTP client, users, SMTP."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from features.auth.api import UserCreate, create_user
from magnetiq.app import create_app
from magnetiq.registry import metadata
from shared.config import Settings
from shared.permissions import Role
from shared.schema import stamp_head

TEST_PASSWORD = "correct-horse-battery-staple"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class MailRecorder:
    """An aiosmtpd handler that keeps every message it receives."""

    messages: list[EmailMessage] = field(default_factory=list)
    sessions: int = 0  # SMTP sessions opened (each greets with EHLO once)
    refused: set[str] = field(default_factory=set)  # recipients answered with 550, as a real server may

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if address in self.refused:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_EHLO(self, server, session, envelope, hostname, responses) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server, session, envelope) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture
def smtp_server() -> Iterator[tuple[MailRecorder, int]]:
    recorder = MailRecorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


@pytest.fixture
def mailbox(app: FastAPI, smtp_server: tuple[MailRecorder, int]) -> MailRecorder:
    """A real SMTP server on loopback that the app's mail goes to."""
    recorder, port = smtp_server
    app.state.settings.smtp_port = port
    return recorder


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        environment="test",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'magnetiq.db'}",
        upload_dir=str(tmp_path / "media"),
        worker_enabled=False,
        smtp_host="127.0.0.1",
        smtp_port=free_port(),  # nothing listens unless a test starts smtp_server on it
        email_send_rate=1000,
    )


async def create_schema(app: FastAPI) -> None:
    async with app.state.db.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        await connection.run_sync(stamp_head)  # at head, as `magnetiq db upgrade` leaves it: /health checks


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    assert metadata is SQLModel.metadata
    application = create_app(settings)
    await create_schema(application)
    yield application
    await application.state.db.dispose()


@pytest.fixture
def app_factory():
    """create_app, for tests that need a second app instance (another worker process, say)."""
    return create_app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def session(app: FastAPI) -> AsyncIterator[AsyncSession]:
    async with app.state.db.session() as db_session:
        yield db_session


async def make_user(app: FastAPI, *, email: str, role: Role = Role.VIEWER, password: str = TEST_PASSWORD):
    async with app.state.db.session() as db_session:
        return await create_user(
            db_session, UserCreate(email=email, password=password, first_name="Test", last_name=role.value, role=role)
        )


async def login_headers(client: AsyncClient, email: str, password: str = TEST_PASSWORD) -> dict[str, str]:
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
async def admin(app: FastAPI):
    return await make_user(app, email="admin@example.com", role=Role.ADMIN)


@pytest.fixture
async def admin_headers(client: AsyncClient, admin) -> dict[str, str]:
    return await login_headers(client, admin.email)


@pytest.fixture
async def editor_headers(app: FastAPI, client: AsyncClient) -> dict[str, str]:
    user = await make_user(app, email="editor@example.com", role=Role.EDITOR)
    return await login_headers(client, user.email)


@pytest.fixture
async def viewer_headers(app: FastAPI, client: AsyncClient) -> dict[str, str]:
    user = await make_user(app, email="viewer@example.com", role=Role.VIEWER)
    return await login_headers(client, user.email)


async def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.fixture
def leads(app: FastAPI) -> list:
    """Every LeadCaptured event published on the app's bus."""
    from shared.events import LeadCaptured

    captured: list[LeadCaptured] = []

    async def record(event: LeadCaptured, _session: AsyncSession) -> None:
        captured.append(event)

    app.state.events.subscribe(LeadCaptured, record)
    return captured
