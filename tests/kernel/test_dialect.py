"""Engine-specific SQL lives in shared/dialect.py (and the connection set-up in shared/db.py), nowhere else."""

import re
from pathlib import Path

from sqlalchemy import Index, column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex

from magnetiq.registry import metadata
from shared.dialect import casefold, unique_violation_columns

ROOT = Path(__file__).resolve().parents[2]
ENGINE_SPECIFIC = re.compile(
    r"sqlite_where|postgresql_where|json_each|dialects\.(sqlite|postgresql)|create_function"
    r"|str\(exc\.orig\)|constraint failed|sqlstate"  # a driver's message or code matched outside the dialect
    r"|VACUUM \(|REINDEX"  # PostgreSQL's ways of rewriting a table (SQLite's plain VACUUM is admin upkeep's own)
)
ALLOWED = {"shared/dialect.py", "shared/db.py"}


def test_no_slice_or_kernel_module_spells_engine_specific_sql():
    offenders = []
    for path in [*ROOT.glob("features/**/*.py"), *ROOT.glob("shared/*.py"), *ROOT.glob("src/**/*.py")]:
        relative = path.relative_to(ROOT).as_posix()
        if relative in ALLOWED or "/tests/" in relative:
            continue
        if ENGINE_SPECIFIC.search(path.read_text()):
            offenders.append(relative)
    assert offenders == []


def test_every_partial_index_is_partial_on_every_engine():
    partial = [index for table in metadata.tables.values() for index in table.indexes
               if index.dialect_options["sqlite"]["where"] is not None]
    assert {index.name for index in partial} >= {"uq_pages_slug_live", "uq_whitepapers_slug_live",
                                                 "uq_bookings_active_start"}
    for index in partial:
        assert isinstance(index, Index)
        on_sqlite = str(CreateIndex(index).compile(dialect=sqlite.dialect()))
        on_postgresql = str(CreateIndex(index).compile(dialect=postgresql.dialect()))
        assert " WHERE " in on_sqlite and " WHERE " in on_postgresql, index.name
        assert on_sqlite.split(" WHERE ")[1] == on_postgresql.split(" WHERE ")[1]


def test_casefold_is_the_connection_function_on_sqlite_and_lower_on_postgresql():
    statement = select(casefold(column("title")))
    assert "casefold(title)" in str(statement.compile(dialect=sqlite.dialect()))
    assert "lower(title)" in str(statement.compile(dialect=postgresql.dialect()))


async def test_a_unique_violation_names_its_columns_on_either_engine_and_other_errors_none(app):
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    async with app.state.db.session() as session:
        connection = await session.connection()
        await connection.execute(text("CREATE TABLE uniques (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER, c INTEGER NOT NULL)"))
        await connection.execute(text("CREATE UNIQUE INDEX uq_uniques_a_b ON uniques (a, b)"))
        await connection.execute(text("INSERT INTO uniques (id, a, b, c) VALUES (1, 1, 1, 1)"))
    for statement, expected in [
        ("INSERT INTO uniques (id, a, b, c) VALUES (2, 1, 1, 1)", {"a", "b"}),
        ("INSERT INTO uniques (id, a, b, c) VALUES (1, 2, 2, 2)", {"id"}),
        ("INSERT INTO uniques (id, a, b, c) VALUES (3, 3, 3, NULL)", None),  # a NOT NULL, not a uniqueness
    ]:
        with pytest.raises(IntegrityError) as refused:
            async with app.state.db.session() as session:
                await (await session.connection()).execute(text(statement))
        assert unique_violation_columns(refused.value) == expected, statement


def test_compaction_rewrites_each_table_on_postgresql_under_a_lock_timeout_and_is_nothing_on_sqlite():
    import pytest

    from shared.dialect import compaction_statements

    assert compaction_statements("sqlite", ["email_contacts"]) == []  # secure_delete overwrote the rows already
    statements = compaction_statements("postgresql", ["email_contacts", "mail_outbox"])
    assert statements[0].startswith("SET lock_timeout = ")
    assert statements[1:] == ['VACUUM (FULL) "email_contacts"', 'VACUUM (FULL) "mail_outbox"']
    with pytest.raises(ValueError):
        compaction_statements("postgresql", ['x"; DROP TABLE y; --'])
