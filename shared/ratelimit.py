"""Per-client limits for public writes, shared by every process that serves the same database.

With a SQLite file database the counts live in a small SQLite file beside it, so N processes
(`magnetiq serve --workers N`) allow the limit once, not N times. On PostgreSQL, where the processes
may run on several machines, they live in the database itself (the `rate_limit_hits` table), so every
machine allows the limit once between them. Without either (an in-memory database in tests) they live
in this process's memory.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from sqlalchemy import BigInteger, Column, bindparam, delete, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Field, SQLModel

from shared.config import Settings
from shared.db import Database, sqlite_file_path
from shared.dialect import driver_upsert, is_database_locked, serialize_connection_on
from shared.errors import RateLimited

logger = logging.getLogger("magnetiq.ratelimit")


class SlidingWindowLimiter:
    """At most `limit` hits per key within `window` seconds."""

    def __init__(self, limit: int, window_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window_seconds
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._last_sweep = clock()

    def hit(self, key: str, *, record: bool = True) -> float | None:
        """Records a hit (unless `record` is false: only asks); returns None when allowed, else
        the seconds until the next is."""
        now = self._clock()
        self._sweep(now)
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return hits[0] + self.window - now
        if record:
            hits.append(now)
        return None

    def _sweep(self, now: float) -> None:
        # Forget idle clients now and then, so memory follows active clients only.
        if now - self._last_sweep < self.window:
            return
        self._last_sweep = now
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - self.window]:
            del self._hits[key]


class CounterFile:
    """The SQLite file where every process counts hits (opened on first use)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = None
        self.last_sweep = 0.0

    @classmethod
    def beside(cls, database_url: str) -> CounterFile | None:
        database = sqlite_file_path(database_url)
        return None if database is None else cls(f"{database}-ratelimit")

    def connection(self) -> sqlite3.Connection:
        if self._connection is None:
            # Tiny transactions, run on the event loop: a 50 ms wait at most for another process,
            # no fsync (the counts are disposable), WAL so readers never block.
            connection = sqlite3.connect(self.path, timeout=0.05, isolation_level=None, check_same_thread=False)
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=OFF")
                connection.execute(
                    "CREATE TABLE IF NOT EXISTS rate_limit_windows (bucket TEXT NOT NULL, key TEXT NOT NULL,"
                    " window INTEGER NOT NULL, hits INTEGER NOT NULL, PRIMARY KEY (bucket, key, window))"
                )
            except sqlite3.Error:
                connection.close()  # another process may be creating the file: the next hit tries again
                raise
            self._connection = connection
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _seconds_to_wait(limit: int, window: float, elapsed: float, previous: int, current: int) -> float | None:
    """None when one more hit fits, else how long until it would.

    The sliding window is estimated from two fixed windows: the previous one counts in
    proportion to how much of it the sliding window still covers.
    """
    if previous * (1 - elapsed / window) + current + 1 <= limit:
        return None
    if current + 1 <= limit:  # the previous window's share has to shrink
        return window * (1 - (limit - 1 - current) / previous) - elapsed
    # Not before this window ends; then this window's hits are the previous ones.
    return window - elapsed + window * max(0.0, 1 - (limit - 1) / current)


