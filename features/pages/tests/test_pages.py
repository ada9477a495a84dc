import json
from datetime import UTC, datetime, timedelta

from features.pages.tests.factories import page_body


async def test_editor_creates_and_reads_a_page(client, editor_headers, viewer_headers):
    response = await client.post("/api/v1/content/pages", json=page_body(), headers=editor_headers)
    assert response.status_code == 201
    page = response.json()
    assert page["status"] == "draft" and page["is_published"] is False and page["published_at"] is None
    assert page["title"] == {"en": "About us", "de": "Über uns"}
    assert response.headers["etag"]
    read = await client.get(f"/api/v1/content/pages/{page['id']}", headers=viewer_headers)
    assert read.status_code == 200 and read.json()["slug"] == "about-us"
    assert read.headers["etag"] == response.headers["etag"]


async def test_viewers_cannot_write_and_editors_cannot_delete(client, create_page, viewer_headers, editor_headers):
    assert (await client.post("/api/v1/content/pages", json=page_body(), headers=viewer_headers)).status_code == 403
    page = await create_page()
    assert (await client.put(f"/api/v1/content/pages/{page['id']}", json={"title": {"en": "X"}}, headers=viewer_headers)).status_code == 403
    assert (await client.delete(f"/api/v1/content/pages/{page['id']}", headers=editor_headers)).status_code == 403
    assert (await client.get("/api/v1/content/pages")).status_code == 401


async def test_slug_clash_is_409_and_a_deleted_pages_slug_can_be_reused(client, create_page, editor_headers, admin_headers):
    page = await create_page("pricing")
    clash = await client.post("/api/v1/content/pages", json=page_body("pricing"), headers=editor_headers)
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "SLUG_TAKEN"
    assert (await client.delete(f"/api/v1/content/pages/{page['id']}", headers=admin_headers)).status_code == 204
    reuse = await client.post("/api/v1/content/pages", json=page_body("pricing"), headers=editor_headers)
    assert reuse.status_code == 201
    # Restoring the old page would now clash with the new one.
    restore = await client.post(f"/api/v1/content/pages/{page['id']}/restore", headers=admin_headers)
    assert restore.status_code == 409 and restore.json()["error"]["code"] == "SLUG_TAKEN"


async def test_renaming_onto_a_taken_slug_is_409(client, create_page, editor_headers):
    await create_page("one")
    two = await create_page("two")
    response = await client.put(f"/api/v1/content/pages/{two['id']}", json={"slug": "one"}, headers=editor_headers)
    assert response.status_code == 409


async def test_slug_must_be_lowercase_words_joined_by_hyphens(client, editor_headers):
    for slug in ("About Us", "about_us", "-about", "about--us", "ÄBOUT", ""):
        response = await client.post("/api/v1/content/pages", json=page_body(slug), headers=editor_headers)
        assert response.status_code == 422, slug
        assert response.json()["error"]["field"] == "slug"


async def test_languages_are_checked(client, editor_headers):
    unknown = await client.post("/api/v1/content/pages", json=page_body(title={"en": "A", "fr": "B"}), headers=editor_headers)
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "title.fr"
    no_default = await client.post("/api/v1/content/pages", json=page_body(content={"de": "<p>x</p>"}), headers=editor_headers)
    assert no_default.status_code == 422 and no_default.json()["error"]["field"] == "content.en"
    meta = await client.post("/api/v1/content/pages", json=page_body(seo_title={"xx": "B"}), headers=editor_headers)
    assert meta.status_code == 422


async def test_a_control_character_in_a_title_is_422_and_nothing_is_stored(client, editor_headers):
    cases = {
        "title.en": {"title": {"en": "About\u0000us"}},
        "title.de": {"title": {"en": "About", "de": "Über\u0085"}},  # a C1 control (NEL)
        "seo_title.en": {"seo_title": {"en": "Two\nlines"}},
        "seo_keywords.en": {"seo_keywords": {"en": "a,\tb"}},
        "meta_description.en": {"meta_description": {"en": "Escape \u001b[31m"}},
        "content.en": {"content": {"en": "<p>\u0000</p>"}},
    }
    for field, override in cases.items():
        response = await client.post("/api/v1/content/pages", json=page_body(**override), headers=editor_headers)
        assert response.status_code == 422, (field, response.text)
        error = response.json()["error"]
        assert error["code"] == "VALIDATION_ERROR" and error["field"] == field
        assert "must not contain control characters" in error["message"]
    listed = (await client.get("/api/v1/content/pages", headers=editor_headers)).json()
    assert listed["total"] == 0 and listed["items"] == []


