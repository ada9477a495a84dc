"""A stored token no configured key opens (TOKEN_ENCRYPTION_KEY changed): 409 RECONNECT_REQUIRED, the account
marked `reconnect_required` for good, and the worker fails the post with the reason instead of crashing."""

from datetime import timedelta

from cryptography.fernet import Fernet
from pydantic import SecretStr

from features.linkedin.models import LinkedInAccount
from features.linkedin.tests.factories import BASE, png_bytes, publish
from features.linkedin.worker import fetch_engagement, publish_due_posts
from shared.db import utcnow
from tests.factories import assert_declared, job_context


def change_the_key(app) -> None:
    app.state.settings.token_encryption_key = SecretStr(Fernet.generate_key().decode())


async def account_status(app, account_id: int) -> str:
    async with app.state.db.session(write=False) as session:
        return (await session.get(LinkedInAccount, account_id)).status


def assert_reconnect_required(app, response) -> None:
    assert response.status_code == 409, response.text
    assert_declared(app, response)
    error = response.json()["error"]
    assert error["code"] == "RECONNECT_REQUIRED" and "TOKEN_ENCRYPTION_KEY" in error["message"]


async def test_publishing_with_an_unreadable_token_is_409_and_marks_the_account(
    app, client, editor_headers, connect_account, create_post, linkedin
):
    account = await connect_account()
    post = await create_post(account["id"])
    change_the_key(app)

    assert_reconnect_required(app, await publish(client, editor_headers, post["id"]))

    assert await account_status(app, account["id"]) == "reconnect_required"
    stored = (await client.get(f"{BASE}/content/{post['id']}", headers=editor_headers)).json()
    assert stored["status"] == "draft" and not linkedin.posts  # nothing was sent: it may be published later
    again = await publish(client, editor_headers, post["id"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "RECONNECT_REQUIRED"
    await connect_account()  # connecting again stores a token under the new key
    assert (await publish(client, editor_headers, post["id"])).status_code == 200


async def test_deleting_refreshing_figures_and_uploading_with_an_unreadable_token_are_409(
    app, client, admin_headers, editor_headers, connect_account, create_post, linkedin
):
    account = await connect_account()
    post = (await publish(client, editor_headers, (await create_post(account["id"]))["id"])).json()
    change_the_key(app)

    assert_reconnect_required(app, await client.get(f"{BASE}/engagement/{post['id']}?refresh=true", headers=editor_headers))
    assert await account_status(app, account["id"]) == "reconnect_required"
    assert_reconnect_required(app, await client.delete(f"{BASE}/content/{post['id']}", headers=admin_headers))
    assert_reconnect_required(app, await client.post(
        f"{BASE}/media", files={"file": ("photo.png", png_bytes(), "image/png")}, data={"account_id": str(account["id"])},
        headers=editor_headers,
    ))
    stored = (await client.get(f"{BASE}/content/{post['id']}", headers=editor_headers)).json()
    assert stored["status"] == "published" and post["provider_post_id"] in linkedin.posts


async def test_the_worker_fails_the_post_of_an_unreadable_token_with_the_reason(
    app, client, editor_headers, connect_account, create_post, linkedin
):
    account = await connect_account()
    due = (utcnow() + timedelta(minutes=1)).isoformat()
    post = await create_post(account["id"], "scheduled", scheduled_at=due)
    published = (await publish(client, editor_headers, (await create_post(account["id"], "out"))["id"])).json()
    change_the_key(app)
    later = utcnow() + timedelta(minutes=2)

    await publish_due_posts(job_context(app, lambda: later))
    await fetch_engagement(job_context(app, lambda: later))  # figures due: logged and skipped, no crash

    stored = (await client.get(f"{BASE}/content/{post['id']}", headers=editor_headers)).json()
    assert stored["status"] == "failed" and "TOKEN_ENCRYPTION_KEY" in stored["error"]
    assert [body["commentary"] for body in linkedin.posts.values()] == ["out"]
    assert published["status"] == "published"
    assert await account_status(app, account["id"]) == "reconnect_required"
