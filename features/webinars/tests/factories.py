"""What the webinars slice's tests build: request bodies, files and small helpers (its fixtures are in
conftest.py, and use these)."""


from datetime import UTC, datetime, timedelta

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


