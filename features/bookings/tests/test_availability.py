"""GET /availability: free slots inside hours, in the booking window, around existing bookings."""

from datetime import datetime, timedelta

from shared.db import utcnow

from .factories import BERLIN, BOOKINGS, berlin

AVAILABILITY = f"{BOOKINGS}/availability"


def starts(response) -> list[datetime]:
    assert response.status_code == 200, response.text
    return [datetime.fromisoformat(slot["starts_at"]) for slot in response.json()["slots"]]


async def test_a_monday_offers_sixteen_half_hour_slots_in_berlin_business_hours(client, monday):
    response = await client.get(AVAILABILITY, params={"from": monday.isoformat(), "to": monday.isoformat()})
    slots = starts(response)
    assert len(slots) == 16
    assert slots[0] == berlin(monday, "09:00") and slots[-1] == berlin(monday, "16:30")
    first = response.json()["slots"][0]
    assert datetime.fromisoformat(first["ends_at"]) - datetime.fromisoformat(first["starts_at"]) == timedelta(minutes=30)


async def test_weekends_have_no_slots(client, monday):
    saturday, sunday = monday + timedelta(days=5), monday + timedelta(days=6)
    response = await client.get(AVAILABILITY, params={"from": saturday.isoformat(), "to": sunday.isoformat()})
    assert starts(response) == []


async def test_days_hours_and_slot_size_follow_the_settings(app, client, monday):
    app.state.settings.booking_days = "tue"
    app.state.settings.booking_hours = "10:00-12:00"
    app.state.settings.booking_slot_minutes = 60
    week = {"from": monday.isoformat(), "to": (monday + timedelta(days=6)).isoformat()}
    tuesday = monday + timedelta(days=1)
    assert starts(await client.get(AVAILABILITY, params=week)) == [berlin(tuesday, "10:00"), berlin(tuesday, "11:00")]


async def test_nothing_is_offered_within_the_minimum_notice(client):
    now = utcnow()
    slots = starts(await client.get(AVAILABILITY, params={"from": now.isoformat(), "to": (now + timedelta(days=4)).isoformat()}))
    assert slots and min(slots) >= now + timedelta(hours=24)
    assert min(slots) < now + timedelta(hours=24 + 72)  # the next business slot after the notice, not later


async def test_nothing_is_offered_beyond_the_horizon(client):
    now = utcnow()
    late = {"from": (now + timedelta(days=55)).isoformat(), "to": (now + timedelta(days=70)).isoformat()}
    slots = starts(await client.get(AVAILABILITY, params=late))
    assert slots and max(slots) <= now + timedelta(days=60)
    assert max(slots) > now + timedelta(days=56)
    beyond = {"from": (now + timedelta(days=61)).isoformat(), "to": (now + timedelta(days=80)).isoformat()}
    assert starts(await client.get(AVAILABILITY, params=beyond)) == []


async def test_booked_slots_are_not_offered(client, monday, book):
    await book(berlin(monday, "10:00"))
    await book(berlin(monday, "14:00"), email="grace@example.com", duration_minutes=60)
    slots = starts(await client.get(AVAILABILITY, params={"from": monday.isoformat(), "to": monday.isoformat()}))
    assert len(slots) == 13
    for taken in ("10:00", "14:00", "14:30"):
        assert berlin(monday, taken) not in slots
    assert berlin(monday, "10:30") in slots


async def test_an_hour_long_request_only_gets_starts_with_a_free_hour(client, monday, book):
    await book(berlin(monday, "10:00"))
    params = {"from": monday.isoformat(), "to": monday.isoformat(), "duration_minutes": 60}
    slots = starts(await client.get(AVAILABILITY, params=params))
    assert berlin(monday, "09:30") not in slots and berlin(monday, "10:00") not in slots
    assert berlin(monday, "09:00") in slots and berlin(monday, "16:00") in slots and berlin(monday, "16:30") not in slots


async def test_cancelled_bookings_free_their_slot(client, monday, book, editor_headers):
    booking = await book(berlin(monday, "10:00"))
    await client.put(f"{BOOKINGS}/{booking['id']}", json={"status": "cancelled"}, headers=editor_headers)
    slots = starts(await client.get(AVAILABILITY, params={"from": monday.isoformat(), "to": monday.isoformat()}))
    assert berlin(monday, "10:00") in slots


async def test_date_times_with_offsets_bound_the_range(client, monday):
    params = {"from": berlin(monday, "10:00").isoformat(), "to": berlin(monday, "11:00").isoformat()}
    assert starts(await client.get(AVAILABILITY, params=params)) == [berlin(monday, "10:00"), berlin(monday, "10:30")]
    naive = {"from": f"{monday.isoformat()}T16:00", "to": f"{monday.isoformat()}T18:00"}  # read as Berlin time
    assert starts(await client.get(AVAILABILITY, params=naive)) == [berlin(monday, "16:00"), berlin(monday, "16:30")]


async def test_without_bounds_the_next_week_is_offered(client):
    slots = starts(await client.get(AVAILABILITY))
    assert slots and max(slots) < utcnow() + timedelta(days=7)
    assert all(slot.astimezone(BERLIN).weekday() < 5 for slot in slots)


async def test_ranges_longer_than_31_days_are_refused(client, monday):
    params = {"from": monday.isoformat(), "to": (monday + timedelta(days=31)).isoformat()}
    response = await client.get(AVAILABILITY, params=params)
    assert response.status_code == 422 and response.json()["error"]["field"] == "to"


async def test_malformed_or_backwards_bounds_are_refused(client, monday):
    for params, field in [
        ({"from": "next tuesday"}, "from"),
        ({"to": "2030-02-30"}, "to"),
        ({"from": "0001-01-01T00:00:00+05:00"}, "from"),
        ({"from": monday.isoformat(), "to": (monday - timedelta(days=1)).isoformat()}, "to"),
    ]:
        response = await client.get(AVAILABILITY, params=params)
        assert response.status_code == 422, params
        assert response.json()["error"]["field"] == field
