"""Schemathesis against the app's own /openapi.json, in-process, authenticated as an admin.

Every operation of every slice is fuzzed; a server error, an undocumented status code, a
response that does not match its schema, or a wrong content type fails the run. Importing
the module builds no database (collecting the suite, or running another file, writes nothing).
"""

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import create_engine, insert

from features.auth.models import User
from magnetiq.app import create_app
from shared.config import Settings
from shared.permissions import Role
from shared.security import create_token

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


@pytest.fixture(scope="module")
def admin_id(schema_template) -> Iterator[int]:
    """The database, a copy of the suite's schema template, with one admin (whose tokens are minted)."""
    _WORKDIR.mkdir(parents=True, exist_ok=True)  # loading the schema ran the lifespan, which made media/
    database = _WORKDIR / "contract.db"
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
    yield new_id
    shutil.rmtree(_WORKDIR, ignore_errors=True)


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
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance],
    )
