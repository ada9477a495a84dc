"""The test harness itself: an app a test built does not outlive the test, so the heap stays flat
however many tests build one (it passed 1.7 GB over the suite when every app stayed)."""

from __future__ import annotations

import gc
import shutil
import tracemalloc
import weakref
from pathlib import Path

from httpx import ASGITransport, AsyncClient

from magnetiq.app import create_app
from shared.config import Settings
from shared.db import sqlite_file_path
from tests.factories import release_framework_caches


async def _build_and_use_an_app(settings: Settings, template: Path | str) -> weakref.ref:
    """An app as the `app` fixture builds it, with one request served (FastAPI builds its routes then)."""
    database = sqlite_file_path(settings.database_url)
    if database is not None:  # on PostgreSQL the settings name a database cloned from the template already
        shutil.copyfile(template, database)
    app = create_app(settings)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as client:
        assert (await client.get("/api/v1/health")).status_code == 200
    await app.state.db.dispose()
    return weakref.ref(app)


async def test_an_app_is_freed_once_the_harness_releases_the_framework_caches(settings: Settings, schema_template: Path | str):
    apps = [await _build_and_use_an_app(settings, schema_template) for _ in range(3)]
    gc.collect()
    assert all(app() is not None for app in apps), "FastAPI's caches hold every app until they are released"

    release_framework_caches()
    gc.collect()

    assert [app() for app in apps] == [None, None, None]


async def test_the_heap_does_not_grow_with_the_apps_built(settings: Settings, schema_template: Path | str):
    await _build_and_use_an_app(settings, schema_template)  # imports, first-use caches
    release_framework_caches()
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for _ in range(4):
            await _build_and_use_an_app(settings, schema_template)
            release_framework_caches()  # what the harness does after each test
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    grown_mib = (after - before) / 2**20
    assert grown_mib < 1.5, f"the heap grew {grown_mib:.1f} MiB over 4 apps"  # each app kept: over 1 MiB


def test_the_collector_skips_what_collection_left_and_runs_less_often():
    """Half of the collector's time over a slice's tests, measured: what lives from collection on is frozen."""
    assert gc.get_freeze_count() > 100_000
    assert gc.get_threshold()[0] >= 7000


def test_no_test_imports_from_a_conftest():
    """Helpers live in factories modules (tests/factories.py, a slice's tests/factories.py); a conftest
    holds fixtures only, and fixtures reach tests by pytest, not by import."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    importing = re.compile(r"^\s*from \S*conftest import (?!.*# a fixture)", re.M)
    offenders = [
        str(path.relative_to(root)) for path in [*root.glob("features/**/*.py"), *root.glob("tests/**/*.py")]
        if importing.search(path.read_text())
    ]
    assert offenders == []
