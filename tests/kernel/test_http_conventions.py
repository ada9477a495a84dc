"""HTTP details a real client trips over: HEAD, Allow, 204 bodies, the bare address, busy pools, body limits."""

from __future__ import annotations

import asyncio
import logging

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text

from features.media.tests.conftest import upload as upload  # a fixture
from features.media.tests.factories import PDF
from features.pages.tests.conftest import create_page as create_page  # a fixture
from magnetiq.app import create_app
from shared.logging import MAX_LOGGED_PATH, loggable_path

MIB = 1024 * 1024


async def test_head_is_answered_wherever_get_is_with_the_same_headers_and_no_body(client, create_page):
    await create_page("about-us", status="published")
    for path in ("/api/v1/health", "/api/v1/public/pages/about-us", "/api/v1/public/pages/about-us",  # miss, then hit
                 "/api/v1/business/webinars", "/"):
        get, head = await client.get(path), await client.head(path)
        assert head.status_code == get.status_code == 200, (path, head.status_code)
        assert head.content == b"", path
        assert head.headers["content-type"] == get.headers["content-type"], path
        assert head.headers.get("etag") == get.headers.get("etag"), path


async def test_head_of_a_public_file_sends_its_length_and_not_its_bytes(client, upload):
    item = (await upload("brochure.pdf", PDF)).json()
    path = item["url"].removeprefix("http://localhost:3036")
    head = await client.head(path)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(PDF)) and head.headers["content-type"] == "application/pdf"


async def test_a_405_lists_every_method_of_the_path(client):
    response = await client.patch("/api/v1/content/pages/1")
    assert response.status_code == 405 and response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert response.headers["allow"] == "DELETE, GET, HEAD, PUT"
    assert (await client.head("/api/v1/auth/login")).headers["allow"] == "POST"


async def test_a_204_carries_no_content_type(client, create_page, admin_headers):
    page = await create_page("to-delete")
    response = await client.delete(f"/api/v1/content/pages/{page['id']}", headers=admin_headers)
    assert response.status_code == 204 and response.content == b""
    assert "content-type" not in response.headers and "x-request-id" in response.headers


async def test_the_bare_address_points_newcomers_to_the_docs(client):
    response = await client.get("/")
    assert response.status_code == 200
    body = response.json()
    assert body["docs"] == "/docs" and body["openapi"] == "/openapi.json" and body["health"] == "/api/v1/health"


async def test_a_long_path_is_logged_cut_with_its_length(client, caplog):
    path = "/api/v1/nothing/" + "x" * 6_000
    with caplog.at_level(logging.INFO, logger="magnetiq.access"):
        response = await client.get(path)
    assert response.status_code == 404
    [record] = [r for r in caplog.records if r.name == "magnetiq.access"]
    assert len(record.path) <= MAX_LOGGED_PATH + 1 and record.path_length == len(path)


def test_redaction_reads_each_character_a_bounded_number_of_times():
    """A correctness bound, not a timing target: the old look-ahead took minutes on this input."""
    import time

    started = time.perf_counter()
    cut = loggable_path({"path": "/" + "a" * 2_000_000 + "/" + "aB" * 500_000})
    assert time.perf_counter() - started < 2
    assert len(cut) <= MAX_LOGGED_PATH + 1


async def test_an_exhausted_connection_pool_is_a_503_not_a_500(settings):
    settings.database_pool_size, settings.database_max_overflow = 1, 0
    settings.database_pool_timeout_seconds = 0.2
    app = create_app(settings)
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
            async with app.state.db.engine.connect() as held:  # the pool's only connection
                await held.execute(text("SELECT 1"))
                routed = await client.get("/api/v1/business/webinars")
                fast_path = await client.get("/api/v1/public/pages/about-us")  # answered before routing
            after = await client.get("/api/v1/business/webinars")
    finally:
        await app.state.db.dispose()
    for response in (routed, fast_path):
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "SERVICE_BUSY" and response.headers["retry-after"] == "1"
    assert after.status_code != 503


