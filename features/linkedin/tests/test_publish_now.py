"""Publishing now: stored `publishing` before LinkedIn is called, the outcome recorded after, never twice."""

import asyncio

from sqlalchemy import update

from features.linkedin.models import LinkedInAccount, LinkedInPost
from features.linkedin.tests.factories import BASE, publish


async def test_a_post_is_published_once_with_its_urn_and_link(client, editor_headers, connect_account, create_post, linkedin):
    account = await connect_account()
    post = await create_post(account["id"], "Our first post")

    response = await publish(client, editor_headers, post["id"])

    assert response.status_code == 200, response.text
    body = response.json()
    [(urn, sent)] = linkedin.posts.items()
    assert body["status"] == "published" and body["provider_post_id"] == urn
    assert body["url"] == f"https://www.linkedin.com/feed/update/{urn}"
    assert sent["author"] == "urn:li:person:member-ada" and sent["commentary"] == "Our first post"
    assert sent["visibility"] == "PUBLIC" and "content" not in sent
    again = await publish(client, editor_headers, post["id"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "INVALID_TRANSITION"
    assert len(linkedin.posts) == 1


async def test_the_post_is_committed_as_publishing_before_linkedin_is_called(
    app, client, editor_headers, connect_account, create_post, linkedin
):
    account = await connect_account()
    post = await create_post(account["id"])
    linkedin.hang_after_create = True  # holds the answer: we look at the database meanwhile
    publishing = asyncio.create_task(publish(client, editor_headers, post["id"]))
    for _ in range(200):
        if linkedin.posts:
            break
        await asyncio.sleep(0.01)
    async with app.state.db.session(write=False) as session:  # another connection sees the commit
        assert (await session.get(LinkedInPost, post["id"])).status == "publishing"
    # A retry (a double click, a workflow loop) while the first call is still out is refused, not sent.
    again = await publish(client, editor_headers, post["id"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "INVALID_TRANSITION"
    assert len(linkedin.posts) == 1
    linkedin.release.set()
    await publishing
    assert len(linkedin.posts) == 1


async def test_one_image_is_content_media_and_several_are_multi_image(
    client, editor_headers, connect_account, create_post, upload_image, linkedin
):
    account = await connect_account()
    first, second, third = await upload_image(1), await upload_image(2), await upload_image(3)
    single = await create_post(account["id"], "One image", media_ids=[first])
    several = await create_post(account["id"], "Three images", media_ids=[first, second, third])

    assert (await publish(client, editor_headers, single["id"])).status_code == 200
    assert (await publish(client, editor_headers, several["id"])).status_code == 200

    by_text = {body["commentary"]: body for body in linkedin.posts.values()}
    media = by_text["One image"]["content"]["media"]["id"]
    images = [i["id"] for i in by_text["Three images"]["content"]["multiImage"]["images"]]
    assert images[0] == media  # uploaded once for this member, reused
    assert len(linkedin.images) == 3 and all(i["owner"] == "urn:li:person:member-ada" for i in linkedin.images.values())
    assert all(i["data"].startswith(b"\x89PNG") for i in linkedin.images.values())


async def test_an_image_uploaded_for_one_member_is_uploaded_again_for_another(
    client, editor_headers, connect_account, create_post, upload_image, linkedin
):
    ada, bob = await connect_account(), await connect_account("member-bob")
    image = await upload_image()
    for account in (ada, bob):
        post = await create_post(account["id"], f"Image for {account['display_name']}", media_ids=[image])
        assert (await publish(client, editor_headers, post["id"])).status_code == 200
    assert {i["owner"] for i in linkedin.images.values()} == {"urn:li:person:member-ada", "urn:li:person:member-bob"}


async def test_a_duplicate_is_a_final_failure(client, editor_headers, connect_account, create_post, linkedin):
    account = await connect_account()
    first, second = await create_post(account["id"], "Same words"), await create_post(account["id"], "Same words")
    assert (await publish(client, editor_headers, first["id"])).status_code == 200

    response = await publish(client, editor_headers, second["id"])

    assert response.status_code == 502 and response.json()["error"]["code"] == "PROVIDER_ERROR"
    stored = (await client.get(f"{BASE}/content/{second['id']}", headers=editor_headers)).json()
    assert stored["status"] == "failed" and "DUPLICATE_POST" in stored["error"]
    assert len(linkedin.posts) == 1


async def test_a_timeout_after_sending_is_unknown_and_never_retried_blindly(
    app, client, editor_headers, connect_account, create_post, linkedin
):
    account = await connect_account()
    post = await create_post(account["id"])
    linkedin.hang_after_create = True

    response = await publish(client, editor_headers, post["id"])

    assert response.status_code == 502
    stored = (await client.get(f"{BASE}/content/{post['id']}", headers=editor_headers)).json()
    assert stored["status"] == "unknown" and "did not answer" in stored["error"]
    assert (await publish(client, editor_headers, post["id"])).status_code == 409
    assert len(linkedin.posts) == 1  # it did reach LinkedIn: exactly once

    reset = await client.post(f"{BASE}/content/{post['id']}/reset", headers=editor_headers)
    assert reset.status_code == 200 and reset.json()["status"] == "failed"
    assert (await client.post(f"{BASE}/content/{post['id']}/reset", headers=editor_headers)).status_code == 409


async def test_a_401_marks_the_account_reconnect_required(client, admin_headers, editor_headers, connect_account, create_post, linkedin):
    account = await connect_account()
    post, other = await create_post(account["id"], "one"), await create_post(account["id"], "two")
    linkedin.expire_all_tokens()

    response = await publish(client, editor_headers, post["id"])

    assert response.status_code == 502
    listed = (await client.get(f"{BASE}/accounts", headers=admin_headers)).json()["items"]
    assert listed[0]["status"] == "reconnect_required"
    calls = len(linkedin.requests)
    refused = await publish(client, editor_headers, other["id"])
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "RECONNECT_REQUIRED"
    assert len(linkedin.requests) == calls  # not even tried
    await connect_account()  # reconnecting heals it
    assert (await publish(client, editor_headers, other["id"])).status_code == 200


async def test_a_rate_limited_account_answers_429_until_the_backoff_ends(
    app, client, editor_headers, connect_account, create_post, linkedin
):
    account = await connect_account()
    post, other = await create_post(account["id"], "one"), await create_post(account["id"], "two")
    linkedin.fail_next("/rest/posts", 429)
    assert (await publish(client, editor_headers, post["id"])).status_code == 502
    calls = len(linkedin.requests)

    response = await publish(client, editor_headers, other["id"])

    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
    assert len(linkedin.requests) == calls
    async with app.state.db.session() as session:
        await session.exec(update(LinkedInAccount).values(postponed_until=None))
    assert (await publish(client, editor_headers, other["id"])).status_code == 200


async def test_a_server_error_fails_a_publish_now_and_it_can_be_published_again(
    client, editor_headers, connect_account, create_post, linkedin
):
    account = await connect_account()
    post = await create_post(account["id"])
    linkedin.fail_next("/rest/posts", 503)
    assert (await publish(client, editor_headers, post["id"])).status_code == 502
    stored = (await client.get(f"{BASE}/content/{post['id']}", headers=editor_headers)).json()
    assert stored["status"] == "failed"
    assert (await publish(client, editor_headers, post["id"])).status_code == 200
    assert len(linkedin.posts) == 1


async def test_another_server_error_to_a_new_post_leaves_it_unknown_and_never_retried_blindly(
    client, editor_headers, connect_account, create_post, linkedin
):
    # A 500, 502 or 504 may come after LinkedIn created the post; only a 503 says it took nothing.
    account = await connect_account()
    post = await create_post(account["id"])
    linkedin.fail_next("/rest/posts", 502)
    assert (await publish(client, editor_headers, post["id"])).status_code == 502
    stored = (await client.get(f"{BASE}/content/{post['id']}", headers=editor_headers)).json()
    assert stored["status"] == "unknown"
    assert (await publish(client, editor_headers, post["id"])).status_code == 409
    assert len([r for r in linkedin.requests if r[1] == "/rest/posts"]) == 1  # one attempt, no blind second
