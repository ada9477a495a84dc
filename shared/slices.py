"""How a slice declares itself: the one object the shell, the model registry and Alembic read.

A slice's `slice.py` builds a `Slice`; `src/magnetiq/registry.py` lists the slices by name. The
shell mounts their routers and middleware, the job runner runs their jobs, the mailer knows
their templates, the event bus their subscriptions, and Alembic their tables; a configuration
one of them cannot run with is refused before the app starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from fastapi import APIRouter

from shared.config import Settings
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
    # Why the settings the slice reads cannot serve (naming each variable), or None. Run when the app
    # is built and before `magnetiq serve` and `magnetiq worker` start: refused at start, not at a request.
    settings_check: Callable[[Settings], str | None] | None = None
