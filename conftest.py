"""Fixtures for every test: a database file per test (a copy of one built once), the app, a client, users, SMTP."""

from __future__ import annotations

import gc
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from magnetiq.app import create_app
from magnetiq.registry import metadata
from shared.config import Settings
from shared.db import sqlite_file_path
from shared.permissions import Role
from tests import engines
from tests.factories import build_schema, free_port, make_user, mint_headers, release_framework_caches


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


@pytest.fixture(autouse=True)
def _free_the_apps_of_each_test() -> Iterator[None]:
    """Without it every app a test builds stays in memory (tests/test_harness.py)."""
    yield
    release_framework_caches()


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
def database_url(tmp_path: Path, schema_template: Path | str) -> Iterator[str]:
    """This test's database: a file on SQLite (the app fixture copies the template into it), a clone of
    the template database on PostgreSQL, dropped after the test."""
    if not engines.ON_POSTGRES:
        yield f"sqlite+aiosqlite:///{tmp_path / 'magnetiq.db'}"
        return
    name = engines.clone(str(schema_template))
    try:
        yield engines.database_url(name)
    finally:
        engines.drop(name)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        _env_file=None,
        environment="test",
        database_url=database_url,
        upload_dir=str(tmp_path / "media"),
        worker_enabled=False,
        smtp_host="127.0.0.1",
        smtp_port=free_port(),  # nothing listens unless a test starts smtp_server on it
        email_send_rate=1000,
    )


@pytest.fixture(scope="session")
def schema_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path | str]:
    """A database at head, built once per test process; every test's database starts as a copy of it
    (a file on SQLite, a template database's name on PostgreSQL)."""
    assert metadata is SQLModel.metadata
    if engines.ON_POSTGRES:
        name = engines.create_template(build_schema)
        yield name
        engines.drop(name)
        return
    path = tmp_path_factory.mktemp("schema") / "template.db"
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        build_schema(connection)
    engine.dispose()
    yield path


@pytest.fixture
async def app(settings: Settings, schema_template: Path | str) -> AsyncIterator[FastAPI]:
    database = sqlite_file_path(settings.database_url)
    if database is not None:
        shutil.copyfile(schema_template, database)  # a file copy: far cheaper than building the schema
    application = create_app(settings)
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


@pytest.fixture
async def admin(app: FastAPI):
    return await make_user(app, email="admin@example.com", role=Role.ADMIN)


# Staff tokens are minted, not logged in for: only tests about logging in pay for a login.
@pytest.fixture
async def admin_headers(app: FastAPI, admin) -> dict[str, str]:
    return await mint_headers(app, admin)


@pytest.fixture
async def editor_headers(app: FastAPI) -> dict[str, str]:
    return await mint_headers(app, await make_user(app, email="editor@example.com", role=Role.EDITOR))


@pytest.fixture
async def viewer_headers(app: FastAPI) -> dict[str, str]:
    return await mint_headers(app, await make_user(app, email="viewer@example.com", role=Role.VIEWER))


@pytest.fixture
def leads(app: FastAPI) -> list:
    """Every LeadCaptured event published on the app's bus."""
    from shared.events import LeadCaptured

    captured: list[LeadCaptured] = []

    async def record(event: LeadCaptured, _session: AsyncSession, _settings: Settings) -> None:
        captured.append(event)

    app.state.events.subscribe(LeadCaptured, record)
    return captured


@pytest.fixture
def strong_password_hashing(app: FastAPI) -> Iterator[None]:
    """The parameters every environment but `test` uses, for tests about them."""
    from shared.security import use_password_hashing_for

    use_password_hashing_for("production")
    yield
    use_password_hashing_for("test")


def pytest_collection_finish(session: pytest.Session) -> None:
    """What is alive once the tests are collected (modules, the contract test's schema) lives to the end:
    the garbage collector stops walking it, and runs a tenth as often (pydantic makes objects by the million)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(7000, 10, 10)


# --- engines: markers, known failures, what ran where -------------------------------------------------

_deselected_by_marker: dict[str, int] = {}


def pytest_configure(config: pytest.Config) -> None:
    for engine, marker in engines.MARKERS.items():
        config.addinivalue_line("markers", f"{marker}: runs on {engine} only (deselected, and counted, elsewhere)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    other_markers = [marker for engine, marker in engines.MARKERS.items() if engine != engines.ENGINE]
    kept, dropped = [], []
    for item in items:
        (dropped if any(item.get_closest_marker(m) for m in other_markers) else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
    for marker in other_markers:
        _deselected_by_marker[marker] = sum(1 for item in dropped if item.get_closest_marker(marker))
    if engines.ON_POSTGRES:
        known = engines.known_postgres_failures()
        reason = "known to fail on PostgreSQL (tests/postgres_known_failures.txt)"
        for item in items:
            if item.nodeid in known:
                item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller prints the summary
        workeroutput["deselected_by_marker"] = dict(_deselected_by_marker)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    # Every xdist worker collects the whole suite, so any one of them knows what the markers dropped.
    _deselected_by_marker.update(getattr(node, "workeroutput", {}).get("deselected_by_marker", {}))


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    stats = terminalreporter.stats
    ran = len({r.nodeid for key in ("passed", "failed", "error", "xfailed", "xpassed") for r in stats.get(key, [])
               if hasattr(r, "nodeid")})
    skipped = len(stats.get("skipped", []))
    dropped = ", ".join(f"{count} by @{marker}" for marker, count in _deselected_by_marker.items()) or "none"
    terminalreporter.write_line(
        f"engine {engines.ENGINE}: {ran} tests ran, {skipped} skipped, deselected {dropped}"
    )
