from datetime import UTC, datetime, timedelta

from httpx import ASGITransport, AsyncClient


async def test_visitors_read_published_pages_in_their_language(client, create_page):
    await create_page("about-us", status="published")
    de = await client.get("/api/v1/public/pages/about-us?lang=de")
    assert de.status_code == 200
    assert de.json()["language"] == "de" and de.json()["title"] == "Über uns"
    assert de.json()["content"] == "<p>Wir bauen Dinge.</p>"
    # meta_description has no German text: that field falls back to the default language.
    assert de.json()["meta_description"] == "Who we are"
    assert set(de.json()) >= {"slug", "language", "title", "content", "meta_description", "seo_title", "seo_keywords", "published_at"}
    en = await client.get("/api/v1/public/pages/about-us")
    assert en.json()["language"] == "en" and en.json()["title"] == "About us"


async def test_missing_or_unsupported_language_is_served_in_the_default(client, create_page):
    await create_page("english-only", title={"en": "Hello"}, content={"en": "<p>Hi</p>"}, status="published")
    response = await client.get("/api/v1/public/pages/english-only?lang=de")
    assert response.json()["language"] == "en" and response.json()["title"] == "Hello"
    assert (await client.get("/api/v1/public/pages/english-only?lang=fr")).json()["language"] == "en"


async def test_each_field_falls_back_on_its_own_and_the_fallbacks_are_named(client, create_page):
    await create_page(
        "half-translated", title={"en": "Pricing", "de": "Preise"}, content={"en": "<p>Plans</p>"}, status="published"
    )
    page = (await client.get("/api/v1/public/pages/half-translated?lang=de")).json()
    assert page["title"] == "Preise" and page["content"] == "<p>Plans</p>"
    assert page["language"] == "en" and "content" in page["fallback_fields"] and "title" not in page["fallback_fields"]
    assert (await client.get("/api/v1/public/pages/half-translated?lang=en")).json()["fallback_fields"] == []


async def test_drafts_scheduled_and_deleted_pages_are_not_public(client, create_page, admin_headers):
    await create_page("draft")
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    await create_page("later", status="scheduled", publish_at=later)
    gone = await create_page("gone", status="published")
    assert (await client.get("/api/v1/public/pages/gone")).status_code == 200
    await client.delete(f"/api/v1/content/pages/{gone['id']}", headers=admin_headers)
    for slug in ("draft", "later", "gone", "never-existed"):
        response = await client.get(f"/api/v1/public/pages/{slug}")
        assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"
    assert (await client.get("/api/v1/public/pages")).json()["total"] == 0


async def test_public_list_is_for_navigation(client, create_page):
    await create_page("first", status="published")
    await create_page("second", status="published", title={"en": "Second", "de": "Zweite"})
    await create_page("hidden")
    body = (await client.get("/api/v1/public/pages?lang=de")).json()
    assert body["total"] == 2
    assert [(p["slug"], p["title"]) for p in body["items"]] == [("second", "Zweite"), ("first", "Über uns")]
    assert all(p["published_at"] for p in body["items"])


