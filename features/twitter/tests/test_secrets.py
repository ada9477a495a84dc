"""X tokens (each access token and each rotated refresh token), the client secret and the OAuth state never
appear in a response, a log line or the database file."""

import base64
from datetime import timedelta

from sqlalchemy import update

from features.twitter.models import TwitterAccount
from features.twitter.tests.factories import BASE
from features.twitter.tests.fake_x import Fault
from shared.db import utcnow
from tests.factories import database_bytes, debug_log_lines


async def test_tokens_are_in_no_response_no_log_and_not_in_the_database_file_in_clear(
    app, client, admin_headers, editor_headers, connect_account, create_post, upload_image, twitter
):
    with debug_log_lines() as kept:
        seen, pending_state = await _walk_through(
            app, client, admin_headers, editor_headers, connect_account, create_post, upload_image, twitter
        )
    logs, stored = kept.text, database_bytes(app.state.settings)
    tokens = [*twitter.access_tokens, *twitter.refresh_tokens]
    assert len(twitter.access_tokens) == 2 and len(twitter.refresh_tokens) == 2  # connected, then refreshed
    basic = base64.b64encode(f"{twitter.client_id}:{twitter.client_secret}".encode()).decode()
    assert '"level": "debug"' in logs  # the debug log was on
    for secret in (*tokens, twitter.client_secret, basic):
        assert secret.encode() not in stored, secret
        assert secret not in logs, secret
        assert not any(secret in text for text in seen), secret
    assert pending_state.encode() not in stored


async def _walk_through(app, client, admin_headers, editor_headers, connect_account, create_post, upload_image, twitter):
    seen: list[str] = []
    account = await connect_account()
    seen.append(str(account))
    post = await create_post(account["id"], "Secretless", images={0: [await upload_image()]})
    seen.append((await client.post(f"{BASE}/content/{post['id']}/publish", headers=editor_headers)).text)
    async with app.state.db.session() as session:  # the access token about to die: refreshed, and rotated
        await session.exec(update(TwitterAccount).values(token_expires_at=utcnow() + timedelta(minutes=1)))
    refreshed = await create_post(account["id"], "After a refresh")
    seen.append((await client.post(f"{BASE}/content/{refreshed['id']}/publish", headers=editor_headers)).text)
    seen.append((await client.get(f"{BASE}/engagement/{post['id']}?refresh=true", headers=editor_headers)).text)
    twitter.fail_next("POST /2/tweets", Fault(status=401))  # its error is stored and returned
    refused = await create_post(account["id"], "Refused")
    seen.append((await client.post(f"{BASE}/content/{refused['id']}/publish", headers=editor_headers)).text)
    seen.append((await client.get(f"{BASE}/accounts", headers=admin_headers)).text)
    seen.append((await client.get(f"{BASE}/content", headers=admin_headers)).text)
    started = await client.post(f"{BASE}/accounts/authorize", json={}, headers=admin_headers)  # a state left pending
    seen.append(started.text)
    return seen, started.json()["state"]
