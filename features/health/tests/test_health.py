from alembic import command

from shared.migrations import alembic_config
from tests import engines

ENGINE_TYPE = "PostgreSQL" if engines.ON_POSTGRES else "SQLite"


async def forget_revision(app) -> None:
    from sqlalchemy import text

    async with app.state.db.session() as session:
        await session.exec(text("DELETE FROM alembic_version"))


async def test_health_reports_status_version_environment(client):
    response = await client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "healthy", "version": "2.0.0", "environment": "test"}


async def test_detailed_health_is_degraded_until_migrations_reach_head(app, client, settings, tmp_path):
    # The test schema comes from create_all, stamped at head: take the revision away again.
    await forget_revision(app)
    before = (await client.get("/api/v1/health/detailed")).json()
    services = before["services"]
    database = services["database"]
    assert before["status"] == "degraded" and (database["status"], database["type"]) == ("healthy", ENGINE_TYPE)
    assert database["version"][0].isdigit() and database["size_bytes"] > 0
    assert services["migrations"]["status"] == "unhealthy" and services["migrations"]["at_head"] is False
    assert "magnetiq db upgrade" in services["migrations"]["message"]
    assert services["upload_dir"]["status"] == "healthy"
    assert services["filesystem"]["status"] == "healthy" and services["filesystem"]["database_size_mb"] > 0


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
    # What monitoring written against the seed's example reads, unchanged.
    assert body["status"] == "healthy" and body["version"] == "2.0.0" and body["environment"] == "test"
    database = body["services"]["database"]
    assert (database["status"], database["type"]) == ("healthy", "SQLite")
    assert set(database) == {"status", "type", "version", "size_bytes"} and database["size_bytes"] > 0
    filesystem = body["services"]["filesystem"]
    assert filesystem["status"] == "healthy" and isinstance(filesystem["database_size_mb"], float)
    assert set(filesystem) == {"status", "database_size_mb"}
    # Our checks beyond the seed, each an object with a status.
    assert body["services"]["migrations"]["at_head"] is True and body["services"]["migrations"]["status"] == "healthy"
    assert body["services"]["upload_dir"] == {"status": "healthy"}
    # No file paths or secrets in a public answer.
    assert str(tmp_path) not in str(body) and "secret" not in str(body).lower()


async def test_unwritable_upload_dir_is_unhealthy(app, client, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    app.state.settings.upload_dir = str(blocker / "media")
    body = (await client.get("/api/v1/health/detailed")).json()
    assert body["services"]["upload_dir"] == {"status": "unhealthy", "message": "upload directory is not writable"}
    assert body["status"] == "degraded"
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
    database = body["services"]["database"]
    assert body["status"] == "unhealthy" and database["status"] == "unhealthy"
    assert database["message"] == "database unreachable" and str(tmp_path) not in response.text


UPGRADE_HINT = "the database schema is not at the newest migration; run `magnetiq db upgrade`"


async def test_health_is_unhealthy_with_503_while_the_schema_is_not_at_head(app, client):
    await forget_revision(app)

    response = await client.get("/api/v1/health")

    assert response.status_code == 503
    assert response.json() == {"status": "unhealthy", "version": "2.0.0", "environment": "test", "detail": UPGRADE_HINT}


async def test_health_is_unhealthy_on_a_database_never_migrated(tmp_path, app_factory):
    from httpx import ASGITransport, AsyncClient

    from shared.config import Settings

    settings = Settings(_env_file=None, environment="test", database_url=f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}",
                        upload_dir=str(tmp_path / "m"), worker_enabled=False)
    app = app_factory(settings)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/api/v1/health")
    await app.state.db.dispose()
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy" and response.json()["detail"] == UPGRADE_HINT


async def test_health_remembers_a_healthy_schema_for_a_while_and_an_unhealthy_one_never(app, client):
    from features.health.service import SchemaProbe
    from shared.migrations import stamp_head

    now = [1000.0]
    app.state.schema_probe = SchemaProbe(ttl=30, clock=lambda: now[0])
    await forget_revision(app)
    assert (await client.get("/api/v1/health")).status_code == 503

    async with app.state.db.engine.begin() as connection:  # upgraded meanwhile: healthy at the next poll
        await connection.run_sync(stamp_head)
    assert (await client.get("/api/v1/health")).status_code == 200

    await forget_revision(app)
    now[0] += 29  # within the 30 s a healthy answer is remembered
    assert (await client.get("/api/v1/health")).status_code == 200
    now[0] += 2
    response = await client.get("/api/v1/health")
    assert response.status_code == 503 and response.json()["detail"] == UPGRADE_HINT


