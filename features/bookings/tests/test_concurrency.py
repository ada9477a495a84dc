"""One slot, many visitors at once: exactly one booking (file database, real concurrent requests)."""

import asyncio
from collections import Counter

from sqlalchemy import func
from sqlmodel import select

from features.bookings.models import Booking

from .factories import BOOKINGS, berlin, booking_body


async def test_fifty_simultaneous_requests_for_one_slot_give_exactly_one_booking(app, client, monday):
    app.state.settings.rate_limit_public_per_minute = 1000
    starts_at = berlin(monday, "11:00")
    bodies = [booking_body(starts_at, email=f"visitor{n}@example.com") for n in range(50)]
    # Half of them ask for the hour from 10:30, which overlaps the same half hour.
    for body in bodies[::2]:
        body.update(starts_at=berlin(monday, "10:30").isoformat(), duration_minutes=60)

    responses = await asyncio.gather(*(client.post(BOOKINGS, json=body) for body in bodies))

    assert Counter(r.status_code for r in responses) == {201: 1, 409: 49}
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {"SLOT_TAKEN"}
    async with app.state.db.session(write=False) as session:
        assert (await session.exec(select(func.count()).select_from(Booking))).one() == 1


async def test_simultaneous_requests_for_the_very_same_start_give_one_booking(app, client, monday):
    app.state.settings.rate_limit_public_per_minute = 1000
    bodies = [booking_body(berlin(monday, "15:00"), email=f"same{n}@example.com") for n in range(50)]
    responses = await asyncio.gather(*(client.post(BOOKINGS, json=body) for body in bodies))
    assert Counter(r.status_code for r in responses) == {201: 1, 409: 49}
    async with app.state.db.session(write=False) as session:
        assert (await session.exec(select(func.count()).select_from(Booking))).one() == 1
