"""Which database engine the suite runs on, and its per-test databases.

SQLite is the default: each test gets a copy of a template file. With DATABASE_URL set to a PostgreSQL
server (`make test-postgres` starts a throwaway one) each test gets its own database, cloned from a
template database at head with `CREATE DATABASE ... TEMPLATE`, which copies files and is far cheaper
than migrating. The server URL is taken out of the environment at import, so nothing under test reads
it by accident: every test names its own database.

Engine-specific tests say so with `@pytest.mark.sqlite_only` or `@pytest.mark.postgres_only`; the other
engine deselects them and the run says how many (conftest.py). Tests known to fail on PostgreSQL are
listed in tests/postgres_known_failures.txt and expected to fail (strictly: one that passes must leave
the list).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.engine import make_url

T = TypeVar("T")

# Kept under a name of the harness's own, which xdist's workers inherit with the rest of the environment.
_HANDED_DOWN = "MAGNETIQ_TEST_POSTGRES_URL"
if os.environ.get("DATABASE_URL", "").startswith("postgresql"):
    os.environ[_HANDED_DOWN] = os.environ.pop("DATABASE_URL")
_SERVER_URL = os.environ.get(_HANDED_DOWN, "")
ENGINE = "postgresql" if _SERVER_URL else "sqlite"
ON_POSTGRES = ENGINE == "postgresql"
MARKERS = {"sqlite": "sqlite_only", "postgresql": "postgres_only"}
KNOWN_FAILURES_FILE = Path(__file__).with_name("postgres_known_failures.txt")


def known_postgres_failures() -> set[str]:
    """Node ids expected to fail on PostgreSQL: the debt of issue 13, worked down."""
    if not KNOWN_FAILURES_FILE.exists():
        return set()
    lines = (line.split("#", 1)[0].strip() for line in KNOWN_FAILURES_FILE.read_text().splitlines())
    return {line for line in lines if line}


def database_url(name: str) -> str:
    """The URL of database `name` on the test server."""
    return make_url(_SERVER_URL).set(database=name).render_as_string(hide_password=False)


class _Admin:
    """Creates and drops databases from its own thread and event loop.

    Fixtures that need a database are synchronous or run on each test's own loop; asyncpg connections
    belong to the loop that made them, so the admin connection lives on a loop of its own."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="postgres-admin", daemon=True)
        self._thread.start()
        self._connection: Any = None

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=120)

    async def _execute(self, sql: str) -> None:
        import asyncpg

        if self._connection is None or self._connection.is_closed():
            url = make_url(_SERVER_URL)
            self._connection = await asyncpg.connect(
                host=url.host, port=url.port, user=url.username, password=url.password, database=url.database
            )
        await self._connection.execute(sql)

    def execute(self, sql: str) -> None:
        self.run(self._execute(sql))


_admin: _Admin | None = None


def admin() -> _Admin:
    global _admin
    if _admin is None:
        _admin = _Admin()
    return _admin


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def create_template(build_schema: Any) -> str:
    """A database at head for this test process, built once; returns its name."""
    from sqlalchemy.ext.asyncio import create_async_engine

    name = f"template_{_worker()}_{uuid.uuid4().hex[:8]}"
    admin().execute(f'CREATE DATABASE "{name}"')

    async def build() -> None:
        engine = create_async_engine(database_url(name))
        async with engine.begin() as connection:
            await connection.run_sync(build_schema)
        await engine.dispose()  # a template must have no connection when it is cloned

    admin().run(build())
    return name


def new_database_name() -> str:
    return f"test_{_worker()}_{uuid.uuid4().hex[:12]}"


def clone(template: str, name: str | None = None) -> str:
    """A new database, a copy of `template` (named `name`, or a fresh name); returns its name."""
    name = name or new_database_name()
    admin().execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name


def drop(name: str) -> None:
    # FORCE: a test that left a connection behind (a second app, a killed subprocess) does not block it.
    admin().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- reading the test's database from outside the app ----------------------------------------------


