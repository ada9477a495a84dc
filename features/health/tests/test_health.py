from alembic import command

from shared.schema import alembic_config


async def test_health_reports_status_version_environment(client):
    response = await client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "healthy", "version": "2.0.0", "environment": "test"}


async def test_detailed_health_is_degraded_until_migrations_reach_head(client, settings, tmp_path):
    # The test schema comes from create_all, so no Alembic revision is recorded yet.
    before = (await client.get("/api/v1/health/detailed")).json()
    assert before["status"] == "degraded"
    assert before["database"]["status"] == "degraded" and before["database"]["migrations_at_head"] is False
    assert before["upload_dir"]["status"] == "healthy"
    assert before["database"]["size_bytes"] > 0


def test_detailed_health_is_healthy_at_head(tmp_path, app_factory):
    import asyncio

    from httpx import ASGITransport, AsyncClient

    from shared.config import Settings

    url = f"sqlite+aiosqlite:///{tmp_path / 'migrated.db'}"
    command.upgrade(alembic_config(url), "head")
    settings = Settings(_env_file=None, environment="test", database_url=url, upload_dir=str(tmp_path / "m"),
                        worker_enabled=False)

    async def probe():
        app = app_factory(settings)
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
            body = (await client.get("/api/v1/health/detailed")).json()
        await app.state.db.dispose()
        return body

    body = asyncio.run(probe())
    assert body["status"] == "healthy"
    assert body["database"]["migrations_at_head"] is True
    # No file paths or secrets in a public answer.
    assert str(tmp_path) not in str(body) and "secret" not in str(body).lower()


async def test_unwritable_upload_dir_is_unhealthy(app, client, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    app.state.settings.upload_dir = str(blocker / "media")
    body = (await client.get("/api/v1/health/detailed")).json()
    assert body["upload_dir"]["status"] == "unhealthy"
    assert str(tmp_path) not in str(body)


async def test_an_unreachable_database_is_unhealthy_without_saying_where_it_is(tmp_path, app_factory):
    from httpx import ASGITransport, AsyncClient

    from shared.config import Settings

    url = f"sqlite+aiosqlite:///{tmp_path / 'no-such-dir' / 'db.sqlite'}"  # SQLite cannot create the directory
    settings = Settings(_env_file=None, environment="test", database_url=url, upload_dir=str(tmp_path / "m"),
                        worker_enabled=False)
    app = app_factory(settings)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/api/v1/health/detailed")
    await app.state.db.dispose()
    body = response.json()
    assert body["status"] == "unhealthy" and body["database"]["status"] == "unhealthy"
    assert body["database"]["detail"] == "database unreachable" and str(tmp_path) not in response.text
