import io
import json
import logging

from fastapi import APIRouter

from magnetiq.app import create_app
from shared.logging import JsonFormatter


async def test_unknown_path_is_a_404_in_the_envelope(client):
    response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {
        "success": False, "error": {"code": "NOT_FOUND", "message": "Not Found", "field": None, "details": []}
    }


async def test_wrong_method_is_a_405_in_the_envelope(client):
    response = await client.delete("/api/v1/health")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


async def test_validation_errors_name_the_field_and_never_echo_input(client):
    response = await client.post("/api/v1/auth/login", json={"email": "not-an-email", "password": "s3cret-value"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and error["field"] == "email"
    assert "s3cret-value" not in response.text


async def test_malformed_json_is_a_client_error(client):
    response = await client.post("/api/v1/auth/login", content=b"{not json", headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500
    assert response.json()["success"] is False


async def test_unhandled_error_is_a_500_envelope_with_request_id_and_no_internals(settings):
    app = create_app(settings)
    boom = APIRouter()

    @boom.get("/api/v1/boom")
    async def explode() -> None:
        raise RuntimeError("secret internals /etc/passwd SELECT * FROM admin_users")

    app.include_router(boom)
    from httpx import ASGITransport, AsyncClient

    async with AsyncClient(transport=ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t") as client:
        response = await client.get("/api/v1/boom", headers={"X-Request-ID": "trace-me-123"})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "INTERNAL_ERROR"
    assert "secret" not in response.text and "SELECT" not in response.text and "passwd" not in response.text
    assert response.headers["x-request-id"] == "trace-me-123"
    await app.state.db.dispose()


async def test_the_drivers_own_lock_error_is_a_503_and_its_other_errors_a_500(settings):
    import sqlite3

    from httpx import ASGITransport, AsyncClient

    app = create_app(settings)
    raw = APIRouter()

    @raw.post("/api/v1/raw/{what}")
    async def fail(what: str) -> None:
        raise sqlite3.OperationalError("database is locked" if what == "locked" else "disk I/O error")

    app.include_router(raw)
    async with AsyncClient(transport=ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t") as client:
        locked = await client.post("/api/v1/raw/locked")
        broken = await client.post("/api/v1/raw/broken")
    assert locked.status_code == 503 and locked.headers["retry-after"] == "1"
    assert locked.json()["error"]["code"] == "SERVICE_BUSY"
    assert broken.status_code == 500 and "disk" not in broken.text
    await app.state.db.dispose()


async def test_every_response_carries_a_request_id(client):
    generated = await client.get("/api/v1/health")
    assert len(generated.headers["x-request-id"]) == 32
    echoed = await client.get("/api/v1/health", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    hostile = await client.get("/api/v1/health", headers={"X-Request-ID": "a" * 500})
    assert hostile.headers["x-request-id"] != "a" * 500


async def test_cors_allows_configured_origins_only(client):
    preflight = {"Origin": "http://localhost:8036", "Access-Control-Request-Method": "POST"}
    allowed = await client.options("/api/v1/auth/login", headers=preflight)
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:8036"
    refused = await client.options("/api/v1/auth/login", headers={**preflight, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in refused.headers
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "CORS_NOT_ALLOWED"
    assert "origin" in refused.json()["error"]["message"]


async def test_access_log_is_json_without_query_strings_or_bodies(client):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logging.getLogger("magnetiq").addHandler(handler)
    try:
        await client.post("/api/v1/auth/reset-password?token=leaky", json={"token": "t0ken-value", "new_password": "p4ssw0rd-value"})
    finally:
        logging.getLogger("magnetiq").removeHandler(handler)
    logged = stream.getvalue()
    assert all(json.loads(line)["request_id"] for line in logged.splitlines())
    assert '"path": "/api/v1/auth/reset-password"' in logged
    for secret in ("leaky", "t0ken-value", "p4ssw0rd-value"):
        assert secret not in logged


def test_logging_setup_silences_loggers_that_print_urls():
    """uvicorn's access log and httpx's request log print whole URLs, query strings and tokens included;
    aiosqlite's debug log prints every statement's bound values."""
    from shared.logging import configure_logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging(debug=True)
        assert logging.getLogger("uvicorn.access").disabled
        assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
        assert not logging.getLogger("aiosqlite").isEnabledFor(logging.DEBUG)  # it logs bound values
        assert logging.getLogger("magnetiq.access").isEnabledFor(logging.DEBUG)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        logging.getLogger("uvicorn.access").disabled = False
        logging.getLogger("httpx").setLevel(logging.NOTSET)
        logging.getLogger("httpcore").setLevel(logging.NOTSET)
        logging.getLogger("aiosqlite").setLevel(logging.NOTSET)


def test_logged_paths_keep_slugs_and_file_names_but_not_token_like_segments():
    from shared.logging import loggable_path

    slug = "/api/v1/public/pages/how-to-build-a-marketing-funnel-for-b2b-saas-companies-in-2027"
    media = "/api/v1/public/media/0123456789abcdef0123456789abcdef.pdf"
    assert loggable_path({"path": slug}) == slug and loggable_path({"path": media}) == media
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMiJ9.Q2xh_c3NpZmllZA-abc"
    assert loggable_path({"path": f"/x/{token}/y"}) == "/x/{redacted}/y"


def test_the_error_envelope_in_the_document_is_what_fastapi_writes_for_the_model(app):
    """error_responses references the envelope instead of naming it as every route's `model` (an adapter
    per route and status in every app); the document must not tell the difference."""
    from fastapi import FastAPI

    from shared.errors import ErrorResponse, error_responses
    from shared.examples import restore_null_examples

    reference = FastAPI()

    @reference.get("/thing", responses={404: {"model": ErrorResponse, "description": "Not Found"}})
    async def thing() -> None: ...

    expected = reference.openapi()
    restore_null_examples(expected, reference.routes)
    document = app.openapi()

    for name in ("ErrorResponse", "ErrorDetail"):
        assert json.dumps(document["components"]["schemas"][name]) == json.dumps(expected["components"]["schemas"][name])
    assert error_responses(404)[404] == expected["paths"]["/thing"]["get"]["responses"]["404"]
    assert json.dumps(error_responses(404)[404]) == json.dumps(expected["paths"]["/thing"]["get"]["responses"]["404"])
    envelope = {"$ref": "#/components/schemas/ErrorResponse"}
    errors = {(method, path, status): response["content"]["application/json"]["schema"]
              for path, operations in document["paths"].items() for method, operation in operations.items()
              for status, response in operation["responses"].items() if status[0] in "45"}
    assert len(errors) > 400
    assert [where for where, schema in errors.items() if schema != envelope] == [("get", "/api/v1/health", "503")]
