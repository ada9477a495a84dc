"""Streamed CSV exports: every row, and the database connection back in the pool however the download ends."""

import asyncio

from sqlmodel import select

import shared.export
from shared.export import csv_export
from shared.mail import OutgoingMail, build_message, queue_mail


async def _queue_rows(app, count: int) -> None:
    async with app.state.db.session() as session:
        for n in range(count):
            await queue_mail(session, message=build_message(app.state.settings, to=f"r{n}@example.com", subject="s", text="t"))


async def _download(response, *, hang_up_after: int | None = None) -> list[bytes]:
    """Plays an ASGI server whose client is slow and may hang up after some chunks."""
    chunks: list[bytes] = []
    hung_up = asyncio.Event()

    async def receive():
        await hung_up.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if hang_up_after is not None and len(chunks) == hang_up_after:
                hung_up.set()
            await asyncio.sleep(0.01)

    scope = {"type": "http", "method": "GET", "asgi": {"spec_version": "2.3"}, "headers": []}
    await response(scope, receive, send)
    return chunks


async def test_a_client_that_hangs_up_mid_export_gives_the_connection_back_at_once(app, monkeypatch):
    monkeypatch.setattr(shared.export, "EXPORT_BATCH", 1)
    await _queue_rows(app, 20)
    statement = select(OutgoingMail).order_by(OutgoingMail.id)
    chunks = await _download(csv_export(app.state.db, "x.csv", ("id", "recipient"), statement), hang_up_after=3)
    assert 3 <= len(chunks) < 20
    assert app.state.db.engine.pool.checkedout() == 0  # not left for the garbage collector


async def test_a_finished_export_has_every_row(app, monkeypatch):
    monkeypatch.setattr(shared.export, "EXPORT_BATCH", 3)
    await _queue_rows(app, 7)
    statement = select(OutgoingMail).order_by(OutgoingMail.id)
    body = b"".join(await _download(csv_export(app.state.db, "x.csv", ("recipient",), statement)))
    assert body.decode("utf-8-sig").split("\r\n")[1:-1] == [f"r{n}@example.com" for n in range(7)]
    assert app.state.db.engine.pool.checkedout() == 0
