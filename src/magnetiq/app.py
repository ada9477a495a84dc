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

from features.admin.router import router as admin_router
from features.auth import api as auth_api
from features.auth.router import router as auth_router
from features.bookings import api as bookings_api
from features.bookings.router import public_router as public_bookings_router
from features.bookings.router import router as bookings_router
from features.health.api import VERSION
from features.health.router import router as health_router
from features.media import api as media_api
from features.media.public import router as public_media_router
from features.media.router import router as media_router
from features.pages import api as pages_api
from features.pages.public import router as public_pages_router
from features.pages.router import router as pages_router
from features.webinars import api as webinars_api
from features.webinars.router import router as webinars_router
from features.whitepapers import api as whitepapers_api
from features.whitepapers.router import router as whitepapers_router
from shared.config import Settings, get_settings
from shared.db import Database, utcnow
from shared.errors import install_error_handlers
from shared.events import EventBus
from shared.examples import restore_null_examples
from shared.jobs import DELIVER_MAIL_JOB, JobContext, JobRunner, PeriodicJob
from shared.logging import configure_logging
from shared.mail import DeliveryKicker, Mailer
from shared.middleware import CorsMiddleware, RequestContextMiddleware
from shared.permissions import declare_optional_security
from shared.ratelimit import CounterFile

# Routes are matched in order, one by one: the hottest (public reads, then the lead forms) come first.
ROUTERS = (
    public_pages_router,
    public_media_router,
    webinars_router,
    whitepapers_router,
    public_bookings_router,
    bookings_router,
    health_router,
    auth_router,
    admin_router,
    pages_router,
    media_router,
)
PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    DELIVER_MAIL_JOB,
    *auth_api.JOBS,
    *media_api.JOBS,
    *pages_api.JOBS,
    *webinars_api.JOBS,
    *whitepapers_api.JOBS,
    *bookings_api.JOBS,
)
MAIL_TEMPLATES = {**auth_api.MAIL_TEMPLATES, **webinars_api.MAIL_TEMPLATES, **bookings_api.MAIL_TEMPLATES}
EVENT_SUBSCRIPTIONS = (*bookings_api.SUBSCRIPTIONS,)

OPENAPI_TAGS = [
    {"name": "health", "description": "Liveness and readiness."},
    {"name": "auth", "description": "Logins, tokens, password resets."},
    {"name": "admin", "description": "User administration and system health."},
    {"name": "pages", "description": "Multilingual pages with revisions (staff)."},
    {"name": "public pages", "description": "Published pages for visitors, cached."},
    {"name": "media", "description": "Uploads: verified, deduplicated files (staff)."},
    {"name": "public media", "description": "Uploaded files at stable public URLs."},
    {"name": "webinars", "description": "Webinars and their registrations (lead capture)."},
    {"name": "whitepapers", "description": "Whitepapers behind a lead form, downloaded by signed link."},
    {"name": "bookings", "description": "Consultation bookings in business hours."},
]


def _operation_id(route: APIRoute) -> str:
    return route.name


def build_job_runner(app: FastAPI, *, mode: str) -> JobRunner:
    context = JobContext(database=app.state.db, settings=app.state.settings, mailer=app.state.mailer)
    return JobRunner(context, PERIODIC_JOBS, mode=mode)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    await asyncio.to_thread(Path(settings.upload_dir).mkdir, parents=True, exist_ok=True)
    stop = asyncio.Event()
    worker_task = None
    if settings.worker_enabled:
        worker_task = asyncio.create_task(build_job_runner(app, mode="in-process").run_forever(stop))
    try:
        yield
    finally:
        stop.set()
        if worker_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(worker_task, timeout=10)
        await app.state.db.dispose()
        if app.state.rate_limit_counters is not None:
            app.state.rate_limit_counters.close()


_WRITES = ("post", "put", "patch", "delete")


def _declare_busy_writes(app: FastAPI) -> None:
    """Every writing operation may answer 503 SERVICE_BUSY (write lock not had in time): say so."""
    build = app.openapi

    def openapi() -> dict:
        schema = build()
        busy = {
            "description": "Busy: the write lock was not free in time; nothing changed, retry after Retry-After",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
        }
        for operations in schema["paths"].values():
            for method, operation in operations.items():
                if method in _WRITES:
                    operation["responses"].setdefault("503", busy)
        declare_optional_security(schema, app.routes)
        restore_null_examples(schema, app.routes)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(debug=settings.debug)
    app = FastAPIOffline(
        title="Magnetiq API",
        version=VERSION,
        description="Backend of the Magnetiq B2B marketing site. Errors share one envelope; see CONTRACT.md.",
        openapi_tags=OPENAPI_TAGS,
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        favicon_url="data:,",
    )
    app.state.settings = settings
    app.state.db = Database.from_url(settings.database_url, echo=settings.debug)
    app.state.mailer = Mailer(settings, MAIL_TEMPLATES)
    app.state.mail_kicker = DeliveryKicker()
    app.state.events = EventBus()
    for event_type, handler in EVENT_SUBSCRIPTIONS:
        app.state.events.subscribe(event_type, handler)
    app.state.rate_limiters = {}
    app.state.rate_limit_counters = CounterFile.beside(settings.database_url)
    app.state.caches = {}
    app.state.principal_resolver = auth_api.load_principal
    app.state.started_at = utcnow()

    install_error_handlers(app)
    # Innermost first: the fast path answers cached public pages inside CORS and request ids.
    app.add_middleware(pages_api.PublicPageFastPath)
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
    _declare_busy_writes(app)
    return app
