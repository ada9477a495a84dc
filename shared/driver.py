"""Hot statements straight on the SQLite driver.

SQLAlchemy's aiosqlite adapter spends three or four trips to the driver's thread on every
statement (create a cursor, execute, fetch, close), and the session derives a cache key from
the statement on every execution. For the few statements on public write paths that run
hundreds of times a second, `DriverStatement` compiles a Core statement once, with
SQLAlchemy's own compiler and type processors, and runs it in one trip, inside the
session's transaction. Everything else goes through the session as usual.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.sql import ClauseElement
from sqlmodel.ext.asyncio.session import AsyncSession

_DIALECT = SQLiteDialect_aiosqlite()


class DriverStatement:
    def __init__(self, statement: ClauseElement) -> None:
        self._compiled = statement.compile(dialect=_DIALECT)
        self.sql = self._compiled.string
        self._order: Sequence[str] = self._compiled.positiontup or ()
        self._processors = {
            name: bind.type.dialect_impl(_DIALECT).bind_processor(_DIALECT)
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

    async def _driver(self, session: AsyncSession) -> Any:
        connection = await session.connection()  # begins the session's transaction if need be
        return (await connection.get_raw_connection()).driver_connection

    async def fetchall(self, session: AsyncSession, values: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Runs the statement and returns its rows (say, from RETURNING); raises the driver's own errors."""
        driver = await self._driver(session)
        return list(await driver.execute_fetchall(self.sql, self.parameters(values)))

    async def execute(self, session: AsyncSession, values: dict[str, Any]) -> None:
        """Runs a statement that returns no rows; its cursor holds nothing and is left to the GC."""
        driver = await self._driver(session)
        await driver.execute(self.sql, self.parameters(values))
