"""The linkedin slice's background jobs: publish due posts, watch token expiry, fetch figures."""

from __future__ import annotations

import uuid
from datetime import timedelta

from features.linkedin.client import LinkedInClient
from features.linkedin.models import TABLES
from features.linkedin.network import NETWORK
from features.media import api as media_api
from shared import social_service
from shared.jobs import MORE_WORK, JobContext, PeriodicJob
from shared.social_engagement import media_preparer
from shared.social_posts import claim_due_posts, run_claimed_posts
from shared.token_crypto import token_cipher

CLAIM_BATCH = 10


async def publish_due_posts(context: JobContext) -> object:
    """Claims due scheduled posts (atomically: another runner never gets the same) and publishes each."""
    owner = f"worker:{uuid.uuid4().hex[:12]}"
    async with context.database.session() as session:
        claimed = await claim_due_posts(session, tables=TABLES, owner=owner, now=context.clock(), limit=CLAIM_BATCH)
    if not claimed:
        return None
    async with LinkedInClient(context.settings) as client:
        images = media_preparer(
            context.database, tables=TABLES, provider=client, clock=context.clock,
            read_media=media_api.upload_reader(context.database, context.settings),
        )
        await run_claimed_posts(
            context.database, tables=TABLES, provider=client, cipher=token_cipher(context.settings),
            post_ids=claimed, owner=owner, prepare_media=images, clock=context.clock,
        )
    return MORE_WORK if len(claimed) == CLAIM_BATCH else None


async def watch_account_expiry(context: JobContext) -> None:
    """Stores each account's health (shared/social_service.py)."""
    await social_service.store_account_health(context, network=NETWORK)


async def fetch_engagement(context: JobContext) -> None:
    """Snapshots of published posts' figures, hourly in their first week, daily after (shared/social_service.py)."""
    await social_service.fetch_due_figures(context, network=NETWORK)


JOBS = (
    PeriodicJob(name="linkedin.publish_due_posts", interval=timedelta(seconds=0), run=publish_due_posts,
                lease=timedelta(minutes=15)),
    PeriodicJob(name="linkedin.watch_account_expiry", interval=timedelta(hours=1), run=watch_account_expiry),
    PeriodicJob(name="linkedin.fetch_engagement", interval=timedelta(minutes=10), run=fetch_engagement),
)
