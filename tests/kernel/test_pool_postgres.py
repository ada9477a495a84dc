"""PostgreSQL connections running out, in the pool or at the server: 503 SERVICE_BUSY at once (or within the
pool timeout), never a hang and never a 500 (issue 13)."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from contextlib import AsyncExitStack

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from magnetiq.app import create_app

pytestmark = pytest.mark.postgres_only

POOL_TIMEOUT = 1.0
VISITOR = {"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com", "consent_marketing": False}


def _busy(response) -> bool:
    return (response.status_code == 503 and response.json()["error"]["code"] == "SERVICE_BUSY"
            and response.headers["retry-after"] == "1")


async def test_a_pool_whose_connections_are_all_held_answers_503_within_the_pool_timeout(settings):
    settings.database_pool_size, settings.database_max_overflow = 2, 1
    settings.database_pool_timeout_seconds = POOL_TIMEOUT
    app = create_app(settings)
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client, AsyncExitStack() as held:
            for _ in range(3):  # the pool's two connections and its one overflow
                connection = await held.enter_async_context(app.state.db.engine.connect())
                await connection.execute(text("SELECT 1"))
            answers = {}
            # A staff read, a public page (answered before routing) and a rate-limited public write, whose
            # limiter also asks the pool for a connection: each waits the pool timeout once, not twice.
            for path, method, body in (("/api/v1/business/webinars", "GET", None),
                                       ("/api/v1/public/pages/about-us", "GET", None),
                                       ("/api/v1/business/webinars/1/register", "POST", VISITOR)):
                started = time.monotonic()
                response = await asyncio.wait_for(client.request(method, path, json=body), timeout=10 * POOL_TIMEOUT)
                answers[path] = (response, time.monotonic() - started)
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
            after = await client.get("/api/v1/business/webinars")
    finally:
        await app.state.db.dispose()
    for path, (response, seconds) in answers.items():
        assert _busy(response), (path, response.status_code, response.text)
        assert POOL_TIMEOUT * 0.9 <= seconds < POOL_TIMEOUT * 1.8, (path, seconds)
    assert after.status_code == 200  # the connections given back serve again


async def test_a_server_that_refuses_connections_is_a_503_not_a_500(settings):
    """Every connection the server allows is taken by another client: PostgreSQL refuses the next (53300)."""
    import asyncpg

    role = f"limited_{uuid.uuid4().hex[:8]}"
    url = make_url(settings.database_url)
    admin = await asyncpg.connect(host=url.host, port=url.port, user=url.username, database=url.database)
    await admin.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 2")
    await admin.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
    await admin.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}")
    settings.database_url = url.set(username=role).render_as_string(hide_password=False)
    others = [await asyncpg.connect(host=url.host, port=url.port, user=role, database=url.database) for _ in range(2)]
    app = create_app(settings)
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
            started = time.monotonic()
            read = await asyncio.wait_for(client.get("/api/v1/business/webinars"), timeout=10)
            write = await asyncio.wait_for(client.post("/api/v1/business/webinars/1/register", json=VISITOR), timeout=10)
            seconds = time.monotonic() - started
            for other in others:
                await other.close()
            after = await client.get("/api/v1/business/webinars")
    finally:
        await app.state.db.dispose()
        for other in others:
            await other.close()
        await admin.execute(f"REASSIGN OWNED BY {role} TO {url.username}; DROP OWNED BY {role}; DROP ROLE {role}")
        await admin.close()
    assert _busy(read), read.text
    assert _busy(write), write.text
    assert seconds < 3  # refused at once, not a wait for the pool timeout or the server
    assert after.status_code == 200


async def test_a_server_that_never_answers_is_a_503_within_the_pool_timeout(settings):
    """A server that takes the connection and says nothing (overloaded, or a network that drops replies)."""
    silent: list[asyncio.StreamWriter] = []

    async def accept_and_say_nothing(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        silent.append(writer)

    server = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings.database_url = make_url(settings.database_url).set(host="127.0.0.1", port=port).render_as_string(
        hide_password=False)
    settings.database_pool_timeout_seconds = POOL_TIMEOUT
    app = create_app(settings)
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
            answers = []
            for method, path, body in (("GET", "/api/v1/business/webinars", None),
                                       ("POST", "/api/v1/business/webinars/1/register", VISITOR)):
                started = time.monotonic()
                response = await asyncio.wait_for(client.request(method, path, json=body), timeout=30)
                answers.append((response, time.monotonic() - started))
    finally:
        await app.state.db.dispose()
        for writer in silent:
            writer.close()
        server.close()
        await server.wait_closed()
    for response, seconds in answers:  # the write's rate limiter waits once, with the request
        assert _busy(response), response.text
        assert seconds < POOL_TIMEOUT * 1.8, seconds


async def test_a_server_that_is_down_is_a_503_at_once(settings):
    with socket.socket() as probe:  # a loopback port nothing listens on: the connection is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.database_url = make_url(settings.database_url).set(host="127.0.0.1", port=port).render_as_string(
        hide_password=False)
    app = create_app(settings)
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
            started = time.monotonic()
            read = await asyncio.wait_for(client.get("/api/v1/business/webinars"), timeout=10)
            write = await asyncio.wait_for(client.post("/api/v1/business/webinars/1/register", json=VISITOR), timeout=10)
            seconds = time.monotonic() - started
    finally:
        await app.state.db.dispose()
    assert _busy(read), read.text
    assert _busy(write), write.text
    assert seconds < 3
