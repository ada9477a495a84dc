"""What shared/dialect.py and shared/db.py promise on both engines (issue 13): the same test, each
engine's mechanism."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, func, text
from sqlmodel import col, select

from shared.dialect import casefold, serialize_on
from shared.jobs import JobSchedule
from shared.mail import OutgoingMail
from tests import engines


async def test_a_check_and_its_insert_never_interleave_with_another_writers(app):
    """Ten writers each insert only if nobody has yet: one row. SQLite's BEGIN IMMEDIATE gives it;
    on PostgreSQL, without serialize_on every writer would see no row and insert."""

    async def insert_unless_taken(n: int) -> None:
        async with app.state.db.session() as session:
            await serialize_on(session, "the-one-job")
            taken = (await session.exec(select(func.count()).select_from(JobSchedule))).one()
            await asyncio.sleep(0.02)  # the others arrive while this one has counted
            if taken == 0:
                session.add(JobSchedule(name=f"job-{n}"))

    await asyncio.gather(*(insert_unless_taken(n) for n in range(10)))
    async with app.state.db.session(write=False) as session:
        assert (await session.exec(select(func.count()).select_from(JobSchedule))).one() == 1


async def test_an_instant_reads_back_as_the_same_instant_in_utc(app):
    written = datetime(2030, 3, 31, 2, 30, tzinfo=timezone(timedelta(hours=5, minutes=45)))
    async with app.state.db.session() as session:
        session.add(JobSchedule(name="dst", next_run_at=written))
    async with app.state.db.session(write=False) as session:
        stored = (await session.exec(select(JobSchedule.next_run_at))).one()
    assert stored == written and stored.tzinfo == UTC


async def test_casefold_folds_beyond_ascii(app):
    async with app.state.db.session(write=False) as session:
        folded = (await session.exec(select(casefold("ÜBER Ärger")))).one()
    assert folded == "über ärger"


@pytest.mark.postgres_only
async def test_json_columns_are_jsonb_and_instants_timestamptz_on_postgresql(app):
    async with app.state.db.session(write=False) as session:
        types = dict(
            (await session.exec(text(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'mail_outbox'"
            ))).all()
        )
    assert types["params"] == "jsonb"
    assert types["next_attempt_at"] == "timestamp with time zone"


@pytest.mark.postgres_only
async def test_a_compaction_gives_up_on_a_table_a_long_transaction_holds_and_leaves_no_setting_behind(
    app, monkeypatch
):
    """VACUUM (FULL) waits for every lock on its table and, while it waits, holds up everyone after it:
    the lock timeout makes it give up (a busy error, for the job to try later) instead."""
    import shared.db
    from shared.dialect import COMPACTION_LOCK_TIMEOUT_MS, is_database_locked

    monkeypatch.setattr(shared.db, "COMPACTION_ATTEMPTS", 1)
    monkeypatch.setattr(shared.db, "COMPACTION_WAIT_SECONDS", 0.1)  # the reader's snapshot: not waited for here
    async with app.state.db.engine.connect() as reader:
        await reader.execute(text("SELECT count(*) FROM mail_outbox"))  # its transaction holds the table
        started = asyncio.get_running_loop().time()
        with pytest.raises(Exception) as refused:
            await shared.db.compact_tables(app.state.db, tables=["mail_outbox"])
        waited = asyncio.get_running_loop().time() - started
    assert is_database_locked(refused.value)
    assert COMPACTION_LOCK_TIMEOUT_MS / 1000 <= waited < COMPACTION_LOCK_TIMEOUT_MS / 1000 + 5
    await shared.db.compact_tables(app.state.db, tables=["mail_outbox"])  # free now: done
    # Every connection the pool holds (three at once: more than it kept) waits for locks as long as ever.
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(3):
            connection = await stack.enter_async_context(app.state.db.engine.connect())
            assert (await connection.execute(text("SHOW lock_timeout"))).scalar() == "0"


@pytest.mark.postgres_only
async def test_a_compaction_first_lets_a_transaction_go_by_that_could_still_see_the_deleted_row(app, monkeypatch):
    """VACUUM (FULL) copies a deleted row an older snapshot could still see: a compaction waits for it,
    and one that could not wait long enough says so (the row is then still stored)."""
    import shared.db

    async def delete_a_row_an_older_snapshot_sees(address: str, older) -> None:
        async with app.state.db.session() as session:
            session.add(OutgoingMail(recipient=address, subject="s"))
        await older.execute(text("SELECT count(*) FROM job_schedules"))  # a snapshot, no lock on the outbox
        async with app.state.db.session() as session:
            await session.exec(delete(OutgoingMail))

    async with app.state.db.engine.connect() as connection:
        older = await connection.execution_options(isolation_level="REPEATABLE READ")
        await delete_a_row_an_older_snapshot_sees("waited.for@example.com", older)
        compaction = asyncio.create_task(shared.db.compact_tables(app.state.db, tables=["mail_outbox"]))
        await asyncio.sleep(0.5)
        assert not compaction.done()
        await older.commit()
        assert await compaction is True
    assert b"waited.for@example.com" not in engines.stored_bytes(app.state.settings.database_url)

    monkeypatch.setattr(shared.db, "COMPACTION_WAIT_SECONDS", 0.2)
    async with app.state.db.engine.connect() as connection:
        older = await connection.execution_options(isolation_level="REPEATABLE READ")
        await delete_a_row_an_older_snapshot_sees("kept.by.the.snapshot@example.com", older)
        assert await shared.db.compact_tables(app.state.db, tables=["mail_outbox"]) is False
        await older.commit()
    assert b"kept.by.the.snapshot@example.com" in engines.stored_bytes(app.state.settings.database_url)


@pytest.mark.sqlite_only
async def test_the_suite_runs_on_sqlite_unless_told_otherwise():
    assert engines.ENGINE == "sqlite" and not engines.ON_POSTGRES


async def test_mail_claims_never_hand_one_message_to_two_deliveries(app):
    """The claim's FOR UPDATE SKIP LOCKED on PostgreSQL; one writer at a time on SQLite."""
    from shared.mail import _claim_due

    async with app.state.db.session() as session:
        for n in range(40):
            session.add(OutgoingMail(recipient=f"r{n}@example.com", subject="s", message=b"m"))

    async def claim() -> list[int]:
        async with app.state.db.driver_writer() as writer:
            rows = await writer.transaction(lambda transaction: _claim_due(transaction, 5))
        return [row.id for row in rows]

    claimed = [mail_id for batch in await asyncio.gather(*(claim() for _ in range(12))) for mail_id in batch]
    assert len(claimed) == len(set(claimed)) == 40
    async with app.state.db.session(write=False) as session:
        unclaimed = (await session.exec(select(func.count()).where(col(OutgoingMail.claim_id).is_(None)))).one()
    assert unclaimed == 0
