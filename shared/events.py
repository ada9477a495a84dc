"""A small in-process event bus: producers publish, subscribers react, neither knows the other.

Handlers run inside the publisher's transaction, so a reaction is stored together with
the fact that caused it, or not at all. They are given the event, that session and the app's
settings (a reaction may need the secret key, a base URL or the languages).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.config import Settings

logger = logging.getLogger("magnetiq.events")


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every event; subclasses are frozen dataclasses."""


@dataclass(frozen=True, kw_only=True)
class Visitor:
    """A visitor's details as every slice stores them: the address normalized, the language served."""

    email: str
    first_name: str
    last_name: str
    company: str | None
    language: str
    consent_marketing: bool

    def as_dict(self) -> dict[str, Any]:
        """The details as a flat dict (dataclasses.asdict copies recursively, on every public form)."""
        return {name: getattr(self, name) for name in _VISITOR_FIELDS}


_VISITOR_FIELDS = tuple(field.name for field in fields(Visitor))


@dataclass(frozen=True, kw_only=True)
class LeadCaptured(Event, Visitor):
    """A visitor who is news at one source (shared/leads.py says when)."""

    source: str  # "webinar:<id>", "whitepaper:<id>" or "booking:<id>"


@dataclass(frozen=True, kw_only=True)
class UserRemoved(Event):
    """A staff user was deleted (kept as a deactivated row, so foreign keys do not see it)."""

    user_id: int


E = TypeVar("E", bound=Event)
Handler = Callable[[Any, AsyncSession, Settings], Awaitable[None]]


class EventBus:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._handlers: dict[type[Event], list[Handler]] = defaultdict(list)

    def subscribe(self, event_type: type[E], handler: Callable[[E, AsyncSession, Settings], Awaitable[None]]) -> None:
        self._handlers[event_type].append(handler)

    async def publish(self, event: Event, session: AsyncSession) -> None:
        for event_type in type(event).__mro__:
            for handler in self._handlers.get(event_type, ()):  # type: ignore[call-overload]
                await handler(event, session, self.settings)


async def get_event_bus(request: Request) -> EventBus:
    return request.app.state.events


EventBusDep = Annotated[EventBus, Depends(get_event_bus)]
