"""Staff side: who may read and change bookings, the status state machine, mails, assignees, CSV."""

import csv
import io
from datetime import timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import text

from shared.permissions import Role
from tests.factories import make_user

from .factories import BOOKINGS, berlin, link_in


@pytest.fixture
async def booking(monday, book):
    return await book(berlin(monday, "10:00"))


def ics_of(message) -> Calendar:
    [part] = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    return Calendar.from_ical(part.get_payload(decode=True))


async def test_visitors_cannot_list_read_or_change_bookings(client, booking):
    for response in (
        await client.get(BOOKINGS),
        await client.get(f"{BOOKINGS}/{booking['id']}"),
        await client.get(f"{BOOKINGS}?format=csv"),
        await client.put(f"{BOOKINGS}/{booking['id']}", json={"status": "confirmed"}),
    ):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "AUTHENTICATION_REQUIRED"


async def test_viewers_read_but_cannot_change(client, booking, viewer_headers):
    assert (await client.get(f"{BOOKINGS}/{booking['id']}", headers=viewer_headers)).json()["status"] == "pending"
    listed = (await client.get(BOOKINGS, headers=viewer_headers)).json()
    assert listed["total"] == 1 and listed["items"][0]["email"] == "ada@example.com"
    response = await client.put(f"{BOOKINGS}/{booking['id']}", json={"notes": "x"}, headers=viewer_headers)
    assert response.status_code == 403


async def test_unknown_booking_is_404(client, viewer_headers, editor_headers):
    assert (await client.get(f"{BOOKINGS}/999", headers=viewer_headers)).status_code == 404
    assert (await client.put(f"{BOOKINGS}/999", json={"notes": "x"}, headers=editor_headers)).status_code == 404


@pytest.mark.parametrize(
    "path",
    [["confirmed"], ["cancelled"], ["confirmed", "completed"], ["confirmed", "cancelled"], ["confirmed", "no_show"]],
)
async def test_allowed_transitions(client, booking, editor_headers, path):
    for status in path:
        response = await client.put(f"{BOOKINGS}/{booking['id']}", json={"status": status}, headers=editor_headers)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ([], "completed"),
        ([], "no_show"),
        (["cancelled"], "confirmed"),
        (["cancelled"], "pending"),
        (["confirmed"], "pending"),
        (["confirmed", "completed"], "cancelled"),
        (["confirmed", "no_show"], "completed"),
    ],
)
async def test_refused_transitions_are_409_invalid_transition(client, booking, editor_headers, path, refused):
    url = f"{BOOKINGS}/{booking['id']}"
    for status in path:
        assert (await client.put(url, json={"status": status}, headers=editor_headers)).status_code == 200
    response = await client.put(url, json={"status": refused, "notes": "should not stick"}, headers=editor_headers)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "INVALID_TRANSITION"
    assert (await client.get(url, headers=editor_headers)).json()["notes"] is None


async def test_resending_the_current_status_changes_nothing_and_mails_nothing(client, mailbox, booking, editor_headers):
    url = f"{BOOKINGS}/{booking['id']}"
    response = await client.put(url, json={"status": "pending", "notes": "called back"}, headers=editor_headers)
    assert response.status_code == 200 and response.json()["notes"] == "called back"
    assert [m["Subject"] for m in mailbox.to("ada@example.com")] == ["We received your consultation request"]


async def test_confirmation_mails_an_invite_and_a_cancel_link(client, monday, book, editor_headers, mailbox):
    booking = await book(berlin(monday, "14:00"), duration_minutes=60, language="de")
    response = await client.put(f"{BOOKINGS}/{booking['id']}", json={"status": "confirmed"}, headers=editor_headers)
    assert response.status_code == 200
    message = mailbox.to("ada@example.com")[-1]
    assert message["Subject"].startswith("Ihr Beratungstermin ist bestätigt")
    assert message["Content-Language"] == "de"
    assert link_in(message).startswith("http://localhost:3036/api/v1/public/bookings/cancel/")
    [event] = ics_of(message).walk("VEVENT")
    assert ics_of(message)["METHOD"] == "REQUEST"
    assert event.decoded("dtstart") == berlin(monday, "14:00")
    assert event.decoded("dtend") - event.decoded("dtstart") == timedelta(minutes=60)
    assert str(event["summary"]) == "Marketing automation"
    assert str(event["attendee"]) == "mailto:ada@example.com"


