from datetime import date, datetime

import pytest

from features.bookings.tests.factories import BOOKINGS, booking_body, next_monday


@pytest.fixture
def monday() -> date:
    return next_monday()


@pytest.fixture
def book(client):
    async def create(starts_at: datetime, email: str = "ada@example.com", **overrides):
        response = await client.post(BOOKINGS, json=booking_body(starts_at, email, **overrides))
        assert response.status_code == 201, response.text
        return response.json()

    return create
