"""Health checks side by side, each under its own time limit (used by /health/detailed and system-health).

One vocabulary for a check, the seed's: `healthy`, `warning`, `unhealthy`. A check that does not answer
in time is `unhealthy` ("timed out"), so a hung SMTP server or disk never makes the endpoint hang.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

logger = logging.getLogger("magnetiq.health")

CheckStatus = Literal["healthy", "warning", "unhealthy"]
_RANK: dict[str, int] = {"healthy": 0, "warning": 1, "unhealthy": 2}


def worst(statuses: Iterable[CheckStatus]) -> CheckStatus:
    """The worst of the statuses; `healthy` when there are none."""
    return max(statuses, key=_RANK.__getitem__, default="healthy")


class CheckResult(BaseModel):
    """What every check answers; its details are optional, since a check that timed out has none."""

    status: CheckStatus
    message: str | None = None


C = TypeVar("C", bound=CheckResult)


async def run_check(model: type[C], check: Awaitable[C], *, time_limit: float) -> C:
    """`check`'s answer, or an unhealthy `model` when it takes longer than `time_limit` seconds or fails."""
    limit = asyncio.timeout(time_limit)
    try:
        async with limit:
            return await check
    except Exception as exc:  # one broken check must not hide the others' answers
        if isinstance(exc, TimeoutError) and limit.expired():
            return model(status="unhealthy", message=f"timed out after {time_limit:g} s")
        logger.exception("health check failed", extra={"check": model.__name__})
        return model(status="unhealthy", message=f"check failed ({type(exc).__name__})")


async def run_checks(
    checks: dict[str, tuple[type[CheckResult], Awaitable[Any]]], *, time_limit: float
) -> dict[str, Any]:
    """Every check at once, each under `time_limit` seconds: name -> its answer."""
    answers = await asyncio.gather(
        *(run_check(model, check, time_limit=time_limit) for model, check in checks.values())
    )
    return dict(zip(checks, answers, strict=True))


T = TypeVar("T")


class SingleFlight:
    """Blocking probes (statvfs, file sizes, a test write) in threads, one thread per probe at most.

    A probe still running from an earlier call is awaited again instead of started twice, so a hung
    disk holds one thread, not one per request; a caller that gives up leaves it running."""

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Future[Any]] = {}

    async def run(self, key: str, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        future = self._running.get(key)
        if future is None or future.done() or future.get_loop() is not loop:
            future = asyncio.ensure_future(asyncio.to_thread(function, *args))
            future.add_done_callback(_retrieve)
            self._running[key] = future
        return await asyncio.shield(future)


def _retrieve(future: asyncio.Future[Any]) -> None:
    # An answer nobody waited for any more: read its exception so asyncio does not log it as lost.
    if not future.cancelled():
        future.exception()
