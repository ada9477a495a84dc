"""Connecting LinkedIn members: the full OAuth flow against the fake, state reuse, health, disconnecting."""

from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import update

from features.linkedin.models import LinkedInAccount
from features.linkedin.tests.factories import BASE, REDIRECT_URI, consent
from features.linkedin.worker import watch_account_expiry
from shared.db import utcnow
from tests.factories import assert_declared, job_context


async def test_the_full_connect_flow_stores_the_member(client, admin_headers, linkedin):
    started = await client.post(f"{BASE}/accounts/authorize", json={}, headers=admin_headers)
    assert started.status_code == 200
    url = started.json()["authorization_url"]
    assert url.startswith(f"{linkedin.base_url}/oauth/v2/authorization?")
    assert "scope=openid%20profile%20w_member_social%20r_member_postAnalytics" in url
    redirect = await consent(url)
    assert redirect["state"] == started.json()["state"]

    response = await client.post(f"{BASE}/accounts", json=redirect, headers=admin_headers)

    assert response.status_code == 201, response.text
    account = response.json()
    assert account["provider_user_id"] == "member-ada" and account["display_name"] == "Ada Lovelace"
    assert account["status"] == "active" and "w_member_social" in account["scopes"]
    assert "token" not in str({k: v for k, v in account.items() if k != "token_expires_at"})
    listed = await client.get(f"{BASE}/accounts", headers=admin_headers)
    assert [a["id"] for a in listed.json()["items"]] == [account["id"]]


async def test_a_state_is_single_use(client, admin_headers, linkedin):
    started = await client.post(f"{BASE}/accounts/authorize", json={}, headers=admin_headers)
    redirect = await consent(started.json()["authorization_url"])
    assert (await client.post(f"{BASE}/accounts", json=redirect, headers=admin_headers)).status_code == 201

    again = await client.post(f"{BASE}/accounts", json=redirect, headers=admin_headers)

    assert again.status_code == 400 and again.json()["error"]["code"] == "INVALID_STATE"


async def test_an_unknown_state_is_refused_without_calling_linkedin(client, admin_headers, linkedin):
    response = await client.post(f"{BASE}/accounts", json={"code": "abc", "state": "forged"}, headers=admin_headers)
    assert response.status_code == 400 and response.json()["error"]["code"] == "INVALID_STATE"
    assert not [r for r in linkedin.requests if r[1].endswith("accessToken")]


async def test_the_redirect_uri_given_at_authorize_is_the_one_exchanged(client, admin_headers, linkedin):
    other = "https://admin.example.com/elsewhere"
    started = await client.post(f"{BASE}/accounts/authorize", json={"redirect_uri": other}, headers=admin_headers)
    redirect = await consent(started.json()["authorization_url"])
    assert (await client.post(f"{BASE}/accounts", json=redirect, headers=admin_headers)).status_code == 201
    assert other != REDIRECT_URI


async def test_a_redirect_uri_longer_than_its_column_once_normalized_is_a_422(client, admin_headers, linkedin):
    # 426 characters as sent; percent-encoded, 2,426: past the stored column (PostgreSQL refuses the row).
    long = "https://admin.example.com/" + "ü" * 400
    response = await client.post(f"{BASE}/accounts/authorize", json={"redirect_uri": long}, headers=admin_headers)
    assert response.status_code == 422 and response.json()["error"]["field"] == "redirect_uri", response.text
    fits = "https://admin.example.com/" + "ü" * 300  # 1,826 once encoded
    assert (await client.post(f"{BASE}/accounts/authorize", json={"redirect_uri": fits},
                              headers=admin_headers)).status_code == 200


async def test_connecting_the_same_member_again_updates_the_account(connect_account, client, admin_headers):
    first = await connect_account()
    again = await connect_account()
    assert again["id"] == first["id"]
    other = await connect_account("member-bob")
    listed = (await client.get(f"{BASE}/accounts", headers=admin_headers)).json()
    assert listed["total"] == 2 and other["id"] != first["id"]


async def test_a_wrong_client_secret_is_a_provider_error(client, admin_headers, linkedin, app):
    app.state.settings.linkedin_client_secret = type(app.state.settings.linkedin_client_secret)("wrong")
    started = await client.post(f"{BASE}/accounts/authorize", json={}, headers=admin_headers)
    redirect = await consent(started.json()["authorization_url"])
    response = await client.post(f"{BASE}/accounts", json=redirect, headers=admin_headers)
    assert response.status_code == 502 and response.json()["error"]["code"] == "PROVIDER_ERROR"
    assert "wrong" not in response.text


async def test_without_client_credentials_the_account_endpoints_name_the_variables(client, admin_headers):
    response = await client.post(f"{BASE}/accounts/authorize", json={}, headers=admin_headers)
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "PROVIDER_NOT_CONFIGURED"
    for name in ("LINKEDIN_CLIENT_ID", "LINKEDIN_CLIENT_SECRET", "LINKEDIN_REDIRECT_URI"):
        assert name in error["message"]
    assert (await client.post(f"{BASE}/accounts", json={"code": "c", "state": "s"}, headers=admin_headers)).status_code == 503
    assert (await client.get(f"{BASE}/accounts", headers=admin_headers)).status_code == 200


