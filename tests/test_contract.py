"""Schemathesis against the app's own /openapi.json, in-process, authenticated as an admin.

Every operation of every slice is fuzzed; a server error, an undocumented status code, a
response that does not match its schema, or a wrong content type fails the run.
"""

import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

import schemathesis
from argon2 import PasswordHasher
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
from magnetiq.registry import metadata
from shared.config import Settings
from shared.permissions import Role
from shared.schema import stamp_head
from shared.security import create_token

_workdir = Path(tempfile.mkdtemp(prefix="magnetiq-contract-"))
_settings = Settings(
    _env_file=None,
    environment="test",
    database_url=f"sqlite+aiosqlite:///{_workdir / 'contract.db'}",
    upload_dir=str(_workdir / "media"),
    worker_enabled=False,
    smtp_port=1,  # nothing listens: mail stays queued, as it would with the server down
)


def _prepare_database() -> int:
    engine = create_engine(f"sqlite:///{_workdir / 'contract.db'}")
    metadata.create_all(engine)
    with engine.begin() as connection:
        stamp_head(connection)  # at head, as `magnetiq db upgrade` leaves it: /health checks the revision
        result = connection.execute(
            insert(User).values(
                email="contract-admin@example.com", hashed_password=PasswordHasher().hash("contract-admin-pass"),
                first_name="Contract", last_name="Admin", role=Role.ADMIN, is_active=True,
            )
        )
        admin_id = result.inserted_primary_key[0]
    engine.dispose()
    return admin_id


ADMIN_ID = _prepare_database()
app = create_app(_settings)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


def _admin_headers() -> dict[str, str]:
    # A fresh login per case: a fuzzed logout must not starve the cases after it of a valid token.
    token = create_token(
        subject=str(ADMIN_ID), token_type="access", ttl=timedelta(minutes=5),
        secret=_settings.secret_key.get_secret_value(), claims={"fam": uuid.uuid4().hex},
    )
    return {"Authorization": f"Bearer {token.token}"}


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_honours_its_documented_contract(case):
    case.call_and_validate(
        headers=_admin_headers(),
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance],
    )
