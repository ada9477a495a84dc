"""Write transactions on a real SQLite file: one writer at a time per process, in arrival order."""

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

import shared.db
from shared.db import Database, queued_writers
from tests.factories import wait_for


@pytest.fixture
async def database(tmp_path):
    database = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    async with database.session() as session:
        await session.exec(text("CREATE TABLE log (who TEXT)"))
    yield database
    await database.dispose()


async def _log(database: Database, who: str, order: list[str], hold: asyncio.Event | None = None) -> None:
    async with database.session() as session:
        await session.exec(text("INSERT INTO log VALUES (:who)"), params={"who": who})
        order.append(who)
        if hold is not None:
            await hold.wait()


async def _warm_pool(database: Database, connections: int) -> None:
    """Opens connections up front, so a writer's checkout is instant and arrival order is ours."""
    release = asyncio.Event()

    async def read() -> None:
        async with database.session(write=False) as session:
            await session.exec(text("SELECT 1"))
            await release.wait()

    readers = [asyncio.create_task(read()) for _ in range(connections)]
    await wait_for(lambda: database.engine.sync_engine.pool.checkedout() == connections)
    release.set()
    await asyncio.gather(*readers)


async def test_waiting_writers_get_their_turn_in_arrival_order(database):
    await _warm_pool(database, 4)
    order, release = [], asyncio.Event()
    first = asyncio.create_task(_log(database, "first", order, release))
    await wait_for(lambda: order == ["first"])
    waiting = []
    for queued, name in enumerate(("second", "third", "fourth"), start=1):
        waiting.append(asyncio.create_task(_log(database, name, order)))
        await wait_for(lambda queued=queued: queued_writers() == queued)  # queued before the next arrives
    assert order == ["first"]  # the others wait for the first transaction to end
    release.set()
    await asyncio.gather(first, *waiting)
    assert order == ["first", "second", "third", "fourth"]
    async with database.session(write=False) as session:
        assert (await session.exec(text("SELECT count(*) FROM log"))).one()[0] == 4


async def test_readers_do_not_wait_for_a_writer(database):
    release = asyncio.Event()
    written: list[str] = []
    writer = asyncio.create_task(_log(database, "slow", written, release))
    await wait_for(lambda: written == ["slow"])  # inside its transaction, uncommitted
    async with database.session(write=False) as session:
        assert (await session.exec(text("SELECT count(*) FROM log"))).one()[0] == 0  # WAL: the committed state
    release.set()
    await writer


async def test_a_connection_returned_inside_a_transaction_is_rolled_back_and_frees_the_turn(database):
    session = database.writer()
    await session.exec(text("INSERT INTO log VALUES ('abandoned')"))
    await session.close()  # no commit, no rollback: the pool's reset must undo it
    await asyncio.wait_for(_log(database, "next", []), timeout=2)
    async with database.session(write=False) as reader:
        assert [row[0] for row in (await reader.exec(text("SELECT who FROM log"))).all()] == ["next"]


