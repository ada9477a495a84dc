"""Every create operation refuses control characters and lone surrogates in its plain-text fields: 422, nothing stored."""

from __future__ import annotations

import json

import pytest

from features.bookings.tests.factories import berlin, booking_body, next_monday
from features.pages.tests.factories import page_body
from features.webinars.tests.factories import webinar_body
from features.whitepapers.tests.factories import pdf_bytes, whitepaper_body
from features.whitepapers.tests.factories import visitor as whitepaper_visitor
from tests.factories import visitor as webinar_visitor

# NUL, DEL, a C1 control (CSI), ESC, and a surrogate without its pair (JSON may escape one; UTF-8 cannot hold it).
REFUSED = ["\u0000", "\u007f", "\u009b", "\u001b", "\ud800"]

USER = {"email": "new@example.com", "password": "a-long-unique-passphrase", "first_name": "New", "last_name": "User"}

# name: (path, body(ids, text), field named in the error, list that must stay as it was)
CASES = {
    "page title": (
        "/api/v1/content/pages", lambda ids, text: page_body(title={"en": f"About{text}us"}), "title.en",
        "/api/v1/content/pages",
    ),
    "webinar title": (
        "/api/v1/business/webinars", lambda ids, text: webinar_body("other", title={"en": f"Lead{text}"}), "title.en",
        "/api/v1/business/webinars",
    ),
    "webinar presenter": (
        "/api/v1/business/webinars", lambda ids, text: webinar_body("other", presenter=f"Ada{text}"), "presenter",
        "/api/v1/business/webinars",
    ),
    "webinar registration": (
        "/api/v1/business/webinars/{webinar_id}/register",
        lambda ids, text: webinar_visitor(first_name=f"Grace{text}"), "first_name",
        "/api/v1/business/webinars/{webinar_id}/registrations",
    ),
    "whitepaper summary": (
        "/api/v1/business/whitepapers",
        lambda ids, text: whitepaper_body(ids["document_id"], "other", summary={"en": f"Plan{text}"}), "summary.en",
        "/api/v1/business/whitepapers",
    ),
    "whitepaper download": (
        "/api/v1/business/whitepapers/{whitepaper_id}/download",
        lambda ids, text: whitepaper_visitor(company=f"Engines{text}"), "company",
        "/api/v1/business/whitepapers/{whitepaper_id}/downloads",
    ),
    "booking topic": (
        "/api/v1/business/bookings",
        lambda ids, text: booking_body(berlin(next_monday(), "10:00"), topic=f"Funnels{text}"), "topic",
        "/api/v1/business/bookings",
    ),
    "booking message": (
        "/api/v1/business/bookings",
        lambda ids, text: booking_body(berlin(next_monday(), "10:00"), message=f"About{text}"), "message",
        "/api/v1/business/bookings",
    ),
    "user name": ("/api/v1/admin/users", lambda ids, text: {**USER, "last_name": f"User{text}"}, "last_name",
                  "/api/v1/admin/users"),
}


@pytest.fixture
async def ids(client, admin_headers) -> dict[str, int]:
    """A published webinar and whitepaper to register for and download."""
    webinar = await client.post("/api/v1/business/webinars", json=webinar_body(), headers=admin_headers)
    document = await client.post(
        "/api/v1/content/media", files={"file": ("guide.pdf", pdf_bytes("text"), "application/pdf")},
        headers=admin_headers,
    )
    whitepaper = await client.post(
        "/api/v1/business/whitepapers", json=whitepaper_body(document.json()["id"]), headers=admin_headers
    )
    assert {webinar.status_code, document.status_code, whitepaper.status_code} == {201}
    return {"webinar_id": webinar.json()["id"], "whitepaper_id": whitepaper.json()["id"],
            "document_id": document.json()["id"]}


@pytest.mark.parametrize("text", REFUSED, ids=lambda text: f"U+{ord(text):04X}")
@pytest.mark.parametrize("case", CASES, ids=str)
async def test_a_control_character_is_422_naming_the_field_and_nothing_is_stored(client, admin_headers, ids, case, text):
    path, body, field, listing = CASES[case]
    before = (await client.get(listing.format(**ids), headers=admin_headers)).json()["total"]
    response = await client.post(
        path.format(**ids), content=json.dumps(body(ids, text)),  # ensure_ascii: a surrogate travels as \ud800
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and error["field"] == field
    assert (await client.get(listing.format(**ids), headers=admin_headers)).json()["total"] == before
