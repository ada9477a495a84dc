"""X access tokens refreshed before use, once per account however many processes need one, rotation kept."""

import asyncio
from datetime import timedelta

import pytest

from features.twitter.models import TwitterAccount
from features.twitter.tests.factories import connect
from features.twitter.tests.fake_x import Fault
from features.twitter.tokens import fresh_credentials
from shared.db import Database
from shared.publishing import ProviderUnavailable, RateLimited, Unauthorized
from shared.token_crypto import token_cipher
from tests.factories import database_bytes


@pytest.fixture
async def account(app, x, fake_x):
    """An X account connected through the real flow and stored as the slice stores it (tokens encrypted)."""
    tokens = await connect(x, fake_x)
    cipher = token_cipher(app.state.settings)
    async with app.state.db.session() as session:
        row = TwitterAccount(
            provider_user_id=fake_x.signed_in.id, display_name="Magnetiq GmbH (@magnetiq)", scopes=list(tokens.scopes),
            access_token_encrypted=cipher.encrypt(tokens.access_token),
            refresh_token_encrypted=cipher.encrypt(tokens.refresh_token), token_expires_at=tokens.expires_at,
        )
        session.add(row)
        await session.flush()
        row_id = row.id
    return row_id, tokens


def fresh(app, x, fake_x, account_id: int, database: Database | None = None):
    return fresh_credentials(
        database or app.state.db, provider=x, cipher=token_cipher(app.state.settings), account_id=account_id,
        timeout_seconds=app.state.settings.provider_timeout_seconds, clock=lambda: fake_x.now,
    )


async def stored(app, account_id: int) -> TwitterAccount:
    async with app.state.db.session(write=False) as session:
        return await session.get(TwitterAccount, account_id)


async def test_a_token_valid_for_more_than_five_minutes_is_used_as_is(app, x, fake_x, account):
    account_id, tokens = account
    fake_x.advance(hours=1, minutes=54)
    credentials = await fresh(app, x, fake_x, account_id)
    assert credentials.access_token == tokens.access_token
    assert credentials.provider_user_id == fake_x.signed_in.id
    assert len(fake_x.calls_to("POST /2/oauth2/token")) == 1  # the connect only


async def test_a_token_about_to_die_is_refreshed_and_the_rotated_refresh_token_kept(app, x, fake_x, account):
    account_id, tokens = account
    fake_x.advance(hours=1, minutes=56)
    credentials = await fresh(app, x, fake_x, account_id)
    assert credentials.access_token != tokens.access_token
    assert (await x.fetch_identity(credentials.access_token)).provider_user_id == fake_x.signed_in.id
    row = await stored(app, account_id)
    cipher = token_cipher(app.state.settings)
    new_refresh = cipher.decrypt(row.refresh_token_encrypted)
    assert new_refresh != tokens.refresh_token and fake_x.refresh_tokens[new_refresh].used is False
    assert cipher.decrypt(row.access_token_encrypted) == credentials.access_token
    assert row.token_expires_at == fake_x.now + timedelta(hours=2)
    assert row.token_refresh_owner is None and row.token_refresh_until is None
    with pytest.raises(Unauthorized):  # the old one is spent
        await x.refresh(tokens.refresh_token)
    assert (await fresh(app, x, fake_x, account_id)).access_token == credentials.access_token  # no second refresh


async def test_two_processes_needing_a_token_at_once_refresh_it_once(app, x, fake_x, account):
    account_id, _tokens = account
    fake_x.advance(hours=2)
    fake_x.fail_next("POST /2/oauth2/token", Fault(delay=0.3))  # the refresh takes a while at X
    other_process = Database.from_url(app.state.settings.database_url)
    try:
        first, second = await asyncio.gather(
            fresh(app, x, fake_x, account_id), fresh(app, x, fake_x, account_id, database=other_process)
        )
    finally:
        await other_process.dispose()
    assert first.access_token == second.access_token
    assert len(fake_x.calls_to("POST /2/oauth2/token")) == 2  # the connect and one refresh
    assert (await stored(app, account_id)).status == "active"


async def test_a_refresh_token_x_refuses_marks_the_account_for_reconnecting(app, x, fake_x, account):
    account_id, tokens = account
    await x.refresh(tokens.refresh_token)  # spent elsewhere (the app connected twice, say)
    fake_x.advance(hours=2)
    with pytest.raises(Unauthorized):
        await fresh(app, x, fake_x, account_id)
    row = await stored(app, account_id)
    assert row.status == "reconnect_required" and "refused" in row.status_reason
    assert row.token_refresh_until is None
    calls = len(fake_x.calls)
    with pytest.raises(Unauthorized):
        await fresh(app, x, fake_x, account_id)
    assert len(fake_x.calls) == calls  # X is not asked again


async def test_a_rate_limited_refresh_leaves_the_account_as_it_was(app, x, fake_x, account):
    account_id, tokens = account
    fake_x.advance(hours=2)
    fake_x.fail_next("POST /2/oauth2/token", Fault(status=429, reset_in=120))
    with pytest.raises(RateLimited) as caught:
        await fresh(app, x, fake_x, account_id)
    assert caught.value.reset_at == fake_x.now + timedelta(seconds=120)
    row = await stored(app, account_id)
    assert row.status == "active" and row.token_refresh_until is None
    assert token_cipher(app.state.settings).decrypt(row.refresh_token_encrypted) == tokens.refresh_token
    assert (await fresh(app, x, fake_x, account_id)).access_token != tokens.access_token


async def test_a_refresh_that_times_out_sent_no_post(app, x, fake_x, account):
    account_id, _tokens = account
    fake_x.advance(hours=2)
    fake_x.fail_next("POST /2/oauth2/token", Fault(hang=True))
    with pytest.raises(ProviderUnavailable) as caught:
        await fresh(app, x, fake_x, account_id)
    assert caught.value.sent is False  # the post waiting for the token was never sent: not `unknown`
    assert (await stored(app, account_id)).token_refresh_until is None


async def test_no_token_is_in_the_database_file_in_clear(app, x, fake_x, account):
    account_id, tokens = account
    fake_x.advance(hours=2)
    credentials = await fresh(app, x, fake_x, account_id)
    stored_bytes = database_bytes(app.state.settings)
    refreshed = token_cipher(app.state.settings).decrypt((await stored(app, account_id)).refresh_token_encrypted)
    for secret in (tokens.access_token, tokens.refresh_token, credentials.access_token, refreshed):
        assert secret.encode() not in stored_bytes
