import asyncio

from shared.permissions import Role
from tests.factories import login_headers, make_user

BODY = {"email": "staff@example.com", "password": "a-long-unique-passphrase", "first_name": "S", "last_name": "T"}


async def test_admin_creates_lists_reads_and_updates_users(client, admin_headers):
    created = await client.post("/api/v1/admin/users", json={**BODY, "role": "viewer"}, headers=admin_headers)
    assert created.status_code == 201
    user_id = created.json()["id"]

    listing = await client.get("/api/v1/admin/users", headers=admin_headers)
    assert listing.status_code == 200
    body = listing.json()
    assert body["total"] == 2 and body["limit"] == 20 and body["offset"] == 0
    assert {u["email"] for u in body["items"]} == {"admin@example.com", "staff@example.com"}

    updated = await client.put(
        f"/api/v1/admin/users/{user_id}", json={"first_name": "Sam", "role": "editor"}, headers=admin_headers
    )
    assert updated.status_code == 200
    assert updated.json()["first_name"] == "Sam" and updated.json()["role"] == "editor"
    assert (await client.get(f"/api/v1/admin/users/{user_id}", headers=admin_headers)).json()["role"] == "editor"


async def test_list_filters_search_sort_and_paginate(app, client, admin_headers):
    for n in range(3):
        await make_user(app, email=f"viewer{n}@example.com", role=Role.VIEWER)
    await make_user(app, email="writer@example.com", role=Role.EDITOR)
    viewers = (await client.get("/api/v1/admin/users?role=viewer", headers=admin_headers)).json()
    assert viewers["total"] == 3
    found = (await client.get("/api/v1/admin/users?q=WRITER", headers=admin_headers)).json()
    assert (await client.get("/api/v1/admin/users", params={"q": "_"}, headers=admin_headers)).json()["total"] == 0
    assert [u["email"] for u in found["items"]] == ["writer@example.com"]
    page = (await client.get("/api/v1/admin/users?sort=-email&limit=2&offset=1", headers=admin_headers)).json()
    assert [u["email"] for u in page["items"]] == ["viewer2@example.com", "viewer1@example.com"]
    bad_sort = await client.get("/api/v1/admin/users?sort=hashed_password", headers=admin_headers)
    assert bad_sort.status_code == 422 and bad_sort.json()["error"]["field"] == "sort"
    too_many = await client.get("/api/v1/admin/users?limit=101", headers=admin_headers)
    assert too_many.status_code == 422


async def test_non_admins_cannot_manage_users(client, editor_headers, viewer_headers):
    for headers in (editor_headers, viewer_headers):
        assert (await client.get("/api/v1/admin/users", headers=headers)).status_code == 403
        assert (await client.post("/api/v1/admin/users", json=BODY, headers=headers)).status_code == 403
    assert (await client.get("/api/v1/admin/users")).status_code == 401


async def test_last_active_admin_can_be_neither_demoted_nor_deactivated(app, client, admin, admin_headers):
    other = await make_user(app, email="second-admin@example.com", role=Role.ADMIN)
    other_headers = await login_headers(client, other.email)
    # With two admins, one may demote the other ...
    response = await client.put(f"/api/v1/admin/users/{other.id}", json={"role": "editor"}, headers=admin_headers)
    assert response.status_code == 200
    # ... but now the first is the last: a fresh second admin cannot demote or deactivate them.
    third = await make_user(app, email="third@example.com", role=Role.ADMIN)
    third_headers = await login_headers(client, third.email)
    await client.put(f"/api/v1/admin/users/{third.id}", json={"is_active": False}, headers=admin_headers)
    assert other_headers  # the demoted admin's token no longer grants admin rights:
    assert (await client.get("/api/v1/admin/users", headers=other_headers)).status_code == 403
    assert (await client.get("/api/v1/admin/users", headers=third_headers)).status_code == 401


