"""The database side of social publishing, written once for every network (rules: shared/publishing.py).

A slice declares its tables with the column mixins below (`LinkedInPost(SocialPostColumns,
table=True)` plus its own `account_id`/`post_id` foreign keys) and hands them over as one
`SocialTables`. Then:

- `publish` is the publish-now protocol: one short transaction stores the post `publishing`
  (committed before any provider call), the provider is called with no transaction open, each
  segment's provider id is recorded in its own short transaction the moment it is accepted, and
  the outcome is recorded in a last one. Publishing again resumes at the first segment without an id.
  The leases of all the runner's posts are renewed before each segment, so neither a long thread nor
  the posts of its batch waiting behind it look abandoned; a runner whose post was taken over anyway
  (it stalled past the lease) sends nothing more.
- `claim_due_posts` is the worker's claim: in one write transaction (SQLite's write lock is held
  from its first statement, so two processes never interleave) it turns posts left `publishing`
  past their lease into `unknown`, fails scheduled posts found more than an hour late or whose
  account must be reconnected, skips accounts postponed by a rate limit, and claims the rest.
- `refresh_account_health` is the worker job's rule: accounts approaching expiry become `expiring`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import or_, update
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import Database, JSONDocument, Timestamps, UTCDateTime, utcnow
from shared.errors import NotFound
from shared.errors import RateLimited as TooManyRequests
from shared.publishing import (
    LATE_LIMIT,
    PUBLISHING_LEASE,
    Credentials,
    MediaRejected,
    Outcome,
    ProviderError,
    ReconnectRequired,
    SegmentToPublish,
    SocialProvider,
    account_health,
    check_transition,
    failure_outcome,
)
from shared.token_crypto import TokenCipher, TokenUnreadable

logger = logging.getLogger("magnetiq.publishing")


# --- columns every network's tables share ------------------------------------------------------


class SocialAccountColumns(Timestamps):
    provider_user_id: str = Field(max_length=255)
    display_name: str = Field(max_length=255)
    scopes: list[str] = Field(default_factory=list, sa_type=JSONDocument)
    access_token_encrypted: str = Field(max_length=8000)  # Fernet (shared/token_crypto.py), never plain
    refresh_token_encrypted: str | None = Field(default=None, max_length=8000)
    token_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    refresh_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str = Field(default="active", max_length=24)  # active, expiring, reconnect_required
    status_reason: str | None = Field(default=None, max_length=500)
    postponed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)  # a rate limit's reset


class SocialPostColumns(Timestamps):
    status: str = Field(default="draft", max_length=16, index=True)
    scheduled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)  # the worker's due time
    attempts: int = 0
    claimed_by: str | None = Field(default=None, max_length=100)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    error: str | None = Field(default=None, max_length=1000)
    metrics_fetched_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_by: int | None = Field(default=None, foreign_key="admin_users.id", ondelete="SET NULL")


class PostSegmentColumns(SQLModel):
    position: int  # 0 for the post itself, 1, 2 ... for the replies of a thread
    text: str = Field(max_length=10_000)
    media_ids: list[int] = Field(default_factory=list, sa_type=JSONDocument)  # media items of the media slice
    provider_post_id: str | None = Field(default=None, max_length=255)  # set the moment the provider accepted it
    accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ProviderMediaColumns(SQLModel):
    provider_media_id: str = Field(max_length=255)
    uploaded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class EngagementSnapshotColumns(SQLModel):
    fetched_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    metrics: dict[str, int] = Field(default_factory=dict, sa_type=JSONDocument)


@dataclass(frozen=True)
class SocialTables:
    """One network's tables: accounts, posts, segments (`post_id`), provider media (`media_id`,
    `account_id`) and engagement snapshots (`post_id`), each built on the mixins above."""

    network: str
    account: type[Any]
    post: type[Any]
    segment: type[Any]
    media: type[Any]
    snapshot: type[Any]


# --- publish now -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentState:
    id: int
    position: int
    text: str
    media_ids: tuple[int, ...]
    provider_post_id: str | None


@dataclass(frozen=True)
class Publication:
    """A claimed post as the provider calls need it (the token in memory only)."""

    post_id: int
    account_id: int
    credentials: Credentials
    segments: tuple[SegmentState, ...]


class PrepareMedia(Protocol):
    """Uploads (or finds, still valid) a segment's images at the provider; returns their provider ids.
    `fresh`: the provider refused the stored ids, upload every image again."""

    def __call__(
        self, publication: Publication, segment: SegmentState, *, fresh: bool = False
    ) -> Awaitable[tuple[str, ...]]: ...


async def start_publishing(
    session: AsyncSession, *, tables: SocialTables, post_id: int, owner: str, now: datetime
) -> Any:
    """Marks one post `publishing` for `owner`, to be committed before any provider call.

    409 INVALID_TRANSITION unless it is a draft, scheduled or failed; 409 RECONNECT_REQUIRED when its
    account's token is dead; 429 while a rate limit postpones the account."""
    # Locked on PostgreSQL, so a worker's claim and this wait for each other instead of both publishing.
    post = await session.get(tables.post, post_id, with_for_update=True)
    if post is None:
        raise NotFound("Post not found")
    check_transition(post.status, "publishing")
    account = await session.get(tables.account, post.account_id) if post.account_id else None
    if account is None:
        raise ReconnectRequired("The post's account was disconnected; choose another account")
    if account.status == "reconnect_required":
        raise ReconnectRequired()
    if account.postponed_until is not None and account.postponed_until > now:
        wait = int((account.postponed_until - now).total_seconds()) + 1
        raise TooManyRequests(wait, "The provider rate-limits this account; try again after Retry-After seconds")
    post.status, post.claimed_by, post.lease_until = "publishing", owner, now + PUBLISHING_LEASE
    post.attempts += 1
    post.error, post.updated_at = None, now
    session.add(post)
    await session.flush()
    return post


