"""The public pages' in-process cache, which every process drops when a page changes.

Writers bump a version row in the same transaction as their change; readers compare it at
most once per `check_interval` seconds, so a change made in one process is visible in all
within about that long, at the cost of one tiny query per second per process.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import Depends, Request
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from features.pages.models import CacheVersion
from shared.db import Database
from shared.dialect import insert_or_update


async def bump_cache_version(session: AsyncSession, *, namespace: str) -> None:
    statement = insert_or_update(session, CacheVersion).values(namespace=namespace, version=1)
    statement = statement.on_conflict_do_update(
        index_elements=["namespace"], set_={"version": CacheVersion.version + 1}
    )
    await session.exec(statement)  # type: ignore[call-overload]


class VersionedCache:
    def __init__(
        self, namespace: str, *, check_interval: float = 1.0, max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.namespace = namespace
        self.check_interval = check_interval
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[Any, Any] = {}
        self._version: int | None = None
        self._checked_at = float("-inf")

    async def ensure_fresh(self, database: Database) -> None:
        now = self._clock()
        if now - self._checked_at < self.check_interval:
            return
        self._checked_at = now
        async with database.session(write=False) as session:
            connection = await session.connection()
            version = (
                await connection.execute(
                    text("SELECT version FROM cache_versions WHERE namespace = :namespace"),
                    {"namespace": self.namespace},
                )
            ).scalar_one_or_none() or 0
        if version != self._version:
            self._entries.clear()
            self._version = version

    def get(self, key: Any) -> Any:
        return self._entries.get(key)

    def put(self, key: Any, value: Any) -> Any:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # crude but bounded; a hit rate this low means a scan anyway
        self._entries[key] = value
        return value

    def clear(self) -> None:
        """Drops this process's entries at once (the writer's own process need not wait)."""
        self._entries.clear()
        self._checked_at = float("-inf")


def cache_for(app_state: Any, namespace: str) -> VersionedCache:
    """This process's cache for a namespace (a plain accessor, for hot paths without injection)."""
    caches: dict[str, VersionedCache] = app_state.caches
    cache = caches.get(namespace)
    if cache is None:
        cache = caches[namespace] = VersionedCache(namespace)
    return cache


def versioned_cache(namespace: str) -> Callable[[Request], Awaitable[VersionedCache]]:
    async def get(request: Request) -> VersionedCache:
        return cache_for(request.app.state, namespace)

    return get


def clears_cache(namespace: str) -> Any:
    """A route dependency that empties this process's cache once the request's transaction is over.

    Route-level dependencies are set up before the session and torn down after its commit,
    so the next read in this process sees the change at once (other processes: within ~1 s).
    """

    async def clear_after(request: Request) -> AsyncIterator[None]:
        try:
            yield
        finally:
            cache_for(request.app.state, namespace).clear()

    return Depends(clear_after, scope="function")


