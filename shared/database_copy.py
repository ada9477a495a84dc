"""`magnetiq db copy SOURCE_URL TARGET_URL`: every table of one database into another, verified by row counts.

The move from the SQLite file to PostgreSQL (issue 13), or back. The target is migrated to head first and
filled in one transaction: a failure anywhere (a row the target refuses, a count that differs) rolls it
all back and leaves the target as empty as it was. The source is read in one read transaction (one
snapshot on either engine), table after table in foreign-key order, in batches: memory stays bounded and
the time linear in the rows. Values pass through the models' column types both ways (JSON documents,
aware UTC datetimes, booleans), so each engine stores them its own way. Copied rows keep their ids, so
the target's id counters are then set past them (and past every id the source ever gave where ids are
never reused: erased contacts' ids stay unused).

The kernel names no slice: the caller passes the metadata of every table (magnetiq.registry's).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from alembic import command
from sqlalchemy import MetaData, Table, func, insert, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db import Database, create_engine, sqlite_file_path
from shared.dialect import next_id, set_next_id, snapshot_options
from shared.migrations import alembic_config, current_revision, head_revision

DEFAULT_BATCH_ROWS = 1_000
_BOOKKEEPING = {"alembic_version"}  # the migration tool's own row; each side keeps its own


class CopyRefused(Exception):
    """Nothing was written: the message says why and what to do."""


class CopyFailed(Exception):
    """The copy started and was rolled back: the target holds what it held before."""


@dataclass
class TableCount:
    name: str
    source: int
    target: int

    @property
    def matches(self) -> bool:
        return self.source == self.target


@dataclass
class CopyReport:
    tables: list[TableCount] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(table.source for table in self.tables)

    @property
    def mismatched(self) -> list[TableCount]:
        return [table for table in self.tables if not table.matches]


def safe_url(url: str) -> str:
    """The URL as it may be printed: any password replaced by ***."""
    return make_url(url).render_as_string(hide_password=True)


def async_url(url: str) -> str:
    """The URL with this app's async driver: `sqlite:///x.db` and `postgresql://...` are accepted as written."""
    parsed = make_url(url)
    drivers = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg"}
    if parsed.drivername in drivers:
        parsed = parsed.set(drivername=drivers[parsed.drivername])
    return parsed.render_as_string(hide_password=False)


# Called after each table is copied, with its name and its row count in the source.
Progress = Callable[[str, int], object]


async def copy_database(
    source_url: str, target_url: str, *, metadata: MetaData, replace: bool = False,
    batch_rows: int = DEFAULT_BATCH_ROWS, progress: Progress | None = None,
) -> CopyReport:
    """Copies every table of `metadata` from the source into the target; raises CopyRefused before
    writing anything, CopyFailed after a rollback. With `replace`, the target's rows are deleted first
    (in the same transaction); without it a target holding any row is refused."""
    source_url, target_url = async_url(source_url), async_url(target_url)
    if _same_database(source_url, target_url):
        raise CopyRefused("the source and the target are the same database")
    source_file = sqlite_file_path(source_url)
    if source_file is not None and not await asyncio.to_thread(Path(source_file).is_file):
        raise CopyRefused(f"the source database file {source_file} does not exist")
    started = time.monotonic()
    source = Database.from_url(source_url)
    try:
        await _require_at_head(source)
        tables = [table for table in metadata.sorted_tables if table.name not in _BOOKKEEPING]
        await _refuse_tables_unknown_to(source, metadata)
        if not replace:
            await _refuse_rows_in(target_url)
        target_file = sqlite_file_path(target_url)
        if target_file is not None:
            await asyncio.to_thread(Path(target_file).parent.mkdir, parents=True, exist_ok=True)
        # Alembic runs its own event loop (migrations/env.py): on a thread of its own, beside this one.
        await asyncio.to_thread(command.upgrade, alembic_config(target_url), "head")
        report = await _copy(source, target_url, tables, replace=replace, batch_rows=batch_rows, progress=progress)
    finally:
        await source.dispose()
    report.seconds = round(time.monotonic() - started, 2)
    return report


def _same_database(one: str, other: str) -> bool:
    first, second = make_url(one), make_url(other)
    if first.drivername.startswith("sqlite") and second.drivername.startswith("sqlite"):
        paths = [sqlite_file_path(url) for url in (one, other)]
        return None not in paths and Path(paths[0]).resolve() == Path(paths[1]).resolve()  # type: ignore[arg-type]
    keys = [(u.get_backend_name(), u.host, u.port, u.database) for u in (first, second)]
    return keys[0] == keys[1]


