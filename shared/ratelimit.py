"""Per-client limits for public writes: a sliding window kept in this process's memory."""

from __future__ import annotations

import ipaddress
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable

from fastapi import Request

from shared.config import Settings
from shared.errors import RateLimited


class SlidingWindowLimiter:
    """At most `limit` hits per key within `window` seconds."""

    def __init__(self, limit: int, window_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window_seconds
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._last_sweep = clock()

    def hit(self, key: str) -> float | None:
        """Records a hit; returns None when allowed, else the seconds until the next is."""
        now = self._clock()
        self._sweep(now)
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return hits[0] + self.window - now
        hits.append(now)
        return None

    def _sweep(self, now: float) -> None:
        # Forget idle clients now and then, so memory follows active clients only.
        if now - self._last_sweep < self.window:
            return
        self._last_sweep = now
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - self.window]:
            del self._hits[key]


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


def public_write_limit(bucket: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency that limits one kind of public write per client address."""

    async def check(request: Request) -> None:
        limiters: dict[str, SlidingWindowLimiter] = request.app.state.rate_limiters
        settings: Settings = request.app.state.settings
        limiter = limiters.get(bucket)
        if limiter is None:
            limiter = limiters[bucket] = SlidingWindowLimiter(settings.rate_limit_public_per_minute, 60)
        retry_after = limiter.hit(client_address(request, settings.trusted_proxies))
        if retry_after is not None:
            raise RateLimited(math.ceil(retry_after))

    check.__name__ = f"rate_limit_{bucket}"
    return check
