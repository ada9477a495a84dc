"""Publishing tweets and threads exactly once: now and by the worker, resumed after a failure, never retried
blindly after a timeout, tokens refreshed before use, rate limits postponed without a hot loop."""

import asyncio
from datetime import timedelta

from sqlalchemy import update

from features.twitter.models import TwitterAccount, TwitterMedia, TwitterPost
from features.twitter.tests.factories import BASE
from features.twitter.tests.fake_x import Fault
from features.twitter.worker import publish_due_posts
from shared.db import utcnow
from shared.token_crypto import token_cipher
from tests.factories import assert_declared, job_context


async def publish(client, headers, post_id: int):
    return await client.post(f"{BASE}/content/{post_id}/publish", headers=headers)


async def test_a_thread_with_an_image_is_published_as_a_chain_of_replies(
    client, editor_headers, connect_account, create_post, upload_image, twitter
):
    account = await connect_account()
    image = await upload_image()
    post = await create_post(account["id"], "1/3 what we build 🧵", "2/3 how", "3/3 https://example.com/jobs",
                             images={0: [image]})

    response = await publish(client, editor_headers, post["id"])

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "published" and body["published_at"] and body["error"] is None
    ids = [segment["provider_post_id"] for segment in body["segments"]]
    assert all(ids) and body["provider_post_id"] == ids[0] and body["url"].endswith(ids[0])
    tweets = [twitter.tweets[i] for i in ids]
    assert [t.in_reply_to for t in tweets] == [None, ids[0], ids[1]]
    assert len(tweets[0].media_ids) == 1 and twitter.media[tweets[0].media_ids[0]].content_type == "image/png"
    assert len(twitter.tweets) == 3
    again = await publish(client, editor_headers, post["id"])
    assert again.status_code == 409 and len(twitter.tweets) == 3


async def test_a_thread_failing_in_the_middle_resumes_at_its_first_untaken_segment(
    client, editor_headers, connect_account, create_post, twitter
):
    account = await connect_account()
    post = await create_post(account["id"], "one", "two", "three")
    twitter.fail_next("POST /2/tweets", Fault())  # the first goes through
    twitter.fail_next("POST /2/tweets", Fault(status=503))  # X is over capacity for the second

    failed = await publish(client, editor_headers, post["id"])

    assert failed.status_code == 502 and failed.json()["error"]["code"] == "PROVIDER_ERROR"
    stored = (await client.get(f"{BASE}/content/{post['id']}", headers=editor_headers)).json()
    assert stored["status"] == "failed" and "503" in stored["error"]
    first_id = stored["segments"][0]["provider_post_id"]
    assert first_id and [s["provider_post_id"] for s in stored["segments"][1:]] == [None, None]

    resumed = await publish(client, editor_headers, post["id"])

    assert resumed.status_code == 200, resumed.text
    ids = [s["provider_post_id"] for s in resumed.json()["segments"]]
    assert ids[0] == first_id
    assert [twitter.tweets[i].text for i in ids] == ["one", "two", "three"]
    assert twitter.tweets[ids[1]].in_reply_to == first_id and twitter.tweets[ids[2]].in_reply_to == ids[1]
    assert len(twitter.tweets) == 3  # each segment posted once


async def test_a_timeout_after_sending_is_unknown_and_never_retried_blindly(
    client, editor_headers, connect_account, create_post, twitter
):
    account = await connect_account()
    post = await create_post(account["id"], "did it go out?")
    twitter.fail_next("POST /2/tweets", Fault(hang=True, act_first=True))

    response = await publish(client, editor_headers, post["id"])

    assert response.status_code == 502
    stored = (await client.get(f"{BASE}/content/{post['id']}", headers=editor_headers)).json()
    assert stored["status"] == "unknown" and "may or may not" in stored["error"]
    assert (await publish(client, editor_headers, post["id"])).status_code == 409
    assert len(twitter.tweets) == 1  # X had taken it: a blind retry would have posted it twice
    reset = await client.post(f"{BASE}/content/{post['id']}/reset", headers=editor_headers)
    assert reset.status_code == 200 and reset.json()["status"] == "failed"


