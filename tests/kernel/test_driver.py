"""DriverStatement writes exactly what the ORM would have written, in the session's transaction."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, func, insert
from sqlalchemy.exc import ArgumentError, InvalidRequestError
from sqlmodel import select

from shared.dialect import DriverStatement
from shared.mail import OUTBOX, OutgoingMail

_INSERT = DriverStatement(
    insert(OUTBOX).values(
        {name: bindparam(name, type_=column.type) for name, column in OUTBOX.columns.items() if name != "id"}
    ).returning(OUTBOX.c.id)
)
_COUNT = DriverStatement(select(func.count()).select_from(OUTBOX))
WHEN = datetime(2031, 2, 3, 4, 5, 6, 789, tzinfo=UTC)


def _row(**changes):
    return {
        "recipient": "a@example.com", "subject": "", "message": None, "template": "t", "params": {"x": [1, "ü"]},
        "status": "pending", "attempts": 0, "next_attempt_at": WHEN, "claim_id": None, "claimed_until": None,
        "last_error": None, "last_error_at": None, "created_at": WHEN, "sent_at": None, **changes,
    }


async def test_values_are_converted_as_sqlalchemy_converts_them(app):
    async with app.state.db.session() as session:
        [(new_id,)] = await _INSERT.fetchall(session, _row())
        session.add(OutgoingMail(recipient="b@example.com", subject="", template="t", params={"x": [1, "ü"]},
                                 next_attempt_at=WHEN, created_at=WHEN))
    async with app.state.db.session(write=False) as session:
        rows = {r.recipient: r for r in (await session.exec(select(OutgoingMail))).all()}
    ours, orm = rows["a@example.com"], rows["b@example.com"]
    assert ours.id == new_id
    assert ours.params == orm.params == {"x": [1, "ü"]}
    assert ours.next_attempt_at == orm.next_attempt_at == WHEN  # aware UTC, microseconds kept
    # Stored text is identical too, so comparisons and ORDER BY in SQL agree with the ORM's rows.
    async with app.state.db.session(write=False) as session:
        connection = await session.connection()
        stored = (await connection.exec_driver_sql("SELECT next_attempt_at, params FROM mail_outbox ORDER BY id")).all()
    assert stored[0] == stored[1]


async def test_it_runs_in_the_session_transaction_and_rolls_back_with_it(app):
    with pytest.raises(RuntimeError):
        async with app.state.db.session() as session:
            await _INSERT.fetchall(session, _row())
            raise RuntimeError("undo")
    async with app.state.db.session(write=False) as session:
        assert (await session.exec(select(OutgoingMail))).all() == []


async def test_a_missing_value_is_refused_before_reaching_the_database(app):
    values = _row()
    del values["recipient"]
    async with app.state.db.session() as session:
        with pytest.raises((InvalidRequestError, ArgumentError)):
            await _INSERT.fetchall(session, values)


@pytest.mark.sqlite_only  # counts trips to aiosqlite's thread, or SQLite's write lock: SQLite's mechanism
async def test_statements_run_together_in_order_in_one_trip_and_roll_back_with_the_session(app):
    from sqlalchemy import update

    from shared.db import ReadOnlySessionWrite
    from shared.dialect import run_together

    mark = DriverStatement(update(OUTBOX).where(OUTBOX.c.recipient == bindparam("r")).values(status="sent")
                           .returning(OUTBOX.c.id))
    async with app.state.db.session() as session:
        driver = (await (await session.connection()).get_raw_connection()).driver_connection
        trips, run_in_thread = [], driver._execute

        async def counted(fn, *args, **kwargs):
            trips.append(fn)
            return await run_in_thread(fn, *args, **kwargs)

        driver._execute = counted
        try:
            first, second, marked = await run_together(
                session, (_INSERT, _row()), (_INSERT, _row(recipient="b@example.com")), (mark, {"r": "b@example.com"})
            )
        finally:
            driver._execute = run_in_thread
        assert len(trips) == 1 and marked == [second[0]] and first != second
    async with app.state.db.session(write=False) as session:
        statuses = {r.recipient: r.status for r in (await session.exec(select(OutgoingMail))).all()}
        assert statuses == {"a@example.com": "pending", "b@example.com": "sent"}
        with pytest.raises(ReadOnlySessionWrite):
            await run_together(session, (mark, {"r": "a@example.com"}))
    with pytest.raises(RuntimeError):
        async with app.state.db.session() as session:
            await run_together(session, (mark, {"r": "a@example.com"}))
            raise RuntimeError("undo")
    async with app.state.db.session(write=False) as session:
        assert {r.status for r in (await session.exec(select(OutgoingMail))).all()} == {"pending", "sent"}


@pytest.mark.sqlite_only  # counts trips to aiosqlite's thread, or SQLite's write lock: SQLite's mechanism
async def test_a_one_trip_transaction_commits_in_one_trip_and_rolls_back_when_its_body_raises(app):
    from sqlalchemy import update

    mark = DriverStatement(update(OUTBOX).where(OUTBOX.c.recipient == bindparam("r")).values(status="sent"))
    async with app.state.db.driver_writer() as writer:
        driver, trips = writer._driver, []
        run_in_thread = driver._execute

        async def counted(fn, *args, **kwargs):
            trips.append(fn)
            return await run_in_thread(fn, *args, **kwargs)

        driver._execute = counted
        try:
            [(new_id,)] = await writer.transaction(lambda tx: tx.rows(_INSERT, _row()))
        finally:
            driver._execute = run_in_thread
        assert len(trips) == 1  # BEGIN, the statement and COMMIT travel together

        def fails(tx):
            tx.run(mark, {"r": "a@example.com"})
            raise LookupError("undo")

        with pytest.raises(LookupError):
            await writer.transaction(fails)
        # The connection is usable again after the rollback.
        await writer.transaction(lambda tx: tx.run(_INSERT, _row(recipient="b@example.com")))
    async with app.state.db.session(write=False) as session:
        rows = {r.recipient: (r.id, r.status) for r in (await session.exec(select(OutgoingMail))).all()}
    assert rows["a@example.com"] == (new_id, "pending") and rows["b@example.com"][1] == "pending"


@pytest.mark.sqlite_only  # counts trips to aiosqlite's thread, or SQLite's write lock: SQLite's mechanism
async def test_a_one_trip_transaction_takes_the_processes_write_turn(app):
    import asyncio

    from shared.db import NestedWriteSession, queued_writers

    order = []
    async with app.state.db.driver_writer() as writer:
        async with app.state.db.session() as session:
            await _INSERT.fetchall(session, _row())  # this task holds the write turn now
            with pytest.raises(NestedWriteSession):
                await writer.transaction(lambda tx: None)

        async def writing_session():
            async with app.state.db.session() as session:
                await _INSERT.fetchall(session, _row(recipient="s@example.com"))
                order.append("session")
                await asyncio.sleep(0.05)
                order.append(f"{queued_writers()} queued")  # the one-trip transaction waits its turn here
            order.append("session done")

        task = asyncio.create_task(writing_session())
        await asyncio.sleep(0.01)
        await writer.transaction(lambda tx: order.append("one trip"))
        await task
    assert order == ["session", "1 queued", "session done", "one trip"]


def test_an_expanding_in_is_refused_when_the_statement_is_built():
    from sqlalchemy import update

    with pytest.raises(ValueError, match="expanding IN"):
        DriverStatement(update(OUTBOX).where(OUTBOX.c.status.in_(("a", "b"))).values(status="sent"))


@pytest.fixture
async def trips(app, monkeypatch):
    """Every trip to an aiosqlite connection's thread while the test runs, once the pool has a connection."""
    import aiosqlite

    async with app.state.db.session() as session:
        await session.connection()
    seen, run_in_thread = [], aiosqlite.Connection._execute

    async def counted(self, fn, *args, **kwargs):
        seen.append(fn)
        return await run_in_thread(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return seen


async def _recipients(app) -> list[str]:
    async with app.state.db.session(write=False) as session:
        return sorted(r.recipient for r in (await session.exec(select(OutgoingMail))).all())


@pytest.mark.sqlite_only  # counts trips to aiosqlite's thread, or SQLite's write lock: SQLite's mechanism
async def test_a_transaction_sends_its_begin_with_its_first_statement_and_deferred_writes_with_its_commit(app, trips):
    async with app.state.db.session() as session:
        await _INSERT.fetchall(session, _row())
        assert len(trips) == 1  # BEGIN IMMEDIATE and the insert
        await _INSERT.defer(session, _row(recipient="b@example.com"))
        await _INSERT.defer(session, _row(recipient="c@example.com"))
        assert len(trips) == 1
    assert len(trips) == 2  # the two deferred inserts and COMMIT; SQLAlchemy's own commit sends nothing
    assert await _recipients(app) == ["a@example.com", "b@example.com", "c@example.com"]
    trips.clear()
    async with app.state.db.session():
        pass
    assert trips == []  # a writing unit of work that ran nothing: no BEGIN, no COMMIT


@pytest.mark.sqlite_only  # counts trips to aiosqlite's thread, or SQLite's write lock: SQLite's mechanism
async def test_a_deferred_write_runs_ahead_of_the_next_statement_in_the_same_trip(app, trips):
    async with app.state.db.session() as session:
        await _INSERT.defer(session, _row())
        assert await _COUNT.fetchall(session, {}) == [(1,)] and len(trips) == 1  # BEGIN, the deferred insert, the count: one trip
        await _INSERT.defer(session, _row(recipient="b@example.com"))
        # A statement SQLAlchemy runs sees it too (its own trips, the deferred write ahead of them).
        assert (await session.exec(select(func.count()).select_from(OutgoingMail))).one() == 2


async def test_deferred_writes_roll_back_with_the_transaction_and_leave_nothing_behind(app):
    with pytest.raises(RuntimeError):
        async with app.state.db.session() as session:
            await _INSERT.fetchall(session, _row())
            await _INSERT.defer(session, _row(recipient="b@example.com"))
            raise RuntimeError("undo")
    async with app.state.db.session() as session:  # the same pooled connection: nothing is owed any more
        await _INSERT.defer(session, _row(recipient="c@example.com"))
    assert await _recipients(app) == ["c@example.com"]


async def test_a_deferred_write_that_fails_fails_the_commit_and_nothing_of_the_transaction_is_stored(app):
    from sqlite3 import IntegrityError as SQLiteIntegrityError

    from sqlalchemy.exc import IntegrityError

    # SQLite raises at the commit, PostgreSQL (which runs it at once) at the call: either way, nothing stays.
    with pytest.raises((IntegrityError, SQLiteIntegrityError)):
        async with app.state.db.session() as session:
            await _INSERT.fetchall(session, _row())
            await _INSERT.defer(session, _row(recipient=None))  # NOT NULL
    async with app.state.db.session() as session:
        await _INSERT.fetchall(session, _row(recipient="b@example.com"))
    assert await _recipients(app) == ["b@example.com"]
