"""A stored token no configured key opens (TOKEN_ENCRYPTION_KEY changed): 409 RECONNECT_REQUIRED, the account
marked `reconnect_required` for good, and the worker fails the post with the reason instead of crashing."""

from datetime import timedelta

from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import update

from features.twitter.models import TwitterAccount
from features.twitter.tests.factories import BASE, follow_consent
from features.twitter.worker import publish_due_posts
from shared.db import utcnow
from tests.factories import assert_declared, job_context


def change_the_key(app) -> None:
    app.state.settings.token_encryption_key = SecretStr(Fernet.generate_key().decode())


async def stored_account(app, account_id: int) -> TwitterAccount:
    async with app.state.db.session(write=False) as session:
        return await session.get(TwitterAccount, account_id)


def assert_reconnect_required(app, response) -> None:
    assert response.status_code == 409, response.text
    assert_declared(app, response)
    error = response.json()["error"]
    assert error["code"] == "RECONNECT_REQUIRED" and "TOKEN_ENCRYPTION_KEY" in error["message"]


async def publish(client, headers, post_id: int):
    return await client.post(f"{BASE}/content/{post_id}/publish", headers=headers)


async def test_publishing_with_an_unreadable_access_token_is_409_and_marks_the_account(
    app, client, editor_headers, connect_account, create_post, twitter
):
    account = await connect_account()
    post = await create_post(account["id"], "never sent")
    change_the_key(app)

    assert_reconnect_required(app, await publish(client, editor_headers, post["id"]))

    assert (await stored_account(app, account["id"])).status == "reconnect_required"
    stored = (await client.get(f"{BASE}/content/{post['id']}", headers=editor_headers)).json()
    assert stored["status"] == "draft" and not twitter.tweets
    await connect_account()
    assert (await publish(client, editor_headers, post["id"])).status_code == 200


async def test_an_unreadable_refresh_token_is_409_marks_the_account_and_gives_the_lease_back(
    app, client, editor_headers, connect_account, create_post, twitter
):
    account = await connect_account()
    post = await create_post(account["id"], "needs a refresh first")
    async with app.state.db.session() as session:  # the access token dies within the refresh margin
        await session.exec(update(TwitterAccount).values(token_expires_at=utcnow() + timedelta(minutes=1)))
    change_the_key(app)
    calls = len(twitter.calls)

    assert_reconnect_required(app, await publish(client, editor_headers, post["id"]))

    row = await stored_account(app, account["id"])
    assert row.status == "reconnect_required" and "TOKEN_ENCRYPTION_KEY" in row.status_reason
    assert row.token_refresh_owner is None and row.token_refresh_until is None
    assert len(twitter.calls) == calls  # X was not asked


async def test_deleting_a_published_post_with_an_unreadable_token_is_409(
    app, client, admin_headers, editor_headers, connect_account, create_post, twitter
):
    account = await connect_account()
    post = (await publish(client, editor_headers, (await create_post(account["id"], "stays"))["id"])).json()
    change_the_key(app)

    assert_reconnect_required(app, await client.delete(f"{BASE}/content/{post['id']}", headers=admin_headers))
    assert_reconnect_required(app, await client.get(f"{BASE}/engagement/{post['id']}?refresh=true", headers=editor_headers))

    assert (await stored_account(app, account["id"])).status == "reconnect_required"
    assert [tweet.text for tweet in twitter.tweets.values()] == ["stays"]


async def test_the_worker_fails_the_post_of_an_unreadable_token_with_the_reason(
    app, client, editor_headers, connect_account, create_post, twitter
):
    account = await connect_account()
    post = await create_post(account["id"], "scheduled", scheduled_at=(utcnow() + timedelta(minutes=1)).isoformat())
    change_the_key(app)

    await publish_due_posts(job_context(app, clock=lambda: utcnow() + timedelta(minutes=2)))

    stored = (await client.get(f"{BASE}/content/{post['id']}", headers=editor_headers)).json()
    assert stored["status"] == "failed" and "TOKEN_ENCRYPTION_KEY" in stored["error"]
    assert (await stored_account(app, account["id"])).status == "reconnect_required" and not twitter.tweets


async def test_a_state_whose_verifier_no_key_opens_is_invalid_state(client, admin_headers, app, twitter):
    started = await client.post(f"{BASE}/accounts/authorize", json={}, headers=admin_headers)
    redirect = await follow_consent(started.json()["authorization_url"])
    change_the_key(app)

    response = await client.post(f"{BASE}/accounts", json=redirect, headers=admin_headers)

    assert response.status_code == 400 and response.json()["error"]["code"] == "INVALID_STATE"