async def test_health_is_unhealthy_when_the_database_is_unreachable(tmp_path, app_factory):
    from httpx import ASGITransport, AsyncClient

    from shared.config import Settings

    url = f"sqlite+aiosqlite:///{tmp_path / 'no-such-dir' / 'db.sqlite'}"
    settings = Settings(_env_file=None, environment="test", database_url=url, upload_dir=str(tmp_path / "m"),
                        worker_enabled=False)
    app = app_factory(settings)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/api/v1/health")
    await app.state.db.dispose()
    assert response.status_code == 503
    assert response.json()["detail"] == "database unreachable" and str(tmp_path) not in response.text


async def test_openapi_declares_the_unhealthy_503_with_the_health_body(client):
    operation = (await client.get("/openapi.json")).json()["paths"]["/api/v1/health"]["get"]

    unhealthy = operation["responses"]["503"]["content"]["application/json"]["schema"]
    assert unhealthy == {"$ref": "#/components/schemas/Health"}


async def test_a_busy_pool_is_degraded_not_unhealthy(settings, app_factory, schema_template):
    """Every connection in use is load, not breakage: a load balancer must not drop the instance for it."""
    import shutil

    from httpx import ASGITransport, AsyncClient
    from sqlalchemy import text

    if not engines.ON_POSTGRES:  # on PostgreSQL the database_url fixture cloned the template already
        shutil.copyfile(schema_template, settings.database_url.split("///", 1)[1])
    settings.database_pool_size, settings.database_max_overflow = 1, 0
    settings.database_pool_timeout_seconds = 0.2
    app = app_factory(settings)
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client, \
                app.state.db.engine.connect() as held:
            await held.execute(text("SELECT 1"))
            basic = await client.get("/api/v1/health")
            detailed = await client.get("/api/v1/health/detailed")
    finally:
        await app.state.db.dispose()
    assert basic.status_code == 200 and basic.json()["status"] == "degraded"
    assert "busy" in basic.json()["detail"]
    assert detailed.status_code == 200 and detailed.json()["services"]["database"]["status"] == "warning"
    assert detailed.json()["status"] == "degraded"


async def test_a_missing_database_file_is_the_seeds_filesystem_warning(tmp_path):
    from features.health.service import filesystem_service
    from shared.config import Settings
    from shared.health_checks import SingleFlight

    settings = Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path / 'gone.db'}")
    check = await filesystem_service(settings, SingleFlight())
    assert check.model_dump(exclude_none=True) == {"status": "warning", "message": "database file not found"}


async def test_the_database_size_counts_the_write_ahead_log(settings, tmp_path):
    from features.health.service import filesystem_service
    from shared.health_checks import SingleFlight

    path = tmp_path / "sized.db"
    path.write_bytes(b"x" * 1024 * 1024)
    (tmp_path / "sized.db-wal").write_bytes(b"x" * 512 * 1024)
    settings.database_url = f"sqlite+aiosqlite:///{path}"
    assert (await filesystem_service(settings, SingleFlight())).database_size_mb == 1.5


async def test_a_service_that_does_not_answer_in_time_is_unhealthy_while_the_others_answer(app, settings):
    import asyncio
    import time

    from features.health.schemas import ServiceCheck
    from features.health.service import detailed_health
    from shared.health_checks import SingleFlight

    flights = SingleFlight()
    flights._running["upload_dir_writable"] = asyncio.get_running_loop().create_future()  # a write still hung
    started = time.monotonic()
    # The limit leaves the answering checks room on a loaded machine; the hung one would never return.
    health = await detailed_health(app.state.db, settings, flights, time_limit=1.5)
    assert time.monotonic() - started < 4
    assert health.services.upload_dir == ServiceCheck(status="unhealthy", message="timed out after 1.5 s")
    assert health.services.database.status == "healthy" and health.status == "degraded"
