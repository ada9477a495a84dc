import asyncio

import pytest

from shared.permissions import Role
from tests.factories import login_headers, make_user

NEW_USER = {
    "email": "new@example.com", "password": "a-long-unique-passphrase", "first_name": "New", "last_name": "User",
    "role": "editor",
}


async def test_admin_registers_a_user_with_a_role(client, admin_headers):
    response = await client.post("/api/v1/auth/register", json=NEW_USER, headers=admin_headers)
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "new@example.com" and body["role"] == "editor" and body["is_active"] is True
    assert set(body) >= {"id", "email", "first_name", "last_name", "role", "is_active", "last_login", "created_at"}
    assert "hashed_password" not in body and "password" not in body
    assert (await login_headers(client, "new@example.com", NEW_USER["password"]))


async def test_duplicate_email_is_a_conflict(client, admin_headers):
    await client.post("/api/v1/auth/register", json=NEW_USER, headers=admin_headers)
    response = await client.post(
        "/api/v1/auth/register", json={**NEW_USER, "email": "NEW@example.com"}, headers=admin_headers
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "EMAIL_TAKEN"


@pytest.mark.parametrize("password", ["short-pass1", "qwerty123456", "QWERTY123456"])
async def test_short_or_common_passwords_are_refused(client, admin_headers, password):
    response = await client.post("/api/v1/auth/register", json={**NEW_USER, "password": password}, headers=admin_headers)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "password"
    assert password not in response.text  # never echoed back


async def test_only_admins_register(app, client, editor_headers):
    response = await client.post("/api/v1/auth/register", json=NEW_USER, headers=editor_headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "INSUFFICIENT_PERMISSIONS"
    assert (await client.post("/api/v1/auth/register", json=NEW_USER)).status_code == 401


async def test_fields_a_caller_may_not_set_are_refused(client, admin_headers):
    for extra in ({"id": 999}, {"hashed_password": "x"}, {"created_at": "2020-01-01T00:00:00Z"}):
        response = await client.post("/api/v1/auth/register", json={**NEW_USER, **extra}, headers=admin_headers)
        assert response.status_code == 422, extra


async def test_fifty_concurrent_registrations_all_succeed_on_a_file_database(app, client, admin_headers):
    async def register(n: int):
        body = {**NEW_USER, "email": f"user{n}@example.com"}
        return await client.post("/api/v1/auth/register", json=body, headers=admin_headers)

    responses = await asyncio.gather(*(register(n) for n in range(50)))
    assert [r.status_code for r in responses] == [201] * 50, [r.text for r in responses if r.status_code != 201][:3]
    assert not any("locked" in r.text for r in responses)
    listing = await client.get("/api/v1/admin/users?limit=100", headers=admin_headers)
    assert listing.json()["total"] == 51


async def test_me_returns_the_current_user(app, client):
    user = await make_user(app, email="me@example.com", role=Role.VIEWER)
    response = await client.get("/api/v1/auth/me", headers=await login_headers(client, user.email))
    assert response.status_code == 200
    assert response.json()["id"] == user.id and response.json()["role"] == "viewer"


async def test_a_control_character_in_a_name_is_422_and_no_user_is_made(client, admin_headers):
    for field in ("first_name", "last_name"):
        response = await client.post(
            "/api/v1/auth/register", json={**NEW_USER, field: "New\u0000"}, headers=admin_headers
        )
        assert response.status_code == 422 and response.json()["error"]["field"] == field, field
    users = (await client.get("/api/v1/admin/users", headers=admin_headers)).json()
    assert [user["email"] for user in users["items"]] == ["admin@example.com"]