async def test_last_admin_rule_refuses_with_409(app, admin):
    """Over HTTP only a race reaches this rule (see the concurrent test); the service enforces it for every caller."""
    from features.auth.api import UserUpdate, update_user
    from shared.errors import Conflict
    from shared.permissions import Principal

    other = Principal(user_id=9999, email="x@example.com", role=Role.ADMIN, token_id="t", login_id="l",
                      token_expires_at=admin.created_at)
    for change in (UserUpdate(role=Role.EDITOR), UserUpdate(is_active=False)):
        async with app.state.db.session() as session:
            try:
                await update_user(session, actor=other, user_id=admin.id, data=change)
            except Conflict as exc:
                assert exc.error_code == "LAST_ADMIN"
            else:
                raise AssertionError("the last admin lost their rights")


async def test_admin_cannot_change_own_role_or_deactivate_self(client, admin, admin_headers):
    response = await client.put(f"/api/v1/admin/users/{admin.id}", json={"role": "viewer"}, headers=admin_headers)
    assert response.status_code in (403, 409)
    response = await client.delete(f"/api/v1/admin/users/{admin.id}", headers=admin_headers)
    assert response.status_code in (403, 409)
    assert (await client.get("/api/v1/auth/me", headers=admin_headers)).json()["role"] == "admin"


async def test_only_admin_demoting_self_gets_409_last_admin(app, client, admin, admin_headers):
    other = await make_user(app, email="x-admin@example.com", role=Role.ADMIN)
    other_headers = await login_headers(client, other.email)
    await client.put(f"/api/v1/admin/users/{other.id}", json={"role": "editor"}, headers=admin_headers)
    assert (await client.get("/api/v1/admin/users", headers=other_headers)).status_code == 403
    # admin is now the last active admin; another admin would be needed to demote them, and none exists.
    response = await client.put(f"/api/v1/admin/users/{admin.id}", json={"is_active": False}, headers=admin_headers)
    assert response.status_code in (403, 409)


async def test_delete_deactivates_and_revokes_tokens(app, client, admin_headers):
    user = await make_user(app, email="leaving@example.com", role=Role.EDITOR)
    headers = await login_headers(client, user.email)
    response = await client.delete(f"/api/v1/admin/users/{user.id}", headers=admin_headers)
    assert response.status_code == 204
    shown = (await client.get(f"/api/v1/admin/users/{user.id}", headers=admin_headers)).json()
    assert shown["is_active"] is False and shown["deleted_at"] is not None
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401


async def test_fields_that_may_not_be_set_are_refused_and_nothing_is_written(app, client, admin_headers):
    user = await make_user(app, email="guarded@example.com")
    for extra in ({"id": 5000}, {"hashed_password": "x"}, {"created_at": "2000-01-01T00:00:00Z"}, {"email": "a@b.co"}):
        response = await client.put(f"/api/v1/admin/users/{user.id}", json={"first_name": "Z", **extra},
                                    headers=admin_headers)
        assert response.status_code == 422, extra
    shown = (await client.get(f"/api/v1/admin/users/{user.id}", headers=admin_headers)).json()
    assert shown["first_name"] == "Test" and shown["email"] == "guarded@example.com"


async def test_unknown_user_is_404(client, admin_headers):
    response = await client.put("/api/v1/admin/users/99999", json={"first_name": "X"}, headers=admin_headers)
    assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"


async def test_two_admins_demoting_each_other_at_once_leave_one_admin(app, client, admin, admin_headers):
    other = await make_user(app, email="rival@example.com", role=Role.ADMIN)
    other_headers = await login_headers(client, other.email)
    first, second = await asyncio.gather(
        client.put(f"/api/v1/admin/users/{other.id}", json={"role": "viewer"}, headers=admin_headers),
        client.put(f"/api/v1/admin/users/{admin.id}", json={"role": "viewer"}, headers=other_headers),
    )
    assert sorted([first.status_code, second.status_code]) in ([200, 403], [200, 409])
    admins = (await client.get("/api/v1/admin/users?role=admin&is_active=true",
                               headers=admin_headers if first.status_code == 200 else other_headers)).json()
    assert admins["total"] == 1


async def test_a_control_character_in_a_name_changes_nothing(client, admin_headers):
    created = (await client.post("/api/v1/admin/users", json=BODY, headers=admin_headers)).json()
    url = f"/api/v1/admin/users/{created['id']}"
    refused = await client.put(url, json={"last_name": "T\u001b[2J"}, headers=admin_headers)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "last_name"
    assert (await client.get(url, headers=admin_headers)).json()["last_name"] == "T"
