from features.whitepapers.tests.factories import BASE, local, pdf_bytes, whitepaper_body
from tests.factories import png_bytes

STAFF_ONLY_FIELDS = {"document_media_id", "cover_media_id", "status", "download_count", "created_at", "updated_at"}


async def test_editor_creates_a_whitepaper_with_every_field(client, editor_headers, new_document, upload_media):
    document = await new_document()
    cover = await upload_media("cover.png", png_bytes())
    body = whitepaper_body(document["id"], "energy-guide", cover_media_id=cover["id"], language="de")
    response = await client.post(BASE, json=body, headers=editor_headers)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["slug"] == "energy-guide" and created["language"] == "de"
    assert created["title"] == body["title"] and created["summary"] == body["summary"]
    assert created["document_media_id"] == document["id"] and created["cover_media_id"] == cover["id"]
    assert created["cover_url"] == cover["url"]
    assert created["status"] == "published" and created["published_at"] is not None
    assert created["download_count"] == 0


async def test_a_draft_has_no_publication_time_until_published(client, editor_headers, create_whitepaper):
    draft = await create_whitepaper(status="draft")
    assert draft["published_at"] is None
    response = await client.put(f"{BASE}/{draft['id']}", json={"status": "published"}, headers=editor_headers)
    assert response.status_code == 200 and response.json()["published_at"] is not None


