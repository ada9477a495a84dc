"""The app factory: settings, database, middleware, error handlers, every slice's router."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from sqlalchemy import event
from starlette.middleware.body_limit import RequestBodyLimitMiddleware

from features.auth import api as auth_api
from features.health.api import VERSION
from magnetiq.registry import SLICES
from shared.config import Settings, get_settings
from shared.db import Database, PoolLimits, utcnow
from shared.errors import declare_error_envelope, install_error_handlers
from shared.events import EventBus
from shared.examples import restore_null_examples
from shared.jobs import DELIVER_MAIL_JOB, JobContext, JobRunner, PeriodicJob, due_jobs_hook
from shared.logging import configure_logging
from shared.mail import DeliveryKicker, Mailer
from shared.middleware import CorsMiddleware, RequestContextMiddleware, RequestLimits
from shared.permissions import declare_optional_security
from shared.ratelimit import counters_for
from shared.security import use_password_hashing_for
from shared.token_crypto import token_key_problem

ROUTERS = tuple(router for slice_ in SLICES for router in slice_.routers)
PERIODIC_JOBS: tuple[PeriodicJob, ...] = (DELIVER_MAIL_JOB, *(job for slice_ in SLICES for job in slice_.jobs))
MAIL_TEMPLATES = {template.name: template for slice_ in SLICES for template in slice_.mail_templates}
if len(MAIL_TEMPLATES) != sum(len(slice_.mail_templates) for slice_ in SLICES):
    raise RuntimeError("two mail templates share a name")
EVENT_SUBSCRIPTIONS = tuple(subscription for slice_ in SLICES for subscription in slice_.subscriptions)
OPENAPI_TAGS = [tag for slice_ in SLICES for tag in slice_.openapi_tags]
SETTINGS_CHECKS = tuple(slice_.settings_check for slice_ in SLICES if slice_.settings_check is not None)


def mail_text_problem(settings: Settings) -> str | None:
    """Why mail could not go out in the default language, or None. Every mail falls back to the
    first of SUPPORTED_LANGUAGES, so each template needs its text: refused at start, not at delivery."""
    default = settings.default_language
    missing = sorted(name for name, template in MAIL_TEMPLATES.items() if default not in template.languages)
    if not missing:
        return None
    return (
        f"SUPPORTED_LANGUAGES starts with {settings.default_language!r}, the default language of every mail, "
        f"but these mails have no text in it: {', '.join(missing)}; put a language they are written in first"
    )


def configuration_problem(settings: Settings) -> str | None:
    """What in the settings the app cannot run with, or None: the mail texts, the token key, every slice's check."""
    problems = (
        mail_text_problem(settings), token_key_problem(settings), *(check(settings) for check in SETTINGS_CHECKS)
    )
    return "; ".join(problem for problem in problems if problem) or None


def _operation_id(route: APIRoute) -> str:
    return route.name


def build_job_runner(app: FastAPI, *, mode: str) -> JobRunner:
    context = JobContext(database=app.state.db, settings=app.state.settings, mailer=app.state.mailer)
    # An API process without the worker runs no job but still beats, so `magnetiq restore` sees it.
    return JobRunner(context, () if mode == "api" else PERIODIC_JOBS, mode=mode)


async def _beat_once_the_database_is_open(app: FastAPI, stop: asyncio.Event) -> None:
    """An API process without the worker beats from its first connection on: from then on a restore
    moving the file away would leave it writing to the old one. Before that, it holds nothing open."""
    opened = asyncio.create_task(app.state.database_opened.wait())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({opened, stopped}, return_when=asyncio.FIRST_COMPLETED)
    opened.cancel()
    stopped.cancel()
    if not stop.is_set():
        await build_job_runner(app, mode="api").run_forever(stop)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    await asyncio.to_thread(Path(settings.upload_dir).mkdir, parents=True, exist_ok=True)
    stop = asyncio.Event()
    if settings.worker_enabled:
        worker_task = asyncio.create_task(build_job_runner(app, mode="in-process").run_forever(stop))
    else:
        worker_task = asyncio.create_task(_beat_once_the_database_is_open(app, stop))
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(worker_task, timeout=10)
        await app.state.db.dispose()
        if app.state.rate_limit_counters is not None:
            app.state.rate_limit_counters.close()