async def load_publication(
    session: AsyncSession, *, tables: SocialTables, cipher: TokenCipher, post_id: int
) -> Publication:
    """The post's account credentials (decrypted) and its segments in order."""
    post = await session.get(tables.post, post_id)
    account = await session.get(tables.account, post.account_id)
    rows = await session.exec(
        select(tables.segment).where(tables.segment.post_id == post_id).order_by(col(tables.segment.position))
    )
    segments = tuple(
        SegmentState(s.id, s.position, s.text, tuple(s.media_ids or ()), s.provider_post_id) for s in rows.all()
    )
    token = cipher.decrypt(account.access_token_encrypted)
    return Publication(post_id, account.id, Credentials(account.provider_user_id, token), segments)


class LeaseLost(Exception):
    """The post is no longer this runner's (its lease lapsed and another runner made it `unknown`)."""


async def _renew_lease(
    database: Database, *, tables: SocialTables, post_id: int, owner: str, now: datetime
) -> None:
    """Extends the publishing lease of every post `owner` holds, before each segment: neither the post
    being published nor those of its batch still waiting ever look abandoned, however long a thread
    or its uploads take. Raises LeaseLost when `post_id` is no longer ours."""
    async with database.session() as session:
        result = await session.exec(  # type: ignore[call-overload]
            update(tables.post)
            .where(tables.post.status == "publishing", tables.post.claimed_by == owner)
            .values(lease_until=now + PUBLISHING_LEASE)
            .returning(tables.post.id)
        )
        held = {row[0] for row in result.all()}
    if post_id not in held:
        raise LeaseLost(post_id)


async def _record_segment(database: Database, tables: SocialTables, segment_id: int, provider_id: str) -> None:
    async with database.session() as session:
        await session.exec(  # type: ignore[call-overload]
            update(tables.segment).where(tables.segment.id == segment_id)
            .values(provider_post_id=provider_id, accepted_at=utcnow())
        )


