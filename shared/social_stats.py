"""The admin analytics' figures of one social network, written once for LinkedIn and X."""

from __future__ import annotations

from sqlalchemy import Integer, func, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.analytics import Figure, SliceStats, StatsPeriods, per_period
from shared.social_posts import SocialTables


async def publishing_stats(session: AsyncSession, *, tables: SocialTables, periods: StatsPeriods) -> SliceStats:
    """`posts_published.<network>` per period, and `social_impressions.<network>`: the impressions of
    those posts in their newest snapshot (credited to the period the post was published in)."""
    post, snapshot = tables.post, tables.snapshot
    newest_impressions = (
        select(col(snapshot.metrics)["impressions"].as_integer())
        .where(snapshot.post_id == post.id).order_by(col(snapshot.id).desc()).limit(1)
        .correlate(post).scalar_subquery()
    )
    published = (post.status == "published",)
    network = tables.network
    return SliceStats(series=await per_period(session, periods=periods, figures={
        f"posts_published.{network}": Figure(col(post.published_at), where=published),
        f"social_impressions.{network}": Figure(
            col(post.published_at), where=published,
            aggregate=func.sum(func.coalesce(newest_impressions, 0, type_=Integer)),
        ),
    }))
