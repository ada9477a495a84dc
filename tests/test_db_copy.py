"""`magnetiq db copy`: a SQLite file seeded through the API, copied into the suite's engine (an empty
PostgreSQL database under `make test-postgres`, a new SQLite file otherwise), then served by the app."""

from __future__ import annotations

import io
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlalchemy
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from PIL import Image
from sqlalchemy import func, select, text

from magnetiq import cli
from magnetiq.app import create_app
from magnetiq.registry import metadata
from shared.config import Settings
from shared.database_copy import CopyFailed, CopyRefused, copy_database
from shared.db import create_engine
from shared.permissions import Role
from tests import engines
from tests.factories import build_schema, free_port, make_user, mint_headers

PAGES, WEBINARS = "/api/v1/content/pages", "/api/v1/business/webinars"
MEDIA, CONTACTS, USERS = "/api/v1/content/media", "/api/v1/communication/email/contacts", "/api/v1/admin/users"


def _settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None, environment="test", database_url=database_url, upload_dir=str(tmp_path / "media"),
        worker_enabled=False, smtp_host="127.0.0.1", smtp_port=free_port(), email_send_rate=1000,
    )


@pytest.fixture
def source_url(tmp_path: Path) -> str:
    """An empty SQLite file at head, as `magnetiq db upgrade` leaves it."""
    path = tmp_path / "source.db"
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        build_schema(connection)
    engine.dispose()
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def target_url(tmp_path: Path) -> Iterator[str]:
    """An empty database on the suite's engine: a file not yet made on SQLite, a new database on PostgreSQL."""
    if not engines.ON_POSTGRES:
        yield f"sqlite+aiosqlite:///{tmp_path / 'target' / 'magnetiq.db'}"
        return
    name = f"copy_{uuid.uuid4().hex[:12]}"
    engines.admin().execute(f'CREATE DATABASE "{name}"')
    try:
        yield engines.database_url(name)
    finally:
        engines.drop(name)


