"""Connecting X accounts through the API: the full OAuth 2.0 + PKCE flow against the fake, state reuse,
reconnecting, configuration, disconnecting (revoked at X)."""

from urllib.parse import parse_qs, urlsplit

from features.twitter.tests.factories import BASE, REDIRECT_URI, follow_consent
from features.twitter.tests.fake_x import Fault
from tests.factories import assert_declared, database_bytes


async def test_the_full_connect_flow_stores_the_x_user(client, admin_headers, twitter):
    started = await client.post(f"{BASE}/accounts/authorize", json={}, headers=admin_headers)
    assert started.status_code == 200, started.text
    url = started.json()["authorization_url"]
    query = parse_qs(urlsplit(url).query)
    assert query["scope"] == ["tweet.read tweet.write users.read offline.access media.write"]
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["redirect_uri"] == [REDIRECT_URI] and query["state"] == [started.json()["state"]]
    redirect = await follow_consent(url)  # the fake checks the verifier against this challenge at the token step

    response = await client.post(f"{BASE}/accounts", json=redirect, headers=admin_headers)

    assert response.status_code == 201, response.text
    account = response.json()
    assert account["provider_user_id"] == twitter.signed_in.id
    assert account["display_name"] == "Magnetiq GmbH (@magnetiq)"
    assert account["status"] == "active" and "offline.access" in account["scopes"]
    body = response.text
    assert not any(token in body for token in [*twitter.access_tokens, *twitter.refresh_tokens])
    token_calls = twitter.calls_to("POST /2/oauth2/token")
    assert len(token_calls) == 1
    listed = await client.get(f"{BASE}/accounts", headers=admin_headers)
    assert [a["id"] for a in listed.json()["items"]] == [account["id"]]


async def test_a_state_is_single_use_and_an_unknown_one_never_reaches_x(client, admin_headers, twitter):
    started = await client.post(f"{BASE}/accounts/authorize", json={}, headers=admin_headers)
    redirect = await follow_consent(started.json()["authorization_url"])
    assert (await client.post(f"{BASE}/accounts", json=redirect, headers=admin_headers)).status_code == 201

    again = await client.post(f"{BASE}/accounts", json=redirect, headers=admin_headers)
    forged = await client.post(f"{BASE}/accounts", json={"code": "abc", "state": "forged"}, headers=admin_headers)

    assert again.status_code == 400 and again.json()["error"]["code"] == "INVALID_STATE"
    assert forged.status_code == 400 and forged.json()["error"]["code"] == "INVALID_STATE"
    assert len(twitter.calls_to("POST /2/oauth2/token")) == 1


async def test_connecting_the_same_x_user_again_updates_the_account(connect_account, twitter):
    first = await connect_account()
    second = await connect_account()
    assert second["id"] == first["id"]
    other = await connect_account(twitter.add_user("other", "Other"))
    assert other["id"] != first["id"]


async def test_without_client_credentials_the_account_endpoints_name_the_variables(client, admin_headers, app):
    response = await client.post(f"{BASE}/accounts/authorize", json={}, headers=admin_headers)
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "PROVIDER_NOT_CONFIGURED"
    assert all(name in error["message"] for name in ("X_CLIENT_ID", "X_CLIENT_SECRET", "X_REDIRECT_URI"))
    assert (await client.get(f"{BASE}/accounts", headers=admin_headers)).status_code == 200


async def test_only_admins_connect(client, editor_headers, twitter):
    response = await client.post(f"{BASE}/accounts/authorize", json={}, headers=editor_headers)
    assert response.status_code == 403


async def test_disconnecting_revokes_at_x_and_fails_scheduled_posts(client, admin_headers, connect_account,
                                                                     create_post, twitter):
    account = await connect_account()
    scheduled = await create_post(account["id"], "later", scheduled_at="2099-01-01T09:00:00+00:00")

    response = await client.delete(f"{BASE}/accounts/{account['id']}", headers=admin_headers)

    assert response.status_code == 204
    assert len(twitter.calls_to("POST /2/oauth2/revoke")) == 2  # the refresh token and the access token
    assert all(grant.revoked for grant in twitter.refresh_tokens.values())
    post = (await client.get(f"{BASE}/content/{scheduled['id']}", headers=admin_headers)).json()
    assert post["status"] == "failed" and "disconnected" in post["error"] and post["account_id"] is None
    assert (await client.get(f"{BASE}/accounts", headers=admin_headers)).json()["items"] == []


async def test_no_token_is_in_the_database_file_in_clear(app, connect_account, twitter):
    await connect_account()
    stored = database_bytes(app.state.settings)
    tokens = [*twitter.access_tokens, *twitter.refresh_tokens]
    assert tokens and not any(token.encode() in stored for token in tokens)


async def test_a_revocation_x_refuses_does_not_block_the_disconnect(client, admin_headers, connect_account, twitter):
    account = await connect_account()
    twitter.fail_next("POST /2/oauth2/revoke", Fault(status=503), times=2)

    response = await client.delete(f"{BASE}/accounts/{account['id']}", headers=admin_headers)

    assert response.status_code == 204
    assert (await client.get(f"{BASE}/accounts", headers=admin_headers)).json()["items"] == []


async def test_a_rate_limited_code_exchange_is_429_as_declared(app, client, admin_headers, twitter):
    started = (await client.post(f"{BASE}/accounts/authorize", json={}, headers=admin_headers)).json()
    redirect = await follow_consent(started["authorization_url"])
    twitter.fail_next("POST /2/oauth2/token", Fault(status=429, reset_in=120))

    response = await client.post(f"{BASE}/accounts", json=redirect, headers=admin_headers)

    assert response.status_code == 429 and response.json()["error"]["code"] == "RATE_LIMITED"
    assert 100 <= int(response.headers["retry-after"]) <= 121
    assert_declared(app, response)


async def test_connecting_again_answers_201_as_the_contract_says(client, admin_headers, connect_account, twitter):
    first = await connect_account()
    started = (await client.post(f"{BASE}/accounts/authorize", json={}, headers=admin_headers)).json()
    redirect = await follow_consent(started["authorization_url"])
    again = await client.post(f"{BASE}/accounts", json=redirect, headers=admin_headers)
    assert again.status_code == 201 and again.json()["id"] == first["id"]
