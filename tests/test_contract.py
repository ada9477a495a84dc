"""Schemathesis against the app's own /openapi.json, in-process, authenticated as an admin.

Every operation of every slice is fuzzed; a server error, an undocumented status code, a
response that does not match its schema, or a wrong content type fails the run. The one 5xx
allowed is a provider's, where the operation documents it: 503 PROVIDER_NOT_CONFIGURED while
LinkedIn's or X's credentials are unset, 502 PROVIDER_ERROR when the provider refused. The social
operations are fuzzed twice: with the providers unconfigured, then configured against the fakes.
Importing the module builds no database (collecting the suite, or running another file, writes nothing).
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
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import insert

from features.auth.models import User
from features.linkedin.models import LinkedInAccount, LinkedInPost, LinkedInPostSegment
from features.linkedin.tests.fake_linkedin import CLIENT_ID, CLIENT_SECRET, FakeLinkedIn
from features.twitter.models import TwitterAccount, TwitterPost, TwitterPostSegment
from features.twitter.tests.fake_x import FakeX
from magnetiq.app import create_app
from shared.config import Settings
from shared.db import utcnow
from shared.permissions import Role
from shared.security import create_token
from shared.token_crypto import token_cipher
from tests import engines
from tests.factories import LoopbackServer

# The app exists at import (schemathesis reads its OpenAPI document to generate the tests); its
# database does not: the fixture below builds it when the test runs.
# On PostgreSQL the database's name is chosen now and the database cloned from the suite's template
# by the fixture, as a test's own would be (tests/engines.py).
_WORKDIR = Path(tempfile.gettempdir()) / f"magnetiq-contract-{uuid.uuid4().hex}"
_DATABASE = engines.new_database_name() if engines.ON_POSTGRES else None
_SETTINGS = Settings(
    _env_file=None,
    environment="test",
    database_url=engines.database_url(_DATABASE) if _DATABASE else f"sqlite+aiosqlite:///{_WORKDIR / 'contract.db'}",
    upload_dir=str(_WORKDIR / "media"),
    worker_enabled=False,
    smtp_port=1,  # nothing listens: mail stays queued, as it would with the server down
)
app = create_app(_SETTINGS)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
social_schema = schema.include(tag_regex="^(linkedin|twitter)$")
PROVIDER_ERRORS = {502: "PROVIDER_ERROR", 503: "PROVIDER_NOT_CONFIGURED"}


def not_a_server_error_but_a_documented_provider_one(ctx, response, case):
    """A 5xx fails, except a provider's error the operation documents (the status check sees to that)."""
    if response.status_code in PROVIDER_ERRORS:
        try:
            code = response.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = None
        if code in (PROVIDER_ERRORS[response.status_code], "PROVIDER_ERROR"):
            return None
    return not_a_server_error(ctx, response, case)


CHECKS = [
    not_a_server_error_but_a_documented_provider_one, status_code_conformance, response_schema_conformance,
    content_type_conformance,
]


@pytest.fixture(scope="module")
def admin_id(schema_template) -> Iterator[int]:
    """The database, a copy of the suite's schema template, with one admin (whose tokens are minted)."""
    _WORKDIR.mkdir(parents=True, exist_ok=True)  # loading the schema ran the lifespan, which made media/
    if _DATABASE:
        engines.clone(str(schema_template), _DATABASE)
    else:
        shutil.copyfile(schema_template, _WORKDIR / "contract.db")
    new_id = engines.with_connection(_SETTINGS.database_url, lambda connection: connection.execute(
        insert(User).values(
            email="contract-admin@example.com", hashed_password="no password: tokens are minted",
            first_name="Contract", last_name="Admin", role=Role.ADMIN, is_active=True,
        )
    ).inserted_primary_key[0])
    yield new_id
    if _DATABASE:
        engines.drop(_DATABASE)
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
    case.call_and_validate(headers=_admin_headers(admin_id), checks=CHECKS)