def _in_a_thread_of_its_own(coroutine: Coroutine[Any, Any, T]) -> T:
    """Runs `coroutine` on a new event loop in a new thread and waits for it.

    Callable from anywhere, an SMTP server's loop or a synchronous test helper included: asyncpg's
    connections belong to one loop, and a thread already running a loop cannot start another."""
    result: list[Any] = []

    def run() -> None:
        try:
            result.append((True, asyncio.run(coroutine)))
        except BaseException as exc:  # handed to the caller's thread
            result.append((False, exc))

    thread = threading.Thread(target=run, name="postgres-outside", daemon=True)
    thread.start()
    thread.join(120)
    if not result:
        raise TimeoutError("a statement on a connection of its own did not finish in 120 s")
    ok, value = result[0]
    if not ok:
        raise value
    return value


async def _postgres_rows(url: str, statements: list[str]) -> list[list[tuple[Any, ...]]]:
    import asyncpg

    parsed = make_url(url)
    connection = await asyncpg.connect(host=parsed.host, port=parsed.port, user=parsed.username,
                                       password=parsed.password, database=parsed.database)
    try:
        return [[tuple(row) for row in await connection.fetch(sql)] for sql in statements]
    finally:
        await connection.close()


def outside_the_app(database_url: str, *statements: str) -> list[list[tuple[Any, ...]]]:
    """Each statement's rows, run in autocommit on a connection of its own (another client of the
    database: a second writer, or a look at what is stored without the app's session)."""
    from shared.db import sqlite_file_path

    path = sqlite_file_path(database_url)
    if path is None:
        return _in_a_thread_of_its_own(_postgres_rows(database_url, list(statements)))
    import sqlite3

    connection = sqlite3.connect(path, timeout=15, isolation_level=None)
    try:
        return [connection.execute(sql).fetchall() for sql in statements]
    finally:
        connection.close()


def with_connection(database_url: str, body: Callable[[Any], T]) -> T:
    """`body(connection)` (SQLAlchemy Core, synchronous) in one transaction on an engine of its own,
    for a fixture that writes rows no request could: the same code on either engine's async driver."""
    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> T:
        engine = create_async_engine(database_url)
        try:
            async with engine.begin() as connection:
                return await connection.run_sync(body)
        finally:
            await engine.dispose()

    return _in_a_thread_of_its_own(run())


def _pg_dump_data(database_url: str) -> bytes:
    """`pg_dump --data-only` of the database: every live row as text, values decompressed."""
    import subprocess

    from tests.postgres_cluster import bin_dir

    libpq = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    return subprocess.run([str(bin_dir() / "pg_dump"), "--data-only", "--no-owner", f"--dbname={libpq}"],
                          check=True, capture_output=True, timeout=120).stdout


def _postgres_files(database_url: str) -> bytes:
    """The database's own files (tables, TOAST, indexes) after a CHECKPOINT wrote every changed page:
    dead row versions too, which no query sees. Not the WAL, which the whole cluster shares."""
    [[(directory,)], [(oid,)], _] = outside_the_app(
        database_url, "SHOW data_directory", "SELECT oid FROM pg_database WHERE datname = current_database()",
        "CHECKPOINT",
    )
    folder = Path(directory) / "base" / str(oid)
    return b"".join(path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file())


def stored_bytes(database_url: str) -> bytes:
    """Every byte the database holds, for "no secret is stored in clear", whatever became of a row since.

    SQLite: the file as it lies on disk with its -wal and -shm companions (free pages included).
    PostgreSQL: a data-only pg_dump (what a backup holds; TOASTed values decompressed) followed by the
    database's files after a CHECKPOINT (row versions an UPDATE or DELETE left behind)."""
    from shared.db import sqlite_file_path

    path = sqlite_file_path(database_url)
    if path is None:
        return _pg_dump_data(database_url) + _postgres_files(database_url)
    database = Path(path)
    return b"".join(p.read_bytes() for p in sorted(database.parent.glob(database.name + "*")))


