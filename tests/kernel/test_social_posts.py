"""The publish protocol of shared/social_posts.py with a thread: each segment's id recorded as it is
accepted, and publishing again after a failure resumes at the first segment without one."""

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from features.linkedin.models import TABLES, LinkedInAccount, LinkedInPost, LinkedInPostSegment
from shared.db import utcnow
from shared.publishing import (
    PUBLISHING_LEASE,
    Credentials,
    MediaRejected,
    ProviderTimeout,
    ProviderUnavailable,
    SegmentToPublish,
)
from shared.social_posts import claim_due_posts, publish, run_claimed_posts
from shared.token_crypto import token_cipher


@dataclass
class ThreadProvider:
    """A provider that keeps the thread it was sent and can refuse one segment once."""

    name: str = "thread"
    posted: list[tuple[str, str | None]] = field(default_factory=list)  # (text, reply_to)
    refuse: dict[str, Exception] = field(default_factory=dict)  # text -> error, raised once

    async def publish(self, credentials: Credentials, segment: SegmentToPublish, *, reply_to: str | None) -> str:
        assert credentials.access_token == "plain-token"
        if (error := self.refuse.pop(segment.text, None)) is not None:
            raise error
        self.posted.append((segment.text, reply_to))
        return f"id-{len(self.posted)}"


async def _thread(app, *texts: str, member: str = "u1") -> int:
    async with app.state.db.session() as session:
        account = LinkedInAccount(
            provider_user_id=member, display_name="U", access_token_encrypted=token_cipher(app.state.settings).encrypt("plain-token")
        )
        session.add(account)
        await session.flush()
        post = LinkedInPost(account_id=account.id, status="draft")
        session.add(post)
        await session.flush()
        session.add_all(LinkedInPostSegment(post_id=post.id, position=n, text=text) for n, text in enumerate(texts))
        return post.id


async def _segment_ids(app, post_id: int) -> list[str | None]:
    async with app.state.db.session(write=False) as session:
        rows = await session.exec(
            select(LinkedInPostSegment.provider_post_id).where(LinkedInPostSegment.post_id == post_id)
            .order_by(col(LinkedInPostSegment.position))
        )
        return list(rows.all())


async def _run(app, provider, post_id: int):
    async def no_media(_publication, _segment):
        return ()

    return await publish(
        app.state.db, tables=TABLES, provider=provider, cipher=token_cipher(app.state.settings), post_id=post_id,
        owner="test", prepare_media=no_media,
    )


async def test_a_thread_failing_midway_resumes_at_the_first_segment_without_an_id(app):
    post_id = await _thread(app, "one", "two", "three")
    provider = ThreadProvider(refuse={"two": ProviderUnavailable("503", sent=False)})

    failed = await _run(app, provider, post_id)

    assert failed.status == "failed"
    assert await _segment_ids(app, post_id) == ["id-1", None, None]  # the accepted one kept its id
    done = await _run(app, provider, post_id)
    assert done.status == "published"
    assert provider.posted == [("one", None), ("two", "id-1"), ("three", "id-2")]  # each once, chained
    assert await _segment_ids(app, post_id) == ["id-1", "id-2", "id-3"]


@pytest.mark.parametrize("error", [ProviderTimeout("no answer"), ProviderUnavailable("reset", sent=True)])
async def test_a_segment_that_may_have_been_posted_leaves_the_thread_unknown(app, error):
    post_id = await _thread(app, "one", "two")
    provider = ThreadProvider(refuse={"two": error})
    assert (await _run(app, provider, post_id)).status == "unknown"
    async with app.state.db.session(write=False) as session:
        assert (await session.get(LinkedInPost, post_id)).status == "unknown"
    assert provider.posted == [("one", None)]


@dataclass
class SlowThreadProvider(ThreadProvider):
    """Each segment takes `minutes` on the test's clock, and `meanwhile` runs while one is being posted."""

    clock: list = field(default_factory=list)  # [now]
    minutes: int = 10
    meanwhile: dict = field(default_factory=dict)  # text -> coroutine function, run during that segment

    async def publish(self, credentials, segment, *, reply_to):
        self.clock[0] += timedelta(minutes=self.minutes)
        if (during := self.meanwhile.pop(segment.text, None)) is not None:
            await during()
        return await super().publish(credentials, segment, reply_to=reply_to)


async def _claim(app, now):
    async with app.state.db.session() as session:
        return await claim_due_posts(session, tables=TABLES, owner="other-runner", now=now)


