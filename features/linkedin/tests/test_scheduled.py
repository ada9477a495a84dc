"""Scheduled posts: published by the worker when due, claimed atomically, never late or twice."""

import asyncio
from datetime import timedelta

from sqlalchemy import update

from features.linkedin.models import LinkedInAccount, LinkedInPost
from features.linkedin.tests.factories import BASE
from features.linkedin.worker import publish_due_posts
from shared.db import Database, utcnow
from tests.factories import job_context


def in_minutes(minutes: float) -> str:
    return (utcnow() + timedelta(minutes=minutes)).isoformat()


def at(minutes: float):
    moment = utcnow() + timedelta(minutes=minutes)
    return lambda: moment


async def read(client, headers, post_id):
    return (await client.get(f"{BASE}/content/{post_id}", headers=headers)).json()


async def test_the_worker_publishes_a_post_when_it_is_due(app, client, editor_headers, connect_account, create_post, linkedin):
    account = await connect_account()
    post = await create_post(account["id"], "Scheduled", scheduled_at=in_minutes(10))
    assert post["status"] == "scheduled"

    await publish_due_posts(job_context(app, at(5)))  # not yet
    assert not linkedin.posts
    await publish_due_posts(job_context(app, at(11)))
    await publish_due_posts(job_context(app, at(12)))

    stored = await read(client, editor_headers, post["id"])
    assert stored["status"] == "published" and stored["provider_post_id"] in linkedin.posts
    assert len(linkedin.posts) == 1


async def test_a_post_missed_by_more_than_an_hour_fails_with_the_reason(
    app, client, editor_headers, connect_account, create_post, linkedin
):
    account = await connect_account()
    post = await create_post(account["id"], scheduled_at=in_minutes(10))

    await publish_due_posts(job_context(app, at(10 + 61)))

    stored = await read(client, editor_headers, post["id"])
    assert stored["status"] == "failed" and "after its scheduled time" in stored["error"]
    assert not linkedin.posts


async def test_a_crash_left_in_publishing_becomes_unknown_after_the_lease_and_is_not_retried(
    app, client, editor_headers, connect_account, create_post, linkedin
):
    account = await connect_account()
    post = await create_post(account["id"])
    async with app.state.db.session() as session:  # what a process killed mid-call leaves behind
        await session.exec(update(LinkedInPost).values(
            status="publishing", claimed_by="worker:dead", lease_until=utcnow() + timedelta(minutes=15),
        ))

    await publish_due_posts(job_context(app, at(5)))  # the lease still holds
    assert (await read(client, editor_headers, post["id"]))["status"] == "publishing"
    await publish_due_posts(job_context(app, at(16)))

    stored = await read(client, editor_headers, post["id"])
    assert stored["status"] == "unknown" and "interrupted" in stored["error"]
    await publish_due_posts(job_context(app, at(30)))
    assert (await read(client, editor_headers, post["id"]))["status"] == "unknown"
    assert not linkedin.posts


async def test_a_rate_limit_postpones_the_account_without_a_hot_loop(
    app, client, editor_headers, connect_account, create_post, linkedin
):
    account = await connect_account()
    first = await create_post(account["id"], "first", scheduled_at=in_minutes(1))
    second = await create_post(account["id"], "second", scheduled_at=in_minutes(1))
    linkedin.fail_next("/rest/posts", 429)

    await publish_due_posts(job_context(app, at(2)))

    posts_tried = [r for r in linkedin.requests if r == ("POST", "/rest/posts")]
    assert len(posts_tried) == 1  # the second post of the account was not tried after the 429
    stored = await read(client, editor_headers, first["id"])
    assert stored["status"] == "scheduled" and "rate limited" in stored["error"]
    for _ in range(5):  # the worker goes round again and again within the backoff: no call
        await publish_due_posts(job_context(app, at(2.5)))
    assert [r for r in linkedin.requests if r == ("POST", "/rest/posts")] == posts_tried

    await publish_due_posts(job_context(app, at(4)))  # past the backoff (1 minute)
    assert {p["commentary"] for p in linkedin.posts.values()} == {"first", "second"}
    assert (await read(client, editor_headers, second["id"]))["status"] == "published"