async def test_staff_cancellation_mails_a_cancel_invite(client, mailbox, booking, editor_headers):
    await client.put(f"{BOOKINGS}/{booking['id']}", json={"status": "confirmed"}, headers=editor_headers)
    await client.put(f"{BOOKINGS}/{booking['id']}", json={"status": "cancelled"}, headers=editor_headers)
    message = mailbox.to("ada@example.com")[-1]
    assert message["Subject"] == "Your consultation has been cancelled"
    calendar = ics_of(message)
    assert calendar["METHOD"] == "CANCEL"
    [event] = calendar.walk("VEVENT")
    assert event["status"] == "CANCELLED" and event["sequence"] == 1


async def test_completing_or_no_show_mails_nothing(client, mailbox, booking, editor_headers):
    url = f"{BOOKINGS}/{booking['id']}"
    await client.put(url, json={"status": "confirmed"}, headers=editor_headers)
    await client.put(url, json={"status": "no_show"}, headers=editor_headers)
    assert len(mailbox.to("ada@example.com")) == 2  # received and confirmed


async def test_assignee_and_notes_are_set_and_the_assignee_is_unset_when_that_user_is_deleted(
    app, client, booking, editor_headers, admin_headers
):
    colleague = await make_user(app, email="consultant@example.com", role=Role.EDITOR)
    url = f"{BOOKINGS}/{booking['id']}"
    response = await client.put(url, json={"assigned_to": colleague.id, "notes": "VIP"}, headers=editor_headers)
    assert response.json()["assigned_to"] == colleague.id and response.json()["notes"] == "VIP"
    listed = (await client.get(BOOKINGS, params={"assigned_to": colleague.id}, headers=editor_headers)).json()
    assert listed["total"] == 1

    assert (await client.delete(f"/api/v1/admin/users/{colleague.id}", headers=admin_headers)).status_code == 204

    after = (await client.get(url, headers=editor_headers)).json()
    assert after["assigned_to"] is None and after["notes"] == "VIP"


async def test_the_database_unsets_the_assignee_if_a_user_row_is_ever_deleted(app, client, booking, editor_headers):
    colleague = await make_user(app, email="consultant@example.com", role=Role.EDITOR)
    url = f"{BOOKINGS}/{booking['id']}"
    await client.put(url, json={"assigned_to": colleague.id}, headers=editor_headers)
    async with app.state.db.session() as session:
        await session.exec(text("DELETE FROM admin_users WHERE id = :id").bindparams(id=colleague.id))
    assert (await client.get(url, headers=editor_headers)).json()["assigned_to"] is None


async def test_assigning_an_unknown_or_inactive_user_is_refused(app, client, booking, editor_headers, admin_headers):
    url = f"{BOOKINGS}/{booking['id']}"
    response = await client.put(url, json={"assigned_to": 424242}, headers=editor_headers)
    assert response.status_code == 422 and response.json()["error"]["field"] == "assigned_to"
    gone = await make_user(app, email="gone@example.com")
    await client.put(f"/api/v1/admin/users/{gone.id}", json={"is_active": False}, headers=admin_headers)
    response = await client.put(url, json={"assigned_to": gone.id}, headers=editor_headers)
    assert response.status_code == 422 and response.json()["error"]["field"] == "assigned_to"
    assert (await client.put(url, json={"assigned_to": None}, headers=editor_headers)).status_code == 200