async def test_a_thread_outliving_one_lease_keeps_its_post_another_runner_sees_it_alive(app):
    post_id = await _thread(app, "one", "two", "three")
    clock = [utcnow()]
    seen = []

    async def another_runner_claims():  # 30 minutes in, twice the lease
        assert timedelta(minutes=30) > PUBLISHING_LEASE
        await _claim(app, clock[0])
        async with app.state.db.session(write=False) as session:
            seen.append((await session.get(LinkedInPost, post_id)).status)

    provider = SlowThreadProvider(clock=clock, meanwhile={"three": another_runner_claims})
    outcome = await publish(
        app.state.db, tables=TABLES, provider=provider, cipher=token_cipher(app.state.settings), post_id=post_id,
        owner="test", prepare_media=_no_media, clock=lambda: clock[0],
    )

    assert seen == ["publishing"]  # the lease was renewed before each segment: not taken for abandoned
    assert outcome.status == "published" and [text for text, _ in provider.posted] == ["one", "two", "three"]
    async with app.state.db.session(write=False) as session:
        assert (await session.get(LinkedInPost, post_id)).status == "published"


async def test_a_runner_whose_post_was_taken_over_sends_nothing_more(app):
    post_id = await _thread(app, "one", "two", "three")
    clock = [utcnow()]

    async def lease_lapsed_and_taken_over():
        async with app.state.db.session() as session:  # as claim_due_posts does to a lapsed lease
            await session.exec(update(LinkedInPost).where(LinkedInPost.id == post_id)
                               .values(status="unknown", claimed_by=None, lease_until=None))

    provider = SlowThreadProvider(clock=clock, meanwhile={"two": lease_lapsed_and_taken_over})
    outcome = await publish(
        app.state.db, tables=TABLES, provider=provider, cipher=token_cipher(app.state.settings), post_id=post_id,
        owner="test", prepare_media=_no_media, clock=lambda: clock[0],
    )

    assert outcome.status == "unknown" and [text for text, _ in provider.posted] == ["one", "two"]
    async with app.state.db.session(write=False) as session:
        assert (await session.get(LinkedInPost, post_id)).status == "unknown"


async def _no_media(_publication, _segment):
    return ()


async def test_media_refused_twice_fails_the_post_after_one_fresh_upload(app):
    post_id = await _thread(app, "with image")
    async with app.state.db.session() as session:
        await session.exec(update(LinkedInPostSegment).values(media_ids=[7]))
    provider = ThreadProvider(refuse={"with image": MediaRejected("media ids unknown")})
    prepared = []

    async def prepare(_publication, _segment, *, fresh=False):
        prepared.append(fresh)
        if not fresh:
            return ("stale",)
        provider.refuse["with image"] = MediaRejected("still unknown")  # refused again: final
        return ("fresh",)

    outcome = await publish(
        app.state.db, tables=TABLES, provider=provider, cipher=token_cipher(app.state.settings), post_id=post_id,
        owner="test", prepare_media=prepare,
    )

    assert outcome.status == "failed" and "still unknown" in outcome.error
    assert prepared == [False, True] and provider.posted == []


async def test_the_posts_of_a_batch_waiting_behind_a_long_thread_keep_their_lease(app):
    thread = await _thread(app, "one", "two", "three")
    waiting = await _thread(app, "waits its turn", member="u2")
    clock = [utcnow()]
    async with app.state.db.session() as session:
        await session.exec(update(LinkedInPost).values(status="scheduled", next_attempt_at=clock[0]))
    async with app.state.db.session() as session:
        claimed = await claim_due_posts(session, tables=TABLES, owner="worker", now=clock[0])
    assert claimed == [thread, waiting]
    seen = []

    async def another_runner_claims():  # 30 minutes into the batch, twice the lease
        await _claim(app, clock[0])
        async with app.state.db.session(write=False) as session:
            seen.append((await session.get(LinkedInPost, waiting)).status)

    provider = SlowThreadProvider(clock=clock, meanwhile={"three": another_runner_claims})
    outcomes = await run_claimed_posts(
        app.state.db, tables=TABLES, provider=provider, cipher=token_cipher(app.state.settings), post_ids=claimed,
        owner="worker", prepare_media=_no_media, clock=lambda: clock[0],
    )

    assert seen == ["publishing"]
    assert {post_id: o.status for post_id, o in outcomes.items()} == {thread: "published", waiting: "published"}
