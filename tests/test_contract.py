"""Schemathesis against the app's own /openapi.json, in-process, authenticated as an admin.

Every operation of every slice is fuzzed; a server error, an undocumented status code, a
response that does not match its schema, or a wrong content type fails the run. Importing
the module builds no database (collecting the suite, or running another file, writes nothing).

The LinkedIn and X operations run twice: with the providers unconfigured (their account
endpoints answer the documented 503 PROVIDER_NOT_CONFIGURED, the only 5xx allowed), and with
client credentials against the providers' fakes on loopback, where no 5xx is allowed at all.
"""

import asyncio
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import create_engine, insert

from features.auth.models import User
from features.linkedin.tests.fake_linkedin import CLIENT_ID, CLIENT_SECRET, FakeLinkedIn
from features.twitter.tests.fake_x import FakeX
from magnetiq.app import create_app
from shared.config import Settings
from shared.permissions import Role
from shared.security import create_token
from tests.factories import free_port

# The app exists at import (schemathesis reads its OpenAPI document to generate the tests); its
# database does not: the fixture below builds it when the test runs.
_WORKDIR = Path(tempfile.gettempdir()) / f"magnetiq-contract-{uuid.uuid4().hex}"
_SETTINGS = Settings(
    _env_file=None,
    environment="test",
    database_url=f"sqlite+aiosqlite:///{_WORKDIR / 'contract.db'}",
    upload_dir=str(_WORKDIR / "media"),
    worker_enabled=False,
    smtp_port=1,  # nothing listens: mail stays queued, as it would with the server down
)
app = create_app(_SETTINGS)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)

# The same app with LinkedIn and X configured, against their fakes (served by `fake_providers`).
_SOCIAL = r"^/api/v1/communication/(linkedin|twitter)/"
_FAKE_X, _FAKE_LINKEDIN = FakeX(), FakeLinkedIn()
_X_PORT, _LINKEDIN_PORT = free_port(), free_port()
_FAKE_LINKEDIN.base_url = f"http://127.0.0.1:{_LINKEDIN_PORT}"
_CONFIGURED_WORKDIR = Path(tempfile.gettempdir()) / f"magnetiq-contract-{uuid.uuid4().hex}"
_CONFIGURED = _SETTINGS.model_copy(update={
    "database_url": f"sqlite+aiosqlite:///{_CONFIGURED_WORKDIR / 'contract.db'}",
    "upload_dir": str(_CONFIGURED_WORKDIR / "media"), "provider_timeout_seconds": 2,
    "x_client_id": _FAKE_X.client_id, "x_client_secret": _FAKE_X.client_secret,
    "x_redirect_uri": "http://localhost:3036/x/callback",
    "x_authorize_url": f"http://127.0.0.1:{_X_PORT}/i/oauth2/authorize", "x_api_base_url": f"http://127.0.0.1:{_X_PORT}",
    "linkedin_client_id": CLIENT_ID, "linkedin_client_secret": CLIENT_SECRET,
    "linkedin_redirect_uri": "https://admin.example.com/oauth/linkedin",
    "linkedin_auth_base_url": f"{_FAKE_LINKEDIN.base_url}/oauth/v2", "linkedin_api_base_url": _FAKE_LINKEDIN.base_url,
})
_CONFIGURED = Settings.model_validate(_CONFIGURED.model_dump())  # the secrets as SecretStr again
configured_app = create_app(_CONFIGURED)
configured_schema = schemathesis.openapi.from_asgi("/openapi.json", configured_app).include(path_regex=_SOCIAL)


def _code(response) -> str | None:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def not_a_server_error_but_an_unconfigured_provider(ctx, response, case):
    """A 5xx fails, but for the documented 503 PROVIDER_NOT_CONFIGURED of LinkedIn and X without credentials."""
    if response.status_code == 503 and _code(response) == "PROVIDER_NOT_CONFIGURED":
        return None
    return not_a_server_error(ctx, response, case)


def _build_database(workdir: Path, schema_template: Path) -> int:
    """A copy of the suite's schema template in `workdir`, with one admin (whose tokens are minted)."""
    workdir.mkdir(parents=True, exist_ok=True)  # loading the schema ran the lifespan, which made media/
    database = workdir / "contract.db"
    shutil.copyfile(schema_template, database)
    engine = create_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        new_id = connection.execute(
            insert(User).values(
                email="contract-admin@example.com", hashed_password="no password: tokens are minted",
                first_name="Contract", last_name="Admin", role=Role.ADMIN, is_active=True,
            )
        ).inserted_primary_key[0]
    engine.dispose()
    return new_id


@pytest.fixture(scope="module")
def admin_id(schema_template) -> Iterator[int]:
    yield _build_database(_WORKDIR, schema_template)
    shutil.rmtree(_WORKDIR, ignore_errors=True)


@pytest.fixture(scope="module")
def fake_providers() -> Iterator[None]:
    """The fakes of X and LinkedIn on loopback, each uvicorn in a thread of its own."""
    servers = [
        uvicorn.Server(uvicorn.Config(fake.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off",
                                      access_log=False, timeout_graceful_shutdown=1))
        for fake, port in ((_FAKE_X, _X_PORT), (_FAKE_LINKEDIN, _LINKEDIN_PORT))
    ]
    threads = [threading.Thread(target=server.run, daemon=True) for server in servers]
    for thread in threads:
        thread.start()
    while not all(server.started for server in servers):
        threading.Event().wait(0.01)
    yield
    for server in servers:
        server.should_exit = True
    for thread in threads:
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def configured_admin_id(schema_template, fake_providers) -> Iterator[int]:
    yield _build_database(_CONFIGURED_WORKDIR, schema_template)
    asyncio.run(configured_app.state.db.dispose())
    shutil.rmtree(_CONFIGURED_WORKDIR, ignore_errors=True)


def _admin_headers(admin: int) -> dict[str, str]:
    # A token of its own per case: a fuzzed logout must not starve the cases after it of a valid one.
    token = create_token(
        subject=str(admin), token_type="access", ttl=timedelta(minutes=5),
        secret=_SETTINGS.secret_key.get_secret_value(), claims={"fam": uuid.uuid4().hex},
    )
    return {"Authorization": f"Bearer {token.token}"}


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_honours_its_documented_contract(case, admin_id: int):
    case.call_and_validate(
        headers=_admin_headers(admin_id),
        checks=[not_a_server_error_but_an_unconfigured_provider, status_code_conformance,
                response_schema_conformance, content_type_conformance],
    )


@configured_schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_social_operation_honours_its_contract_with_the_providers_configured(case, configured_admin_id: int):
    case.call_and_validate(
        headers=_admin_headers(configured_admin_id),
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance],
    )