@pytest.fixture(scope="module")
def providers_on_fakes(admin_id: int) -> Iterator[FakeLinkedIn]:
    """A fake LinkedIn and a fake X on loopback (in a thread of their own), the app's settings pointing at
    them, and on each network a connected account with a draft post, so the fuzzer reaches more than 404s."""
    fake, fake_x, started = FakeLinkedIn(), FakeX(), threading.Event()
    server, x_server = LoopbackServer(fake), LoopbackServer(fake_x.app)
    fake.base_url = server.url
    thread = threading.Thread(target=lambda: asyncio.run(_serve([server, x_server], started)), daemon=True)
    thread.start()
    assert started.wait(10), "the fake providers did not start"
    x_user = fake_x.add_user("contract", "Contract")
    token = "AQV-contract-token"
    fake.tokens[token] = fake.member
    names = ("linkedin_client_id", "linkedin_client_secret", "linkedin_redirect_uri", "linkedin_auth_base_url",
             "linkedin_api_base_url", "provider_timeout_seconds", "x_client_id", "x_client_secret", "x_redirect_uri",
             "x_authorize_url", "x_api_base_url")
    saved = {name: getattr(_SETTINGS, name) for name in names}
    _SETTINGS.linkedin_client_id, _SETTINGS.linkedin_redirect_uri = CLIENT_ID, "https://admin.example.com/cb"
    _SETTINGS.linkedin_client_secret = type(_SETTINGS.linkedin_client_secret)(CLIENT_SECRET)
    _SETTINGS.linkedin_auth_base_url, _SETTINGS.linkedin_api_base_url = f"{server.url}/oauth/v2", server.url
    _SETTINGS.provider_timeout_seconds = 2
    _SETTINGS.x_client_id, _SETTINGS.x_redirect_uri = fake_x.client_id, "http://localhost:3036/x/callback"
    _SETTINGS.x_client_secret = type(_SETTINGS.x_client_secret)(fake_x.client_secret)
    _SETTINGS.x_authorize_url, _SETTINGS.x_api_base_url = f"{x_server.url}/i/oauth2/authorize", x_server.url
    x_token, cipher = fake_x.issue_token(x_user), token_cipher(_SETTINGS)
    fake_x.access_tokens[x_token].expires_at = fake_x.now + timedelta(days=365)  # the fake's clock stands still

    def add_accounts_and_drafts(connection) -> None:
        account = connection.execute(insert(LinkedInAccount).values(
            provider_user_id=fake.member, display_name="Ada", scopes=[], status="active",
            access_token_encrypted=token_cipher(_SETTINGS).encrypt(token),
        )).inserted_primary_key[0]
        post = connection.execute(insert(LinkedInPost).values(account_id=account, status="draft")).inserted_primary_key[0]
        connection.execute(insert(LinkedInPostSegment).values(post_id=post, position=0, text="Contract", media_ids=[]))
        x_account = connection.execute(insert(TwitterAccount).values(
            provider_user_id=x_user.id, display_name="Contract (@contract)", scopes=[], status="active",
            access_token_encrypted=cipher.encrypt(x_token), token_expires_at=utcnow() + timedelta(days=365),
        )).inserted_primary_key[0]
        x_post = connection.execute(insert(TwitterPost).values(account_id=x_account, status="draft")).inserted_primary_key[0]
        connection.execute(insert(TwitterPostSegment).values(post_id=x_post, position=0, text="Contract", media_ids=[]))

    engines.with_connection(_SETTINGS.database_url, add_accounts_and_drafts)
    yield fake
    for name, value in saved.items():
        setattr(_SETTINGS, name, value)
    fake_x.released.set()
    server.server.should_exit = True
    thread.join(10)


async def _serve(servers: list[LoopbackServer], started: threading.Event) -> None:
    async with servers[0], servers[1]:
        started.set()
        while not servers[0].server.should_exit:
            await asyncio.sleep(0.05)


@social_schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_social_operation_honours_its_contract_against_the_fake_providers(case, admin_id: int, providers_on_fakes):
    case.call_and_validate(headers=_admin_headers(admin_id), checks=CHECKS)
