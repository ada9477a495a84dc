import asyncio
from datetime import timedelta

import jwt
from sqlalchemy import update
from sqlmodel import col

from features.auth.models import RefreshToken
from shared.db import utcnow
from shared.security import create_token
from tests.factories import TEST_PASSWORD, login_headers, make_user

REFRESH = "/api/v1/auth/refresh"


async def _login(client, email="admin@example.com"):
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": TEST_PASSWORD})
    assert response.status_code == 200
    return response.json()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_refresh_rotates_and_the_used_token_dies(client, admin):
    first = await _login(client)
    response = await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert response.status_code == 200
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await client.get("/api/v1/auth/me", headers=_bearer(second["access_token"]))).status_code == 200


async def test_replayed_refresh_token_revokes_the_whole_login(app, client, admin):
    app.state.settings.refresh_reuse_grace_seconds = 0  # every replay is late
    first = await _login(client)
    second = (await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
    third = (await client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})).json()

    replay = await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "INVALID_TOKEN"
    # Every descendant of that login is dead: the newest refresh token and its access token.
    assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": third["refresh_token"]})).status_code == 401
    assert (await client.get("/api/v1/auth/me", headers=_bearer(third["access_token"]))).status_code == 401


async def test_theft_response_spares_other_logins_of_the_same_user(app, client, admin):
    app.state.settings.refresh_reuse_grace_seconds = 0  # every replay is late
    stolen = await _login(client)
    other = await _login(client)
    await client.post("/api/v1/auth/refresh", json={"refresh_token": stolen["refresh_token"]})
    await client.post("/api/v1/auth/refresh", json={"refresh_token": stolen["refresh_token"]})
    assert (await client.get("/api/v1/auth/me", headers=_bearer(other["access_token"]))).status_code == 200


async def test_two_tabs_refreshing_at_once_keep_the_login(client, admin):
    pair = await _login(client)
    responses = await asyncio.gather(*(client.post(REFRESH, json={"refresh_token": pair["refresh_token"]}) for _ in range(2)))
    assert sorted(r.status_code for r in responses) == [200, 401]
    winner = next(r for r in responses if r.status_code == 200).json()
    loser = next(r for r in responses if r.status_code == 401)
    assert loser.json()["error"]["code"] == "TOKEN_ROTATED"
    assert loser.headers["www-authenticate"] == "Bearer"
    assert (await client.get("/api/v1/auth/me", headers=_bearer(winner["access_token"]))).status_code == 200
    assert (await client.post(REFRESH, json={"refresh_token": winner["refresh_token"]})).status_code == 200


async def test_replay_after_the_grace_window_still_revokes_the_login(app, client, admin):
    pair = await _login(client)
    winner = (await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})).json()
    async with app.state.db.session() as db:
        # The exchange happened just longer ago than the grace allows.
        grace = timedelta(seconds=app.state.settings.refresh_reuse_grace_seconds)
        await db.exec(
            update(RefreshToken).where(col(RefreshToken.rotated_at).is_not(None)).values(rotated_at=utcnow() - grace - timedelta(seconds=1))
        )
    replay = await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "INVALID_TOKEN"
    assert (await client.get("/api/v1/auth/me", headers=_bearer(winner["access_token"]))).status_code == 401
    assert (await client.post(REFRESH, json={"refresh_token": winner["refresh_token"]})).status_code == 401


async def test_logout_kills_access_and_refresh_token(client, admin):
    pair = await _login(client)
    response = await client.post(
        "/api/v1/auth/logout", json={"refresh_token": pair["refresh_token"]}, headers=_bearer(pair["access_token"])
    )
    assert response.status_code == 204
    me = await client.get("/api/v1/auth/me", headers=_bearer(pair["access_token"]))
    assert me.status_code == 401
    assert me.json()["error"]["code"] == "INVALID_TOKEN"
    assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})).status_code == 401


async def test_logout_with_a_broken_refresh_token_still_ends_the_login(client, admin):
    pair = await _login(client)
    out = await client.post(
        "/api/v1/auth/logout", json={"refresh_token": "not-a-jwt"}, headers=_bearer(pair["access_token"])
    )
    assert out.status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=_bearer(pair["access_token"]))).status_code == 401
    assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})).status_code == 401


async def test_logout_revocation_is_seen_by_another_app_instance(app, app_factory, client, admin):
    """The revocation lives in the database, so a second worker process refuses the token too."""
    from httpx import ASGITransport, AsyncClient

    other_app = app_factory(app.state.settings)
    pair = await _login(client)
    async with AsyncClient(transport=ASGITransport(app=other_app), base_url="http://other") as other:
        assert (await other.get("/api/v1/auth/me", headers=_bearer(pair["access_token"]))).status_code == 200
        await client.post("/api/v1/auth/logout", headers=_bearer(pair["access_token"]))
        assert (await other.get("/api/v1/auth/me", headers=_bearer(pair["access_token"]))).status_code == 401
    await other_app.state.db.dispose()


async def test_refresh_token_is_not_an_access_token_and_vice_versa(client, admin):
    pair = await _login(client)
    me = await client.get("/api/v1/auth/me", headers=_bearer(pair["refresh_token"]))
    assert me.status_code == 401
    assert me.json()["error"]["code"] == "INVALID_TOKEN"
    refresh = await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["access_token"]})
    assert refresh.status_code == 401


async def test_alg_none_and_foreign_key_tokens_are_refused(app, client, admin):
    claims = jwt.decode((await _login(client))["access_token"], options={"verify_signature": False})
    unsigned = jwt.encode(claims, key=None, algorithm="none")
    forged = jwt.encode(claims, "some-other-secret-key-of-enough-length!!", algorithm="HS256")
    for token in (unsigned, forged):
        response = await client.get("/api/v1/auth/me", headers=_bearer(token))
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"


async def test_expired_token_says_so(app, client, admin):
    secret = app.state.settings.secret_key.get_secret_value()
    expired = create_token(
        subject=str(admin.id), token_type="access", ttl=timedelta(seconds=-5), secret=secret, claims={"fam": "x"}
    )
    response = await client.get("/api/v1/auth/me", headers=_bearer(expired.token))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "TOKEN_EXPIRED"


async def test_token_missing_a_required_claim_is_refused(app, client, admin):
    secret = app.state.settings.secret_key.get_secret_value()
    token = jwt.encode({"sub": str(admin.id), "type": "access", "exp": 9999999999}, secret, algorithm="HS256")
    assert (await client.get("/api/v1/auth/me", headers=_bearer(token))).status_code == 401


async def test_tokens_without_issue_time_or_id_are_refused(app, client, admin):
    """A real access token re-signed without `iat`, then without `jti`: every other claim is intact."""
    secret = app.state.settings.secret_key.get_secret_value()
    pair = await _login(client)
    claims = jwt.decode(pair["access_token"], secret, algorithms=["HS256"])
    assert (await client.get("/api/v1/auth/me", headers=_bearer(pair["access_token"]))).status_code == 200
    for missing in ("iat", "jti"):
        token = jwt.encode({k: v for k, v in claims.items() if k != missing}, secret, algorithm="HS256")
        assert (await client.get("/api/v1/auth/me", headers=_bearer(token))).status_code == 401, missing


async def test_no_token_means_authentication_required(client):
    response = await client.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_REQUIRED"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_access_token_of_user_deactivated_after_issue_is_refused(app, client, admin_headers):
    user = await make_user(app, email="soon-gone@example.com")
    headers = await login_headers(client, user.email)
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 200
    await client.put(f"/api/v1/admin/users/{user.id}", json={"is_active": False}, headers=admin_headers)
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401
