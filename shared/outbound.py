"""Calls to services outside the app (LinkedIn, X): never while a write transaction is open.

A provider may take seconds to answer (up to PROVIDER_TIMEOUT_SECONDS). SQLite has one writer,
so a call made inside a write transaction would hold up every public write of the process for
that long. Every provider slice follows one pattern, written once in `call_outside_transaction`:

1. read and mark, in one short write transaction (claim the post: `publishing`);
2. call the provider with no transaction open;
3. record the outcome in a second short write transaction.

`provider_http_client` makes the rule hold: it refuses to send a request while the calling task
holds a write transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.config import Settings
from shared.db import Database, holds_write_lock

Claimed = TypeVar("Claimed")
Result = TypeVar("Result")


class CallInsideTransaction(RuntimeError):
    """A provider was about to be called while this task holds the write lock: a programming error."""


async def _refuse_inside_transaction(request: httpx.Request) -> None:
    if holds_write_lock():
        raise CallInsideTransaction(
            f"{request.method} {request.url.host} inside a write transaction; "
            "claim, commit, call, then record (shared/outbound.py)"
        )


def provider_http_client(settings: Settings, **options: Any) -> httpx.AsyncClient:
    """An httpx client for a provider's API: the settings' timeout, and no call inside a write transaction."""
    options.setdefault("timeout", settings.provider_timeout_seconds)
    return httpx.AsyncClient(event_hooks={"request": [_refuse_inside_transaction]}, **options)


async def call_outside_transaction(
    database: Database,
    *,
    claim: Callable[[AsyncSession], Awaitable[Claimed | None]],
    call: Callable[[Claimed], Awaitable[Result]],
    record: Callable[[AsyncSession, Claimed, Result | BaseException], Awaitable[None]],
) -> Result | None:
    """Claims work in one transaction, calls the provider with none open, records the outcome in another.

    `claim` returns None when there is nothing to do (someone else claimed it first): then
    nothing is called. A failed call is recorded too (as the exception), then re-raised."""
    async with database.session() as session:
        claimed = await claim(session)
    if claimed is None:
        return None
    try:
        result = await call(claimed)
    except Exception as exc:
        async with database.session() as session:
            await record(session, claimed, exc)
        raise
    async with database.session() as session:
        await record(session, claimed, result)
    return result
