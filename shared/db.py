"""Database kernel: engine with SQLite pragmas, write-safe transactions, sessions, UTC times."""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import BackgroundTasks, Depends, Request
from sqlalchemy import JSON, ColumnElement, DateTime, delete, event, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel
from sqlmodel import Session as SQLModelSession
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.dialect import (
    DEFERRED_WRITES,
    PENDING_BEGIN,
    DriverTransaction,
    SessionTransaction,
    catch_up,
    commit_with_what_is_owed,
    compaction_statements,
    forget_what_is_owed,
    is_database_locked,
    owes_the_driver,
    python_casefold,
    run_on_driver_thread,
    wait_for_older_transactions,
)

# Set before any table exists so every constraint gets a stable name (Alembic batch mode needs them).
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_MS = 15_000
_BEGIN_MODE = "magnetiq_sqlite_begin"


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken to be UTC; aware ones are converted to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always reads back an aware UTC datetime (SQLite forgets the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        # SQLite stores naive text; PostgreSQL's TIMESTAMPTZ (through asyncpg) wants the instant, aware.
        return as_utc(value) if dialect.name == "postgresql" else as_utc(value).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value)


class JSONDocument(TypeDecorator[Any]):
    """A JSON column: text on SQLite, JSONB on PostgreSQL (binary, indexable, compared by value)."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else JSON())


class Timestamps(SQLModel):
    """When a row was created and last changed: the columns every staff-edited table repeats."""

    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


def sqlite_file_path(database_url: str) -> str | None:
    """The file behind a SQLite URL, or None for memory or other databases."""
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite") or url.database in (None, "", ":memory:"):
        return None
    return url.database


async def delete_batch(session: AsyncSession, model: type[SQLModel], *where: ColumnElement[bool], limit: int) -> int:
    """Deletes at most `limit` rows matching `where` and says how many: pruning a backlog in such
    batches, one transaction each, never holds the write lock for long."""
    table = model.__table__  # type: ignore[attr-defined]
    (key,) = table.primary_key.columns
    chosen = select(key).where(*where).limit(limit)
    result = await session.exec(delete(table).where(key.in_(chosen)))  # type: ignore[call-overload]
    return result.rowcount


class ReadOnlySessionWrite(RuntimeError):
    """A write through a read session: a programming error (name a WriteSession instead)."""


class _ReadOnlySession(SQLModelSession):
    """The synchronous side of every read session."""

    def refuse_write(self) -> None:
        """Called by writers that bypass the ORM (DriverStatement)."""
        raise ReadOnlySessionWrite("a read session cannot write; use WriteSession")


@event.listens_for(_ReadOnlySession, "do_orm_execute")
def _refuse_statement_writes(state: Any) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        raise ReadOnlySessionWrite("a read session cannot write; use WriteSession")


@event.listens_for(_ReadOnlySession, "before_flush")
def _refuse_flushed_writes(session: Any, _context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReadOnlySessionWrite("a read session cannot write; use WriteSession")


class NestedWriteSession(RuntimeError):
    """A task that holds the write lock asked for a second writing session: a programming error.

    The second session would wait for the first, which waits for the task: a deadlock until the
    busy timeout. Pass the open session down instead."""


class _WriterQueue:
    """One writing transaction at a time per process, in arrival order.

    SQLite admits one writer; left to itself, a waiting BEGIN IMMEDIATE polls with sleeps that
    grow to 100 ms, so under load some requests wait seconds while others overtake them. Here a
    waiter is woken the moment the writer before it returns its connection. Across processes
    busy_timeout still arbitrates.
    """

    HOLDS = "magnetiq_holds_write_turn"  # key in the pooled connection's info

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None
        self.waiting = 0  # writers queued behind the holder (tests and diagnostics read it)
        _WRITER_QUEUES.add(self)

    def held_by_current_task(self) -> bool:
        return self._lock.locked() and self._holder is asyncio.current_task()

    async def take_turn(self) -> None:
        """Waits for this process's write turn (raises NestedWriteSession if the task has it)."""
        if self.held_by_current_task():
            raise NestedWriteSession(
                "this task already holds a writing session; pass that session down instead of opening another"
            )
        self.waiting += 1
        try:
            await asyncio.wait_for(self._lock.acquire(), timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        except TimeoutError:
            # What SQLite itself says when busy_timeout runs out, so callers see one error.
            raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")) from None
        finally:
            self.waiting -= 1
        self._holder = asyncio.current_task()

    def give_turn_back(self) -> None:
        self._holder = None
        self._lock.release()

    async def claim(self, mode: str, info: dict[str, Any]) -> None:
        """Takes the write turn for a transaction that may write; its BEGIN is left pending, to
        travel to the driver with the transaction's first statement (shared/dialect.py)."""
        if mode == "IMMEDIATE" and not info.get(self.HOLDS):
            await self.take_turn()
            info[self.HOLDS] = True
        info[PENDING_BEGIN] = mode

    async def catch_up(self, raw_connection: Any, info: dict[str, Any]) -> None:
        """Sends what the transaction owes (its BEGIN, deferred writes) ahead of a statement SQLAlchemy runs."""
        try:
            await run_on_driver_thread(raw_connection, catch_up, info)
        except sqlite3.OperationalError as exc:
            if not raw_connection.in_transaction:
                self.release(info)  # the BEGIN itself failed: the turn goes to the next writer now
            # Another process held the lock past busy_timeout. Raised inside SQLAlchemy's
            # before-execute event the driver's error would escape unwrapped: wrap it as the dialect
            # does, so callers see one kind of error and the API answers 503, not 500.
            raise OperationalError("BEGIN", None, exc) from None

    def release(self, info: dict[str, Any]) -> None:
        if info.pop(self.HOLDS, False):
            self.give_turn_back()


_WRITER_QUEUES: weakref.WeakSet[_WriterQueue] = weakref.WeakSet()
_WRITER_QUEUE_OF: weakref.WeakKeyDictionary[Any, _WriterQueue] = weakref.WeakKeyDictionary()


# Writing sessions open in this context on an engine without a writer queue (PostgreSQL).
_OPEN_WRITERS: ContextVar[int] = ContextVar("magnetiq_open_writers", default=0)


def holds_write_lock() -> bool:
    """Whether the running task holds a write transaction of some database of this process
    (on PostgreSQL: has a writing session open, whose row locks a provider call would hold)."""
    return _OPEN_WRITERS.get() > 0 or any(queue.held_by_current_task() for queue in list(_WRITER_QUEUES))


def queued_writers() -> int:
    """How many writers of this process wait for the write lock (system health, tests)."""
    return sum(queue.waiting for queue in list(_WRITER_QUEUES))


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    writers = _WriterQueue()
    _WRITER_QUEUE_OF[engine.sync_engine] = writers

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN is ours to emit (SQLAlchemy's recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # Deleted rows are overwritten, not left in free pages: an erased person is gone from the file
        # (Debian's SQLite does so already; other builds may not).
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()
        # SQLite's lower() and LIKE fold ASCII only: "Über" would never match "über".
        dbapi_connection.create_function("casefold", 1, python_casefold, deterministic=True)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A transaction that may write takes the write lock up front: upgrading a deferred
        # read transaction to a write fails at once with "database is locked" under contention,
        # while BEGIN IMMEDIATE waits its turn.
        mode = connection.get_execution_options().get(_BEGIN_MODE, "IMMEDIATE")
        pooled = connection.connection
        pooled.dbapi_connection.run_async(lambda _raw: writers.claim(mode, pooled.info))

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _before_execute(connection: Any, _cursor: Any, _statement: Any, _parameters: Any, _context: Any,
                        _executemany: bool) -> None:
        pooled = connection.connection
        if owes_the_driver(pooled.info):
            pooled.dbapi_connection.run_async(lambda raw: writers.catch_up(raw, pooled.info))

    @event.listens_for(engine.sync_engine, "commit")
    def _on_commit(connection: Any) -> None:
        pooled = connection.connection
        if DEFERRED_WRITES in pooled.info:
            # The deferred writes and the COMMIT in one trip; the driver's own commit is then skipped.
            pooled.dbapi_connection.run_async(
                lambda raw: run_on_driver_thread(raw, commit_with_what_is_owed, pooled.info)
            )
        forget_what_is_owed(pooled.info)  # a BEGIN never sent: nothing to commit

    @event.listens_for(engine.sync_engine, "rollback")
    def _on_rollback(connection: Any) -> None:
        forget_what_is_owed(connection.connection.info)

    _skip_driver_calls_outside_a_transaction(engine.sync_engine.dialect)

    # The pool's own reset rolls back every returned connection, even one whose transaction was
    # just committed: a wasted trip per request. This one rolls back only a connection still in a
    # transaction, then lets the next writer in.
    @event.listens_for(engine.sync_engine.pool, "reset")
    def _on_reset(dbapi_connection: Any, record: Any, state: Any) -> None:
        try:
            if state.asyncio_safe and dbapi_connection.driver_connection.in_transaction:
                dbapi_connection.rollback()
        finally:
            forget_what_is_owed(record.info)
            writers.release(record.info)

    @event.listens_for(engine.sync_engine.pool, "invalidate")
    def _on_invalidate(_dbapi_connection: Any, record: Any, _exception: Any) -> None:
        writers.release(record.info)


def _skip_driver_calls_outside_a_transaction(dialect: Any) -> None:
    """COMMIT and ROLLBACK become no trip at all when the driver has no transaction open: a
    transaction whose BEGIN never went out, or whose deferred writes went with its COMMIT
    (the commit hook above). For SQLite they would be no-ops, each a trip to
    aiosqlite's thread."""
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def in_transaction(dbapi_connection: Any) -> bool:
        driver = dbapi_connection.driver_connection
        return driver is None or driver._connection is None or driver.in_transaction

    def do_commit(dbapi_connection: Any) -> None:
        if in_transaction(dbapi_connection):
            commit(dbapi_connection)

    def do_rollback(dbapi_connection: Any) -> None:
        if in_transaction(dbapi_connection):
            rollback(dbapi_connection)

    dialect.do_commit, dialect.do_rollback = do_commit, do_rollback


@dataclass(frozen=True)
class PoolLimits:
    """How many connections a process keeps and how long a request waits for one."""

    size: int = 5
    max_overflow: int = 10
    timeout_seconds: float = 10.0


def create_engine(database_url: str, *, echo: bool = False, pool: PoolLimits | None = None) -> AsyncEngine:
    is_sqlite = database_url.startswith("sqlite")
    pool = pool or PoolLimits()
    pool_args: dict[str, Any] = {}
    if not is_sqlite or sqlite_file_path(database_url) is not None:  # an in-memory SQLite has a static pool
        pool_args = {"pool_size": pool.size, "max_overflow": pool.max_overflow, "pool_timeout": pool.timeout_seconds}
    # Bound values are visitors' emails and names, password hashes, tokens: errors and DEBUG's
    # statement echo show the SQL without them.
    if not is_sqlite:
        # asyncpg waits 60 s for a server that took the connection and says nothing: a request would hang
        # that long. Opening a connection gets the pool's timeout instead (then 503 SERVICE_BUSY).
        return create_async_engine(
            database_url, echo=echo, hide_parameters=True, pool_pre_ping=True,
            connect_args={"timeout": pool.timeout_seconds}, **pool_args,
        )
    engine = create_async_engine(
        database_url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        pool_reset_on_return=None, hide_parameters=True, **pool_args,
    )
    _install_sqlite_hooks(engine)
    return engine


# Sees a request's session once its transaction has committed, and may hand back work to run
# after the response (mail queued in that transaction goes out then, with no handler asking).
CommitHook = Callable[[dict[str, Any]], Callable[[], Awaitable[None]] | None]


@dataclass
class Database:
    """The engine and two session factories: writers lock up front, readers do not."""

    engine: AsyncEngine
    writer: async_sessionmaker[AsyncSession]
    reader: async_sessionmaker[AsyncSession]
    commit_hooks: list[CommitHook] = field(default_factory=list)
    # Where the work a commit hook returns goes (a request's background tasks). None: nowhere, the
    # worker's polling picks it up (jobs, the CLI, tests that deliver by hand).
    hand_on: Callable[[Callable[[], Awaitable[None]]], None] | None = None

    @classmethod
    def from_url(cls, database_url: str, *, echo: bool = False, pool: PoolLimits | None = None) -> Database:
        engine = create_engine(database_url, echo=echo, pool=pool)
        read_engine = engine.execution_options(**{_BEGIN_MODE: "DEFERRED"})
        return cls(
            engine=engine,
            writer=async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False),
            reader=async_sessionmaker(
                read_engine, class_=AsyncSession, sync_session_class=_ReadOnlySession, expire_on_commit=False
            ),
        )

    @asynccontextmanager
    async def session(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """A unit of work: commits when the block succeeds, rolls back when it raises."""
        factory = self.writer if write else self.reader
        counted = write and self.engine.sync_engine not in _WRITER_QUEUE_OF
        token = _OPEN_WRITERS.set(_OPEN_WRITERS.get() + 1) if counted else None
        try:
            async with self._unit_of_work(factory) as session:
                yield session
            # Reached only after a commit: a rolled-back unit of work hands nothing on.
            if self.hand_on is not None:
                for hook in self.commit_hooks:
                    if (work := hook(session.info)) is not None:
                        self.hand_on(work)
        finally:
            if token is not None:
                try:
                    _OPEN_WRITERS.reset(token)
                except ValueError:  # closed from another context than it was opened in (a dependency's teardown)
                    _OPEN_WRITERS.set(max(0, _OPEN_WRITERS.get() - 1))

    @asynccontextmanager
    async def _unit_of_work(self, factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
        async with factory() as session:
            try:
                yield session
            except BaseException:
                # Whatever must outlive a refusal is committed in its own unit of work first
                # (a counted login attempt, a revoked login); an exception never commits.
                await session.rollback()
                raise
            else:
                # A read commits too: a rollback would expire the objects it hands back.
                await session.commit()

    def handing_on_to(self, hand_on: Callable[[Callable[[], Awaitable[None]]], None]) -> Database:
        """This database, with what its commits start (mail delivery) handed to `hand_on`."""
        return replace(self, hand_on=hand_on)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def driver_writer(self) -> AsyncIterator[DriverWriter | SessionWriter]:
        """One pooled connection held for a loop of one-trip write transactions."""
        writers = _WRITER_QUEUE_OF.get(self.engine.sync_engine)
        if writers is None:
            yield SessionWriter(self.engine)
            return
        async with self.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            yield DriverWriter(raw.driver_connection, writers)

    async def dispose(self) -> None:
        await self.engine.dispose()


COMPACTION_ATTEMPTS = 3
COMPACTION_WAIT_SECONDS = 60.0  # for transactions older than the compaction to end


async def compact_tables(database: Database, *, tables: Sequence[str]) -> bool:
    """Rewrites `tables` so that rows deleted from them leave no bytes in the database's files (an
    erased person): dialect.compaction_statements, nothing on SQLite. Call it after the deleting
    transaction committed, never inside one: VACUUM refuses a transaction block.

    It first lets the transactions running at the call go by (a row one of them could still see is
    copied, not dropped); False when some were still running after COMPACTION_WAIT_SECONDS and the
    rewrite went ahead without them, so rows deleted before the call may be left for a later one.
    A table whose lock is not had in time (a long transaction on it) is tried again a little later."""
    statements = compaction_statements(database.dialect, tables)
    if not statements:
        return True
    for attempt in range(1, COMPACTION_ATTEMPTS + 1):
        async with database.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            try:
                passed = await wait_for_older_transactions(autocommit, timeout_seconds=COMPACTION_WAIT_SECONDS)
                for statement in statements:
                    await autocommit.execute(text(statement))
                return passed
            except Exception as exc:
                if attempt == COMPACTION_ATTEMPTS or not is_database_locked(exc):
                    raise
            finally:
                # Closed, not pooled: it carries the compaction's session settings (its lock timeout).
                await connection.invalidate()
        await asyncio.sleep(attempt)
    raise AssertionError("unreachable")


T = TypeVar("T")


class DriverWriter:
    """Write transactions that each travel to the driver's thread in a single trip.

    A session's transaction costs about 0.45 ms of CPU on top of its statements (a session, a
    connection from the pool, BEGIN, COMMIT: each a hand-off between threads), ten times a small
    transaction's own cost. The campaign sender's per-message transaction runs here instead: it
    buys the campaign benchmark most of its ratio. It takes this process's write turn like any
    writing session, runs `body` between BEGIN IMMEDIATE and COMMIT on aiosqlite's thread (ROLLBACK
    if it raises) and raises the driver's own errors. `body` is plain synchronous code over
    DriverStatements (shared/dialect.py): no ORM, no awaiting."""

    def __init__(self, driver: Any, writers: _WriterQueue) -> None:
        self._driver, self._writers = driver, writers

    async def transaction(self, body: Callable[[DriverTransaction], T]) -> T:
        return await self.holding_write_turn(lambda connection: _one_trip_transaction(connection, body))

    async def holding_write_turn(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """`body(connection)` on the driver's thread with this process's write turn but no transaction.

        For what SQLite refuses inside a transaction (VACUUM) or what takes the write lock on its own
        (wal_checkpoint): this process's writers queue behind it instead of meeting SQLITE_BUSY."""
        await self._writers.take_turn()
        try:
            return await run_on_driver_thread(self._driver, body)
        finally:
            self._writers.give_turn_back()


class SessionWriter:
    """DriverWriter's transactions on an engine without a writer queue (PostgreSQL): each `body` runs
    in a transaction of its own through SQLAlchemy, whose asyncpg statements take one trip each.

    Nothing here serializes writers: the statements that must not interleave say so themselves
    (row locks, FOR UPDATE SKIP LOCKED in claims, ON CONFLICT)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def transaction(self, body: Callable[[DriverTransaction], T]) -> T:
        async with self._engine.begin() as connection:
            return await connection.run_sync(lambda sync: body(SessionTransaction(sync)))

    async def holding_write_turn(self, body: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError("a SQLite maintenance step has no meaning on this engine")


def _one_trip_transaction(connection: Any, body: Callable[[DriverTransaction], T]) -> T:
    connection.execute("BEGIN IMMEDIATE")
    try:
        result = body(DriverTransaction(connection))
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return result


async def _read_session(request: Request) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.db
    async with database.session(write=False) as session:
        yield session


async def _write_session(request: Request, background: BackgroundTasks) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.db
    async with database.handing_on_to(background.add_task).session() as session:
        yield session


# A handler names the kind of session it needs. A read session takes no lock and refuses ORM
# writes; a write session holds the write lock from its first statement, commits when the
# handler returns (before the response leaves: a 201 means stored) and rolls back when it raises.
ReadSession = Annotated[AsyncSession, Depends(_read_session, scope="function")]
WriteSession = Annotated[AsyncSession, Depends(_write_session, scope="function")]


async def get_database(request: Request, background: BackgroundTasks) -> Database:
    """The database for a handler that opens its own units of work: what their commits start runs
    after the response, as a WriteSession's does."""
    database: Database = request.app.state.db
    return database.handing_on_to(background.add_task)


DatabaseDep = Annotated[Database, Depends(get_database)]