async def test_a_writer_that_waits_too_long_gets_database_is_locked(database, monkeypatch):
    monkeypatch.setattr(shared.db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    release = asyncio.Event()
    held: list[str] = []
    holder = asyncio.create_task(_log(database, "holder", held, release))
    await wait_for(lambda: held == ["holder"])
    with pytest.raises(OperationalError, match="database is locked"):
        await _log(database, "late", [])
    release.set()
    await holder


async def test_a_writer_locked_out_by_another_process_gets_database_is_locked_and_frees_its_turn(
    tmp_path, monkeypatch
):
    import sqlite3

    monkeypatch.setattr(shared.db, "SQLITE_BUSY_TIMEOUT_MS", 200)  # read when a connection opens
    path = tmp_path / "db.sqlite"
    database = Database.from_url(f"sqlite+aiosqlite:///{path}")
    try:
        async with database.session() as session:
            await session.exec(text("CREATE TABLE log (who TEXT)"))
        other_process = sqlite3.connect(path, isolation_level=None)
        other_process.execute("BEGIN IMMEDIATE")
        # SQLAlchemy's error (which the API turns into 503 SERVICE_BUSY), not the driver's own.
        with pytest.raises(OperationalError, match="database is locked"):
            await _log(database, "late", [])
        other_process.execute("COMMIT")
        other_process.close()
        order: list[str] = []
        await asyncio.wait_for(_log(database, "next", order), timeout=2)  # the turn was given back
        assert order == ["next"]
    finally:
        await database.dispose()


@pytest.mark.sqlite_only  # counts trips to aiosqlite's thread, or SQLite's write lock: SQLite's mechanism
async def test_a_request_that_cannot_get_the_write_lock_is_told_to_retry(app, client, monkeypatch):
    """503 with Retry-After in the error envelope, not a 500: nothing was changed."""
    monkeypatch.setattr(shared.db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    release, holding = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with app.state.db.session() as session:
            await session.exec(text("SELECT 1"))
            holding.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    await holding.wait()
    response = await client.post("/api/v1/auth/forgot-password", json={"email": "someone@example.com"})
    release.set()
    await holder
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "SERVICE_BUSY"
    operations = app.openapi()["paths"]["/api/v1/auth/forgot-password"]
    assert "503" in operations["post"]["responses"]  # declared on every writing operation


async def test_database_errors_never_carry_the_values_bound_to_the_statement(database):
    """An unexpected error is logged with its traceback: it must not spill a visitor's data into the logs."""
    async with database.session() as session:
        await session.exec(text("CREATE UNIQUE INDEX one_who ON log (who)"))
        await session.exec(text("INSERT INTO log VALUES (:who)"), params={"who": "ada@example.com"})
    with pytest.raises(Exception) as raised:
        async with database.session() as session:
            await session.exec(text("INSERT INTO log VALUES (:who)"), params={"who": "ada@example.com"})
    assert "UNIQUE constraint failed" in str(raised.value) and "ada@example.com" not in str(raised.value)


async def test_every_connection_gets_the_pragmas(database):
    """WAL for readers beside a writer, enforced foreign keys, NORMAL sync, and a busy timeout between processes."""
    for write in (True, False):
        async with database.session(write=write) as session:
            pragmas = {
                name: (await session.exec(text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
            }
        assert pragmas == {
            "journal_mode": "wal", "foreign_keys": 1, "synchronous": 1, "busy_timeout": shared.db.SQLITE_BUSY_TIMEOUT_MS
        }


async def test_a_nested_writing_session_in_the_same_task_fails_at_once(database):
    """Instead of waiting the busy timeout for itself and answering an unfixable 503."""
    async with database.session() as outer:
        await outer.exec(text("INSERT INTO log VALUES ('outer')"))
        with pytest.raises(shared.db.NestedWriteSession, match="pass that session down"):
            async with asyncio.timeout(2):
                async with database.session() as inner:
                    await inner.exec(text("INSERT INTO log VALUES ('inner')"))
        async with database.session(write=False) as reader:  # reading beside it is fine
            await reader.exec(text("SELECT 1"))
    order: list[str] = []
    await asyncio.wait_for(_log(database, "after", order), timeout=2)  # the write turn was given back
    async with database.session(write=False) as session:
        rows = (await session.exec(text("SELECT who FROM log"))).all()
    assert [who for (who,) in rows] == ["outer", "after"]



async def test_a_read_session_refuses_writes_before_they_reach_the_database(app):
    from features.auth.models import FailedLogin
    from shared.db import ReadOnlySessionWrite

    async with app.state.db.session(write=False) as session:
        session.add(FailedLogin(email_digest="x" * 64))
        with pytest.raises(ReadOnlySessionWrite):
            await session.flush()
        session.expunge_all()
    async with app.state.db.session(write=False) as session:
        from sqlalchemy import delete

        with pytest.raises(ReadOnlySessionWrite):
            await session.exec(delete(FailedLogin))


async def test_handlers_name_their_session_kind_read_for_get_write_otherwise(app):
    """No handler gets a writing session by its method alone: each names ReadSession or WriteSession."""
    from fastapi.routing import iter_route_contexts

    from shared.db import _read_session, _write_session

    def calls(dependant):
        yield dependant.call
        for sub in dependant.dependencies:
            yield from calls(sub)

    # GETs that record being loaded, by nature: a campaign mail's open pixel and tracked links.
    recording_gets = {"/api/v1/public/email/t/o/{recipient_id}/{signature}.gif",
                      "/api/v1/public/email/t/c/{recipient_id}/{signature}"}
    # POSTs that only read (their input is a body): a render must not hold the write lock.
    reading_posts = {"/api/v1/communication/email/templates/{template_id}/preview"}
    checked = 0
    for route in iter_route_contexts(app.routes):
        dependant = getattr(route, "dependant", None)
        if dependant is None:
            continue
        used = set(calls(dependant))
        if _write_session in used:
            assert "GET" not in route.methods or route.path in recording_gets, route.path
            checked += 1
        if _read_session in used:
            assert route.methods == {"GET"} or route.path in reading_posts, route.path
            checked += 1
    assert checked > 30


async def test_a_read_session_refuses_writes_that_go_straight_to_the_driver(app):
    from shared.db import ReadOnlySessionWrite
    from shared.mail import build_message, queue_mail

    async with app.state.db.session(write=False) as session:
        with pytest.raises(ReadOnlySessionWrite):
            await queue_mail(session, message=build_message(app.state.settings, to="a@example.com", subject="x", text="y"))
