import hashlib
import os
from pathlib import Path

from features.media.tests.factories import PDF, docx_bytes, jpeg_bytes
from tests.factories import png_bytes


def stored_files(settings) -> list[str]:
    root = Path(settings.upload_dir)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


async def test_upload_stores_a_verified_image_under_a_generated_name(client, settings, upload):
    data = png_bytes(3, 2)
    response = await upload("Team Photo.png", data, alt_text='{"en": "The team", "de": "Das Team"}')
    assert response.status_code == 201, response.text
    item = response.json()
    assert item["mime_type"] == "image/png" and item["kind"] == "image"
    assert (item["width"], item["height"]) == (3, 2)
    assert item["size"] == len(data) and item["sha256"] == hashlib.sha256(data).hexdigest()
    assert item["filename"] == "Team Photo.png" and item["alt_text"] == {"en": "The team", "de": "Das Team"}
    assert item["url"].startswith("http://localhost:3036/api/v1/public/media/")
    [name] = stored_files(settings)
    assert name != "Team Photo.png" and name.endswith(".png") and item["url"].endswith(name)
    assert (Path(settings.upload_dir) / name).read_bytes() == data


async def test_public_url_serves_images_inline_with_safe_headers(client, upload):
    item = (await upload("logo.png", png_bytes())).json()
    response = await client.get(item["url"].removeprefix("http://localhost:3036"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "max-age=31536000" in response.headers["cache-control"]
    assert response.headers["content-disposition"].startswith("inline")


async def test_documents_are_served_as_attachments(client, upload):
    item = (await upload("brochure.pdf", PDF)).json()
    assert item["kind"] == "document" and item["width"] is None
    response = await client.get(item["url"].removeprefix("http://localhost:3036"))
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("attachment")
    docx = await upload("offer.docx", docx_bytes())
    assert docx.status_code == 201 and docx.json()["mime_type"].endswith("wordprocessingml.document")


async def test_range_requests_return_partial_content(client, upload):
    data = PDF
    item = (await upload("range.pdf", data)).json()
    response = await client.get(item["url"].removeprefix("http://localhost:3036"), headers={"Range": "bytes=0-4"})
    assert response.status_code == 206
    assert response.content == data[:5]
    assert response.headers["content-range"] == f"bytes 0-4/{len(data)}"


async def test_a_range_past_the_end_is_a_416_envelope_and_a_malformed_one_is_ignored(client, upload):
    data = PDF
    path = (await upload("range.pdf", data)).json()["url"].removeprefix("http://localhost:3036")
    beyond = await client.get(path, headers={"Range": "bytes=999999-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(data)}"
    assert beyond.json()["error"]["code"] == "RANGE_NOT_SATISFIABLE"
    for header in ("bytes=abc", "items=0-1", "bytes=5-1", "bytes"):  # RFC 9110: ignore, send the whole file
        whole = await client.get(path, headers={"Range": header})
        assert whole.status_code == 200 and whole.content == data, header


async def test_same_bytes_twice_return_the_existing_item(client, settings, upload):
    first = await upload("a.png", png_bytes())
    second = await upload("b.png", png_bytes())
    assert first.status_code == 201 and second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert len(stored_files(settings)) == 1


async def test_oversized_upload_is_cut_off_with_413_and_leaves_nothing(client, settings, upload):
    settings.max_file_size = 1000
    response = await upload("big.pdf", PDF + b"0" * 200_000)
    assert response.status_code == 413 and response.json()["error"]["code"] == "FILE_TOO_LARGE"
    assert stored_files(settings) == []


async def test_oversized_stream_without_length_is_cut_off_while_streaming(client, settings, editor_headers):
    settings.max_file_size = 10_000
    boundary = "xyz"
    sent = []

    async def body():
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n\r\n'.encode()
        for _ in range(1000):  # 1 MB in all, far more than allowed
            sent.append(1)
            yield PDF + b"0" * 1000
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await client.post(
        "/api/v1/content/media",
        content=body(),
        headers={**editor_headers, "content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413
    assert len(sent) < 50  # reading stopped soon after the limit, long before the body ended
    assert stored_files(settings) == []


def _patched_docx(header: bytes, offset: int, value: bytes, *, name: bytes = b"word/document.xml") -> bytes:
    """A docx-looking archive with one field of its central directory overwritten, as a fuzzer would."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
    data = buffer.getvalue().replace(b"word/document.xml", name.ljust(len(b"word/document.xml"), b"x"))
    at = data.rindex(header) + offset
    return data[:at] + value + data[at + len(value):]


async def test_a_stream_of_endless_small_fields_is_cut_off_too(client, settings, editor_headers):
    """Without Content-Length only the parser can stop a body that never gets to its file."""
    boundary = "xyz"
    sent = []

    async def body():
        for n in range(1500):  # 22 MB of 15 KB fields, each under the per-field limit
            sent.append(1)
            yield f'--{boundary}\r\nContent-Disposition: form-data; name="f{n}"\r\n\r\n'.encode() + b"v" * 15_000 + b"\r\n"
        yield f"--{boundary}--\r\n".encode()

    response = await client.post(
        "/api/v1/content/media",
        content=body(),
        headers={**editor_headers, "content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413 and response.json()["success"] is False
    assert len(sent) < 20
    assert stored_files(settings) == []


async def test_only_the_configured_file_types_are_accepted(client, settings, upload):
    settings.allowed_file_types = ["png"]
    refused = await upload("brochure.pdf", PDF)  # a genuine PDF, but not on this site's list
    assert refused.status_code == 415 and refused.json()["error"]["code"] == "UNSUPPORTED_FILE_TYPE"
    assert (await upload("logo.png", png_bytes())).status_code == 201


async def test_files_whose_bytes_do_not_match_their_extension_are_refused(client, settings, upload):
    cases = {
        "evil.png": b"<html><script>alert(1)</script></html>",
        "vector.png": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "photo.jpg": png_bytes(),  # a real image, but not what the name says
        "fake.pdf": b"MZ\x90\x00 not a pdf",
        "fake.docx": b"PK\x03\x04 broken zip",
        "tool.exe": b"MZ\x90\x00",
        "drawing.svg": b"<svg/>",
        "noextension": png_bytes(),
        "header-only.pdf": b"%PDF-1.4\n<html><script>alert(1)</script></html>",
        "future.docx": _patched_docx(b"PK\x01\x02", 6, b"\xff\x00"),  # needs zip version 25.5 to extract
        "badname.docx": _patched_docx(b"PK\x01\x02", 8, b"\x00\x08", name=b"\xff\xfe.xml"),  # UTF-8 flag, not UTF-8
    }
    for filename, data in cases.items():
        response = await upload(filename, data)
        assert response.status_code == 415, filename
        assert response.json()["error"]["code"] == "UNSUPPORTED_FILE_TYPE"
    assert stored_files(settings) == []
    assert (await upload("real.jpg", jpeg_bytes())).status_code == 201


async def test_path_tricks_in_the_filename_are_harmless(client, settings, upload, tmp_path):
    response = await upload("../../../etc/passwd.png", png_bytes())
    assert response.status_code == 201
    assert response.json()["filename"] == "passwd.png"
    assert len(stored_files(settings)) == 1
    assert not (tmp_path / "etc").exists() and not os.path.exists("/etc/passwd.png")


async def test_bad_alt_text_and_missing_file_are_422(client, upload, editor_headers):
    assert (await upload("a.png", png_bytes(), alt_text="not json")).status_code == 422
    deep = await upload("a.png", png_bytes(), alt_text="[" * 5000 + "]" * 5000)  # exhausts a recursive parser
    assert deep.status_code == 422 and deep.json()["error"]["field"] == "alt_text"
    unknown = await upload("a.png", png_bytes(), alt_text='{"fr": "x"}')
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "alt_text.fr"
    no_file = await client.post("/api/v1/content/media", data={"alt_text": "{}"}, headers=editor_headers)
    assert no_file.status_code == 422 and no_file.json()["error"]["field"] == "file"
    not_multipart = await client.post("/api/v1/content/media", json={"file": "x"}, headers=editor_headers)
    assert not_multipart.status_code == 422


async def test_viewers_cannot_upload(upload, viewer_headers):
    assert (await upload("a.png", png_bytes(), headers=viewer_headers)).status_code == 403


async def test_list_filters_by_type(client, upload, viewer_headers):
    await upload("a.png", png_bytes())
    await upload("b.pdf", PDF)
    images = (await client.get("/api/v1/content/media?type=image", headers=viewer_headers)).json()
    documents = (await client.get("/api/v1/content/media?type=document", headers=viewer_headers)).json()
    assert [i["filename"] for i in images["items"]] == ["a.png"]
    assert [i["filename"] for i in documents["items"]] == ["b.pdf"]
    assert (await client.get("/api/v1/content/media?type=video", headers=viewer_headers)).status_code == 422


async def test_admin_delete_removes_record_and_file(client, settings, upload, admin_headers, editor_headers):
    item = (await upload("a.png", png_bytes())).json()
    assert (await client.delete(f"/api/v1/content/media/{item['id']}", headers=editor_headers)).status_code == 403
    assert (await client.delete(f"/api/v1/content/media/{item['id']}", headers=admin_headers)).status_code == 204
    assert stored_files(settings) == []
    assert (await client.get(item["url"].removeprefix("http://localhost:3036"))).status_code == 404
    assert (await client.delete(f"/api/v1/content/media/{item['id']}", headers=admin_headers)).status_code == 404


async def test_delete_is_refused_while_something_references_the_item(app, client, settings, upload, admin_headers):
    """A referencing slice holds a foreign key with ON DELETE RESTRICT; the refusal becomes 409 IN_USE."""
    from sqlalchemy import text

    item = (await upload("cover.png", png_bytes())).json()
    async with app.state.db.session() as session:
        await session.exec(
            text(
                "CREATE TABLE referrer (id INTEGER PRIMARY KEY, "
                "media_id INTEGER NOT NULL REFERENCES media_items(id) ON DELETE RESTRICT)"
            )
        )
        # The id spelled out: INTEGER PRIMARY KEY numbers rows itself on SQLite only.
        await session.exec(text("INSERT INTO referrer (id, media_id) VALUES (1, :media)").bindparams(media=item["id"]))
    response = await client.delete(f"/api/v1/content/media/{item['id']}", headers=admin_headers)
    assert response.status_code == 409 and response.json()["error"]["code"] == "IN_USE"
    assert len(stored_files(settings)) == 1
    assert (await client.get(f"/api/v1/content/media/{item['id']}", headers=admin_headers)).status_code == 200


async def test_private_items_are_not_served_publicly(app, client, upload):
    from sqlalchemy import text

    item = (await upload("secret.pdf", PDF)).json()
    async with app.state.db.session() as session:
        await session.exec(
            text("UPDATE media_items SET is_public = :public WHERE id = :id").bindparams(public=False, id=item["id"])
        )
    assert (await client.get(item["url"].removeprefix("http://localhost:3036"))).status_code == 404


async def test_malformed_multipart_is_a_422_and_leaves_nothing(client, settings, editor_headers):
    body = b"--b\r\n[{'junk': 1}]--b--\r\n"
    response = await client.post(
        "/api/v1/content/media",
        content=body,
        headers={**editor_headers, "content-type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert stored_files(settings) == []


async def test_the_worker_sets_aside_files_no_record_points_at_and_deletes_them_a_week_later(app, settings, upload):
    from features.media.api import JOBS
    from shared.jobs import JobContext, JobRunner

    root = Path(settings.upload_dir)
    kept_name = (await upload("kept.png", png_bytes())).json()["url"].rsplit("/", 1)[1]
    old_orphan = root / ("a" * 32 + ".pdf")  # a record rolled back after the file was moved into place
    new_orphan = root / ("b" * 32 + ".pdf")  # may still be on its way to a commit
    stalled = root / ".incoming" / "upload-x1"  # a process died mid-upload
    foreign = root / "robots.txt"  # not a name the store generates
    long_set_aside = root / ".orphaned" / ("c" * 32 + ".png")
    long_set_aside.parent.mkdir()
    for path in (old_orphan, new_orphan, stalled, foreign, long_set_aside):
        path.write_bytes(b"x")
    now = os.path.getmtime(new_orphan)
    for path, age in (
        (old_orphan, 7200),
        (stalled, 7200),
        (foreign, 7200),
        (root / kept_name, 7200),
        (long_set_aside, 8 * 86400),
    ):
        os.utime(path, (now - age, now - age))

    context = JobContext(database=app.state.db, settings=settings, mailer=app.state.mailer)
    assert await JobRunner(context, JOBS, mode="in-process").run_due_jobs() == ["sweep_orphan_media_files"]
    assert stored_files(settings) == sorted(
        [kept_name, new_orphan.name, "robots.txt", f".orphaned/{old_orphan.name}", ".orphaned/upload-x1"]
    )
    # Set aside, not lost: an operator who restored an older database can still move it back.
    assert (root / ".orphaned" / old_orphan.name).read_bytes() == b"x"


async def test_the_sweep_copes_with_an_upload_dir_that_does_not_exist_yet(app, settings, tmp_path):
    """`magnetiq worker` runs without the API's lifespan, which is what creates UPLOAD_DIR."""
    from features.media.service import sweep_orphan_files

    settings.upload_dir = str(tmp_path / "not-yet")
    async with app.state.db.session(write=False) as session:
        assert await sweep_orphan_files(session, settings=settings) == 0
    assert not (tmp_path / "not-yet").exists()


async def test_a_control_character_or_lone_surrogate_in_alt_text_is_422_and_nothing_is_stored(
    client, upload, editor_headers, settings
):
    cases = {
        '{"en": "Team\\u0000photo"}': "alt_text.en",
        '{"en": "Team", "de": "Zwei\\nZeilen"}': "alt_text.de",
        '{"en": "\\ud800"}': "alt_text.en",
        '{"\\ud800": "Team"}': None,  # a key that is no language code; its location is not echoed raw
    }
    for alt_text, field in cases.items():
        response = await upload("team.png", png_bytes(), alt_text=alt_text)
        assert response.status_code == 422, (alt_text, response.text)
        if field is not None:
            assert response.json()["error"]["field"] == field
    assert (await client.get("/api/v1/content/media", headers=editor_headers)).json()["total"] == 0
    assert stored_files(settings) == []