async def test_list_filters_sorts_and_paginates(client, monday, book, editor_headers, viewer_headers):
    first = await book(berlin(monday, "09:00"), email="a@example.com")
    second = await book(berlin(monday + timedelta(days=1), "09:00"), email="b@example.com")
    third = await book(berlin(monday + timedelta(days=2), "09:00"), email="c@example.com")
    await client.put(f"{BOOKINGS}/{second['id']}", json={"status": "confirmed"}, headers=editor_headers)

    async def ids(**params):
        response = await client.get(BOOKINGS, params=params, headers=viewer_headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await ids() == [first["id"], second["id"], third["id"]]
    assert await ids(sort="-starts_at") == [third["id"], second["id"], first["id"]]
    assert await ids(status="confirmed") == [second["id"]]
    assert await ids(**{"from": (monday + timedelta(days=1)).isoformat()}) == [second["id"], third["id"]]
    assert await ids(to=monday.isoformat()) == [first["id"]]
    page = (await client.get(BOOKINGS, params={"limit": 1, "offset": 1}, headers=viewer_headers)).json()
    assert page["total"] == 3 and page["limit"] == 1 and [i["id"] for i in page["items"]] == [second["id"]]
    refused = await client.get(BOOKINGS, params={"sort": "notes"}, headers=viewer_headers)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "sort"


async def test_csv_export_is_quoted_and_formula_safe(client, monday, book, viewer_headers):
    await book(
        berlin(monday, "09:00"), first_name="=HYPERLINK(\"http://evil\")", last_name="+SUM(A1)", company="@cmd",
        topic="-2+3", message='line one\nline "two", three',
    )
    response = await client.get(BOOKINGS, params={"format": "csv"}, headers=viewer_headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == 1
    row = rows[0]
    assert row["first_name"] == "'=HYPERLINK(\"http://evil\")"
    assert row["last_name"] == "'+SUM(A1)" and row["company"] == "'@cmd" and row["topic"] == "'-2+3"
    assert row["message"] == 'line one\nline "two", three'
    assert row["email"] == "ada@example.com" and row["status"] == "pending"


async def test_mails_are_rendered_when_sent_so_an_overtaken_confirmation_is_not(
    app, client, smtp_server, booking, editor_headers
):
    """SMTP is down while the booking is confirmed and then cancelled: once it is back, only what still holds goes."""
    from sqlalchemy import update

    from shared.db import utcnow
    from shared.mail import OutgoingMail, deliver_due_mail

    url = f"{BOOKINGS}/{booking['id']}"
    await client.put(url, json={"status": "confirmed"}, headers=editor_headers)
    await client.put(url, json={"status": "cancelled"}, headers=editor_headers)
    async with app.state.db.session(write=False) as session:
        queued = (await session.exec(OutgoingMail.__table__.select())).all()
    # The queue holds which mail for which booking, never a body with the visitor's cancel link.
    assert [(row.template, row.params, row.message) for row in queued] == [
        (f"bookings.{kind}", {"booking_id": booking["id"]}, None) for kind in ("received", "confirmed", "cancelled")
    ]

    recorder, port = smtp_server
    app.state.settings.smtp_port = port
    async with app.state.db.session() as session:
        await session.exec(update(OutgoingMail).values(next_attempt_at=utcnow()))
    assert await deliver_due_mail(app.state.db, app.state.mailer) == 1
    [message] = recorder.to("ada@example.com")
    assert message["Subject"] == "Your consultation has been cancelled"
    async with app.state.db.session(write=False) as session:
        statuses = [row.status for row in (await session.exec(OutgoingMail.__table__.select())).all()]
    assert statuses == ["skipped", "skipped", "sent"]


async def test_notes_refuse_control_characters_but_keep_line_breaks(client, booking, editor_headers):
    url = f"{BOOKINGS}/{booking['id']}"
    refused = await client.put(url, json={"notes": "Call back\u0000"}, headers=editor_headers)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "notes"
    assert (await client.get(url, headers=editor_headers)).json()["notes"] is None
    kept = await client.put(url, json={"notes": "Call back\nTuesday\tmorning"}, headers=editor_headers)
    assert kept.status_code == 200 and kept.json()["notes"] == "Call back\nTuesday\tmorning"