async def _call_provider(
    database: Database, *, tables: SocialTables, provider: SocialProvider, publication: Publication,
    prepare_media: PrepareMedia, owner: str, clock: Callable[[], datetime],
) -> None:
    previous: str | None = None
    for segment in publication.segments:
        if segment.provider_post_id:  # accepted by an earlier attempt: never posted twice
            previous = segment.provider_post_id
            continue
        await _renew_lease(database, tables=tables, post_id=publication.post_id, owner=owner, now=clock())
        media = await prepare_media(publication, segment) if segment.media_ids else ()
        try:
            provider_id = await provider.publish(
                publication.credentials, SegmentToPublish(segment.text, media), reply_to=previous
            )
        except MediaRejected:
            if not media:
                raise
            # The provider forgot the stored ids (expired early) and refused the post, so nothing was
            # posted: upload the images again and send it once more; a second refusal is final.
            await _renew_lease(database, tables=tables, post_id=publication.post_id, owner=owner, now=clock())
            media = await prepare_media(publication, segment, fresh=True)
            provider_id = await provider.publish(
                publication.credentials, SegmentToPublish(segment.text, media), reply_to=previous
            )
        await _record_segment(database, tables, segment.id, provider_id)
        previous = provider_id


async def record_outcome(
    session: AsyncSession, *, tables: SocialTables, post_id: int, owner: str, outcome: Outcome, now: datetime
) -> Any:
    """Stores an attempt's outcome, only while `owner` still holds the post (a lapsed lease made it
    `unknown` meanwhile: that stays). Returns the post."""
    post = await session.get(tables.post, post_id)
    if post is None or post.status != "publishing" or post.claimed_by != owner:
        return post
    post.status, post.error, post.updated_at = outcome.status, outcome.error, now
    post.claimed_by = post.lease_until = None
    if outcome.status == "published":
        post.published_at = now
    if outcome.status == "scheduled":
        post.next_attempt_at = outcome.retry_at
    session.add(post)
    account = await session.get(tables.account, post.account_id) if post.account_id else None
    if account is not None and (outcome.reconnect_required or outcome.account_postponed_until):
        if outcome.reconnect_required:
            account.status, account.status_reason = "reconnect_required", outcome.error
        if outcome.account_postponed_until:
            account.postponed_until = outcome.account_postponed_until
        account.updated_at = now
        session.add(account)
    await session.flush()
    return post


async def run_claimed(
    database: Database, *, tables: SocialTables, provider: SocialProvider, cipher: TokenCipher, post_id: int,
    owner: str, prepare_media: PrepareMedia, by_worker: bool, clock: Callable[[], datetime] = utcnow,
) -> Outcome:
    """Publishes a post already committed as `publishing` for `owner`; records and returns the outcome.

    No transaction is open during a provider call. An error that is not the provider's (a bug)
    leaves the post `unknown`, since the provider may have taken it, and is raised."""
    try:
        async with database.session(write=False) as session:
            publication = await load_publication(session, tables=tables, cipher=cipher, post_id=post_id)
        await _call_provider(
            database, tables=tables, provider=provider, publication=publication, prepare_media=prepare_media,
            owner=owner, clock=clock,
        )
        outcome = Outcome("published")
    except LeaseLost:
        # Another runner found the lease lapsed and made the post `unknown`: that stands, nothing more is sent.
        logger.warning("publishing stopped: the post's lease was lost",
                       extra={"network": tables.network, "post_id": post_id})
        return Outcome("unknown", "the publishing lease lapsed; another runner marked the post unknown")
    except TokenUnreadable as exc:
        outcome = Outcome("failed", f"{exc}; reconnect the account", reconnect_required=True)
    except ProviderError as exc:
        async with database.session(write=False) as session:
            attempts = (await session.get(tables.post, post_id)).attempts
        outcome = failure_outcome(exc, attempts=attempts, by_worker=by_worker, now=clock())
    except Exception:
        async with database.session() as session:
            await record_outcome(
                session, tables=tables, post_id=post_id, owner=owner, now=clock(),
                outcome=Outcome("unknown", "an unexpected error interrupted publishing; check the provider"),
            )
        raise
    async with database.session() as session:
        await record_outcome(session, tables=tables, post_id=post_id, owner=owner, outcome=outcome, now=clock())
    if outcome.status != "published":
        logger.warning(
            "publishing did not succeed",
            extra={"network": tables.network, "post_id": post_id, "status": outcome.status, "reason": outcome.error},
        )
    return outcome


async def release_claim(session: AsyncSession, *, tables: SocialTables, post_id: int, owner: str) -> None:
    """Gives a claimed post back untried: `scheduled` again, due as before (its attempt not counted)."""
    await session.exec(  # type: ignore[call-overload]
        update(tables.post)
        .where(tables.post.id == post_id, tables.post.status == "publishing", tables.post.claimed_by == owner)
        .values(status="scheduled", claimed_by=None, lease_until=None, attempts=tables.post.attempts - 1)
    )