def stored_bytes_after_erasure(database_url: str) -> bytes:
    """`stored_bytes` once an erasure's request has finished, for "an erased person is gone".

    SQLite overwrites deleted rows at once (secure_delete, shared/db.py); its WAL still holds the pages
    as they were before, until a checkpoint copies them back and truncates it. PostgreSQL keeps a
    deleted row's bytes in its table's and indexes' pages: nothing is done here, the app itself
    rewrites the tables the erasure deleted from once it committed (features/email/erasure.py)."""
    from shared.db import sqlite_file_path

    if sqlite_file_path(database_url):
        outside_the_app(database_url, "PRAGMA wal_checkpoint(TRUNCATE)")
    return stored_bytes(database_url)


# --- query plans -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableRead:
    """One read of a table in a query plan, as either engine describes it."""

    table: str
    index: str | None  # the index the read goes through; None when it reads the whole table
    ranged: bool  # the index itself narrows the read to a range of one column (lo < c < hi), maybe after c0 = x


_SQLITE_READ = re.compile(r"(?:SCAN|SEARCH) (?!bounds )(\w+)")
_SQLITE_RANGE = re.compile(r"SEARCH \w+ USING (?:COVERING )?INDEX \w+ \((?:\w+=\? AND )?\w+>\? AND \w+<\?\)")
# PostgreSQL's Index Cond for c >= lo AND c < hi: "((c >= ...) AND (c < ...))", after "(c0 = ...) AND" maybe.
_POSTGRES_RANGE = re.compile(r"\((\w+) >=? .+\) AND \(\1 <=? .+\)\)$")


async def table_reads(session: Any, statement: str, parameters: Any) -> list[TableRead]:
    """The table reads of `statement` (as the driver ran it, with its parameters) in the engine's own plan.

    SQLite: EXPLAIN QUERY PLAN's lines ("SEARCH t USING INDEX i (c>? AND c<?)"). PostgreSQL: EXPLAIN
    (FORMAT JSON)'s nodes; a scan of an index with no Index Cond (the whole index, filtered) counts as
    reading the whole table, and a Bitmap Heap Scan goes through its Bitmap Index Scans' indexes."""
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    if not ON_POSTGRES:
        cursor = await driver.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
        steps = [row[-1] for row in await cursor.fetchall()]
        return [
            TableRead(table=found.group(1), index=step.split(" USING ", 1)[1] if " USING " in step else None,
                      ranged=bool(_SQLITE_RANGE.match(step)))
            for step in steps if (found := _SQLITE_READ.match(step))
        ]
    plan = await driver.fetchval(f"EXPLAIN (FORMAT JSON) {statement}", *parameters)
    plan = json.loads(plan) if isinstance(plan, str) else plan  # SQLAlchemy's asyncpg codec decodes JSON
    reads: list[TableRead] = []

    def walk(node: dict[str, Any]) -> None:
        if "Relation Name" in node:
            conditions = [(node.get("Index Name"), node.get("Index Cond"))]
            if node["Node Type"] == "Bitmap Heap Scan":
                conditions = [(child.get("Index Name"), child.get("Index Cond")) for child in node.get("Plans", [])
                              if child["Node Type"] == "Bitmap Index Scan"]
            narrowing = [(index, condition) for index, condition in conditions if index and condition]
            reads.append(TableRead(
                table=node["Relation Name"], index=narrowing[0][0] if narrowing else None,
                ranged=any(_POSTGRES_RANGE.search(condition) for _, condition in narrowing),
            ))
        for child in node.get("Plans", []):
            if node["Node Type"] != "Bitmap Heap Scan" or child["Node Type"] != "Bitmap Index Scan":
                walk(child)

    walk(plan[0]["Plan"])
    return reads
