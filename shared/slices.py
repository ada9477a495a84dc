"""How a slice declares itself: the one object the shell, the model registry and Alembic read.

A slice's `slice.py` builds a `Slice`; `src/magnetiq/registry.py` lists the slices by name. The
shell mounts their routers and middleware, the job runner runs their jobs, the mailer knows
their templates, the event bus their subscriptions, and Alembic their tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from fastapi import APIRouter

from shared.events import Event, Handler
from shared.jobs import PeriodicJob
from shared.mail_templates import MailTemplate


@dataclass(frozen=True, kw_only=True)
class Slice:
    name: str  # the folder under features/
    routers: tuple[APIRouter, ...] = ()
    models: ModuleType | None = None  # the module whose tables the slice owns
    jobs: tuple[PeriodicJob, ...] = ()
    mail_templates: tuple[MailTemplate[Any], ...] = ()  # named mails, rendered by the Mailer at delivery
    subscriptions: tuple[tuple[type[Event], Handler], ...] = ()
    # Plain ASGI middleware classes, added innermost (inside CORS and the request context).
    middleware: tuple[type[Any], ...] = ()
    openapi_tags: tuple[dict[str, str], ...] = ()