async def run_claimed_posts(
    database: Database, *, tables: SocialTables, provider: SocialProvider, cipher: TokenCipher,
    post_ids: Sequence[int], owner: str, prepare_media: PrepareMedia, clock: Callable[[], datetime] = utcnow,
) -> dict[int, Outcome]:
    """The worker's turn over what it claimed, in order. Once an account is rate limited or needs
    reconnecting, its other claimed posts are given back untried (the next claim sees why)."""
    async with database.session(write=False) as session:
        post = tables.post
        rows = await session.exec(select(post.id, post.account_id).where(col(post.id).in_(post_ids)))
        account_of = dict(rows.all())
    held: set[int] = set()
    outcomes: dict[int, Outcome] = {}
    for post_id in post_ids:
        if account_of.get(post_id) in held:
            async with database.session() as session:
                await release_claim(session, tables=tables, post_id=post_id, owner=owner)
            continue
        outcome = await run_claimed(
            database, tables=tables, provider=provider, cipher=cipher, post_id=post_id, owner=owner,
            prepare_media=prepare_media, by_worker=True, clock=clock,
        )
        if outcome.account_postponed_until or outcome.reconnect_required:
            held.add(account_of.get(post_id))
        outcomes[post_id] = outcome
    return outcomes


async def publish(
    database: Database, *, tables: SocialTables, provider: SocialProvider, cipher: TokenCipher, post_id: int,
    owner: str, prepare_media: PrepareMedia, clock: Callable[[], datetime] = utcnow,
) -> Outcome:
    """Publish now: `publishing` committed, then the provider called, then the outcome recorded.
    Raises what `start_publishing` raises (409, 429) without calling the provider."""
    async with database.session() as session:
        await start_publishing(session, tables=tables, post_id=post_id, owner=owner, now=clock())
    return await run_claimed(
        database, tables=tables, provider=provider, cipher=cipher, post_id=post_id, owner=owner,
        prepare_media=prepare_media, by_worker=False, clock=clock,
    )


# --- the worker --------------------------------------------------------------------------------


