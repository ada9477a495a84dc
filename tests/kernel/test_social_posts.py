"""The publish protocol of shared/social_posts.py with a thread: each segment's id recorded as it is
accepted, and publishing again after a failure resumes at the first segment without one."""

from dataclasses import dataclass, field

import pytest
from sqlmodel import col, select

from features.linkedin.models import TABLES, LinkedInAccount, LinkedInPost, LinkedInPostSegment
from shared.publishing import Credentials, ProviderTimeout, ProviderUnavailable, SegmentToPublish
from shared.social_posts import publish
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


async def _thread(app, *texts: str) -> int:
    async with app.state.db.session() as session:
        account = LinkedInAccount(
            provider_user_id="u1", display_name="U", access_token_encrypted=token_cipher(app.state.settings).encrypt("plain-token")
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