async def test_etag_and_304(client, create_page):
    await create_page("cached", status="published")
    first = await client.get("/api/v1/public/pages/cached")
    etag = first.headers["etag"]
    assert first.headers["cache-control"]
    again = await client.get("/api/v1/public/pages/cached", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    other = await client.get("/api/v1/public/pages/cached", headers={"If-None-Match": '"stale"'})
    assert other.status_code == 200


async def test_a_change_is_served_at_once_by_the_writing_process(client, create_page, editor_headers):
    page = await create_page("fresh", status="published")
    before = await client.get("/api/v1/public/pages/fresh")
    await client.put(f"/api/v1/content/pages/{page['id']}", json={"title": {"en": "Changed"}}, headers=editor_headers)
    after = await client.get("/api/v1/public/pages/fresh")
    assert after.json()["title"] == "Changed" and after.headers["etag"] != before.headers["etag"]


async def test_cache_is_invalidated_in_another_process_within_two_seconds(app, app_factory, client, create_page, editor_headers):
    """Two app instances share one database, as two worker processes would. The other's cache checks the
    version row once a second on its clock (moved here, nothing sleeps): stale until then, fresh after."""
    from features.pages.cache import VersionedCache
    from features.pages.service import CACHE_NAMESPACE

    page = await create_page("shared", status="published")
    other_app = app_factory(app.state.settings)
    ticks = [0.0]
    other_app.state.caches[CACHE_NAMESPACE] = VersionedCache(CACHE_NAMESPACE, clock=lambda: ticks[0])
    async with AsyncClient(transport=ASGITransport(app=other_app), base_url="http://other") as other:
        assert (await other.get("/api/v1/public/pages/shared")).json()["title"] == "About us"
        await client.put(f"/api/v1/content/pages/{page['id']}", json={"title": {"en": "Renamed"}}, headers=editor_headers)
        ticks[0] += 0.9  # within the check interval: served from the cache, the change not yet seen
        assert (await other.get("/api/v1/public/pages/shared")).json()["title"] == "About us"
        ticks[0] += 0.2  # past it: the version row is read and the entry gives way
        assert (await other.get("/api/v1/public/pages/shared")).json()["title"] == "Renamed"
    await other_app.state.db.dispose()


async def test_cache_hit_needs_no_database(app, client, create_page):
    await create_page("hot", status="published")
    await client.get("/api/v1/public/pages/hot")
    await app.state.db.engine.dispose()
    # Poison the engine: any query would fail. A cached read must not need one.
    original = app.state.db.reader
    app.state.db.reader = None
    try:
        response = await client.get("/api/v1/public/pages/hot")
    finally:
        app.state.db.reader = original
    assert response.status_code == 200


async def test_scheduled_page_is_published_by_the_worker_when_due(app, client, create_page, editor_headers):
    from features.pages.api import JOBS
    from features.pages.cache import VersionedCache
    from features.pages.service import CACHE_NAMESPACE
    from shared.jobs import JobContext, JobRunner

    soon = datetime.now(UTC) + timedelta(seconds=30)  # the job's clock is moved: nothing waits for this
    page = await create_page("launch", status="scheduled", publish_at=soon.isoformat())
    now = [soon - timedelta(seconds=10)]
    context = JobContext(
        database=app.state.db, settings=app.state.settings, mailer=app.state.mailer, clock=lambda: now[0]
    )
    ticks = [0.0]
    app.state.caches[CACHE_NAMESPACE] = VersionedCache(CACHE_NAMESPACE, clock=lambda: ticks[0])
    runner = JobRunner(context, JOBS, mode="standalone")
    await runner.run_due_jobs()
    assert (await client.get("/api/v1/public/pages/launch")).status_code == 404
    now[0] = soon + timedelta(seconds=0.2)  # the publication time has passed, for the job
    async with app.state.db.session() as session:
        from sqlalchemy import update

        from shared.jobs import JobSchedule

        await session.exec(update(JobSchedule).values(next_run_at=datetime.now(UTC)))  # due again now
    assert await runner.run_due_jobs() == ["publish_due_pages"]
    # The worker bumped the cache version, so the cached 404 gives way at the next version check.
    ticks[0] += 1.5
    public = await client.get("/api/v1/public/pages/launch")
    assert public.status_code == 200
    staff = (await client.get(f"/api/v1/content/pages/{page['id']}", headers=editor_headers)).json()
    assert staff["status"] == "published" and staff["is_published"] is True
    assert staff["published_at"].startswith(soon.isoformat()[:19])


async def test_cached_hits_still_carry_request_id_and_cors_headers(client, create_page):
    await create_page("hit", status="published")
    await client.get("/api/v1/public/pages/hit")  # fills the cache
    hit = await client.get("/api/v1/public/pages/hit?lang=de", headers={"Origin": "http://localhost:8036"})
    hit = await client.get("/api/v1/public/pages/hit?lang=de", headers={"Origin": "http://localhost:8036", "X-Request-ID": "r-1"})
    assert hit.status_code == 200 and hit.json()["language"] == "de"
    assert hit.headers["x-request-id"] == "r-1"
    assert hit.headers["access-control-allow-origin"] == "http://localhost:8036"
    assert hit.headers["content-type"] == "application/json"
    not_modified = await client.get("/api/v1/public/pages/hit?lang=de", headers={"If-None-Match": hit.headers["etag"]})
    assert not_modified.status_code == 304 and not_modified.headers["x-request-id"]


async def test_fast_path_leaves_other_paths_and_methods_alone(client, create_page):
    await create_page("page", status="published")
    await client.get("/api/v1/public/pages/page")
    assert (await client.post("/api/v1/public/pages/page")).status_code == 405
    assert (await client.get("/api/v1/public/pages/page/extra")).status_code == 404