async def claim_due_posts(
    session: AsyncSession, *, tables: SocialTables, owner: str, now: datetime, limit: int = 20
) -> list[int]:
    """The worker's atomic claim (run it in its own write transaction, committed before publishing).

    Posts `publishing` past their lease become `unknown` (a crash left them; never retried blindly);
    due scheduled posts more than LATE_LIMIT late, or of an account to reconnect or disconnected,
    become `failed` with the reason; those of an account postponed by a rate limit wait; the rest
    become `publishing` for `owner`. Returns the ids claimed."""
    post, account = tables.post, tables.account
    await session.exec(  # type: ignore[call-overload]
        update(post).where(post.status == "publishing", col(post.lease_until) < now).values(
            status="unknown", claimed_by=None, lease_until=None, updated_at=now,
            error="publishing was interrupted (the process stopped); check the provider, then reset the post",
        )
    )
    due = await session.exec(
        select(post, account).join(account, post.account_id == account.id, isouter=True)
        .where(post.status == "scheduled", col(post.next_attempt_at) <= now)
        # rate-limited accounts wait in SQL, so their posts never crowd the others out of the window
        .where(or_(col(account.id).is_(None), col(account.postponed_until).is_(None), account.postponed_until <= now))
        .order_by(col(post.next_attempt_at), col(post.id))
        .limit(limit * 5)
        # PostgreSQL: posts another worker is claiming are passed over, never claimed twice (SQLite's
        # BEGIN IMMEDIATE admits one writer, so there the clause renders nothing).
        .with_for_update(of=post, skip_locked=True)
    )
    claimed: list[int] = []
    for row, acct in due.all():
        reason = None
        if acct is None or acct.status == "reconnect_required":
            reason = "not published: its account must be connected again"
        elif acct.postponed_until is not None and acct.postponed_until > now:
            continue  # rate limited: it waits for the reset, no attempt meanwhile
        else:
            due_at = max(row.next_attempt_at, acct.postponed_until or row.next_attempt_at)
            if now - due_at > LATE_LIMIT:
                minutes = int((now - due_at).total_seconds() // 60)
                reason = (
                    f"not published: found {minutes} minutes after its scheduled time (the server was not "
                    "running); publish it now if it is still wanted"
                )
        if reason is not None:
            row.status, row.error, row.updated_at = "failed", reason, now
        elif len(claimed) < limit:
            row.status, row.claimed_by, row.lease_until = "publishing", owner, now + PUBLISHING_LEASE
            row.attempts, row.error, row.updated_at = row.attempts + 1, None, now
            claimed.append(row.id)
        session.add(row)
    await session.flush()
    return claimed


async def refresh_account_health(
    session: AsyncSession, *, tables: SocialTables, refreshes_tokens: bool, now: datetime
) -> list[tuple[int, str]]:
    """Stores each account's health as of `now` (shared/publishing.py `account_health`); returns the
    accounts whose status changed and the new status, and logs a warning for each.

    `refreshes_tokens`: the slice refreshes access tokens before use (X), so for an account holding a
    refresh token the access token's end is no warning. A refresh token the slice never spends
    (LinkedIn grants some apps one) keeps nothing alive: the access token's end counts."""
    changed = []
    for account in (await session.exec(select(tables.account))).all():
        status = account_health(
            reconnect_required=account.status == "reconnect_required", token_expires_at=account.token_expires_at,
            can_refresh=refreshes_tokens and account.refresh_token_encrypted is not None,
            refresh_expires_at=account.refresh_expires_at, now=now,
        )
        if status != account.status:
            account.status, account.updated_at = status, now
            if status == "reconnect_required":
                account.status_reason = "the access token has expired; connect the account again"
            session.add(account)
            changed.append((account.id, status))
            logger.warning(
                "social account needs attention" if status != "active" else "social account healthy again",
                extra={"network": tables.network, "account_id": account.id, "status": status,
                       "token_expires_at": account.token_expires_at.isoformat() if account.token_expires_at else None},
            )
    await session.flush()
    return changed


async def mark_reconnect_required(database: Database, *, tables: SocialTables, account_id: int, reason: str) -> None:
    """A 401 outside publishing (a delete, figures): the account's token is dead; said in its own transaction."""
    async with database.session() as session:
        await session.exec(  # type: ignore[call-overload]
            update(tables.account).where(tables.account.id == account_id)
            .values(status="reconnect_required", status_reason=reason[:500], updated_at=utcnow())
        )


async def postponed_until(
    database: Database, *, tables: SocialTables, account_id: int, now: datetime
) -> datetime | None:
    """When a rate limit's reset lets this account be called again, or None when it may be now."""
    async with database.session(write=False) as session:
        account = await session.get(tables.account, account_id)
    until = account.postponed_until if account is not None else None
    return until if until is not None and until > now else None


async def postpone_account(database: Database, *, tables: SocialTables, account_id: int, until: datetime) -> None:
    """A 429 outside publishing (figures): the account's work waits until `until`; said in its own transaction."""
    async with database.session() as session:
        await session.exec(  # type: ignore[call-overload]
            update(tables.account).where(tables.account.id == account_id)
            .values(postponed_until=until, updated_at=utcnow())
        )


async def fail_account_posts(session: AsyncSession, *, tables: SocialTables, account_id: int, reason: str) -> int:
    """An account going away: its scheduled posts become `failed` with the reason. Returns how many."""
    result = await session.exec(  # type: ignore[call-overload]
        update(tables.post).where(tables.post.account_id == account_id, tables.post.status == "scheduled")
        .values(status="failed", error=reason, updated_at=utcnow())
    )
    return result.rowcount


async def segment_rows(session: AsyncSession, *, tables: SocialTables, post_ids: Sequence[int]) -> dict[int, list[Any]]:
    """Every segment of these posts, in order, by post id (one query for a page of posts)."""
    if not post_ids:
        return {}
    rows = await session.exec(
        select(tables.segment).where(col(tables.segment.post_id).in_(post_ids))
        .order_by(col(tables.segment.post_id), col(tables.segment.position))
    )
    found: dict[int, list[Any]] = {post_id: [] for post_id in post_ids}
    for segment in rows.all():
        found[segment.post_id].append(segment)
    return found
