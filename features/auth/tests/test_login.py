import asyncio
import time
from collections import Counter

from features.auth import service
from features.auth.errors import TooManyLoginAttempts
from shared.permissions import Role
from tests.factories import TEST_PASSWORD, login_headers, make_user, wait_for

LOGIN = "/api/v1/auth/login"
RIGHT = {"email": "target@example.com", "password": TEST_PASSWORD}
WRONG = {"email": "target@example.com", "password": "wrong-password-123"}


def _spy_on_password_checks(monkeypatch, *, hold: asyncio.Event | None = None, held: str | None = None) -> list[str]:
    """Every password the login service checks, in order; the real check still runs.

    With `hold`, a check of the `held` password waits for it first, so the attempt stays in
    flight: counted, not yet answered."""
    checked: list[str] = []
    real = service.verify_password

    async def spy(stored_hash, password):
        checked.append(password)
        if hold is not None and password == held:
            await hold.wait()
        return await real(stored_hash, password)

    monkeypatch.setattr(service, "verify_password", spy)
    return checked


def _lets_many_requests_through(app) -> None:
    # The per-address limit (30 a minute) would refuse the bursts before the account rule is reached.
    app.state.settings.rate_limit_public_per_minute = 10_000


async def test_login_returns_token_pair_and_sets_last_login(client, admin):
    response = await client.post("/api/v1/auth/login", json={"email": "admin@example.com", "password": TEST_PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 15 * 60
    assert body["access_token"] and body["refresh_token"]
    me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == "admin@example.com"
    assert me.json()["last_login"] is not None
    assert "hashed_password" not in me.json()


async def test_login_email_is_case_insensitive(client, admin):
    response = await client.post("/api/v1/auth/login", json={"email": "ADMIN@Example.com", "password": TEST_PASSWORD})
    assert response.status_code == 200


async def test_wrong_password_and_unknown_email_get_the_same_answer_in_similar_time(client, admin):
    timings, bodies = {}, {}
    for label, email in (("unknown", "nobody@example.com"), ("known", "admin@example.com")):
        started = time.perf_counter()
        for _ in range(3):
            response = await client.post("/api/v1/auth/login", json={"email": email, "password": "wrong-password-123"})
        timings[label] = (time.perf_counter() - started) / 3
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        bodies[label] = response.json()
    assert bodies["unknown"] == bodies["known"]
    assert bodies["known"]["error"]["code"] == "INVALID_CREDENTIALS"
    # Both verify an argon2 hash; without the dummy hash the unknown email answers many times faster.
    assert timings["unknown"] > timings["known"] * 0.5


async def test_inactive_user_cannot_log_in(app, client, admin_headers):
    user = await make_user(app, email="gone@example.com")
    response = await client.put(f"/api/v1/admin/users/{user.id}", json={"is_active": False}, headers=admin_headers)
    assert response.status_code == 200
    response = await client.post("/api/v1/auth/login", json={"email": "gone@example.com", "password": TEST_PASSWORD})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "INVALID_CREDENTIALS"


async def test_deleted_user_cannot_log_in(app, client, admin_headers):
    user = await make_user(app, email="deleted@example.com")
    assert (await client.delete(f"/api/v1/admin/users/{user.id}", headers=admin_headers)).status_code == 204
    response = await client.post("/api/v1/auth/login", json={"email": "deleted@example.com", "password": TEST_PASSWORD})
    assert response.status_code == 401


async def test_five_failures_lock_the_account_with_retry_after(app, client):
    await make_user(app, email="target@example.com", role=Role.EDITOR)
    wrong = {"email": "target@example.com", "password": "nope-nope"}
    for _ in range(5):
        response = await client.post("/api/v1/auth/login", json=wrong)
        assert response.status_code == 401
    # Even the right password is refused while the account is locked.
    response = await client.post("/api/v1/auth/login", json={"email": "target@example.com", "password": TEST_PASSWORD})
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "RATE_LIMITED"
    retry_after = int(response.headers["retry-after"])
    assert 14 * 60 < retry_after <= 15 * 60 + 1


async def test_lockout_expires_after_the_window(app, client):
    from datetime import timedelta

    from sqlalchemy import update

    from features.auth.models import FailedLogin
    from shared.db import utcnow

    await make_user(app, email="target@example.com")
    for _ in range(5):
        await client.post("/api/v1/auth/login", json={"email": "target@example.com", "password": "nope-nope-nope"})
    right = {"email": "target@example.com", "password": TEST_PASSWORD}
    assert (await client.post("/api/v1/auth/login", json=right)).status_code == 429
    async with app.state.db.session() as db:
        # Age the failures past the 15-minute window.
        await db.exec(update(FailedLogin).values(attempted_at=utcnow() - timedelta(minutes=16)))
    assert (await client.post("/api/v1/auth/login", json=right)).status_code == 200


async def test_successful_login_rehashes_outdated_hash(app, client, strong_password_hashing):
    from argon2 import PasswordHasher

    from features.auth.models import User

    user = await make_user(app, email="old@example.com")
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(TEST_PASSWORD)
    async with app.state.db.session() as db:
        row = await db.get(User, user.id)
        row.hashed_password = weak
        db.add(row)
    await login_headers(client, "old@example.com")
    async with app.state.db.session(write=False) as db:
        row = await db.get(User, user.id)
        assert row.hashed_password != weak
        assert PasswordHasher().check_needs_rehash(row.hashed_password) is False


async def test_login_is_rate_limited_per_client_address(app, client):
    app.state.settings.rate_limit_public_per_minute = 3
    for _ in range(3):
        await client.post("/api/v1/auth/login", json={"email": f"x{_}@example.com", "password": "whatever-123456"})
    response = await client.post("/api/v1/auth/login", json={"email": "y@example.com", "password": "whatever-123456"})
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1


async def test_hundred_concurrent_wrong_passwords_get_five_checks_and_five_401s(app, client, monkeypatch):
    _lets_many_requests_through(app)
    await make_user(app, email="target@example.com")
    checked = _spy_on_password_checks(monkeypatch)
    responses = await asyncio.gather(*(client.post(LOGIN, json=WRONG) for _ in range(100)))
    assert Counter(r.status_code for r in responses) == {401: 5, 429: 95}
    refused = [r for r in responses if r.status_code == 429]
    assert {r.json()["error"]["message"] for r in refused} == {TooManyLoginAttempts.default_message}
    assert all(14 * 60 < int(r.headers["retry-after"]) <= 15 * 60 + 1 for r in refused)
    assert len(checked) == 5


async def test_a_burst_after_five_attempts_are_in_flight_is_refused_right_password_included(app, client, monkeypatch):
    _lets_many_requests_through(app)
    await make_user(app, email="target@example.com")
    release = asyncio.Event()
    checked = _spy_on_password_checks(monkeypatch, hold=release, held=WRONG["password"])
    in_flight = [asyncio.create_task(client.post(LOGIN, json=WRONG)) for _ in range(5)]
    await wait_for(lambda: len(checked) == 5)
    # The right password as request 40 of a burst, while the five wrong guesses are still being checked.
    burst = [RIGHT if n == 39 else WRONG for n in range(60)]
    responses = await asyncio.gather(*(client.post(LOGIN, json=body) for body in burst))
    assert [r.status_code for r in responses] == [429] * 60
    assert "access_token" not in responses[39].json()
    release.set()
    assert [r.status_code for r in await asyncio.gather(*in_flight)] == [401] * 5
    assert checked == [WRONG["password"]] * 5


async def test_right_password_after_the_lock_is_refused_without_being_checked(app, client, monkeypatch):
    await make_user(app, email="target@example.com")
    for _ in range(5):
        assert (await client.post(LOGIN, json=WRONG)).status_code == 401
    checked = _spy_on_password_checks(monkeypatch)
    response = await client.post(LOGIN, json=RIGHT)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "RATE_LIMITED"
    assert 14 * 60 < int(response.headers["retry-after"]) <= 15 * 60 + 1
    assert "access_token" not in response.json()
    assert checked == []


async def test_unknown_email_is_locked_after_five_attempts_too(client):
    unknown = {"email": "nobody@example.com", "password": "wrong-password-123"}
    for _ in range(5):
        assert (await client.post(LOGIN, json=unknown)).status_code == 401
    assert (await client.post(LOGIN, json=unknown)).status_code == 429


async def test_a_success_forgives_only_the_attempts_counted_before_it(app, client, monkeypatch):
    _lets_many_requests_through(app)
    await make_user(app, email="target@example.com")
    release = asyncio.Event()
    checked = _spy_on_password_checks(monkeypatch, hold=release, held=TEST_PASSWORD)
    right = asyncio.create_task(client.post(LOGIN, json=RIGHT))
    await wait_for(lambda: checked == [TEST_PASSWORD])
    # Counted after the right password's attempt: four more fit in the window beside it.
    for _ in range(4):
        assert (await client.post(LOGIN, json=WRONG)).status_code == 401
    assert (await client.post(LOGIN, json=WRONG)).status_code == 429
    release.set()
    assert (await right).status_code == 200
    # The four guesses made while it was checked still count: one more, then the lock.
    assert (await client.post(LOGIN, json=WRONG)).status_code == 401
    assert (await client.post(LOGIN, json=WRONG)).status_code == 429
