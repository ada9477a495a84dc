"""Everything in the code that depends on the database engine, behind named functions.

SQLite is the default engine and PostgreSQL the second (issue 13). What differs between them lives
in this module, the connection set-up in shared/db.py (pragmas, BEGIN IMMEDIATE, the writer queue)
and the migrations; no slice spells engine-specific SQL or matches driver messages itself.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Index, Integer, String, bindparam, func, literal, select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ClauseElement, visitors
from sqlalchemy.sql.functions import GenericFunction
from sqlalchemy.types import TypeDecorator
from sqlmodel.ext.asyncio.session import AsyncSession

T = TypeVar("T")

# --- schema ------------------------------------------------------------------------------------


def partial_index(name: str, *columns: str, where: str, unique: bool = False) -> Index:
    """An index over the rows matching `where` only, on every engine.

    Declared per dialect: an engine without its own `*_where` would silently build a full index,
    and a unique one would then refuse rows it should allow (a slug reused after a delete)."""
    return Index(name, *columns, unique=unique, sqlite_where=text(where), postgresql_where=text(where))


def partial_unique_index(name: str, *columns: str, where: str) -> Index:
    """Uniqueness among the rows matching `where` (live rows, active bookings)."""
    return partial_index(name, *columns, where=where, unique=True)


# --- text search -------------------------------------------------------------------------------


class casefold(GenericFunction[str]):
    """Unicode case folding in SQL: "Über" and "über" compare equal.

    SQLite's lower() folds ASCII only, so every SQLite connection gets Python's str.casefold as
    a function (shared/db.py); PostgreSQL's lower() is Unicode-aware."""

    type = String()
    inherit_cache = True


