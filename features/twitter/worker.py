"""The twitter slice's background jobs: publish due posts (tokens refreshed first), watch accounts, fetch figures."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlmodel import col, select

from features.media import api as media_api
from features.twitter.client import XClient
from features.twitter.models import TABLES, TwitterPost
from features.twitter.network import NETWORK
from features.twitter.tokens import fresh_credentials
from shared import social_service
from shared.jobs import MORE_WORK, JobContext, PeriodicJob
from shared.publishing import ProviderError, failure_outcome
from shared.social_engagement import media_preparer
from shared.social_posts import claim_due_posts, record_outcome, run_claimed_posts
from shared.token_crypto import token_cipher

CLAIM_BATCH = 10


async def publish_due_posts(context: JobContext) -> object:
    """Claims due scheduled posts (atomically: another runner never gets the same), refreshes each account's
    token when it is about to die (one process at a time), and publishes each post."""
    owner = f"worker:{uuid.uuid4().hex[:12]}"
    database, settings = context.database, context.settings
    async with database.session() as session:
        claimed = await claim_due_posts(session, tables=TABLES, owner=owner, now=context.clock(), limit=CLAIM_BATCH)
    if not claimed:
        return None
    cipher = token_cipher(settings)
    async with XClient(settings) as client:
        ready = await _refresh_tokens(context, client=client, post_ids=claimed, owner=owner)
        images = media_preparer(
            database, tables=TABLES, provider=client, clock=context.clock,
            read_media=media_api.upload_reader(database, settings),
        )
        await run_claimed_posts(
            database, tables=TABLES, provider=client, cipher=cipher, post_ids=ready, owner=owner,
            prepare_media=images, clock=context.clock,
        )
    return MORE_WORK if len(claimed) == CLAIM_BATCH else None


async def _refresh_tokens(context: JobContext, *, client: XClient, post_ids: list[int], owner: str) -> list[int]:
    """Each claimed post's account gets a token valid for the next minutes (refreshed by one process at a
    time). The posts of an account whose refresh failed get that failure as their outcome (nothing was
    sent: the kernel's policy retries, postpones or fails them); the others are returned, in order."""
    database = context.database
    async with database.session(write=False) as session:
        rows = await session.exec(select(TwitterPost.id, TwitterPost.account_id, TwitterPost.attempts)
                                  .where(col(TwitterPost.id).in_(post_ids)))
        found = {post_id: (account_id, attempts) for post_id, account_id, attempts in rows.all()}
    refused: dict[int, ProviderError] = {}
    for account_id in dict.fromkeys(account for account, _ in found.values() if account is not None):
        try:
            await fresh_credentials(
                database, provider=client, cipher=token_cipher(context.settings), account_id=account_id,
                timeout_seconds=context.settings.provider_timeout_seconds, clock=context.clock,
            )
        except ProviderError as exc:
            refused[account_id] = exc
    ready = []
    for post_id in post_ids:
        account_id, attempts = found[post_id]
        if account_id not in refused:
            ready.append(post_id)
            continue
        outcome = failure_outcome(refused[account_id], attempts=attempts, by_worker=True, now=context.clock())
        async with database.session() as session:
            await record_outcome(session, tables=TABLES, post_id=post_id, owner=owner, outcome=outcome,
                                 now=context.clock())
    return ready


async def watch_account_health(context: JobContext) -> None:
    """Stores each account's health (shared/social_service.py)."""
    await social_service.store_account_health(context, network=NETWORK)


async def fetch_engagement(context: JobContext) -> None:
    """Snapshots of published posts' figures, hourly in their first week, daily after (shared/social_service.py)."""
    await social_service.fetch_due_figures(context, network=NETWORK)


JOBS = (
    PeriodicJob(name="twitter.publish_due_posts", interval=timedelta(seconds=0), run=publish_due_posts,
                lease=timedelta(minutes=15)),
    PeriodicJob(name="twitter.watch_account_health", interval=timedelta(hours=1), run=watch_account_health),
    PeriodicJob(name="twitter.fetch_engagement", interval=timedelta(minutes=10), run=fetch_engagement),
)
