"""What visitors' browsers hit most: published pages, served from a per-process cache.

A hit costs no database work and no serialization: the cache holds the response bytes and
their headers. The cache empties when any page changes, in every process (features/pages/cache.py).
Hits are answered by a plain ASGI fast path before FastAPI's routing; the documented route
below answers misses (filling the cache) and everything else.
"""

from __future__ import annotations

import hashlib
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from features.pages import service
from features.pages.cache import VersionedCache, cache_for, versioned_cache
from features.pages.schemas import PageVisitorList, PageVisitorView
from shared.config import Settings
from shared.db import Database
from shared.errors import NotFound, error_responses
from shared.http import etag_matches
from shared.i18n import LanguageCode, served_language
from shared.pagination import Pagination

PREFIX = "/api/v1/public/pages"
router = APIRouter(prefix=PREFIX, tags=["public pages"], responses=error_responses(422, 500))

CACHE_CONTROL = "public, max-age=0, must-revalidate"  # browsers revalidate; a 304 costs next to nothing
PageCache = Annotated[VersionedCache, Depends(versioned_cache(service.CACHE_NAMESPACE))]
_NOT_MODIFIED = {304: {"description": "Not modified (the If-None-Match ETag is current)"}}
_LANG_PARAMETER = {
    "name": "lang", "in": "query", "required": False,
    "description": "Language wanted; unsupported or missing ones get the default language",
    "schema": {"type": "string", "maxLength": 16},
}
_MISSING = object()  # unknown slugs are cached too, so bots probing URLs cost no queries


class _Cached:
    """A ready response: body and headers, computed once."""

    __slots__ = ("body", "etag", "headers", "not_modified_headers")

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.etag = f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'
        self.not_modified_headers = [(b"etag", self.etag.encode()), (b"cache-control", CACHE_CONTROL.encode())]
        self.headers = [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            *self.not_modified_headers,
        ]


def _respond(request: Request, entry: _Cached) -> Response:
    headers = {"ETag": entry.etag, "Cache-Control": CACHE_CONTROL}
    if etag_matches(request.headers.get("if-none-match"), entry.etag):
        return Response(status_code=304, headers=headers)
    return Response(entry.body, media_type="application/json", headers=headers)


async def _cached_page(state, slug: str, requested_language: str | None) -> tuple[str, VersionedCache, object]:
    settings: Settings = state.settings
    language = served_language(requested_language, settings)
    cache = cache_for(state, service.CACHE_NAMESPACE)
    await cache.ensure_fresh(state.db)
    return language, cache, cache.get(("page", slug, language))


class PublicPageFastPath:
    """Plain ASGI: answers cache hits for GET /api/v1/public/pages/{slug} without routing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "GET" or not path.startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        slug = path[len(PREFIX) + 1:]
        lang = None
        if scope["query_string"]:
            lang = dict(parse_qsl(scope["query_string"].decode("latin-1"))).get("lang")
        _, _, entry = await _cached_page(scope["app"].state, slug, lang)
        if not isinstance(entry, _Cached):
            await self.app(scope, receive, send)  # a miss or a 404: the route answers
            return
        if_none_match = next((v for k, v in scope["headers"] if k == b"if-none-match"), None)
        if if_none_match is not None and etag_matches(if_none_match.decode("latin-1"), entry.etag):
            await send({"type": "http.response.start", "status": 304, "headers": entry.not_modified_headers})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200, "headers": entry.headers})
        await send({"type": "http.response.body", "body": entry.body})


@router.get(
    "/{slug}",
    response_model=None,
    responses={200: {"model": PageVisitorView, "description": "The page"}, **error_responses(404), **_NOT_MODIFIED},
    openapi_extra={"parameters": [_LANG_PARAMETER]},
)
async def read_public_page(slug: str, request: Request) -> Response:
    """A published page in one language; fields missing in that language fall back to the default."""
    state = request.app.state
    language, cache, entry = await _cached_page(state, slug, request.query_params.get("lang"))
    if entry is None:
        async with state.db.session(write=False) as session:
            view = await service.public_page(session, settings=state.settings, slug=slug, language=language)
        entry = _MISSING if view is None else _Cached(view.model_dump_json().encode())
        cache.put(("page", slug, language), entry)
    if entry is _MISSING:
        raise NotFound("Page not found")
    return _respond(request, entry)


@router.get("", response_model=PageVisitorList, responses=_NOT_MODIFIED)
async def list_public_pages(
    request: Request, cache: PageCache, params: Pagination,
    lang: Annotated[LanguageCode | None, Query(description="Language wanted; unsupported ones get the default")] = None,
) -> Response:
    """Published pages (slug, title, published_at), newest first, for navigation and sitemaps."""
    database: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    language = served_language(lang, settings)
    await cache.ensure_fresh(database)
    key = ("list", language, params.limit, params.offset)
    entry = cache.get(key)
    if entry is None:
        async with database.session(write=False) as session:
            items, total = await service.public_page_summaries(
                session, settings=settings, language=language, params=params
            )
        entry = cache.put(key, _Cached(PageVisitorList(items=items, total=total).model_dump_json().encode()))
    return _respond(request, entry)
