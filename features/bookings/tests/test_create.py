"""POST /bookings: a pending booking only inside hours, in the window, in a free slot; lead and mail."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.db import utcnow
from shared.events import LeadCaptured

from .factories import BOOKINGS, berlin, booking_body, link_in, path_of


async def test_a_free_slot_inside_hours_is_booked_as_pending(client, monday, viewer_headers):
    response = await client.post(BOOKINGS, json=booking_body(berlin(monday, "10:00"), email="Ada@Example.COM"))
    assert response.status_code == 201, response.text
    booking = response.json()
    assert booking["status"] == "pending" and booking["duration_minutes"] == 30
    assert datetime.fromisoformat(booking["starts_at"]) == berlin(monday, "10:00")
    assert booking["email"] == "ada@example.com"
    assert "notes" not in booking and "assigned_to" not in booking  # staff fields are not shown to the visitor
    stored = (await client.get(f"{BOOKINGS}/{booking['id']}", headers=viewer_headers)).json()
    assert stored["timezone"] == "Europe/Berlin"  # the booking zone, since the visitor named none
    assert stored["company"] == "Analytical Engines" and stored["phone"] == "+49 30 1234567"


async def test_times_are_stored_and_returned_in_utc(client, monday, viewer_headers):
    starts_at = berlin(monday, "09:00")
    booking = (await client.post(BOOKINGS, json=booking_body(starts_at, timezone="America/New_York"))).json()
    stored = (await client.get(f"{BOOKINGS}/{booking['id']}", headers=viewer_headers)).json()
    assert stored["starts_at"].endswith(("Z", "+00:00"))
    assert stored["timezone"] == "America/New_York"
    assert datetime.fromisoformat(stored["starts_at"]) == starts_at
    assert datetime.fromisoformat(stored["ends_at"]) == starts_at + timedelta(minutes=30)


@pytest.mark.parametrize(
    ("day_offset", "clock", "overrides", "field"),
    [
        (0, "08:30", {}, "starts_at"),  # before opening
        (0, "17:00", {}, "starts_at"),  # at closing
        (0, "16:30", {"duration_minutes": 60}, "duration_minutes"),  # would run past closing
        (5, "10:00", {}, "starts_at"),  # Saturday
        (6, "10:00", {}, "starts_at"),  # Sunday
        (0, "10:10", {}, "starts_at"),  # off the slot grid
        (0, "10:00", {"duration_minutes": 45}, "duration_minutes"),
        (0, "10:00", {"duration_minutes": 0}, "duration_minutes"),
        (0, "10:00", {"timezone": "Mars/Base"}, "timezone"),
        (0, "10:00", {"timezone": "../../etc/passwd"}, "timezone"),
        (0, "10:00", {"timezone": "localtime"}, "timezone"),  # the server's own zone, not an IANA name
        (0, "10:00", {"email": "not-an-address"}, "email"),
        (0, "10:00", {"topic": "   "}, "topic"),
        (0, "10:00", {"phone": "call me maybe"}, "phone"),
        (0, "10:00", {"message": "x" * 5001}, "message"),
    ],
)
async def test_bookings_outside_the_rules_are_refused_with_the_field(client, monday, day_offset, clock, overrides, field):
    body = booking_body(berlin(monday + timedelta(days=day_offset), clock), **overrides)
    response = await client.post(BOOKINGS, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


async def test_a_start_within_the_minimum_notice_is_refused(client):
    soon = utcnow() + timedelta(hours=23)
    soon = soon.replace(minute=0 if soon.minute < 30 else 30, second=0, microsecond=0)
    response = await client.post(BOOKINGS, json=booking_body(soon))
    assert response.status_code == 422 and response.json()["error"]["field"] == "starts_at"
    assert "notice" in response.json()["error"]["message"]


async def test_a_start_beyond_the_horizon_is_refused(client, monday):
    response = await client.post(BOOKINGS, json=booking_body(berlin(monday + timedelta(weeks=9), "10:00")))
    assert response.status_code == 422 and response.json()["error"]["field"] == "starts_at"
    assert "days ahead" in response.json()["error"]["message"]


async def test_the_window_follows_the_settings(app, client, monday):
    app.state.settings.booking_min_notice_hours = 24 * 30
    response = await client.post(BOOKINGS, json=booking_body(berlin(monday, "10:00")))
    assert response.status_code == 422 and response.json()["error"]["field"] == "starts_at"


async def test_times_without_an_offset_are_refused(client, monday):
    body = booking_body(berlin(monday, "10:00"))
    body["starts_at"] = f"{monday.isoformat()}T10:00:00"
    response = await client.post(BOOKINGS, json=body)
    assert response.status_code == 422 and response.json()["error"]["field"] == "starts_at"


async def test_out_of_range_times_are_a_422_not_a_500(client):
    body = booking_body(utcnow())
    for value in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "9999-12-31T23:30:00+00:00"):
        body["starts_at"] = value
        response = await client.post(BOOKINGS, json=body)
        assert response.status_code == 422, value


async def test_consent_must_be_given_explicitly(client, monday):
    body = booking_body(berlin(monday, "10:00"))
    del body["consent_marketing"]
    response = await client.post(BOOKINGS, json=body)
    assert response.status_code == 422 and response.json()["error"]["field"] == "consent_marketing"


async def test_an_overlapping_booking_is_refused_with_slot_taken(client, monday, book):
    await book(berlin(monday, "10:00"), duration_minutes=60)
    for clock, minutes in (("10:00", 30), ("10:30", 30), ("09:30", 60)):
        response = await client.post(
            BOOKINGS, json=booking_body(berlin(monday, clock), email="grace@example.com", duration_minutes=minutes)
        )
        assert response.status_code == 409, clock
        assert response.json()["error"]["code"] == "SLOT_TAKEN"
    assert (await client.post(BOOKINGS, json=booking_body(berlin(monday, "11:00")))).status_code == 201
    assert (await client.post(BOOKINGS, json=booking_body(berlin(monday, "09:30")))).status_code == 201


async def test_each_booking_publishes_a_lead(client, monday, book, leads):
    booking = await book(berlin(monday, "10:00"), consent_marketing=False, language="de")
    assert leads == [
        LeadCaptured(
            email="ada@example.com", first_name="Ada", last_name="Lovelace", company="Analytical Engines",
            language="de", consent_marketing=False, source=f"booking:{booking['id']}",
        )
    ]


async def test_unsupported_languages_fall_back_to_the_default(app, client, monday, book, viewer_headers):
    booking = await book(berlin(monday, "10:00"), language="fr")
    assert (await client.get(f"{BOOKINGS}/{booking['id']}", headers=viewer_headers)).json()["language"] == "en"


async def test_the_visitor_is_mailed_that_the_request_was_received(client, monday, book, mailbox):
    starts_at = berlin(monday, "10:00")
    await book(starts_at, language="de", timezone="America/New_York")
    [message] = mailbox.to("ada@example.com")
    assert message["Subject"] == "Wir haben Ihre Terminanfrage erhalten"
    assert message["Content-Language"] == "de"
    text = message.get_body(preferencelist=("plain",)).get_content()
    in_new_york = starts_at.astimezone(ZoneInfo("America/New_York"))
    assert f"{in_new_york:%d.%m.%Y %H:%M} Uhr (America/New_York)" in text  # the visitor's own zone and format
    preview = await client.get(path_of(link_in(message)))
    assert preview.status_code == 200 and "Marketing automation" in preview.text


async def test_a_mail_failure_never_loses_the_booking(app, client, monday, viewer_headers):
    """Nothing listens on the SMTP port: the booking and its queued mail are kept for the worker."""
    from sqlmodel import select

    from shared.mail import OutgoingMail

    response = await client.post(BOOKINGS, json=booking_body(berlin(monday, "10:00")))
    assert response.status_code == 201
    listed = await client.get(f"{BOOKINGS}/{response.json()['id']}", headers=viewer_headers)
    assert listed.json()["status"] == "pending"
    async with app.state.db.session(write=False) as session:
        [mail] = (await session.exec(select(OutgoingMail))).all()
    assert mail.recipient == "ada@example.com" and mail.status == "pending" and mail.last_error


async def test_addresses_plain_smtp_cannot_carry_are_refused_and_idn_domains_are_punycoded(
    client, monday, book, mailbox
):
    refused = await client.post(BOOKINGS, json=booking_body(berlin(monday, "10:00"), "jürgen@example.com"))
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "email"
    await book(berlin(monday, "10:00"), "info@bücher.example")
    [message] = mailbox.to("info@xn--bcher-kva.example")
    assert (await client.get(path_of(link_in(message)))).status_code == 200


async def test_public_booking_is_rate_limited(app, client, monday):
    app.state.settings.rate_limit_public_per_minute = 2
    for clock in ("10:00", "10:30"):
        assert (await client.post(BOOKINGS, json=booking_body(berlin(monday, clock)))).status_code == 201
    response = await client.post(BOOKINGS, json=booking_body(berlin(monday, "11:00")))
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "RATE_LIMITED"
    assert int(response.headers["Retry-After"]) >= 1


async def test_a_control_character_in_a_plain_text_field_is_422_and_nothing_is_booked(client, monday, viewer_headers):
    cases = {
        "first_name": "Ada\u0000", "last_name": "Love\u0007lace", "company": "Engines\u0085", "topic": "Fun\nnels",
        "message": "About\u0000our funnel", "phone": "+49 30\u0000 1234567",
    }
    for field, value in cases.items():
        response = await client.post(BOOKINGS, json=booking_body(berlin(monday, "10:00"), **{field: value}))
        assert response.status_code == 422, (field, response.text)
        assert response.json()["error"]["field"] == field
    assert (await client.get(BOOKINGS, headers=viewer_headers)).json()["total"] == 0
    multi_line = booking_body(berlin(monday, "10:00"), message="Line one\r\nLine\ttwo")
    assert (await client.post(BOOKINGS, json=multi_line)).status_code == 201


async def test_a_supported_language_without_texts_gets_the_default_language_not_english(app, monday, book, mailbox):
    app.state.settings.supported_languages = ["de", "en", "fr"]  # German first: the default language
    await book(berlin(monday, "10:00"), language="fr")
    [message] = mailbox.to("ada@example.com")
    assert message["Content-Language"] == "de" and message["Subject"] == "Wir haben Ihre Terminanfrage erhalten"