@pytest.fixture
async def source_app(source_url: str, tmp_path: Path) -> AsyncIterator[FastAPI]:
    app = create_app(_settings(source_url, tmp_path))
    yield app
    await app.state.db.dispose()


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (3, 2), (200, 10, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


async def _seed(app: FastAPI) -> tuple[dict[str, str], list[str]]:
    """Users, a page with revisions, a webinar with registrations, media, contacts (one erased), through the
    API; returns admin headers and the URLs whose answers the copy must reproduce."""
    admin = await make_user(app, email="admin@example.com", role=Role.ADMIN)
    headers = await mint_headers(app, admin)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as http:
        async def created(response) -> dict:
            assert response.status_code == 201, response.text
            return response.json()

        await created(await http.post(USERS, headers=headers, json={
            "email": "editor@example.com", "password": "a-long-unique-passphrase", "first_name": "E",
            "last_name": "D", "role": "editor",
        }))
        page = await created(await http.post(PAGES, headers=headers, json={
            "slug": "about-us", "title": {"en": "About us", "de": "Über uns"},
            "content": {"en": "<p>We build things.</p>", "de": "<p>Wir bauen Dinge.</p>"},
        }))
        updated = await http.put(f"{PAGES}/{page['id']}", headers=headers, json={"status": "published"})
        assert updated.status_code == 200, updated.text
        webinar = await created(await http.post(WEBINARS, headers=headers, json={
            "slug": "lead-scoring", "title": {"en": "Lead scoring", "de": "Lead-Scoring"},
            "starts_at": "2031-05-04T15:30:00+02:00", "duration_minutes": 45, "timezone": "Europe/Berlin",
            "capacity": 50, "join_url": "https://meet.example.com/x", "status": "published",
        }))
        for n, consent in ((1, True), (2, False)):
            await created(await http.post(f"{WEBINARS}/{webinar['id']}/register", json={
                "first_name": "Grace", "last_name": f"H{n}", "email": f"grace{n}@example.com",
                "consent_marketing": consent,
            }))
        media = await http.post(MEDIA, headers=headers, files={"file": ("red.png", _png(), "image/png")},
                                data={"alt_text": '{"en": "Red"}'})
        assert media.status_code == 201, media.text
        kept = await created(await http.post(CONTACTS, headers=headers, json={"email": "ada@example.com", "tags": ["vip"]}))
        erased = await created(await http.post(CONTACTS, headers=headers, json={"email": "zed@example.com"}))
        assert (await http.delete(f"{CONTACTS}/{erased['id']}", headers=headers)).status_code == 204
    urls = [
        USERS, f"{PAGES}/{page['id']}", f"{PAGES}/{page['id']}/revisions", "/api/v1/public/pages/about-us",
        f"{WEBINARS}/{webinar['id']}", f"{WEBINARS}/{webinar['id']}/registrations", MEDIA,
        f"{MEDIA}/{media.json()['id']}", CONTACTS, f"{CONTACTS}/{kept['id']}",
    ]
    return headers, urls


async def _answers(app: FastAPI, headers: dict[str, str], urls: list[str]) -> dict[str, object]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as http:
        answers = {}
        for url in urls:
            response = await http.get(url, headers=headers)
            assert response.status_code == 200, (url, response.text)
            answers[url] = response.json()
        return answers


async def _row_counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return {table.name: (await connection.execute(select(func.count()).select_from(table))).scalar_one()
                    for table in metadata.sorted_tables}
    finally:
        await engine.dispose()


async def test_a_seeded_file_is_copied_served_the_same_and_takes_new_rows(source_app, source_url, target_url, tmp_path):
    headers, urls = await _seed(source_app)
    before = await _answers(source_app, headers, urls)
    batches: list[tuple[str, int]] = []

    report = await copy_database(source_url, target_url, metadata=metadata, batch_rows=1,
                                 progress=lambda table, rows: batches.append((table, rows)))

    assert not report.mismatched and report.rows == sum((await _row_counts(source_url)).values())
    counts = {table.name: table.target for table in report.tables}
    assert counts["admin_users"] == 2 and counts["webinar_registrations"] == 2 and counts["page_revisions"] >= 1
    assert counts["email_contacts"] == 3 and counts["media_items"] == 1  # ada, grace1 (consented); zed erased
    assert await _row_counts(target_url) == await _row_counts(source_url)
    assert [name for name, _ in batches] == [t.name for t in metadata.sorted_tables]  # foreign-key order

    target = create_app(_settings(target_url, tmp_path))  # the same upload folder: media files stay put
    try:
        assert await _answers(target, headers, urls) == before
        async with AsyncClient(transport=ASGITransport(app=target), base_url="http://t") as http:
            page = await http.post(PAGES, headers=headers, json={"slug": "new", "title": {"en": "N"}, "content": {"en": "x"}})
            assert page.status_code == 201, page.text  # the id counters were moved past the copied ids
            contact = await http.post(CONTACTS, headers=headers, json={"email": "new@example.com"})
            assert contact.status_code == 201, contact.text
            # Contact ids are never reused: the erased contact's id (the highest given) stays unused.
            assert contact.json()["id"] == max(c["id"] for c in before[CONTACTS]["items"]) + 2
            registration = await http.post(f"{urls[4]}/register", json={
                "first_name": "Ada", "last_name": "L", "email": "ada.l@example.com", "consent_marketing": False,
            })
            assert registration.status_code == 201, registration.text
    finally:
        await target.state.db.dispose()


async def test_a_target_with_rows_is_refused_unless_replaced(source_app, source_url, target_url):
    await make_user(source_app, email="admin@example.com", role=Role.ADMIN)
    await copy_database(source_url, target_url, metadata=metadata)
    await make_user(source_app, email="second@example.com", role=Role.ADMIN)

    with pytest.raises(CopyRefused, match=r"not empty: admin_users \(1 rows\).*--replace"):
        await copy_database(source_url, target_url, metadata=metadata)
    assert (await _row_counts(target_url))["admin_users"] == 1

    report = await copy_database(source_url, target_url, metadata=metadata, replace=True)
    assert not report.mismatched and (await _row_counts(target_url))["admin_users"] == 2


async def test_a_source_behind_head_is_refused_and_the_target_left_untouched(source_url, target_url):
    path = source_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0014'")
    with pytest.raises(CopyRefused, match=r"revision 0014, not the newest .*magnetiq db upgrade"):
        await copy_database(source_url, target_url, metadata=metadata)
    if engines.ON_POSTGRES:
        engine = create_engine(target_url)
        async with engine.connect() as connection:
            tables = (await connection.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"))).scalar()
        await engine.dispose()
        assert tables == 0
    else:
        assert not Path(target_url.removeprefix("sqlite+aiosqlite:///")).exists()


async def test_a_failure_midway_leaves_the_target_empty(source_app, source_url, target_url):
    await make_user(source_app, email="admin@example.com", role=Role.ADMIN)
    # A registration whose webinar is gone (written with foreign keys off): the target refuses it, late in the copy.
    with sqlite3.connect(source_url.removeprefix("sqlite+aiosqlite:///")) as connection:
        connection.execute("PRAGMA foreign_keys=OFF")
        connection.execute(
            "INSERT INTO webinar_registrations (webinar_id, first_name, last_name, email, email_normalized,"
            " language, consent_marketing, created_at) VALUES (999, 'A', 'B', 'a@example.com', 'a@example.com',"
            " 'en', 0, '2030-01-01 00:00:00.000000')"
        )
    with pytest.raises(CopyFailed, match=r"copying webinar_registrations failed, so nothing was kept") as failure:
        await copy_database(source_url, target_url, metadata=metadata)
    assert "a@example.com" not in str(failure.value)
    assert set((await _row_counts(target_url)).values()) == {0}  # migrated, and empty: the users went too


@pytest.mark.postgres_only  # another connection writes into the target while the copy's transaction is open
async def test_a_count_that_differs_rolls_the_copy_back(source_app, source_url, target_url):
    await make_user(source_app, email="admin@example.com", role=Role.ADMIN)
    intruder = create_engine(target_url)

    async def write_behind_its_back(table: str, _rows: int) -> None:
        if table == "cache_versions":
            async with intruder.begin() as connection:
                await connection.execute(text("INSERT INTO cache_versions (namespace, version) VALUES ('x', 1)"))

    try:
        report = await copy_database(source_url, target_url, metadata=metadata, progress=write_behind_its_back)
    finally:
        await intruder.dispose()
    assert [(t.name, t.source, t.target) for t in report.mismatched] == [("cache_versions", 0, 1)]
    counts = await _row_counts(target_url)
    assert counts["admin_users"] == 0 and counts["cache_versions"] == 1  # only the intruder's row


def test_the_command_prints_counts_and_never_a_password(source_url, target_url, capsys):
    with sqlite3.connect(source_url.removeprefix("sqlite+aiosqlite:///")) as connection:
        connection.execute("INSERT INTO cache_versions (namespace, version) VALUES ('pages', 3)")
    cli.main(["db", "copy", source_url, target_url])
    out = capsys.readouterr().out
    assert "cache_versions: 1 rows copied" in out and "copied 1 rows of " in out
    assert "every count matches" in out

    with pytest.raises(SystemExit) as again:
        cli.main(["db", "copy", source_url, target_url])
    assert "not empty" in str(again.value.code)

    unreachable = f"postgresql://magnetiq:s3cret-Passw0rd@127.0.0.1:{free_port()}/magnetiq"
    with pytest.raises(SystemExit) as failed:
        cli.main(["db", "copy", source_url, unreachable])
    printed = capsys.readouterr().out + str(failed.value.code)
    assert "did not answer" in str(failed.value.code)
    assert "s3cret-Passw0rd" not in printed and "magnetiq:***@127.0.0.1" in printed


async def test_the_copy_goes_back_into_a_new_sqlite_file_with_its_id_counters(source_app, source_url, target_url, tmp_path):
    from shared.dialect import next_id

    await make_user(source_app, email="admin@example.com", role=Role.ADMIN)
    with sqlite3.connect(source_url.removeprefix("sqlite+aiosqlite:///")) as connection:
        # Two contacts, the later one erased: AUTOINCREMENT remembers its id, and so must every copy.
        connection.executemany(
            "INSERT INTO email_contacts (email, language, status, soft_bounces, created_at, updated_at)"
            " VALUES (?, 'en', 'subscribed', 0, '2030-01-01 00:00:00.000000', '2030-01-01 00:00:00.000000')",
            [("a@example.com",), ("b@example.com",)],
        )
        connection.execute("DELETE FROM email_contacts WHERE email = 'b@example.com'")
    await copy_database(source_url, target_url, metadata=metadata)
    back_url = f"sqlite+aiosqlite:///{tmp_path / 'back.db'}"
    report = await copy_database(target_url, back_url, metadata=metadata)

    assert not report.mismatched and await _row_counts(back_url) == await _row_counts(source_url)
    contacts = metadata.tables["email_contacts"]
    for url in (target_url, back_url):
        engine = create_engine(url)
        async with engine.connect() as connection:
            assert await next_id(connection, contacts) == 3, url  # not 2: the erased contact's id stays unused
        await engine.dispose()