async def test_writing_needs_an_editor(client, viewer_headers, new_document):
    body = whitepaper_body((await new_document())["id"])
    assert (await client.post(BASE, json=body)).status_code == 401
    refused = await client.post(BASE, json=body, headers=viewer_headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "INSUFFICIENT_PERMISSIONS"


async def test_slug_is_unique_among_live_whitepapers(client, admin_headers, editor_headers, create_whitepaper):
    first = await create_whitepaper("taken")
    again = await client.post(BASE, json=whitepaper_body(first["document_media_id"], "taken"), headers=editor_headers)
    assert again.status_code == 409 and again.json()["error"] == {
        "code": "SLUG_TAKEN", "message": "Another item already uses this slug", "field": "slug", "details": [],
    }
    other = await create_whitepaper("other")
    renamed = await client.put(f"{BASE}/{other['id']}", json={"slug": "taken"}, headers=editor_headers)
    assert renamed.status_code == 409 and renamed.json()["error"]["code"] == "SLUG_TAKEN"

    assert (await client.delete(f"{BASE}/{first['id']}", headers=admin_headers)).status_code == 204
    reused = await client.post(BASE, json=whitepaper_body(first["document_media_id"], "taken"), headers=editor_headers)
    assert reused.status_code == 201


async def test_invalid_fields_are_refused_with_the_field(client, editor_headers, new_document, upload_media):
    document_id = (await new_document())["id"]
    cases = {
        "slug": whitepaper_body(document_id, "Not A Slug"),
        "title.en": whitepaper_body(document_id, title={"de": "Nur Deutsch"}),
        "summary.fr": whitepaper_body(document_id, summary={"en": "x", "fr": "y"}),
        "language": whitepaper_body(document_id, language="fr"),
        "status": whitepaper_body(document_id, status="archived"),
        "document_media_id": whitepaper_body(999_999),
    }
    for field, body in cases.items():
        response = await client.post(BASE, json=body, headers=editor_headers)
        assert response.status_code == 422, (field, response.text)
        assert response.json()["error"]["field"] == field


async def test_the_document_must_be_a_document_and_the_cover_an_image(client, editor_headers, upload_media, new_document):
    image = await upload_media("photo.png", png_bytes())
    as_document = await client.post(BASE, json=whitepaper_body(image["id"]), headers=editor_headers)
    assert as_document.status_code == 422 and as_document.json()["error"]["field"] == "document_media_id"
    document = await new_document()
    as_cover = await client.post(
        BASE, json=whitepaper_body(document["id"], cover_media_id=document["id"]), headers=editor_headers
    )
    assert as_cover.status_code == 422 and as_cover.json()["error"]["field"] == "cover_media_id"


async def test_update_changes_fields_and_refuses_nulls(client, editor_headers, viewer_headers, create_whitepaper):
    whitepaper = await create_whitepaper()
    url = f"{BASE}/{whitepaper['id']}"
    response = await client.put(url, json={"title": {"en": "New title"}, "cover_media_id": None}, headers=editor_headers)
    assert response.status_code == 200 and response.json()["title"] == {"en": "New title"}
    assert response.json()["updated_at"] >= whitepaper["updated_at"]
    for field in ("slug", "title", "document_media_id", "status"):
        refused = await client.put(url, json={field: None}, headers=editor_headers)
        assert refused.status_code == 422 and refused.json()["error"]["field"] == field
    assert (await client.put(url, json={"status": "draft"}, headers=viewer_headers)).status_code == 403
    assert (await client.put(f"{BASE}/424242", json={}, headers=editor_headers)).status_code == 404


async def test_delete_is_admin_only_and_soft(client, admin_headers, editor_headers, create_whitepaper):
    whitepaper = await create_whitepaper()
    url = f"{BASE}/{whitepaper['id']}"
    assert (await client.delete(url, headers=editor_headers)).status_code == 403
    assert (await client.delete(url, headers=admin_headers)).status_code == 204
    assert (await client.get(url, headers=admin_headers)).status_code == 404
    assert (await client.get(url)).status_code == 404
    assert (await client.get(BASE, headers=admin_headers)).json()["total"] == 0
    assert (await client.delete(url, headers=admin_headers)).status_code == 404
    # Soft: the row and its leads stay, so the leads list still answers.
    assert (await client.get(f"{url}/downloads", headers=admin_headers)).status_code == 200


async def test_visitors_see_only_published_whitepapers(client, viewer_headers, create_whitepaper):
    published = await create_whitepaper("published-one")
    draft = await create_whitepaper("draft-one", status="draft")
    listed = (await client.get(BASE)).json()
    assert [item["slug"] for item in listed["items"]] == ["published-one"] and listed["total"] == 1
    assert (await client.get(f"{BASE}/{published['id']}")).status_code == 200
    hidden = await client.get(f"{BASE}/{draft['id']}")
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "NOT_FOUND"
    assert (await client.get(BASE, params={"status": "draft"})).json()["total"] == 0

    staff = (await client.get(BASE, headers=viewer_headers)).json()
    assert {item["slug"]: item["status"] for item in staff["items"]} == {"published-one": "published", "draft-one": "draft"}
    assert (await client.get(f"{BASE}/{draft['id']}", headers=viewer_headers)).json()["status"] == "draft"


async def test_visitors_never_see_the_file_url_or_media_internals(client, upload_media, new_document, create_whitepaper):
    document = await new_document()
    cover = await upload_media("cover.png", png_bytes(color=(1, 2, 3)))
    whitepaper = await create_whitepaper(document_media_id=document["id"], cover_media_id=cover["id"])
    stored_name = document["url"].rsplit("/", 1)[-1]
    for response in (await client.get(BASE), await client.get(f"{BASE}/{whitepaper['id']}")):
        assert response.status_code == 200
        assert stored_name not in response.text and document["sha256"] not in response.text
        assert "/file" not in response.text and "token" not in response.text
    view = (await client.get(f"{BASE}/{whitepaper['id']}")).json()
    assert not STAFF_ONLY_FIELDS & set(view)
    assert view["cover_url"] == cover["url"] and view["title"] == whitepaper["title"]


async def test_a_bad_token_is_refused_not_treated_as_a_visitor(client):
    response = await client.get(BASE, headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401


async def test_list_filters_and_sorts(client, editor_headers, create_whitepaper):
    await create_whitepaper("english-one", language="en")
    await create_whitepaper("german-one", language="de")
    assert [i["slug"] for i in (await client.get(BASE, params={"language": "de"})).json()["items"]] == ["german-one"]
    assert [i["slug"] for i in (await client.get(BASE, params={"slug": "english-one"})).json()["items"]] == ["english-one"]
    by_slug = (await client.get(BASE, params={"sort": "slug"})).json()["items"]
    assert [i["slug"] for i in by_slug] == ["english-one", "german-one"]
    bad = await client.get(BASE, params={"sort": "secret"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "sort"


async def test_a_referenced_document_leaves_its_public_url(client, editor_headers, new_document, create_whitepaper):
    document = await new_document()
    assert (await client.get(local(document["url"]))).status_code == 200
    await create_whitepaper(document_media_id=document["id"])
    gone = await client.get(local(document["url"]))
    assert gone.status_code == 404 and gone.json()["success"] is False
    item = (await client.get(f"/api/v1/content/media/{document['id']}", headers=editor_headers)).json()
    # Renamed, not just hidden: the name that was public (in pages, mails, caches) names nothing any more.
    assert item["is_public"] is False and item["url"] != document["url"]


async def test_a_document_whose_file_is_gone_can_still_be_attached(client, settings, new_document, create_whitepaper):
    from pathlib import Path

    document = await new_document()
    (Path(settings.upload_dir) / document["url"].rsplit("/", 1)[1]).unlink()
    whitepaper = await create_whitepaper(document_media_id=document["id"])  # not a 500
    assert whitepaper["document_media_id"] == document["id"]


async def test_a_document_made_private_is_still_served_by_its_links_and_its_old_name_is_swept(
    app, client, settings, new_document, create_whitepaper
):
    import os
    from pathlib import Path

    from features.media.api import JOBS as MEDIA_JOBS
    from features.whitepapers.tests.factories import visitor
    from shared.jobs import JobContext, JobRunner

    document = await new_document()
    old_file = Path(settings.upload_dir) / document["url"].rsplit("/", 1)[1]
    whitepaper = await create_whitepaper(document_media_id=document["id"])
    link = (await client.post(f"{BASE}/{whitepaper['id']}/download", json=visitor())).json()["download_url"]
    assert (await client.get(local(link))).content == old_file.read_bytes()
    two_hours_ago = os.path.getmtime(old_file) - 2 * 3600
    os.utime(old_file, (two_hours_ago, two_hours_ago))  # both names: they are one file
    context = JobContext(database=app.state.db, settings=settings, mailer=app.state.mailer)
    assert await JobRunner(context, MEDIA_JOBS, mode="in-process").run_due_jobs() == ["sweep_orphan_media_files"]
    assert not old_file.exists() and (await client.get(local(link))).status_code == 200  # the old name only


async def test_a_new_document_given_by_update_leaves_its_public_url(client, editor_headers, new_document, create_whitepaper):
    whitepaper = await create_whitepaper()
    replacement = await new_document()
    response = await client.put(
        f"{BASE}/{whitepaper['id']}", json={"document_media_id": replacement["id"]}, headers=editor_headers
    )
    assert response.status_code == 200 and response.json()["document_media_id"] == replacement["id"]
    assert (await client.get(local(replacement["url"]))).status_code == 404


async def test_uploading_through_the_slice_stores_a_private_document(client, editor_headers, viewer_headers):
    data = pdf_bytes("uploaded-here")
    files = {"file": ("Guide.pdf", data, "application/pdf")}
    response = await client.post(f"{BASE}/documents", files=files, headers=editor_headers)
    assert response.status_code == 201, response.text
    item = response.json()
    assert item["is_public"] is False and item["kind"] == "document" and item["size"] == len(data)
    assert (await client.get(local(item["url"]))).status_code == 404
    again = await client.post(f"{BASE}/documents", files=files, headers=editor_headers)
    assert again.status_code == 200 and again.json()["id"] == item["id"]
    created = await client.post(BASE, json=whitepaper_body(item["id"]), headers=editor_headers)
    assert created.status_code == 201
    assert (await client.post(f"{BASE}/documents", files=files, headers=viewer_headers)).status_code == 403


async def test_uploading_bytes_that_were_public_makes_them_private(client, editor_headers, upload_media):
    data = pdf_bytes("first-public")
    public = await upload_media("public.pdf", data)
    response = await client.post(f"{BASE}/documents", files={"file": ("again.pdf", data)}, headers=editor_headers)
    assert response.status_code == 200 and response.json()["id"] == public["id"]
    assert response.json()["is_public"] is False
    assert (await client.get(local(public["url"]))).status_code == 404


async def test_a_private_documents_bytes_cannot_be_uploaded_again_as_public_media(client, editor_headers, upload_media):
    data = pdf_bytes("private-first")
    files = {"file": ("Guide.pdf", data, "application/pdf")}
    assert (await client.post(f"{BASE}/documents", files=files, headers=editor_headers)).status_code == 201
    again = await client.post("/api/v1/content/media", files=files, headers=editor_headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "FILE_IS_PRIVATE"


async def test_document_upload_refuses_images_and_fakes(client, editor_headers):
    image = await client.post(f"{BASE}/documents", files={"file": ("cover.png", png_bytes())}, headers=editor_headers)
    assert image.status_code == 415 and image.json()["error"]["code"] == "UNSUPPORTED_FILE_TYPE"
    fake = await client.post(f"{BASE}/documents", files={"file": ("fake.pdf", b"MZ not a pdf")}, headers=editor_headers)
    assert fake.status_code == 415
    nothing = await client.post(f"{BASE}/documents", data={"other": "x"}, files={"x": ("a", b"")}, headers=editor_headers)
    assert nothing.status_code == 422


async def test_media_used_by_a_whitepaper_cannot_be_deleted(client, admin_headers, upload_media, create_whitepaper):
    cover = await upload_media("cover.png", png_bytes(color=(9, 9, 9)))
    whitepaper = await create_whitepaper(cover_media_id=cover["id"])
    for media_id in (whitepaper["document_media_id"], cover["id"]):
        response = await client.delete(f"/api/v1/content/media/{media_id}", headers=admin_headers)
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "IN_USE"
    # Once the cover is no longer used, it can go.
    await client.put(f"{BASE}/{whitepaper['id']}", json={"cover_media_id": None}, headers=admin_headers)
    assert (await client.delete(f"/api/v1/content/media/{cover['id']}", headers=admin_headers)).status_code == 204


async def test_control_characters_in_title_or_summary_are_422_and_nothing_is_stored(client, editor_headers, new_document):
    document_id = (await new_document())["id"]
    cases = {
        "title.en": whitepaper_body(document_id, title={"en": "Grid\u0000storage"}),
        "title.de": whitepaper_body(document_id, title={"en": "Guide", "de": "Zwei\nZeilen"}),
        "summary.en": whitepaper_body(document_id, summary={"en": "Colour \u001b[31m"}),
    }
    for field, body in cases.items():
        response = await client.post(BASE, json=body, headers=editor_headers)
        assert response.status_code == 422, (field, response.text)
        assert response.json()["error"]["field"] == field
    assert (await client.get(BASE, headers=editor_headers)).json()["total"] == 0
    multi_line = whitepaper_body(document_id, summary={"en": "First.\nSecond."})
    assert (await client.post(BASE, json=multi_line, headers=editor_headers)).status_code == 201