async def test_a_token_about_to_die_is_refreshed_before_publishing(
    app, client, editor_headers, connect_account, create_post, twitter
):
    account = await connect_account()
    post = await create_post(account["id"], "fresh token please")
    async with app.state.db.session() as session:
        await session.exec(update(TwitterAccount).where(TwitterAccount.id == account["id"])
                           .values(token_expires_at=utcnow() + timedelta(minutes=2)))
        row = await session.get(TwitterAccount, account["id"])
        old_refresh = token_cipher(app.state.settings).decrypt(row.refresh_token_encrypted)

    response = await publish(client, editor_headers, post["id"])

    assert response.status_code == 200, response.text
    assert len(twitter.calls_to("POST /2/oauth2/token")) == 2  # the connect and the refresh
    assert twitter.refresh_tokens[old_refresh].used
    async with app.state.db.session(write=False) as session:
        row = await session.get(TwitterAccount, account["id"])
    new_refresh = token_cipher(app.state.settings).decrypt(row.refresh_token_encrypted)
    assert new_refresh != old_refresh and not twitter.refresh_tokens[new_refresh].used
    assert row.token_expires_at > utcnow() + timedelta(hours=1)


async def test_a_401_marks_the_account_reconnect_required(
    client, editor_headers, admin_headers, connect_account, create_post, twitter
):
    account = await connect_account()
    post = await create_post(account["id"], "who are you")
    twitter.fail_next("POST /2/tweets", Fault(status=401))

    assert (await publish(client, editor_headers, post["id"])).status_code == 502

    [listed] = (await client.get(f"{BASE}/accounts", headers=admin_headers)).json()["items"]
    assert listed["status"] == "reconnect_required"
    second = await create_post(account["id"], "another")
    refused = await publish(client, editor_headers, second["id"])
    assert refused.status_code in (409, 502) and len(twitter.tweets) == 0
    await connect_account()  # connecting again recovers it
    [listed] = (await client.get(f"{BASE}/accounts", headers=admin_headers)).json()["items"]
    assert listed["status"] == "active"


async def test_the_worker_publishes_a_due_post_once_even_with_two_workers(
    app, app_factory, client, editor_headers, connect_account, create_post, twitter
):
    account = await connect_account()
    post = await create_post(account["id"], "scheduled tweet", scheduled_at=(utcnow() + timedelta(minutes=5)).isoformat())
    later = lambda: utcnow() + timedelta(minutes=6)  # noqa: E731
    other = app_factory(app.state.settings)
    try:
        await asyncio.gather(publish_due_posts(job_context(app, clock=later)),
                             publish_due_posts(job_context(other, clock=later)))
    finally:
        await other.state.db.dispose()
    stored = (await client.get(f"{BASE}/content/{post['id']}", headers=editor_headers)).json()
    assert stored["status"] == "published"
    assert [t.text for t in twitter.tweets.values()] == ["scheduled tweet"]


async def test_a_rate_limit_postpones_the_account_until_the_reset_without_a_hot_loop(
    app, client, editor_headers, connect_account, create_post, twitter
):
    account = await connect_account()
    post = await create_post(account["id"], "too many", scheduled_at=(utcnow() + timedelta(minutes=1)).isoformat())
    twitter.fail_next("POST /2/tweets", Fault(status=429, reset_in=600))
    now = utcnow() + timedelta(minutes=2)

    await publish_due_posts(job_context(app, clock=lambda: now))
    for _ in range(5):  # the worker runs again and again meanwhile
        await publish_due_posts(job_context(app, clock=lambda: now + timedelta(seconds=30)))

    assert len(twitter.calls_to("POST /2/tweets")) == 1
    async with app.state.db.session(write=False) as session:
        row = await session.get(TwitterPost, post["id"])
        account_row = await session.get(TwitterAccount, account["id"])
    assert row.status == "scheduled" and account_row.postponed_until is not None
    assert abs((account_row.postponed_until - (twitter.now + timedelta(seconds=600))).total_seconds()) <= 1
    after_reset = account_row.postponed_until + timedelta(seconds=1)
    await publish_due_posts(job_context(app, clock=lambda: after_reset))
    assert [t.text for t in twitter.tweets.values()] == ["too many"]


