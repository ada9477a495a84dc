"""The OpenAPI document says truthfully which operations need the bearer token, which take one, which ignore it."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from features.webinars.tests.factories import webinar_body
from features.whitepapers.tests.factories import pdf_bytes, whitepaper_body
from shared.permissions import current_principal, optional_principal

REQUIRED = [{"HTTPBearer": []}]
OPTIONAL = [{}, {"HTTPBearer": []}]

# A token changes what these show (staff see drafts and internals), and none is needed.
OPTIONAL_TOKEN = {
    ("get", "/api/v1/business/webinars"),
    ("get", "/api/v1/business/webinars/{webinar_id}"),
    ("get", "/api/v1/business/whitepapers"),
    ("get", "/api/v1/business/whitepapers/{whitepaper_id}"),
}
# Visitors' operations: a token changes nothing.
NO_TOKEN = {
    ("get", "/api/v1/public/pages"),
    ("get", "/api/v1/public/pages/{slug}"),
    ("get", "/api/v1/public/media/{stored_name}"),
    ("post", "/api/v1/business/webinars/{webinar_id}/register"),
    ("post", "/api/v1/business/whitepapers/{whitepaper_id}/download"),
    ("get", "/api/v1/business/whitepapers/{whitepaper_id}/file"),
    ("get", "/api/v1/public/bookings/cancel/{token}"),
    ("post", "/api/v1/public/bookings/cancel/{token}"),
    ("get", "/api/v1/public/email/confirm/{token}"),
    ("post", "/api/v1/public/email/confirm/{token}"),
    ("get", "/api/v1/public/email/unsubscribe/{token}"),
    ("post", "/api/v1/public/email/unsubscribe/{token}"),
    ("get", "/api/v1/business/bookings/availability"),
    ("post", "/api/v1/business/bookings"),
    ("post", "/api/v1/public/email/bounces"),  # the mail provider's shared secret, not a user's token
    ("get", "/api/v1/public/email/t/o/{recipient_id}/{signature}.gif"),
    ("get", "/api/v1/public/email/t/c/{recipient_id}/{signature}"),
    ("get", "/api/v1/health"),
    ("get", "/api/v1/health/detailed"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/forgot-password"),
    ("post", "/api/v1/auth/reset-password"),
    # Mail systems: the bounce webhook (its own token) and what a campaign mail loads.
    ("post", "/api/v1/public/email/bounces"),
    ("get", "/api/v1/public/email/t/o/{recipient_id}/{signature}.gif"),
    ("get", "/api/v1/public/email/t/c/{recipient_id}/{signature}"),
}


def _operations(app: FastAPI) -> dict[tuple[str, str], dict]:
    return {
        (method, path): operation
        for path, operations in app.openapi()["paths"].items()
        for method, operation in operations.items()
    }


def _calls(dependant) -> set:
    return {sub.call for sub in dependant.dependencies} | {
        call for sub in dependant.dependencies for call in _calls(sub)
    }


def test_operations_that_take_an_optional_token_declare_it_optional(app: FastAPI) -> None:
    operations = _operations(app)
    for key in OPTIONAL_TOKEN:
        assert operations[key].get("security") == OPTIONAL, key


def test_every_route_with_an_optional_principal_is_declared_optional(app: FastAPI) -> None:
    """Found from the dependency trees, so a new route with OptionalPrincipal cannot be missed."""
    operations = _operations(app)
    found = set()
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and optional_principal in _calls(route.dependant):
            assert current_principal not in _calls(route.dependant), route.path
            for method in route.methods:
                found.add((method.lower(), route.path_format))
                assert operations[(method.lower(), route.path_format)]["security"] == OPTIONAL, route.path
    assert found == OPTIONAL_TOKEN


def test_public_operations_declare_no_security(app: FastAPI) -> None:
    operations = _operations(app)
    for key in NO_TOKEN:
        assert "security" not in operations[key], key


def test_every_other_operation_requires_the_bearer_token(app: FastAPI) -> None:
    staff = {key: op for key, op in _operations(app).items() if key not in OPTIONAL_TOKEN | NO_TOKEN}
    assert len(staff) > 30
    for key, operation in staff.items():
        assert operation.get("security") == REQUIRED, key
    assert app.openapi()["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


@pytest.fixture
async def published(client, editor_headers) -> dict[str, int]:
    """Ids of a published webinar and a published whitepaper."""
    webinar = await client.post("/api/v1/business/webinars", json=webinar_body(), headers=editor_headers)
    assert webinar.status_code == 201, webinar.text
    document = await client.post(
        "/api/v1/content/media", files={"file": ("guide.pdf", pdf_bytes("security"), "application/pdf")},
        headers=editor_headers,
    )
    assert document.status_code == 201, document.text
    whitepaper = await client.post(
        "/api/v1/business/whitepapers", json=whitepaper_body(document.json()["id"]), headers=editor_headers
    )
    assert whitepaper.status_code == 201, whitepaper.text
    return {"webinar_id": webinar.json()["id"], "whitepaper_id": whitepaper.json()["id"]}


async def test_optional_operations_answer_visitors_and_staff(client, editor_headers, published) -> None:
    for _method, path in sorted(OPTIONAL_TOKEN):
        url = path.format(**published)
        anonymous = await client.get(url)
        assert anonymous.status_code == 200, (url, anonymous.text)
        staff = await client.get(url, headers=editor_headers)
        assert staff.status_code == 200, (url, staff.text)
        assert len(str(staff.json())) > len(str(anonymous.json())), f"{url}: a token shows staff more"


async def test_a_bad_token_on_an_optional_operation_is_still_refused(client, published) -> None:
    for _method, path in sorted(OPTIONAL_TOKEN):
        response = await client.get(path.format(**published), headers={"Authorization": "Bearer not-a-token"})
        assert response.status_code == 401, path


async def test_operations_declared_as_requiring_the_token_refuse_a_call_without_one(app: FastAPI, client) -> None:
    for (method, path), operation in sorted(_operations(app).items()):
        if operation.get("security") != REQUIRED:
            continue
        url = re.sub(r"\{[^}]+\}", "1", path)
        response = await client.request(method, url)
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.json()["error"]["code"] == "AUTHENTICATION_REQUIRED"


async def test_operations_declared_without_security_never_ask_for_the_bearer_token(app: FastAPI, client) -> None:
    for (method, path), operation in sorted(_operations(app).items()):
        if "security" in operation:
            continue
        url = re.sub(r"\{[^}]+\}", "1", path)
        response = await client.request(method, url)
        assert response.status_code != 401, (method, path, response.text)