async def test_only_admins_connect(client, editor_headers, linkedin):
    response = await client.post(f"{BASE}/accounts/authorize", json={}, headers=editor_headers)
    assert response.status_code == 403


@pytest.mark.parametrize(("expires_in", "status"), [(timedelta(days=5), "expiring"), (timedelta(days=-1), "reconnect_required")])
async def test_health_follows_the_token_expiry_and_the_worker_stores_it(
    app, client, admin_headers, connect_account, expires_in, status
):
    account = await connect_account()
    async with app.state.db.session() as session:
        await session.exec(update(LinkedInAccount).values(token_expires_at=utcnow() + expires_in))
    listed = (await client.get(f"{BASE}/accounts", headers=admin_headers)).json()["items"]
    assert listed[0]["status"] == status

    await watch_account_expiry(job_context(app))
    async with app.state.db.session(write=False) as session:
        assert (await session.get(LinkedInAccount, account["id"])).status == status


async def test_system_health_counts_accounts_about_to_expire(app, client, admin_headers, connect_account):
    await connect_account()
    await connect_account("member-bob")
    async with app.state.db.session() as session:
        await session.exec(update(LinkedInAccount).where(LinkedInAccount.provider_user_id == "member-bob")
                           .values(token_expires_at=utcnow() + timedelta(days=2)))
    health = (await client.get("/api/v1/admin/system-health", headers=admin_headers)).json()
    providers = health["checks"]["providers"]
    assert providers["linkedin"] == {"configured": True, "active": 1, "expiring": 1, "reconnect_required": 0}
    assert providers["status"] == "warning" and providers["message"] == "linkedin: 1 expiring"


async def test_system_health_says_when_linkedin_is_not_configured(client, admin_headers):
    health = (await client.get("/api/v1/admin/system-health", headers=admin_headers)).json()
    assert health["checks"]["providers"]["linkedin"]["configured"] is False


async def test_a_rate_limited_code_exchange_is_429_as_declared(app, client, admin_headers, linkedin):
    started = (await client.post(f"{BASE}/accounts/authorize", json={}, headers=admin_headers)).json()
    redirect = await consent(started["authorization_url"])
    linkedin.fail_next("/oauth/v2/accessToken", 429, {"status": 429, "message": "Throttled"})

    response = await client.post(f"{BASE}/accounts", json=redirect, headers=admin_headers)

    assert response.status_code == 429 and response.json()["error"]["code"] == "RATE_LIMITED"
    assert response.headers["retry-after"]
    assert_declared(app, response)


async def test_connecting_again_answers_201_as_the_contract_says(client, admin_headers, connect_account, linkedin):
    first = await connect_account()
    started = (await client.post(f"{BASE}/accounts/authorize", json={}, headers=admin_headers)).json()
    again = await client.post(f"{BASE}/accounts", json=await consent(started["authorization_url"]), headers=admin_headers)
    assert again.status_code == 201 and again.json()["id"] == first["id"]


async def test_disconnecting_revokes_the_token_at_linkedin(client, admin_headers, connect_account, linkedin):
    account = await connect_account()
    token = linkedin.issued[-1]

    response = await client.delete(f"{BASE}/accounts/{account['id']}", headers=admin_headers)

    assert response.status_code == 204
    assert linkedin.revoked == [token] and token not in linkedin.tokens
    assert ("POST", "/oauth/v2/revoke") in linkedin.requests
    assert (await client.get(f"{BASE}/accounts", headers=admin_headers)).json()["total"] == 0


@pytest.mark.parametrize("failure", ["linkedin refuses", "key changed"])
async def test_a_failed_revocation_is_logged_without_the_token_and_the_disconnect_goes_on(
    app, client, admin_headers, connect_account, linkedin, caplog, failure
):
    account = await connect_account()
    token = linkedin.issued[-1]
    if failure == "linkedin refuses":
        linkedin.fail_next("/oauth/v2/revoke", 500, {"status": 500, "message": "Internal"})
    else:
        app.state.settings.token_encryption_key = SecretStr(Fernet.generate_key().decode())

    response = await client.delete(f"{BASE}/accounts/{account['id']}", headers=admin_headers)

    assert response.status_code == 204
    assert (await client.get(f"{BASE}/accounts", headers=admin_headers)).json()["total"] == 0
    assert not linkedin.revoked and token in linkedin.tokens  # LinkedIn still honours it: the log says so
    [warning] = [r for r in caplog.records if r.getMessage() == "token not revoked at the provider"]
    assert warning.network == "linkedin" and warning.account_id == account["id"]
    assert not any(token in f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
