"""Migrations: head matches the models, the chain goes down and up again, every slice's models are registered.

Plain synchronous tests: Alembic's env.py calls asyncio.run, which cannot run inside a running event loop.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from pprint import pformat
from typing import TypeVar

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from magnetiq import registry
from shared.migrations import MIGRATIONS_DIR, alembic_config, head_revision
from tests import engines

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parent.parent
VERSIONS_DIR = MIGRATIONS_DIR / "versions"
MIGRATION_FILE_NAME = re.compile(r"^(?P<date>\d{4}_\d{2}_\d{2})_(?P<slug>[a-z0-9]+(?:_[a-z0-9]+)*)\.py$")


@dataclass
class MigrationDatabase:
    """An empty database on the suite's engine and a way to look into it (synchronously, as Alembic runs)."""

    url: str

    def inspect(self, look: Callable[[sa.Connection], T]) -> T:
        async def run() -> T:
            engine = create_async_engine(self.url)
            try:
                async with engine.connect() as connection:
                    return await connection.run_sync(look)
            finally:
                await engine.dispose()

        return asyncio.run(run())


@pytest.fixture
def database(tmp_path: Path) -> Iterator[MigrationDatabase]:
    if not engines.ON_POSTGRES:
        yield MigrationDatabase(f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}")
        return
    name = engines.clone("template0")  # empty: the migrations build everything
    try:
        yield MigrationDatabase(engines.database_url(name))
    finally:
        engines.drop(name)


def schema_diff(database: MigrationDatabase) -> list:
    def compare(connection: sa.Connection) -> list:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "render_as_batch": True})
        return compare_metadata(context, registry.metadata)

    return database.inspect(compare)


def table_names(database: MigrationDatabase) -> set[str]:
    return database.inspect(lambda connection: set(sa.inspect(connection).get_table_names()))


def stored_revision(database: MigrationDatabase) -> str | None:
    return database.inspect(
        lambda connection: connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
    )


def test_there_is_exactly_one_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"migration history has branched: heads {heads}"
    assert heads[0] == head_revision()


def test_upgrade_to_head_matches_the_models(database: MigrationDatabase) -> None:
    command.upgrade(alembic_config(database.url), "head")

    assert stored_revision(database) == head_revision()
    diff = schema_diff(database)
    assert diff == [], "migrations at head differ from the models:\n" + pformat(diff)
    assert set(registry.metadata.tables) <= table_names(database)


def test_downgrade_to_base_and_upgrade_again(database: MigrationDatabase) -> None:
    config = alembic_config(database.url)
    command.upgrade(config, "head")
    tables_at_head = table_names(database)
    assert set(registry.metadata.tables) <= tables_at_head

    command.downgrade(config, "base")
    assert table_names(database) <= {"alembic_version"}, "downgrade to base left application tables behind"
    assert stored_revision(database) is None

    command.upgrade(config, "head")
    assert table_names(database) == tables_at_head
    assert stored_revision(database) == head_revision()
    diff = schema_diff(database)
    assert diff == [], "schema after downgrade and upgrade differs from the models:\n" + pformat(diff)


def feature_model_modules() -> list[str]:
    paths = sorted((REPO_ROOT / "features").glob("*/models.py"))
    return [".".join(path.relative_to(REPO_ROOT).with_suffix("").parts) for path in paths]


def test_every_feature_models_module_is_registered() -> None:
    expected = feature_model_modules()
    assert expected, "found no features/*/models.py; is REPO_ROOT right?"

    registered = {module.__name__ for module in registry.MODEL_MODULES}
    assert set(expected) <= registered, f"missing from registry.MODEL_MODULES: {sorted(set(expected) - registered)}"

    # In this process conftest has imported much already; a fresh interpreter shows what the registry alone imports.
    probe = (
        "import json, sys\n"
        "import magnetiq.registry\n"
        f"print(json.dumps([name for name in {expected!r} if name not in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [], "not imported by magnetiq.registry"


def test_registry_metadata_holds_every_table_of_the_code() -> None:
    """Importing every module of shared and features (tests aside) adds no table the registry did not have."""
    probe = """
import importlib, json, pkgutil
import magnetiq.registry as registry
before = set(registry.metadata.tables)
for package_name in ("shared", "features"):
    package = importlib.import_module(package_name)
    for info in pkgutil.walk_packages(package.__path__, package_name + "."):
        if ".tests" in info.name or info.name.rsplit(".", 1)[-1].startswith("test"):
            continue
        importlib.import_module(info.name)
print(json.dumps(sorted(set(registry.metadata.tables) - before)))
"""
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [], "tables defined outside what magnetiq.registry imports"


def test_migration_files_are_named_by_date_and_slug() -> None:
    files = sorted(path.name for path in VERSIONS_DIR.glob("*.py") if path.name != "__init__.py")
    assert files, f"no migrations in {VERSIONS_DIR}"
    for name in files:
        match = MIGRATION_FILE_NAME.match(name)
        assert match, f"{name} is not named YYYY_MM_DD_slug.py"
        datetime.strptime(match["date"], "%Y_%m_%d")  # a real date, not just digits


def test_migration_files_sort_in_the_order_they_apply() -> None:
    """`ls migrations/versions` reads as the history: after its date each file names its revision, in chain order."""
    from alembic.script import ScriptDirectory

    from shared.migrations import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config())
    applied = [script.revision for script in reversed(list(scripts.walk_revisions()))]
    files = sorted(path.name for path in (REPO_ROOT / "migrations" / "versions").glob("*.py"))
    assert [name.split("_")[3] for name in files] == applied
