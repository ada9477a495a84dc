"""Database kernel: engine with SQLite pragmas, write-safe transactions, sessions, UTC times."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import DateTime, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

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
        return None if value is None else as_utc(value).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value)


def sqlite_file_path(database_url: str) -> str | None:
    """The file behind a SQLite URL, or None for memory or other databases."""
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite") or url.database in (None, "", ":memory:"):
        return None
    return url.database


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN is ours to emit (SQLAlchemy's recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A transaction that may write takes the write lock up front: upgrading a deferred
        # read transaction to a write fails at once with "database is locked" under contention,
        # while BEGIN IMMEDIATE waits its turn through busy_timeout.
        mode = connection.get_execution_options().get(_BEGIN_MODE, "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")


def create_engine(database_url: str, *, echo: bool = False) -> AsyncEngine:
    is_sqlite = database_url.startswith("sqlite")
    connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000} if is_sqlite else {}
    engine = create_async_engine(database_url, echo=echo, connect_args=connect_args)
    if is_sqlite:
        _install_sqlite_hooks(engine)
    return engine


@dataclass
class Database:
    """The engine and two session factories: writers lock up front, readers do not."""

    engine: AsyncEngine
    writer: async_sessionmaker[AsyncSession]
    reader: async_sessionmaker[AsyncSession]

    @classmethod
    def from_url(cls, database_url: str, *, echo: bool = False) -> Database:
        engine = create_engine(database_url, echo=echo)
        read_engine = engine.execution_options(**{_BEGIN_MODE: "DEFERRED"})
        return cls(
            engine=engine,
            writer=async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False),
            reader=async_sessionmaker(read_engine, class_=AsyncSession, expire_on_commit=False),
        )

    @asynccontextmanager
    async def session(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """A unit of work: commits when the block succeeds, rolls back when it raises."""
        factory = self.writer if write else self.reader
        async with factory() as session:
            try:
                yield session
            except BaseException as exc:
                if getattr(exc, "persist_changes", False):
                    await session.commit()
                else:
                    await session.rollback()
                raise
            else:
                await session.commit()

    async def dispose(self) -> None:
        await self.engine.dispose()


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request, committed before the response is sent."""
    database: Database = request.app.state.db
    async with database.session(write=request.method not in _SAFE_METHODS) as session:
        yield session


# scope="function": the commit happens before the response leaves, so a 201 means stored.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_database(request: Request) -> Database:
    return request.app.state.db


DatabaseDep = Annotated[Database, Depends(get_database)]
