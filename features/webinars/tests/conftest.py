from datetime import UTC, datetime, timedelta

import pytest

BASE = "/api/v1/business/webinars"


def in_days(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0).isoformat()


def webinar_body(slug="lead-scoring-101", **overrides):
    return {
        "slug": slug,
        "title": {"en": "Lead scoring 101", "de": "Lead-Scoring 101"},
        "description": {"en": "<p>How to rank leads.</p>", "de": "<p>Wie man Leads bewertet.</p>"},
        "starts_at": in_days(7),
        "duration_minutes": 45,
        "timezone": "Europe/Berlin",
        "presenter": "Ada Lovelace",
        "capacity": None,
        "join_url": "https://meet.example.com/lead-scoring-101",
        "status": "published",
        **overrides,
    }


def visitor(email="grace@example.com", **overrides):
    return {
        "first_name": "Grace", "last_name": "Hopper", "email": email, "company": "Navy",
        # No consent by default: with it the email slice mails a double opt-in too (its own tests cover that).
        "consent_marketing": False, **overrides,
    }


@pytest.fixture
def create_webinar(client, editor_headers):
    async def create(slug="lead-scoring-101", **overrides):
        response = await client.post(BASE, json=webinar_body(slug, **overrides), headers=editor_headers)
        assert response.status_code == 201, response.text
        return response.json()

    return create


