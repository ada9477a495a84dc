"""What visitors' browsers hit most: published pages, served from a per-process cache.

A hit costs no database work and no serialization: the cache holds the response bytes and
their ETag. The cache empties when any page changes, in every process (shared.cache).
"""

import hashlib
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from features.pages import service
from features.pages.schemas import PublicPageList, PublicPageView
from shared.cache import VersionedCache, cache_of, versioned_cache
from shared.config import Settings
from shared.db import Database
from shared.errors import NotFound, error_responses
from shared.http import etag_matches
from shared.i18n import LanguageCode, served_language
from shared.pagination import Pagination

router = APIRouter(prefix="/api/v1/public/pages", tags=["public pages"], responses=error_responses(422, 500))

CACHE_CONTROL = "public, max-age=0, must-revalidate"  # browsers revalidate; a 304 costs next to nothing
page_cache = cache_of(service.CACHE_NAMESPACE)
PageCache = Annotated[VersionedCache, Depends(versioned_cache(service.CACHE_NAMESPACE))]
Lang = Annotated[LanguageCode | None, Query(description="Language wanted; unsupported ones get the default")]
_NOT_MODIFIED = {304: {"description": "Not modified (the If-None-Match ETag is current)"}}


class _Cached:
    __slots__ = ("body", "etag")

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.etag = f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'


_MISSING = object()


def _respond(request: Request, entry: _Cached) -> Response:
    headers = {"ETag": entry.etag, "Cache-Control": CACHE_CONTROL}
    if etag_matches(request.headers.get("if-none-match"), entry.etag):
        return Response(status_code=304, headers=headers)
    return Response(entry.body, media_type="application/json", headers=headers)


_LANG_PARAMETER = {
    "name": "lang", "in": "query", "required": False,
    "description": "Language wanted; unsupported or missing ones get the default language",
    "schema": {"type": "string", "maxLength": 16},
}


@router.get(
    "/{slug}",
    response_model=None,
    responses={200: {"model": PublicPageView, "description": "The page"}, **error_responses(404), **_NOT_MODIFIED},
    openapi_extra={"parameters": [_LANG_PARAMETER]},
)
async def read_public_page(slug: str, request: Request) -> Response:
    """A published page in one language; fields missing in that language fall back to the default."""
    # The hottest endpoint: no injected dependencies (each costs FastAPI's solver time) and
    # the query string read by hand; any language value is safe, unknown ones get the default.
    database: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    language = served_language(request.query_params.get("lang"), settings)
    cache = page_cache(request)
    await cache.ensure_fresh(database)
    key = ("page", slug, language)
    entry = cache.get(key)
    if entry is None:
        async with database.session(write=False) as session:
            view = await service.public_page(session, settings, slug, language)
        entry = cache.put(key, _MISSING if view is None else _Cached(view.model_dump_json().encode()))
    if entry is _MISSING:  # unknown slugs are cached too, so bots probing URLs cost no queries
        raise NotFound("Page not found")
    return _respond(request, entry)


@router.get("", response_model=PublicPageList, responses=_NOT_MODIFIED)
async def list_public_pages(request: Request, cache: PageCache, page: Pagination, lang: Lang = None) -> Response:
    """Published pages (slug, title, published_at), newest first, for navigation and sitemaps."""
    database: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    language = served_language(lang, settings)
    await cache.ensure_fresh(database)
    key = ("list", language, page.limit, page.offset)
    entry = cache.get(key)
    if entry is None:
        async with database.session(write=False) as session:
            items, total = await service.public_page_summaries(session, settings, language, page)
        entry = cache.put(key, _Cached(PublicPageList(items=items, total=total).model_dump_json().encode()))
    return _respond(request, entry)