async def test_an_expired_x_media_id_is_uploaded_again(
    app, client, editor_headers, connect_account, create_post, upload_image, twitter
):
    account = await connect_account()
    image = await upload_image()
    ahead = await client.post(f"{BASE}/media", data={"account_id": str(account["id"])},
                              files={"file": ("p.png", _png(), "image/png")}, headers=editor_headers)
    assert ahead.status_code == 201, ahead.text
    assert ahead.json()["expires_at"] is not None
    async with app.state.db.session() as session:  # a day later X has forgotten every id
        await session.exec(update(TwitterMedia).values(expires_at=utcnow() - timedelta(minutes=1)))
    for item in twitter.media.values():
        item.expires_at = twitter.now - timedelta(minutes=1)
    post = await create_post(account["id"], "with a fresh image", images={0: [image]})

    response = await publish(client, editor_headers, post["id"])

    assert response.status_code == 200, response.text
    [tweet] = twitter.tweets.values()
    assert twitter.media[tweet.media_ids[0]].expires_at > twitter.now  # a new upload, not the expired id


async def test_deleting_a_published_thread_deletes_each_tweet_at_x(
    client, editor_headers, admin_headers, connect_account, create_post, twitter
):
    account = await connect_account()
    post = await create_post(account["id"], "first", "second")
    assert (await publish(client, editor_headers, post["id"])).status_code == 200

    response = await client.delete(f"{BASE}/content/{post['id']}", headers=admin_headers)

    assert response.status_code == 204
    assert twitter.tweets == {} and len(twitter.calls_to("DELETE /2/tweets/{id}")) == 2
    stored = (await client.get(f"{BASE}/content/{post['id']}", headers=admin_headers)).json()
    assert stored["status"] == "cancelled"


async def test_a_rate_limited_deletion_is_429_as_declared_and_the_post_stays_published(
    app, client, editor_headers, admin_headers, connect_account, create_post, twitter
):
    account = await connect_account()
    post = await create_post(account["id"], "stays up")
    assert (await publish(client, editor_headers, post["id"])).status_code == 200
    twitter.fail_next("DELETE /2/tweets/{id}", Fault(status=429, reset_in=300))

    response = await client.delete(f"{BASE}/content/{post['id']}", headers=admin_headers)

    assert response.status_code == 429 and response.json()["error"]["code"] == "RATE_LIMITED"
    assert_declared(app, response)
    stored = (await client.get(f"{BASE}/content/{post['id']}", headers=admin_headers)).json()
    assert stored["status"] == "published" and len(twitter.tweets) == 1


def _png() -> bytes:
    from features.twitter.tests.factories import png_bytes

    return png_bytes((1, 2, 3))


async def test_the_worker_refreshes_a_dying_token_and_fails_the_posts_of_an_account_x_refuses(
    app, client, editor_headers, connect_account, create_post, twitter
):
    ours = await connect_account()
    theirs = await connect_account(twitter.add_user("other", "Other"))
    due = (utcnow() + timedelta(minutes=1)).isoformat()
    ok = await create_post(ours["id"], "refreshed first", scheduled_at=due)
    refused = [await create_post(theirs["id"], f"never {n}", scheduled_at=due) for n in range(2)]
    async with app.state.db.session() as session:
        await session.exec(update(TwitterAccount).values(token_expires_at=utcnow() + timedelta(minutes=3)))
        other = await session.get(TwitterAccount, theirs["id"])
        spent = token_cipher(app.state.settings).decrypt(other.refresh_token_encrypted)
    twitter.refresh_tokens[spent].used = True  # X no longer takes it (revoked by the user, say)

    await publish_due_posts(job_context(app, clock=lambda: utcnow() + timedelta(minutes=2)))

    assert [t.text for t in twitter.tweets.values()] == ["refreshed first"]
    statuses = [(await client.get(f"{BASE}/content/{p['id']}", headers=editor_headers)).json() for p in [ok, *refused]]
    assert [s["status"] for s in statuses] == ["published", "failed", "failed"]
    assert "reconnect" in statuses[1]["error"]
    async with app.state.db.session(write=False) as session:
        assert (await session.get(TwitterAccount, theirs["id"])).status == "reconnect_required"
        assert (await session.get(TwitterAccount, ours["id"])).token_expires_at > utcnow() + timedelta(hours=1)


async def test_the_post_queue_counts_x_posts_due_and_unknown(app):
    from datetime import timedelta

    from features.twitter.api import post_queue
    from features.twitter.models import TwitterPost
    from shared.db import utcnow

    async with app.state.db.session() as session:
        session.add_all([TwitterPost(status="scheduled", next_attempt_at=utcnow() - timedelta(seconds=5)),
                         TwitterPost(status="unknown"), TwitterPost(status="unknown"), TwitterPost(status="published")])
    async with app.state.db.session(write=False) as session:
        assert (await post_queue(session)).model_dump() == {"due": 1, "unknown": 2}