def _declare_common_responses(app: FastAPI) -> None:
    """Statuses any operation may answer, declared once: 503 SERVICE_BUSY (no connection or write
    lock free in time) and 414 (a request target past 8 KiB) everywhere, 413 wherever a body is read."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        envelope = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
        busy = {"description": "Busy: nothing changed; retry after Retry-After", "content": envelope}
        too_large = {"description": "The request body is larger than allowed", "content": envelope}
        too_long = {"description": "The path and query are longer than 8 KiB", "content": envelope}
        for operations in schema["paths"].values():
            for operation in operations.values():
                operation["responses"].setdefault("503", busy)
                operation["responses"].setdefault("414", too_long)
                if "requestBody" in operation:
                    operation["responses"].setdefault("413", too_large)
        declare_error_envelope(schema)
        declare_optional_security(schema, app.routes)
        restore_null_examples(schema, app.routes)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


async def _index() -> dict[str, str]:
    """Where a newcomer who opens the bare address should look next."""
    return {
        "name": "Magnetiq API", "version": VERSION, "docs": "/docs", "redoc": "/redoc",
        "openapi": "/openapi.json", "health": "/api/v1/health", "api": "/api/v1",
    }


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    if problem := configuration_problem(settings):
        raise RuntimeError(problem)
    configure_logging(debug=settings.debug)
    use_password_hashing_for(settings.environment)
    app = FastAPIOffline(
        title="Magnetiq API",
        version=VERSION,
        description=(
            "Backend of the Magnetiq B2B marketing site. Every error has one envelope "
            "(`success`, `error.code`, `error.message`, `error.field`, `error.details`); "
            "the repository's README describes every convention."
        ),
        openapi_tags=OPENAPI_TAGS,
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        favicon_url="data:,",
    )
    app.state.settings = settings
    app.state.db = Database.from_url(
        settings.database_url, echo=settings.debug,
        pool=PoolLimits(settings.database_pool_size, settings.database_max_overflow,
                        settings.database_pool_timeout_seconds),
    )
    app.state.database_opened = asyncio.Event()
    # Pool events run on the event loop's thread (SQLAlchemy's greenlet), where setting the event is safe.
    event.listen(app.state.db.engine.sync_engine, "connect", lambda *_: app.state.database_opened.set(), once=True)
    app.state.mailer = Mailer(settings, MAIL_TEMPLATES)
    app.state.mail_kicker = DeliveryKicker()
    app.state.db.commit_hooks.append(app.state.mail_kicker.commit_hook(app.state.db, app.state.mailer))
    # A job a request's transaction made due (compaction after an erasure) runs after its response.
    app.state.db.commit_hooks.append(due_jobs_hook(build_job_runner(app, mode="after-commit")))
    app.state.events = EventBus(settings)
    for event_type, handler in EVENT_SUBSCRIPTIONS:
        app.state.events.subscribe(event_type, handler)
    app.state.rate_limiters = {}
    app.state.rate_limit_counters = counters_for(app.state.db, settings.database_url)
    app.state.caches = {}
    app.state.principal_resolver = auth_api.load_principal
    app.state.started_at = utcnow()

    install_error_handlers(app)
    # Innermost first. Bodies past the limit are refused with 413 while read (upload routes lift it
    # with their own max_body_size); RequestLimits puts that 413 in the envelope.
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=settings.max_request_body_bytes)
    for slice_ in SLICES:  # a slice's fast paths answer inside CORS and the request context
        for middleware in slice_.middleware:
            app.add_middleware(middleware)
    app.add_middleware(RequestLimits)  # inside CORS: a browser can read a 413 or a 414
    app.add_middleware(
        CorsMiddleware,
        allow_origins=settings.allowed_origins,
        allow_methods=settings.allowed_methods,
        allow_headers=settings.allowed_headers,
        expose_headers=["X-Request-ID", "ETag", "Retry-After"],
        allow_credentials=False,
    )
    app.add_middleware(RequestContextMiddleware)
    for router in ROUTERS:
        app.include_router(router)
    app.add_api_route("/", _index, methods=["GET"], include_in_schema=False)
    _declare_common_responses(app)
    return app