@compiles(casefold, "postgresql")
def _casefold_on_postgresql(element: casefold, compiler: Any, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


class greatest(GenericFunction[Any]):
    """The larger of its arguments: SQLite's two-argument max(), PostgreSQL's greatest()."""

    inherit_cache = True


@compiles(greatest, "sqlite")
def _greatest_on_sqlite(element: greatest, compiler: Any, **kw: Any) -> str:
    return f"max({compiler.process(element.clauses, **kw)})"


def python_casefold(value: Any) -> str | None:
    """The SQLite connection's `casefold` function."""
    return None if value is None else str(value).casefold()


class _json_values(GenericFunction[Any]):
    """The (key, value) rows of a JSON object: SQLite's json_each, PostgreSQL's jsonb_each_text."""

    name = "json_each"
    identifier = "magnetiq_json_values"
    inherit_cache = True


@compiles(_json_values, "postgresql")
def _json_values_on_postgresql(element: _json_values, compiler: Any, **kw: Any) -> str:
    return f"jsonb_each_text({compiler.process(element.clauses, **kw)})"


def localized_values(column: Any) -> Any:
    """The text values of a localized JSON column ({"en": ..., "de": ...}) as a table with a `value` column."""
    return _json_values(column).table_valued("key", "value")


# --- time ranges -------------------------------------------------------------------------------

# An instant as SQLAlchemy's SQLite DATETIME stores it (naive UTC, shared/db.py's UTCDateTime):
# "2030-01-31 09:30:00.000000", text that sorts as the instants do, so a stored value compares
# with a bound written the same way. PostgreSQL compares TIMESTAMPTZ values: its bounds are cast.


def _stored_instant(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


class _RangeBounds(TypeDecorator[Any]):
    """The ranges as one JSON text: an array of [lo, hi] on SQLite (json_each numbers its elements),
    an object keyed by position on PostgreSQL (jsonb_each; its array function has no numbering
    SQLAlchemy can name)."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str:
        if dialect.name == "postgresql":
            return json.dumps({str(n): [lo.astimezone(UTC).isoformat(), hi.astimezone(UTC).isoformat()]
                               for n, (lo, hi) in enumerate(value)})
        return json.dumps([[_stored_instant(lo), _stored_instant(hi)] for lo, hi in value])


class _json_rows(GenericFunction[Any]):
    name = "json_each"
    identifier = "magnetiq_json_rows"
    inherit_cache = True


@compiles(_json_rows, "postgresql")
def _json_rows_on_postgresql(element: _json_rows, compiler: Any, **kw: Any) -> str:
    return f"jsonb_each(CAST({compiler.process(element.clauses, **kw)} AS JSONB))"


class _range_position(GenericFunction[int]):
    """A row's position from json_each's key (an integer on SQLite, text on PostgreSQL)."""

    type = Integer()
    inherit_cache = True


@compiles(_range_position)
def _range_position_on_sqlite(element: _range_position, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_range_position, "postgresql")
def _range_position_on_postgresql(element: _range_position, compiler: Any, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS INTEGER)"


class _range_bound(GenericFunction[Any]):
    """Element 0 (lo) or 1 (hi) of a [lo, hi] pair."""

    inherit_cache = True


@compiles(_range_bound)
def _range_bound_on_sqlite(element: _range_bound, compiler: Any, **kw: Any) -> str:
    pair, index = list(element.clauses)
    return f"json_extract({compiler.process(pair, **kw)}, '$[{int(index.value)}]')"


@compiles(_range_bound, "postgresql")
def _range_bound_on_postgresql(element: _range_bound, compiler: Any, **kw: Any) -> str:
    pair, index = list(element.clauses)
    return f"CAST(({compiler.process(pair, **kw)} ->> {int(index.value)}) AS TIMESTAMPTZ)"


def time_ranges(bounds: Sequence[tuple[datetime, datetime]]) -> Any:
    """A table of the half-open UTC ranges [lo, hi), with their `position`, from one bound parameter.

    One JSON parameter, however many ranges: the statement stays small and cached."""
    parameter = bindparam(None, list(bounds), type_=_RangeBounds())
    rows = _json_rows(parameter).table_valued("key", "value").alias("bounds")
    return select(
        _range_position(rows.c.key).label("position"),
        _range_bound(rows.c.value, literal(0)).label("lo"),
        _range_bound(rows.c.value, literal(1)).label("hi"),
    ).subquery("ranges")


# --- statements --------------------------------------------------------------------------------


def insert_or_update(session: AsyncSession, table: Any) -> Any:
    """An INSERT that can take `.on_conflict_do_update(...)`, for the session's engine."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return (postgresql_insert if dialect == "postgresql" else sqlite_insert)(table)


def driver_upsert(table: Any) -> Any:
    """An INSERT ... ON CONFLICT for a DriverStatement, which runs on both engines.

    PostgreSQL's construct: SQLite's compiler renders its ON CONFLICT clause too (the same SQL as
    SQLite's own construct), while PostgreSQL's compiler cannot render SQLite's."""
    return postgresql_insert(table)


# --- erasure -----------------------------------------------------------------------------------

_TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
# How long a compaction waits for a table's lock: a VACUUM (FULL) queued behind a long transaction
# would stall every request queued behind it in turn; it gives up instead and is tried again.
COMPACTION_LOCK_TIMEOUT_MS = 3000


def compaction_statements(dialect_name: str, tables: Sequence[str]) -> list[str]:
    """What leaves no byte of the rows deleted from `tables` in the database's files; run in autocommit
    (outside any transaction block) on a connection of its own, once the deleting transaction committed.

    SQLite: nothing, secure_delete (shared/db.py) overwrote them as they went. PostgreSQL keeps a
    deleted row's bytes: plain VACUUM marks its space free without overwriting it (the last row of a
    page stays as it was in the page's free space) and a B-tree keeps the key until its page is
    reused. VACUUM (FULL) writes each table, its TOAST and its indexes anew and unlinks the old files,
    so REINDEX is not needed on top. It holds the table's exclusive lock while it copies (tables of
    personal data are small: contacts, their tags and sources, the outbox)."""
    if dialect_name != "postgresql":
        return []
    for table in tables:
        if not _TABLE_NAME.match(table):
            raise ValueError(f"not a table name: {table!r}")
    return [f"SET lock_timeout = {COMPACTION_LOCK_TIMEOUT_MS}", *(f'VACUUM (FULL) "{table}"' for table in tables)]


# The transactions of the server that hold a snapshot or an xid (the horizon VACUUM may not pass).
_HOLDING_BACK = text(
    "SELECT pid, xact_start, CAST(backend_xmin AS text), CAST(backend_xid AS text) FROM pg_stat_activity"
    " WHERE pid <> pg_backend_pid() AND (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL)"
)


async def wait_for_older_transactions(connection: Any, *, timeout_seconds: float, poll_seconds: float = 0.05) -> bool:
    """Waits until every transaction that was running when called has ended or moved on to a newer
    snapshot; returns False if some still run after `timeout_seconds`.

    VACUUM (FULL) copies a deleted row that a running transaction could still see (one whose snapshot
    is older than the delete's commit): it lies in the new file as before. So a compaction first lets
    those transactions go by. Transactions of other roles are visible to a role with pg_read_all_stats
    only. SQLite: nothing to wait for (True)."""
    if connection.dialect.name != "postgresql":
        return True
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_seconds
    older = set(rows_of(await connection.execute(_HOLDING_BACK)))
    while older:
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(poll_seconds)
        # The same pid, transaction start, xmin and xid: still the same snapshot, still older.
        older &= set(rows_of(await connection.execute(_HOLDING_BACK)))
    return True


# --- serializing writers ----------------------------------------------------------------------

_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")


async def serialize_on(session: AsyncSession, key: str) -> None:
    """Makes the rest of the session's transaction wait for any other transaction that named `key`.

    For a check and an insert that must not interleave (a webinar's free seats, an account's failed
    logins). SQLite needs nothing: a writing transaction holds the database's one write lock from its
    first statement. PostgreSQL takes a transaction-scoped advisory lock; the statements after it see
    what the transaction before committed (READ COMMITTED reads a fresh snapshot per statement)."""
    if is_postgresql(session):
        connection = await session.connection()
        await connection.execute(_ADVISORY_LOCK, {"key": key})


# --- what the engine is ------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineFacts:
    """What health reports of the database: its engine's name, version and size."""

    name: str  # "SQLite" or "PostgreSQL", as /health/detailed's services.database.type says
    version: str
    size_bytes: int  # SQLite: the main file's pages (its WAL aside); PostgreSQL: pg_database_size


async def engine_facts(session: AsyncSession) -> EngineFacts:
    connection = await session.connection()
    if is_postgresql(session):
        version, size = (await connection.execute(text(
            "SELECT current_setting('server_version'), pg_database_size(current_database())"
        ))).one()
        return EngineFacts("PostgreSQL", str(version).split(" ", 1)[0], int(size))
    version = (await connection.execute(text("SELECT sqlite_version()"))).scalar_one()
    pages = (await connection.execute(text("PRAGMA page_count"))).scalar_one()
    page_size = (await connection.execute(text("PRAGMA page_size"))).scalar_one()
    return EngineFacts("SQLite", str(version), int(pages) * int(page_size))


async def refresh_planner_statistics(session: AsyncSession) -> None:
    """PostgreSQL's ANALYZE of the database's tables: what SQLite's PRAGMA optimize does there.

    Autovacuum analyzes too, but only past its thresholds; a daily ANALYZE keeps a table that grew
    slowly from being planned on statistics of its first days."""
    await (await session.connection()).execute(text("ANALYZE"))


async def serialize_connection_on(connection: Any, key: str) -> None:
    """serialize_on for a Core connection's transaction (the rate limiter's, shared/ratelimit.py)."""
    if connection.dialect.name == "postgresql":
        await connection.execute(_ADVISORY_LOCK, {"key": key})


# --- errors ------------------------------------------------------------------------------------


def _driver_message(exc: BaseException) -> str:
    return str(getattr(exc, "orig", exc))


def _sqlstate(exc: BaseException) -> str | None:
    """PostgreSQL's SQLSTATE of a database error (asyncpg's, as SQLAlchemy wraps it), else None."""
    orig = getattr(exc, "orig", exc)
    return getattr(orig, "sqlstate", None) or getattr(getattr(orig, "__cause__", None), "sqlstate", None)


# Deadlock, serialization failure, lock not available, too many connections, server starting or
# stopping: the request changed nothing and may simply be tried again.
_BUSY_SQLSTATES = {"40P01", "40001", "55P03", "53300", "57P03"}


def is_foreign_key_violation(exc: BaseException) -> bool:
    """Whether a database error is a refused delete or insert because of a foreign key."""
    return _sqlstate(exc) == "23503" or "FOREIGN KEY constraint failed" in _driver_message(exc)


_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)$")
_POSTGRESQL_KEY = re.compile(r"^Key \((.+?)\)=")


def unique_violation_columns(exc: BaseException) -> frozenset[str] | None:
    """The columns of the unique index (or constraint) a database error says was violated, or None
    for any other error. SQLite names them in its message ("table.column, ..."), PostgreSQL in the
    error's detail ("Key (column, ...)=(...) already exists")."""
    if _sqlstate(exc) == "23505":
        orig = getattr(exc, "orig", exc)
        detail = getattr(orig, "detail", None) or getattr(getattr(orig, "__cause__", None), "detail", None) or ""
        if match := _POSTGRESQL_KEY.match(detail):
            return frozenset(name.strip() for name in match.group(1).split(","))
        return frozenset()
    if match := _SQLITE_UNIQUE.search(_driver_message(exc)):
        return frozenset(name.strip().rpartition(".")[2] for name in match.group(1).split(","))
    return None


def is_database_locked(exc: BaseException) -> bool:
    """Whether a database error means "busy, try again": SQLite's write lock not had within the busy
    timeout, or PostgreSQL's deadlock, serialization failure or full server."""
    return _sqlstate(exc) in _BUSY_SQLSTATES or "database is locked" in _driver_message(exc)


# --- the hot path ------------------------------------------------------------------------------

_SQLITE = SQLiteDialect_aiosqlite()


def is_postgresql(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


class DriverStatement:
    """A Core statement compiled once and run straight on the SQLite driver, in one trip.

    SQLAlchemy's aiosqlite adapter spends three or four trips to the driver's thread on every
    statement (create a cursor, execute, fetch, close), and the session derives a cache key from
    the statement on every execution. The few statements on public write paths that run hundreds
    of times a second use this instead (it buys the registration benchmark most of its ratio):
    compiled with SQLAlchemy's own compiler and type processors, run inside the session's
    transaction. It raises the driver's own errors.

    On PostgreSQL the statement goes through the session's connection as any Core statement: asyncpg
    runs each in one trip already, and SQLAlchemy's errors come back (shared/errors.py maps both)."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled = statement.compile(dialect=_SQLITE)
        self.sql = self._compiled.string
        if "POSTCOMPILE" in self.sql:  # an expanding IN (...) is rendered per execution, which this skips
            raise ValueError("a DriverStatement cannot hold an expanding IN; spell it out with or_()")
        self._order: Sequence[str] = self._compiled.positiontup or ()
        self._processors = {
            name: bind.type.dialect_impl(_SQLITE).bind_processor(_SQLITE)
            for name, bind in self._compiled.binds.items()
        }

    def parameters(self, values: dict[str, Any]) -> list[Any]:
        """The positional parameters, converted as SQLAlchemy would (dates, booleans, JSON)."""
        named = self._compiled.construct_params(values)  # adds literals, refuses missing values
        ordered = []
        for name in self._order:
            value, processor = named[name], self._processors.get(name)
            ordered.append(processor(value) if processor is not None else value)
        return ordered

    def _refuse_in_read_session(self, session: AsyncSession) -> None:
        # Straight to the driver skips the read session's ORM guard: ask the session itself.
        refuse_write = getattr(session.sync_session, "refuse_write", None)
        if refuse_write is not None and (self._compiled.isinsert or self._compiled.isupdate or self._compiled.isdelete):
            refuse_write()

    async def _trip(self, session: AsyncSession, *, work: Callable[[Any], T]) -> T:
        self._refuse_in_read_session(session)
        return await _one_trip(session, work=work)

    def bound(self, values: dict[str, Any]) -> Any:
        """The statement with `values` in its parameters, for SQLAlchemy's own execution.

        Bound into the statement rather than passed beside it: SQLAlchemy takes a parameter named as
        a column of an INSERT or UPDATE for that column's value, and refuses the statement."""
        def bind(parameter: Any) -> None:
            if parameter.key in values:
                parameter.value, parameter.required = values[parameter.key], False

        # What ClauseElement.params() does, which SQLAlchemy refuses for INSERT and UPDATE.
        return visitors.cloned_traverse(self.statement, {}, {"bindparam": bind})

    async def _through_session(self, session: AsyncSession, values: Any) -> Any:
        self._refuse_in_read_session(session)
        # A missing value is refused here as on SQLite (InvalidRequestError, before the database is
        # reached); SQLAlchemy's execution would raise it wrapped in a StatementError instead.
        for row in [values] if isinstance(values, dict) else values:
            self._compiled.construct_params(row)
        connection = await session.connection()
        if isinstance(values, dict):
            return await connection.execute(self.bound(values))
        return await connection.execute(self.statement, values)

    async def fetchall(self, session: AsyncSession, values: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Runs the statement and returns its rows (say, from RETURNING); raises the driver's own errors."""
        if is_postgresql(session):
            return rows_of(await self._through_session(session, values))
        sql, parameters = self.sql, self.parameters(values)
        return await self._trip(session, work=lambda connection: _fetch(connection, sql, parameters))

    async def execute(self, session: AsyncSession, values: dict[str, Any]) -> None:
        """Runs a statement that returns no rows; its cursor holds nothing and is left to the GC."""
        if is_postgresql(session):
            await self._through_session(session, values)
            return
        sql, parameters = self.sql, self.parameters(values)
        await self._trip(session, work=lambda connection: connection.execute(sql, parameters).close())

    async def defer(self, session: AsyncSession, values: dict[str, Any]) -> None:
        """Runs a statement that returns no rows, in the transaction's next trip to the driver: with
        its next statement, or with its COMMIT (shared/db.py). For a write on a hot path whose rows
        nobody needs at once (a queued mail, a lead's contact): order is kept, but its error, if it
        has one, is raised by that next statement or the commit.

        On PostgreSQL (asyncpg takes one trip per statement already) it runs at once."""
        if is_postgresql(session):
            await self.execute(session, values)
            return
        self._refuse_in_read_session(session)
        pooled = await (await session.connection()).get_raw_connection()  # begins the transaction if need be
        pooled.info.setdefault(DEFERRED_WRITES, []).append((self.sql, self.parameters(values)))

    async def executemany(self, session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
        """Runs a statement that returns no rows once per row, in one trip to the driver."""
        if rows and is_postgresql(session):
            await self._through_session(session, list(rows))
        elif rows:
            sql, parameters = self.sql, [self.parameters(values) for values in rows]
            await self._trip(session, work=lambda connection: connection.executemany(sql, parameters).close())


def rows_of(result: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in result.all()] if result.returns_rows else []


async def run_together(
    session: AsyncSession, *steps: tuple[DriverStatement, dict[str, Any]]
) -> list[list[tuple[Any, ...]]]:
    """Several DriverStatements, in order, in one trip to the driver's thread; returns each one's rows.

    For a hot path whose statements do not depend on each other's results (a lead's contact and
    its source): each trip is a hand-off between threads and a wake-up of the event loop, which
    costs more than a small statement itself. Runs inside the session's transaction; raises the
    driver's own errors (the statements before a failing one have run: the transaction rolls back)."""
    if not steps:
        return []
    if is_postgresql(session):
        return [await statement.fetchall(session, values) for statement, values in steps]
    for statement, _ in steps:
        statement._refuse_in_read_session(session)
    prepared = [(statement.sql, statement.parameters(values)) for statement, values in steps]

    def run(connection: Any) -> list[list[tuple[Any, ...]]]:
        return [_fetch(connection, sql, parameters) for sql, parameters in prepared]

    return await _one_trip(session, work=run)


# What a transaction owes the driver, in the pooled connection's info, sent ahead of its next trip:
# the BEGIN shared/db.py's begin hook left pending, then the writes deferred to it.
PENDING_BEGIN = "magnetiq_pending_begin"
DEFERRED_WRITES = "magnetiq_deferred_writes"


def owes_the_driver(info: dict[str, Any]) -> bool:
    return PENDING_BEGIN in info or DEFERRED_WRITES in info


def catch_up(connection: Any, info: dict[str, Any]) -> None:
    """Sends what the transaction owes the driver, on the driver's thread: its BEGIN, its deferred writes."""
    if (mode := info.pop(PENDING_BEGIN, None)) is not None:
        connection.execute(f"BEGIN {mode}")
    for sql, parameters in info.pop(DEFERRED_WRITES, ()):
        connection.execute(sql, parameters).close()


def forget_what_is_owed(info: dict[str, Any]) -> None:
    """A transaction ended without sending them (rolled back, or never ran a statement)."""
    info.pop(PENDING_BEGIN, None)
    info.pop(DEFERRED_WRITES, None)


async def _one_trip(session: AsyncSession, *, work: Callable[[Any], T]) -> T:
    """`work(sqlite3_connection)` inside the session's transaction, in one trip with what it owes.

    A transaction's BEGIN travels with its first statement, and its deferred writes with its next
    statement or its COMMIT: a public registration takes two trips to aiosqlite's thread instead of
    five, which buys the registration benchmark about a tenth of its ratio."""
    pooled = await (await session.connection()).get_raw_connection()  # begins the transaction if need be
    info = pooled.info

    def run(connection: Any) -> T:
        catch_up(connection, info)
        return work(connection)

    return await run_on_driver_thread(pooled.driver_connection, run)


def _fetch(connection: Any, sql: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]:
    cursor = connection.execute(sql, parameters)
    try:
        return cursor.fetchall()
    finally:
        cursor.close()


def commit_with_what_is_owed(connection: Any, info: dict[str, Any]) -> None:
    """What the transaction owes, then COMMIT, on the driver's thread: one trip."""
    catch_up(connection, info)
    connection.execute("COMMIT")


async def run_on_driver_thread(driver: Any, function: Callable[..., T], *arguments: Any) -> T:
    """`function(sqlite3_connection, *arguments)` on the aiosqlite connection's own thread, one trip.

    aiosqlite runs every call as a function on its thread; this hands it one such function
    (its private `_execute`, pinned in constraints.txt; tests/kernel/test_driver.py checks it)."""
    return await driver._execute(function, driver._conn, *arguments)


class DriverTransaction:
    """The statements of a one-trip transaction (shared/db.py's DriverWriter), run synchronously
    on the driver's thread inside its BEGIN ... COMMIT."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def rows(self, statement: DriverStatement, values: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The statement's rows (say, from RETURNING)."""
        return self.rows_of_sql(statement.sql, statement.parameters(values))

    def run(self, statement: DriverStatement, values: dict[str, Any]) -> None:
        """Runs a statement whose rows, if any, are not needed."""
        self._connection.execute(statement.sql, statement.parameters(values)).close()

    def run_many(self, statement: DriverStatement, rows: Sequence[dict[str, Any]]) -> None:
        """Runs a statement that returns no rows once per row of values."""
        if rows:
            self._connection.executemany(statement.sql, [statement.parameters(values) for values in rows]).close()

    def rows_of_sql(self, sql: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]:
        return _fetch(self._connection, sql, parameters)


class SessionTransaction(DriverTransaction):
    """The same statements inside a SQLAlchemy transaction, for PostgreSQL (shared/db.py's DriverWriter):
    `body` runs synchronously under `run_sync`, each statement one trip through asyncpg."""

    def rows(self, statement: DriverStatement, values: dict[str, Any]) -> list[tuple[Any, ...]]:
        return rows_of(self._connection.execute(statement.bound(values)))

    def run(self, statement: DriverStatement, values: dict[str, Any]) -> None:
        self._connection.execute(statement.bound(values))

    def run_many(self, statement: DriverStatement, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self._connection.execute(statement.statement, list(rows))

    def rows_of_sql(self, sql: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]:
        raise NotImplementedError("SQL compiled for SQLite does not run on PostgreSQL")


# --- id counters (magnetiq db copy) -----------------------------------------------------------


def counted_id_column(table: Any) -> Any | None:
    """The column a table's ids are counted in (a single integer primary key the database numbers), or None."""
    columns = list(table.primary_key.columns)
    if len(columns) != 1:
        return None
    (column,) = columns
    numbered = column.autoincrement is True or (column.autoincrement == "auto" and not column.foreign_keys)
    return column if numbered and isinstance(column.type, Integer) else None


def _never_reuses_ids(table: Any) -> bool:
    # SQLite's AUTOINCREMENT keeps the highest id ever given in sqlite_sequence (erased contacts' ids too).
    return bool(table.dialect_options["sqlite"].get("autoincrement"))


async def next_id(connection: Any, table: Any) -> int | None:
    """The id the database would give the table's next row (None for a table without counted ids).

    Past the largest id stored and, where ids are never reused, past every id ever given: SQLite's
    sqlite_sequence, PostgreSQL's sequence."""
    column = counted_id_column(table)
    if column is None:
        return None
    following = ((await connection.execute(select(func.max(column)))).scalar() or 0) + 1
    if connection.dialect.name == "postgresql":
        # The last value handed out; NULL while none was (set_next_id hands out value - 1 for this reason).
        given = (await connection.execute(
            text("SELECT pg_sequence_last_value(CAST(pg_get_serial_sequence(:table, :column) AS regclass))"),
            {"table": table.name, "column": column.name},
        )).scalar() or 0
        following = max(following, given + 1)
    elif _never_reuses_ids(table):
        given = (await connection.execute(
            text("SELECT seq FROM sqlite_sequence WHERE name = :table"), {"table": table.name}
        )).scalar() or 0
        following = max(following, given + 1)
    return following


async def set_next_id(connection: Any, table: Any, value: int) -> None:
    """Makes the table's next row get `value` (copied rows came with ids: the counter did not move).

    PostgreSQL's sequence is set; SQLite numbers a plain table past its largest id by itself, and an
    AUTOINCREMENT table past its sqlite_sequence entry, which is set."""
    column = counted_id_column(table)
    if column is None:
        return
    if connection.dialect.name == "postgresql":
        # As if `value - 1` had been handed out (is_called), so next_id reads it back; 1 as never used.
        await connection.execute(
            text("SELECT setval(pg_get_serial_sequence(:table, :column), :value, :called)"),
            {"table": table.name, "column": column.name, "value": max(value - 1, 1), "called": value > 1},
        )
    elif _never_reuses_ids(table) and value > 1:
        await connection.execute(text("DELETE FROM sqlite_sequence WHERE name = :table"), {"table": table.name})
        await connection.execute(
            text("INSERT INTO sqlite_sequence (name, seq) VALUES (:table, :seq)"),
            {"table": table.name, "seq": value - 1},
        )


def snapshot_options(dialect_name: str) -> dict[str, Any]:
    """Execution options under which every statement of a read transaction sees one snapshot.

    SQLite's read transaction does already (WAL); PostgreSQL's READ COMMITTED reads a fresh snapshot
    per statement, REPEATABLE READ one for the whole transaction."""
    return {"isolation_level": "REPEATABLE READ"} if dialect_name == "postgresql" else {}