class SharedWindowLimiter:
    """About `limit` hits per key within `window` seconds, counted in a file all processes share.

    Constant work per hit (two counters, one short transaction), however high the limit.
    If the file cannot be used, this process's own memory decides, and a warning is logged.
    """

    def __init__(
        self, counters: CounterFile, bucket: str, limit: int, window_seconds: float,
        clock: Callable[[], float] = time.time,  # wall time: processes share it, not their monotonic clocks
    ) -> None:
        self.counters = counters
        self.bucket = bucket
        self.limit = limit
        self.window = window_seconds
        self._clock = clock
        self._fallback = SlidingWindowLimiter(limit, window_seconds)
        self._warned_at = -math.inf

    def hit(self, key: str, *, record: bool = True) -> float | None:
        now = self._clock()
        try:
            return self._hit(key, now, record)
        except sqlite3.Error:
            if now - self._warned_at >= self.window:  # once a window, not once a request
                self._warned_at = now
                logger.warning("rate limit file unavailable; this process counts alone", extra={"bucket": self.bucket})
            return self._fallback.hit(key, record=record)

    def _hit(self, key: str, now: float, record: bool) -> float | None:
        connection = self.counters.connection()
        current = int(now // self.window)
        connection.execute("BEGIN IMMEDIATE")
        try:
            counts = dict(
                connection.execute(
                    "SELECT window, hits FROM rate_limit_windows WHERE bucket = ? AND key = ? AND window >= ?",
                    (self.bucket, key, current - 1),
                ).fetchall()
            )
            wait = _seconds_to_wait(
                self.limit, self.window, now - current * self.window, counts.get(current - 1, 0), counts.get(current, 0)
            )
            if wait is None and record:
                connection.execute(
                    "INSERT INTO rate_limit_windows VALUES (?, ?, ?, 1)"
                    " ON CONFLICT (bucket, key, window) DO UPDATE SET hits = hits + 1",
                    (self.bucket, key, current),
                )
            if now - self.counters.last_sweep >= self.window:  # forget windows no estimate uses any more
                self.counters.last_sweep = now
                connection.execute("DELETE FROM rate_limit_windows WHERE window < ?", (current - 1,))
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return wait


class RateLimitHits(SQLModel, table=True):
    """Hits per client in one fixed window of one bucket, counted by every process of a PostgreSQL
    database (SQLite counts in its side file instead: the table stays empty there)."""

    __tablename__ = "rate_limit_hits"

    bucket: str = Field(primary_key=True, max_length=64)
    client: str = Field(primary_key=True, max_length=64)  # an address: kept two windows at most
    window: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hits: int


_HITS = RateLimitHits.__table__  # type: ignore[attr-defined]
_COUNTS = select(_HITS.c.window, _HITS.c.hits).where(
    _HITS.c.bucket == bindparam("bucket"), _HITS.c.client == bindparam("client"), _HITS.c.window >= bindparam("since")
)


def _count_hit(bucket: str, client: str, window: int) -> Any:
    return driver_upsert(_HITS).values(bucket=bucket, client=client, window=window, hits=1).on_conflict_do_update(
        index_elements=[_HITS.c.bucket, _HITS.c.client, _HITS.c.window], set_={"hits": _HITS.c.hits + 1}
    )

_PRUNE = delete(_HITS).where(_HITS.c.window < bindparam("before"))


class DatabaseCounters:
    """The database where every process counts hits (PostgreSQL), with this process's last prune."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.last_sweep = 0.0

    def close(self) -> None:
        """The engine is the app's own, disposed with it."""


class DatabaseWindowLimiter:
    """SharedWindowLimiter's estimate over the `rate_limit_hits` table: the processes of every machine
    on one database allow the limit once between them.

    One short transaction per hit on a connection of its own (never the request's, never a write lock
    of the app's): a lock on this bucket and client (two hits of one client are counted one after the
    other, other clients never wait), the two windows' counts, the upsert, and once a window per
    process a prune of the windows no estimate reads any more. A pool or server too busy to answer
    is the request's answer too (503 SERVICE_BUSY); any other failure leaves this process counting
    alone, with a warning."""

    def __init__(
        self, counters: DatabaseCounters, bucket: str, limit: int, window_seconds: float,
        clock: Callable[[], float] = time.time,  # wall time: machines share it (NTP), not monotonic clocks
    ) -> None:
        self.counters = counters
        self.bucket = bucket
        self.limit = limit
        self.window = window_seconds
        self._clock = clock
        self._fallback = SlidingWindowLimiter(limit, window_seconds)
        self._warned_at = -math.inf

    async def hit(self, key: str, *, record: bool = True) -> float | None:
        now = self._clock()
        try:
            return await self._hit(key, now, record)
        except (PoolTimeout, ConnectionError, TimeoutError):
            raise  # the request itself would wait for the same database: it answers 503 now, not after a second wait
        except (DBAPIError, OSError) as exc:
            if isinstance(exc, DBAPIError) and is_database_locked(exc):
                raise
            if now - self._warned_at >= self.window:
                self._warned_at = now
                logger.warning("rate limit table unavailable; this process counts alone", extra={"bucket": self.bucket})
            return self._fallback.hit(key, record=record)

    async def _hit(self, key: str, now: float, record: bool) -> float | None:
        current = int(now // self.window)
        names = {"bucket": self.bucket, "client": key}
        async with self.counters.engine.begin() as connection:
            await serialize_connection_on(connection, f"rate-limit:{self.bucket}:{key}")
            rows = await connection.execute(_COUNTS, {**names, "since": current - 1})
            counts = {window: hits for window, hits in rows.all()}
            wait = _seconds_to_wait(
                self.limit, self.window, now - current * self.window, counts.get(current - 1, 0), counts.get(current, 0)
            )
            if wait is None and record:
                await connection.execute(_count_hit(self.bucket, key, current))
            if now - self.counters.last_sweep >= self.window:  # forget windows no estimate uses any more
                self.counters.last_sweep = now
                await connection.execute(_PRUNE, {"before": current - 1})
        return wait


def counters_for(database: Database, database_url: str) -> CounterFile | DatabaseCounters | None:
    """Where this process counts public writes: the SQLite side file, the PostgreSQL database, or
    (an in-memory SQLite database) nowhere shared."""
    if database.dialect == "postgresql":
        return DatabaseCounters(database.engine)
    return CounterFile.beside(database_url)


def client_address(request: Request, trusted_proxies: list[str]) -> str:
    """The caller's address; X-Forwarded-For is believed only from a trusted proxy."""
    peer = request.client.host if request.client else "unknown"
    if not trusted_proxies or not _is_trusted(peer, trusted_proxies):
        return peer
    forwarded = request.headers.get("x-forwarded-for", "")
    # Walk from the nearest hop back; the first untrusted address is the client.
    for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        if not _is_trusted(hop, trusted_proxies):
            return hop
    return peer


def _is_trusted(address: str, trusted: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in trusted:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


Limiter = SlidingWindowLimiter | SharedWindowLimiter | DatabaseWindowLimiter


async def _limit(request: Request, bucket: str, *, record: bool) -> None:
    """Counts (or with `record` false, only asks about) one hit of the client in `bucket`;
    429 when it is past the limit."""
    limiters: dict[str, Limiter] = request.app.state.rate_limiters
    settings: Settings = request.app.state.settings
    limiter = limiters.get(bucket)
    if limiter is None:
        counters: CounterFile | DatabaseCounters | None = request.app.state.rate_limit_counters
        limit = settings.rate_limit_public_per_minute
        if counters is None:
            limiter = limiters[bucket] = SlidingWindowLimiter(limit, 60)
        elif isinstance(counters, DatabaseCounters):
            limiter = limiters[bucket] = DatabaseWindowLimiter(counters, bucket, limit, 60)
        else:
            limiter = limiters[bucket] = SharedWindowLimiter(counters, bucket, limit, 60)
    client = client_address(request, settings.trusted_proxies)
    if isinstance(limiter, DatabaseWindowLimiter):
        retry_after = await limiter.hit(client, record=record)
    else:
        retry_after = limiter.hit(client, record=record)
    if retry_after is not None:
        raise RateLimited(math.ceil(retry_after))


def public_write_limit(bucket: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency that limits one kind of public write per client address."""

    async def check(request: Request) -> None:
        await _limit(request, bucket, record=True)

    check.__name__ = f"rate_limit_{bucket}"
    return check


class RefusedAttemptLimit:
    """Limits one kind of refused attempt per client address (a wrong webhook token, say).

    Only refusals count, so a caller that gets it right is never throttled; and a client past
    the limit is turned away before its attempt is judged, or guessing would go on behind the
    429s until a success showed the right guess."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    async def check(self, request: Request) -> None:
        """429 while the client is past the limit; counts nothing."""
        await _limit(request, self.bucket, record=False)

    async def refused(self, request: Request) -> None:
        """Counts one refused attempt of the client."""
        await _limit(request, self.bucket, record=True)
