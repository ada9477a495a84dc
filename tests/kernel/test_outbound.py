"""Provider calls run with no transaction open: claim, call, record; public writes never wait for them."""

import asyncio

import httpx
import pytest
from sqlalchemy import text

from shared.outbound import CallInsideTransaction, call_outside_transaction, provider_http_client


class SlowProvider:
    """A fake provider that answers only when the test lets it: as slow as a test needs."""

    def __init__(self) -> None:
        self.called = asyncio.Event()
        self.answer = asyncio.Event()
        self.requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.called.set()
        await self.answer.wait()
        return httpx.Response(201, headers={"x-restli-id": "urn:li:share:1"})


async def test_public_writes_go_on_while_a_provider_call_is_in_flight(app, client):
    provider = SlowProvider()
    recorded: list[object] = []

    async def claim(session):
        await session.exec(text("CREATE TABLE IF NOT EXISTS claims (id INTEGER)"))
        await session.exec(text("INSERT INTO claims VALUES (1)"))
        return 1

    async def call(claimed):
        async with provider_http_client(app.state.settings, transport=httpx.MockTransport(provider)) as http:
            return (await http.post("https://api.linkedin.test/rest/posts", json={"commentary": "hi"})).headers[
                "x-restli-id"
            ]

    async def record(session, claimed, outcome):
        await session.exec(text("DELETE FROM claims WHERE id = :id"), params={"id": claimed})
        recorded.append(outcome)

    publishing = asyncio.create_task(call_outside_transaction(app.state.db, claim=claim, call=call, record=record))
    await asyncio.wait_for(provider.called.wait(), timeout=5)
    # A public write during the call: it would wait the busy timeout (15 s) if the caller held the lock.
    response = await asyncio.wait_for(
        client.post("/api/v1/auth/forgot-password", json={"email": "someone@example.com"}), timeout=5
    )
    assert response.status_code == 202
    provider.answer.set()
    assert await publishing == "urn:li:share:1"
    assert recorded == ["urn:li:share:1"]


async def test_a_failed_call_is_recorded_and_raised(app):
    recorded: list[object] = []

    async def failing(claimed):
        raise httpx.ConnectTimeout("provider did not answer")

    async def record(session, claimed, outcome):
        recorded.append(outcome)

    async def claim(session):
        return "post-1"

    with pytest.raises(httpx.ConnectTimeout):
        await call_outside_transaction(app.state.db, claim=claim, call=failing, record=record)
    assert len(recorded) == 1 and isinstance(recorded[0], httpx.ConnectTimeout)


async def test_nothing_is_called_when_nothing_was_claimed(app):
    async def nothing(session):
        return None

    async def never(*_):
        raise AssertionError("must not be called")

    assert await call_outside_transaction(app.state.db, claim=nothing, call=never, record=never) is None


async def test_the_provider_client_refuses_to_call_inside_a_write_transaction(app):
    provider = SlowProvider()
    provider.answer.set()
    async with provider_http_client(app.state.settings, transport=httpx.MockTransport(provider)) as http:
        with pytest.raises(CallInsideTransaction, match="inside a write transaction"):
            async with app.state.db.session() as session:
                await session.exec(text("SELECT 1"))  # the write transaction has begun
                await http.get("https://api.x.test/2/users/me")
        async with app.state.db.session(write=False) as session:  # a read beside it is fine
            await session.exec(text("SELECT 1"))
            assert (await http.get("https://api.x.test/2/users/me")).status_code == 201
    assert len(provider.requests) == 1
