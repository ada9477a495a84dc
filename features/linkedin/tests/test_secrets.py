"""LinkedIn tokens, the client secret and the OAuth state never appear in a response, a log line or the database file."""

from features.linkedin.tests.factories import BASE, publish
from features.linkedin.tests.fake_linkedin import CLIENT_SECRET
from tests.factories import database_bytes, debug_log_lines


async def test_tokens_are_in_no_response_no_log_and_not_in_the_database_file_in_clear(
    app, client, admin_headers, editor_headers, connect_account, create_post, upload_image, linkedin
):
    with debug_log_lines() as kept:
        stored, seen, token, pending_state = await _walk_through(
            app, client, admin_headers, editor_headers, connect_account, create_post, upload_image, linkedin
        )
    logs = kept.text
    assert '"level": "debug"' in logs  # the debug log was on
    for secret in (token, CLIENT_SECRET):
        assert secret.encode() not in stored
        assert secret not in logs
        assert not any(secret in text for text in seen)
    assert pending_state.encode() not in stored


async def _walk_through(app, client, admin_headers, editor_headers, connect_account, create_post, upload_image, linkedin):
    seen: list[str] = []
    account = await connect_account()
    seen.append(str(account))
    post = await create_post(account["id"], "Secretless", media_ids=[await upload_image()])
    seen.append((await publish(client, editor_headers, post["id"])).text)
    linkedin.expire_all_tokens()  # a 401 too: its error is stored and returned
    failing = await create_post(account["id"], "Refused")
    seen.append((await publish(client, editor_headers, failing["id"])).text)
    seen.append((await client.get(f"{BASE}/accounts", headers=admin_headers)).text)
    seen.append((await client.get(f"{BASE}/content", headers=admin_headers)).text)
    started = await client.post(f"{BASE}/accounts/authorize", json={}, headers=admin_headers)  # a state left pending
    pending_state = started.json()["state"]

    [token] = linkedin.issued
    return database_bytes(app.state.settings), seen, token, pending_state