async def _require_at_head(source: Database) -> None:
    try:
        revision = await current_revision(source)
    except ProgrammingError:  # PostgreSQL without the alembic_version table
        revision = None
    head = head_revision()
    if revision == head:
        return
    state = "has never been migrated" if revision is None else f"is at revision {revision}, not the newest {head}"
    raise CopyRefused(
        f"the source database {state}; migrate it first (`DATABASE_URL=<source> magnetiq db upgrade`), then copy"
    )


async def _refuse_tables_unknown_to(source: Database, metadata: MetaData) -> None:
    """A table this code does not know would be left behind without a word: refused instead."""
    async with source.engine.connect() as connection:
        names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    unknown = sorted(set(names) - set(metadata.tables) - _BOOKKEEPING)
    if unknown:
        raise CopyRefused(f"the source has tables this version does not know: {', '.join(unknown)}")


async def _refuse_rows_in(target_url: str) -> None:
    """Refuses a target with any row in any table (before migrating it: a refusal changes nothing)."""
    target_file = sqlite_file_path(target_url)
    if target_file is not None and not await asyncio.to_thread(Path(target_file).exists):
        return  # nothing there yet, and asking would create the file
    engine = create_engine(target_url)
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
            held = {}
            for name in sorted(set(names) - _BOOKKEEPING):
                table = Table(name, MetaData())
                found = (await connection.execute(select(text("1")).select_from(table).limit(1))).first()
                if found is not None:
                    held[name] = (await connection.execute(select(func.count()).select_from(table))).scalar_one()
    finally:
        await engine.dispose()
    if held:
        listed = ", ".join(f"{name} ({count} rows)" for name, count in held.items())
        raise CopyRefused(
            f"the target database is not empty: {listed}; copy into an empty database, or pass --replace "
            "to delete every row of the target first"
        )


async def _copy(
    source: Database, target_url: str, tables: list[Table], *, replace: bool, batch_rows: int,
    progress: Progress | None,
) -> CopyReport:
    report = CopyReport()
    engine = create_engine(target_url)
    try:
        async with source.session(write=False) as session:
            reading = await session.connection(execution_options=snapshot_options(source.dialect))
            try:
                async with engine.begin() as writing:
                    if replace:
                        for table in reversed(tables):  # children before the rows they reference
                            await writing.execute(table.delete())
                    for table in tables:
                        copied = await _copy_table(reading, writing, table, batch_rows)
                        counter = await next_id(reading, table)
                        if counter is not None:
                            await set_next_id(writing, table, counter)
                        if progress is not None:
                            await _maybe_await(progress(table.name, copied))
                        report.tables.append(TableCount(table.name, copied, 0))
                    for entry, table in zip(report.tables, tables, strict=True):
                        source_count = await _count(reading, table)
                        entry.source, entry.target = source_count, await _count(writing, table)
                    if report.mismatched:
                        raise _Mismatch
            except _Mismatch:
                return report  # rolled back; the caller reads the counts that differ
            except Exception as exc:  # a row the target refuses, a value its type cannot read: all rolled back
                raise CopyFailed(_reason(exc, report, tables)) from None
    finally:
        await engine.dispose()
    return report


class _Mismatch(Exception):
    """Leaves the target's transaction: a count differs, nothing is kept."""


async def _copy_table(reading: AsyncConnection, writing: AsyncConnection, table: Table, batch_rows: int) -> int:
    """The table's rows in batches: at most `batch_rows` are in memory at once."""
    key = list(table.primary_key.columns) or list(table.columns)
    result = await reading.stream(select(table).order_by(*key).execution_options(yield_per=batch_rows))
    copied = 0
    async for batch in result.partitions(batch_rows):
        rows = [dict(row._mapping) for row in batch]
        await writing.execute(insert(table), rows)
        copied += len(rows)
    return copied


async def _count(connection: AsyncConnection, table: Table) -> int:
    return (await connection.execute(select(func.count()).select_from(table))).scalar_one()


async def _maybe_await(value: object) -> None:
    if asyncio.iscoroutine(value):
        await value


def _reason(exc: BaseException, report: CopyReport, tables: list[Table]) -> str:
    """What failed, in which table, without the values bound (visitors' addresses, hashes)."""
    table = tables[len(report.tables)].name if len(report.tables) < len(tables) else "(the final counts)"
    driver_error = getattr(exc, "orig", None) or exc
    first_line = str(driver_error).strip().splitlines()[0] if str(driver_error).strip() else type(driver_error).__name__
    return f"copying {table} failed, so nothing was kept: {type(driver_error).__name__}: {first_line}"