async def test_a_server_error_is_retried_with_backoff(app, client, editor_headers, connect_account, create_post, linkedin):
    account = await connect_account()
    post = await create_post(account["id"], scheduled_at=in_minutes(1))
    linkedin.fail_next("/rest/posts", 503)  # LinkedIn took nothing: safe to try again
    linkedin.fail_next("/rest/posts", 503)

    await publish_due_posts(job_context(app, at(2)))
    await publish_due_posts(job_context(app, at(2.5)))  # within the first backoff (1 minute): nothing
    assert len([r for r in linkedin.requests if r[1] == "/rest/posts"]) == 1
    await publish_due_posts(job_context(app, at(3.1)))  # second try: 503 again, backs off 2 minutes
    await publish_due_posts(job_context(app, at(5.2)))

    stored = await read(client, editor_headers, post["id"])
    assert stored["status"] == "published" and stored["attempts"] == 3
    assert len(linkedin.posts) == 1


async def test_a_disconnected_accounts_scheduled_posts_fail_with_the_reason(
    app, client, admin_headers, editor_headers, connect_account, create_post, linkedin
):
    account = await connect_account()
    post = await create_post(account["id"], scheduled_at=in_minutes(30))
    draft = await create_post(account["id"], "a draft")

    assert (await client.delete(f"{BASE}/accounts/{account['id']}", headers=admin_headers)).status_code == 204

    stored = await read(client, editor_headers, post["id"])
    assert stored["status"] == "failed" and "disconnected" in stored["error"] and stored["account_id"] is None
    assert (await read(client, editor_headers, draft["id"]))["status"] == "draft"
    assert (await client.get(f"{BASE}/accounts", headers=admin_headers)).json()["total"] == 0


async def test_two_workers_on_one_database_never_publish_the_same_post(
    app, client, editor_headers, connect_account, create_post, linkedin
):
    account = await connect_account()
    ids = [(await create_post(account["id"], f"post {n}", scheduled_at=in_minutes(1)))["id"] for n in range(24)]
    other = Database.from_url(app.state.settings.database_url)  # a second process's own engine and connections
    try:
        second = job_context(app, at(2))
        second = type(second)(database=other, settings=second.settings, mailer=second.mailer, clock=second.clock)

        async def drain(context):
            for _ in range(5):
                await publish_due_posts(context)

        await asyncio.gather(drain(job_context(app, at(2))), drain(second))
    finally:
        await other.dispose()

    commentaries = [body["commentary"] for body in linkedin.posts.values()]
    assert sorted(commentaries) == sorted(f"post {n}" for n in range(24))  # each exactly once
    async with app.state.db.session(write=False) as session:
        for post_id in ids:
            assert (await session.get(LinkedInPost, post_id)).status == "published"
    assert not [r for r in linkedin.requests if r[0] == "POST" and r[1] == "/rest/posts"][24:]


async def test_an_account_needing_reconnection_fails_its_due_posts(app, client, editor_headers, connect_account, create_post, linkedin):
    account = await connect_account()
    post = await create_post(account["id"], scheduled_at=in_minutes(1))
    async with app.state.db.session() as session:
        await session.exec(update(LinkedInAccount).values(status="reconnect_required"))
    await publish_due_posts(job_context(app, at(2)))
    stored = await read(client, editor_headers, post["id"])
    assert stored["status"] == "failed" and "connected again" in stored["error"]


async def test_system_health_counts_posts_due_and_unknown_and_warns_of_the_unknown(app, client, admin_headers):
    from datetime import timedelta

    from features.linkedin.models import LinkedInPost
    from shared.db import utcnow

    now = utcnow()
    async with app.state.db.session() as session:
        session.add_all([
            LinkedInPost(status="scheduled", scheduled_at=now, next_attempt_at=now - timedelta(minutes=1)),
            LinkedInPost(status="scheduled", scheduled_at=now, next_attempt_at=now + timedelta(hours=1)),
            LinkedInPost(status="unknown"), LinkedInPost(status="draft"), LinkedInPost(status="failed"),
        ])

    queues = (await client.get("/api/v1/admin/system-health", headers=admin_headers)).json()["checks"]["queues"]

    assert queues["posts"] == {"linkedin": {"due": 1, "unknown": 1}, "twitter": {"due": 0, "unknown": 0}}
    assert queues["status"] == "warning" and queues["message"] == "1 post unknown: check the provider, then reset"
