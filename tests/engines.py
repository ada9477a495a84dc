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
import os
import threading
import uuid
from collections.abc import Coroutine
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


def clone(template: str) -> str:
    """A new database, a copy of `template`; returns its name."""
    name = f"test_{_worker()}_{uuid.uuid4().hex[:12]}"
    admin().execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name


def drop(name: str) -> None:
    # FORCE: a test that left a connection behind (a second app, a killed subprocess) does not block it.
    admin().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