async def test_line_breaks_stay_allowed_in_content_and_meta_description(client, editor_headers):
    body = page_body(content={"en": "<p>One</p>\n\t<p>Two</p>\r\n"}, meta_description={"en": "Who\nwe are"})
    response = await client.post("/api/v1/content/pages", json=body, headers=editor_headers)
    assert response.status_code == 201, response.text
    assert response.json()["meta_description"] == {"en": "Who\nwe are"}


async def test_a_control_character_in_an_update_changes_nothing(client, create_page, editor_headers):
    page = await create_page()
    response = await client.put(
        f"/api/v1/content/pages/{page['id']}", json={"title": {"en": "About\u0000"}}, headers=editor_headers
    )
    assert response.status_code == 422 and response.json()["error"]["field"] == "title.en"
    stored = (await client.get(f"/api/v1/content/pages/{page['id']}", headers=editor_headers)).json()
    assert stored["title"] == page["title"] and stored["version"] == page["version"]


async def test_a_lone_surrogate_is_422_not_a_server_error(client, editor_headers):
    body = json.dumps(page_body(title={"en": "\ud800"}))  # sent escaped, as JSON allows
    response = await client.post(
        "/api/v1/content/pages", content=body, headers={**editor_headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 422 and response.json()["error"]["field"] == "title.en"
    assert (await client.get("/api/v1/content/pages", headers=editor_headers)).json()["total"] == 0


async def test_hostile_html_is_sanitized_on_write(client, editor_headers):
    hostile = (
        '<p onclick="steal()">Hi<script>alert(1)</script></p><a href="javascript:alert(2)">x</a>'
        '<img src="x.png" onerror="alert(3)"><iframe src="https://evil.example"></iframe>'
        '<a href="https://ok.example">ok</a><style>body{}</style>'
    )
    response = await client.post("/api/v1/content/pages", json=page_body(content={"en": hostile}), headers=editor_headers)
    stored = response.json()["content"]["en"]
    for bad in ("<script", "onclick", "onerror", "javascript:", "<iframe", "<style", "alert("):
        assert bad not in stored, bad
    assert '<a href="https://ok.example"' in stored and "<p>Hi</p>" in stored


async def test_hostile_html_is_sanitized_on_update_too(client, create_page, editor_headers):
    page = await create_page()
    hostile = '<p onmouseover="steal()">Hi</p><script>alert(1)</script><a href="javascript:alert(2)">x</a>'
    response = await client.put(
        f"/api/v1/content/pages/{page['id']}", json={"content": {"en": hostile}}, headers=editor_headers
    )
    assert response.status_code == 200
    stored = response.json()["content"]["en"]
    for bad in ("<script", "onmouseover", "javascript:", "alert("):
        assert bad not in stored, bad


async def test_published_status_stamps_published_at_and_is_published(client, create_page, editor_headers):
    page = await create_page()
    response = await client.put(f"/api/v1/content/pages/{page['id']}", json={"status": "published"}, headers=editor_headers)
    body = response.json()
    assert body["status"] == "published" and body["is_published"] is True and body["published_at"]
    back = await client.put(f"/api/v1/content/pages/{page['id']}", json={"status": "draft"}, headers=editor_headers)
    assert back.json()["is_published"] is False and back.json()["published_at"] is None


async def test_status_and_is_published_cannot_disagree_in_the_database(app, create_page):
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    page = await create_page()
    with pytest.raises(IntegrityError):
        async with app.state.db.session() as session:
            # A bound boolean: 1 on SQLite, true on PostgreSQL (which refuses an integer for a boolean).
            await session.exec(
                text("UPDATE pages SET is_published = :published WHERE id = :id").bindparams(published=True, id=page["id"])
            )


async def test_scheduling_needs_a_future_publish_at(client, editor_headers):
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    response = await client.post("/api/v1/content/pages", json=page_body(status="scheduled", publish_at=past), headers=editor_headers)
    assert response.status_code == 422 and response.json()["error"]["field"] == "publish_at"
    missing = await client.post("/api/v1/content/pages", json=page_body(status="scheduled"), headers=editor_headers)
    assert missing.status_code == 422
    naive = await client.post("/api/v1/content/pages", json=page_body(status="scheduled", publish_at="2099-01-01T10:00:00"), headers=editor_headers)
    assert naive.status_code == 422
    beyond = page_body(status="scheduled", publish_at="9999-12-31T23:30:00-01:00")  # no such instant in UTC
    response = await client.post("/api/v1/content/pages", json=beyond, headers=editor_headers)
    assert response.status_code == 422 and response.json()["error"]["field"] == "publish_at"


async def test_stale_if_match_is_refused_with_412(client, create_page, editor_headers):
    page = await create_page()
    read = await client.get(f"/api/v1/content/pages/{page['id']}", headers=editor_headers)
    etag = read.headers["etag"]
    first = await client.put(f"/api/v1/content/pages/{page['id']}", json={"title": {"en": "Mine"}}, headers={**editor_headers, "If-Match": etag})
    assert first.status_code == 200 and first.headers["etag"] != etag
    second = await client.put(f"/api/v1/content/pages/{page['id']}", json={"title": {"en": "Theirs"}}, headers={**editor_headers, "If-Match": etag})
    assert second.status_code == 412 and second.json()["error"]["code"] == "PRECONDITION_FAILED"
    current = await client.get(f"/api/v1/content/pages/{page['id']}", headers=editor_headers)
    assert current.json()["title"] == {"en": "Mine"}


async def test_every_update_keeps_a_revision_and_one_can_be_restored(client, create_page, editor_headers):
    page = await create_page()
    url = f"/api/v1/content/pages/{page['id']}"
    await client.put(url, json={"title": {"en": "Second"}}, headers=editor_headers)
    await client.put(url, json={"title": {"en": "Third"}}, headers=editor_headers)
    revisions = (await client.get(f"{url}/revisions", headers=editor_headers)).json()
    assert revisions["total"] == 2
    assert [r["snapshot"]["title"]["en"] for r in revisions["items"]] == ["Second", "About us"]
    assert all(r["author_email"] == "editor@example.com" and r["created_at"] for r in revisions["items"])

    restored = await client.post(f"{url}/revisions/1/restore", headers=editor_headers)
    assert restored.status_code == 200 and restored.json()["title"]["en"] == "About us"
    after = (await client.get(f"{url}/revisions", headers=editor_headers)).json()
    assert after["total"] == 3 and after["items"][0]["snapshot"]["title"]["en"] == "Third"
    assert (await client.post(f"{url}/revisions/99/restore", headers=editor_headers)).status_code == 404


async def test_deleted_pages_are_hidden_except_to_admins_who_ask(client, create_page, admin_headers, editor_headers):
    page = await create_page()
    await client.delete(f"/api/v1/content/pages/{page['id']}", headers=admin_headers)
    assert (await client.get("/api/v1/content/pages", headers=admin_headers)).json()["total"] == 0
    assert (await client.get(f"/api/v1/content/pages/{page['id']}", headers=admin_headers)).status_code == 404
    shown = (await client.get("/api/v1/content/pages?include_deleted=true", headers=admin_headers)).json()
    assert shown["total"] == 1 and shown["items"][0]["deleted_at"]
    assert (await client.get("/api/v1/content/pages?include_deleted=true", headers=editor_headers)).status_code == 403
    refused = await client.post(f"/api/v1/content/pages/{page['id']}/restore", headers=editor_headers)
    assert refused.status_code == 403  # bringing a page back is an admin's call, like deleting it
    restored = await client.post(f"/api/v1/content/pages/{page['id']}/restore", headers=admin_headers)
    assert restored.status_code == 200 and restored.json()["deleted_at"] is None


async def test_search_ignores_case_beyond_ascii(client, create_page, editor_headers):
    await create_page("ueber-uns", title={"en": "About", "de": "Über uns"})
    await create_page("other", title={"en": "Other"})
    for search in ("über", "ÜBER", "Über"):
        found = (await client.get("/api/v1/content/pages", params={"q": search}, headers=editor_headers)).json()
        assert [page["slug"] for page in found["items"]] == ["ueber-uns"], search


async def test_list_filters_searches_titles_in_any_language_and_sorts(client, create_page, editor_headers):
    await create_page("alpha", title={"en": "Alpha", "de": "Erster"})
    await create_page("beta", title={"en": "Beta", "de": "Zweiter"}, status="published")
    await create_page("gamma", title={"en": "Gamma"})
    found = (await client.get("/api/v1/content/pages?q=zweit", headers=editor_headers)).json()
    assert [p["slug"] for p in found["items"]] == ["beta"]
    assert (await client.get("/api/v1/content/pages?q=en", headers=editor_headers)).json()["total"] == 0
    for wildcard in ("%", "_", "\\"):  # LIKE's wildcards are searched for literally, not matched against anything
        assert (await client.get("/api/v1/content/pages", params={"q": wildcard}, headers=editor_headers)).json()[
            "total"
        ] == 0
    published = (await client.get("/api/v1/content/pages?status=published", headers=editor_headers)).json()
    assert [p["slug"] for p in published["items"]] == ["beta"]
    by_slug = (await client.get("/api/v1/content/pages?sort=-slug", headers=editor_headers)).json()
    assert [p["slug"] for p in by_slug["items"]] == ["gamma", "beta", "alpha"]
    assert (await client.get("/api/v1/content/pages?sort=title", headers=editor_headers)).status_code == 422