async def test_a_json_body_past_the_limit_is_a_413_in_the_envelope(client, settings):
    body = b'{"email": "' + b"a" * (settings.max_request_body_bytes + 1) + b'"}'
    response = await client.post("/api/v1/auth/login", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "PAYLOAD_TOO_LARGE" and str(settings.max_request_body_bytes) in error["message"]


async def test_uploads_keep_their_own_larger_limit(client, settings, upload):
    settings.max_file_size = 3 * MIB
    big_pdf = PDF[:-6] + b"%" + b"x" * (2 * MIB) + b"\n%%EOF\n"
    accepted = await upload("big.pdf", big_pdf)
    assert accepted.status_code == 201, accepted.text
    refused = await upload("bigger.pdf", big_pdf + b"y" * (2 * MIB))
    assert refused.status_code == 413 and refused.json()["error"]["code"] == "FILE_TOO_LARGE"


@pytest.mark.parametrize("status", ["503", "414", "413"])
def test_openapi_declares_busy_and_too_long_everywhere_and_too_large_wherever_a_body_is_read(app, status):
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            if status != "413" or "requestBody" in operation:
                assert status in operation["responses"], (method, path, status)


async def _asgi(app, method: str, path: str, *, headers=(), body: bytes = b"") -> list[dict]:
    """One request straight through the ASGI app; every message it sends."""
    sent: list[dict] = []
    chunks = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict:
        if chunks:
            return chunks.pop(0)
        await asyncio.Event().wait()  # the client stays connected until the response is done
        raise AssertionError("unreachable")

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in headers], "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80), "app": app,
    }
    await app(scope, receive, send)
    return sent


async def test_head_of_a_file_does_not_read_it(app, upload):
    big_pdf = PDF[:-6] + b"%" + b"x" * (300 * 1024) + b"\n%%EOF\n"
    item = (await upload("big.pdf", big_pdf)).json()
    path = item["url"].removeprefix("http://localhost:3036")
    head = await _asgi(app, "HEAD", path)
    get = await _asgi(app, "GET", path)
    bodies = [m for m in head if m["type"] == "http.response.body"]
    assert len(bodies) == 1 and bodies[0]["body"] == b""  # headers only: no chunk was read
    assert len([m for m in get if m["type"] == "http.response.body"]) > 2  # a GET streams it in chunks


async def test_refusals_of_size_keep_their_cors_headers(client):
    origin = {"Origin": "http://localhost:8036"}
    too_long = await client.get("/api/v1/health", params={"q": "x" * 9_000}, headers=origin)
    assert too_long.status_code == 414 and too_long.headers["access-control-allow-origin"] == "http://localhost:8036"
    declared = await client.post(
        "/api/v1/auth/login", content=b"{" + b" " * (2 * MIB) + b"}",
        headers={**origin, "content-type": "application/json"},
    )
    assert declared.status_code == 413 and declared.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert declared.headers["access-control-allow-origin"] == "http://localhost:8036"


async def test_an_upload_declared_past_every_limit_names_the_file_size_allowed(app, settings, editor_headers):
    sent = await _asgi(app, "POST", "/api/v1/content/media", headers=[
        *editor_headers.items(), ("content-type", "multipart/form-data; boundary=x"),
        ("content-length", str(2 * 1024**3)),
    ], body=b"--x\r\n")
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert start["status"] == 413
    error = __import__("json").loads(body)["error"]
    assert error["code"] == "FILE_TOO_LARGE" and str(settings.max_file_size) in error["message"]


async def test_a_405_from_a_mounted_app_keeps_its_allow_header(client):
    response = await client.post("/static-offline-docs/swagger-ui.css")
    assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD"


def test_the_openapi_description_points_to_documents_the_repository_has(app):
    description = app.openapi()["info"]["description"]
    assert "CONTRACT.md" not in description and "README" in description
