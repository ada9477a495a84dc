import asyncio
from datetime import UTC, datetime

from icalendar import Calendar
from sqlalchemy import func, update
from sqlmodel import select

from features.webinars.models import WebinarRegistration
from features.webinars.tests.factories import BASE, in_days
from shared.mail import OutgoingMail
from tests.factories import visitor


async def _registrations(app, webinar_id):
    async with app.state.db.session(write=False) as session:
        return (await session.exec(select(WebinarRegistration).where(WebinarRegistration.webinar_id == webinar_id))).all()


def _invite(message):
    [part] = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    return Calendar.from_ical(part.get_content() if isinstance(part.get_content(), bytes) else part.get_payload(decode=True))


async def test_register_is_201_then_the_same_email_is_200_with_no_second_row(app, client, create_webinar):
    webinar = await create_webinar()
    first = await client.post(f"{BASE}/{webinar['id']}/register", json=visitor("grace@example.com"))
    assert first.status_code == 201, first.text
    body = first.json()
    assert set(body) == {"id", "webinar_id", "email", "created_at"}
    assert body["webinar_id"] == webinar["id"] and body["email"] == "grace@example.com"

    again = await client.post(f"{BASE}/{webinar['id']}/register", json=visitor(" Grace@Example.COM ", first_name="G"))
    assert again.status_code == 200 and again.json() == body
    assert len(await _registrations(app, webinar["id"])) == 1


async def test_the_same_email_may_register_for_two_webinars(client, create_webinar):
    one, two = await create_webinar("one"), await create_webinar("two")
    assert (await client.post(f"{BASE}/{one['id']}/register", json=visitor())).status_code == 201
    assert (await client.post(f"{BASE}/{two['id']}/register", json=visitor())).status_code == 201


async def test_a_full_webinar_is_409_webinar_full_but_registrants_still_get_200(client, create_webinar):
    webinar = await create_webinar(capacity=2)
    url = f"{BASE}/{webinar['id']}/register"
    assert (await client.post(url, json=visitor("a@example.com"))).status_code == 201
    assert (await client.post(url, json=visitor("b@example.com"))).status_code == 201
    full = await client.post(url, json=visitor("c@example.com"))
    assert full.status_code == 409 and full.json()["error"]["code"] == "WEBINAR_FULL"
    assert full.json()["success"] is False
    assert (await client.post(url, json=visitor("a@example.com"))).status_code == 200


async def test_closed_webinars_refuse_with_their_own_codes(app, client, create_webinar, editor_headers):
    draft = await create_webinar("draft", status="draft")
    started = await create_webinar("started", starts_at=in_days(-0.01))
    cancelled = await create_webinar("cancelled")
    await client.put(f"{BASE}/{cancelled['id']}", json={"status": "cancelled"}, headers=editor_headers)
    expected = {draft["id"]: "WEBINAR_NOT_OPEN", started["id"]: "WEBINAR_STARTED", cancelled["id"]: "WEBINAR_CANCELLED"}
    for webinar_id, code in expected.items():
        response = await client.post(f"{BASE}/{webinar_id}/register", json=visitor())
        assert response.status_code == 409 and response.json()["error"]["code"] == code
        assert await _registrations(app, webinar_id) == []
    missing = await client.post(f"{BASE}/999/register", json=visitor())
    assert missing.status_code == 404


async def test_consent_must_be_an_explicit_choice(client, create_webinar):
    webinar = await create_webinar()
    body = visitor()
    del body["consent_marketing"]
    response = await client.post(f"{BASE}/{webinar['id']}/register", json=body)
    assert response.status_code == 422 and response.json()["error"]["field"] == "consent_marketing"
    declined = await client.post(f"{BASE}/{webinar['id']}/register", json=visitor(consent_marketing=False))
    assert declined.status_code == 201


async def test_visitor_fields_are_validated(client, create_webinar):
    webinar = await create_webinar()
    url = f"{BASE}/{webinar['id']}/register"
    for field, override in {"email": {"email": "not-an-email"}, "first_name": {"first_name": " "},
                            "company": {"company": "x" * 201}, "language": {"language": "English"}}.items():
        response = await client.post(url, json=visitor(**override))
        assert response.status_code == 422 and response.json()["error"]["field"] == field, field


async def test_registration_is_rate_limited_per_client(app, client, create_webinar):
    app.state.settings.rate_limit_public_per_minute = 3
    webinar = await create_webinar()
    url = f"{BASE}/{webinar['id']}/register"
    statuses = [(await client.post(url, json=visitor(f"v{n}@example.com"))).status_code for n in range(3)]
    assert statuses == [201, 201, 201]
    limited = await client.post(url, json=visitor("v4@example.com"))
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "RATE_LIMITED"
    assert int(limited.headers["Retry-After"]) >= 1


async def test_each_new_registration_publishes_lead_captured(client, create_webinar, leads):
    webinar = await create_webinar()
    url = f"{BASE}/{webinar['id']}/register"
    await client.post(url, json=visitor("grace@example.com", language="de", consent_marketing=False))
    await client.post(url, json=visitor("grace@example.com"))  # already registered: no second lead
    [lead] = leads
    assert lead.source == f"webinar:{webinar['id']}"
    assert (lead.email, lead.first_name, lead.last_name, lead.company) == ("grace@example.com", "Grace", "Hopper", "Navy")
    assert lead.language == "de" and lead.consent_marketing is False


async def test_confirmation_mail_carries_join_link_and_invite_in_the_visitors_language(client, create_webinar, mailbox):
    webinar = await create_webinar(starts_at="2030-05-07T14:00:00+02:00", duration_minutes=90)
    url = f"{BASE}/{webinar['id']}/register"
    assert (await client.post(url, json=visitor("ada@example.com", language="de"))).status_code == 201
    assert (await client.post(url, json=visitor("bob@example.com"))).status_code == 201

    [german] = mailbox.to("ada@example.com")
    assert german["Subject"] == "Sie sind angemeldet: Lead-Scoring 101"
    assert german["Content-Language"] == "de"
    text = german.get_body(preferencelist=("plain",)).get_content()
    assert "https://meet.example.com/lead-scoring-101" in text and "2030-05-07 14:00 (Europe/Berlin)" in text
    calendar = _invite(german)
    assert str(calendar["method"]) == "REQUEST"
    event = calendar.walk("VEVENT")[0]
    assert event.decoded("dtstart") == datetime(2030, 5, 7, 12, 0, tzinfo=UTC)
    assert event.decoded("dtend") == datetime(2030, 5, 7, 13, 30, tzinfo=UTC)
    assert str(event["url"]) == "https://meet.example.com/lead-scoring-101"
    assert "ada@example.com" in str(event["attendee"])

    [english] = mailbox.to("bob@example.com")
    assert english["Subject"] == "You are registered: Lead scoring 101" and english["Content-Language"] == "en"


async def test_a_language_without_templates_falls_back_to_the_default(client, create_webinar, mailbox):
    webinar = await create_webinar()
    await client.post(f"{BASE}/{webinar['id']}/register", json=visitor("fr@example.com", language="fr"))
    [message] = mailbox.to("fr@example.com")
    assert message["Content-Language"] == "en" and message["Subject"].startswith("You are registered")


async def test_mail_failure_never_loses_the_registration(app, client, create_webinar, smtp_server):
    from shared.mail import deliver_due_mail

    webinar = await create_webinar()  # no SMTP server listens on the configured port
    response = await client.post(f"{BASE}/{webinar['id']}/register", json=visitor("kept@example.com"))
    assert response.status_code == 201
    async with app.state.db.session(write=False) as session:
        [row] = (await session.exec(select(OutgoingMail))).all()
    assert row.recipient == "kept@example.com" and row.status == "pending" and row.attempts == 1
    assert len(await _registrations(app, webinar["id"])) == 1

    recorder, port = smtp_server
    app.state.settings.smtp_port = port
    async with app.state.db.session() as session:
        await session.exec(update(OutgoingMail).values(next_attempt_at=datetime.now(UTC)))
    assert await deliver_due_mail(app.state.db, app.state.mailer) == 1
    assert len(recorder.to("kept@example.com")) == 1


async def test_cancelling_mails_every_registrant_exactly_once(client, create_webinar, editor_headers, mailbox):
    webinar = await create_webinar(starts_at="2030-05-07T14:00:00+02:00")
    people = ["a@example.com", "b@example.com", "c@example.com"]
    for email in people:
        await client.post(f"{BASE}/{webinar['id']}/register", json=visitor(email))
    url = f"{BASE}/{webinar['id']}"
    assert (await client.put(url, json={"status": "cancelled"}, headers=editor_headers)).status_code == 200
    # Saving again, cancelled or with other edits, mails nobody a second time.
    assert (await client.put(url, json={"status": "cancelled"}, headers=editor_headers)).status_code == 200
    assert (await client.put(url, json={"presenter": "Nobody"}, headers=editor_headers)).status_code == 200

    for email in people:
        cancellations = [m for m in mailbox.to(email) if m["Subject"].startswith("Cancelled")]
        assert len(cancellations) == 1, email
        calendar = _invite(cancellations[0])
        assert str(calendar["method"]) == "CANCEL"
        event = calendar.walk("VEVENT")[0]
        assert str(event["status"]) == "CANCELLED" and event.decoded("dtstart") == datetime(2030, 5, 7, 12, 0, tzinfo=UTC)
        [confirmation] = [m for m in mailbox.to(email) if not m["Subject"].startswith("Cancelled")]
        assert str(_invite(confirmation).walk("VEVENT")[0]["uid"]) == str(event["uid"])
    assert len(mailbox.messages) == 2 * len(people)


async def test_capacity_holds_under_100_concurrent_registrations(app, client, create_webinar):
    """Real concurrent requests on the file database: exactly the capacity gets in."""
    app.state.settings.rate_limit_public_per_minute = 10_000
    webinar = await create_webinar(capacity=10)
    url = f"{BASE}/{webinar['id']}/register"
    responses = await asyncio.gather(*(client.post(url, json=visitor(f"v{n}@example.com")) for n in range(100)))

    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 10, statuses
    assert statuses.count(409) == 90
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {"WEBINAR_FULL"}
    async with app.state.db.session(write=False) as session:
        count = (await session.exec(select(func.count()).select_from(WebinarRegistration))).one()
        queued = (await session.exec(select(func.count()).select_from(OutgoingMail))).one()
    assert count == 10 and queued == 10
    assert {r.json()["email"] for r in responses if r.status_code == 201} == {
        r.email for r in await _registrations(app, webinar["id"])
    }


async def test_addresses_plain_smtp_cannot_carry_are_refused_and_idn_domains_are_punycoded(client, create_webinar, mailbox):
    webinar = await create_webinar()
    url = f"{BASE}/{webinar['id']}/register"
    refused = await client.post(url, json=visitor("jürgen@example.com"))
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "email"
    accepted = await client.post(url, json=visitor("info@bücher.example"))
    assert accepted.status_code == 201 and accepted.json()["email"] == "info@bücher.example"
    assert len(mailbox.to("info@xn--bcher-kva.example")) == 1


async def _deliver_now(app, port):
    from shared.mail import deliver_due_mail

    app.state.settings.smtp_port = port
    async with app.state.db.session() as session:
        await session.exec(update(OutgoingMail).values(next_attempt_at=datetime.now(UTC)))
    return await deliver_due_mail(app.state.db, app.state.mailer)


async def test_the_confirmation_is_rendered_when_sent_with_the_webinar_as_it_is_then(
    app, client, create_webinar, editor_headers, smtp_server
):
    webinar = await create_webinar()  # no SMTP server listens yet: the confirmation waits in the outbox
    assert (await client.post(f"{BASE}/{webinar['id']}/register", json=visitor("later@example.com"))).status_code == 201
    moved = {"join_url": "https://meet.example/new-room"}
    assert (await client.put(f"{BASE}/{webinar['id']}", json=moved, headers=editor_headers)).status_code == 200

    recorder, port = smtp_server
    assert await _deliver_now(app, port) == 1
    [message] = recorder.to("later@example.com")
    assert "https://meet.example/new-room" in message.get_body(preferencelist=("plain",)).get_content()


async def test_a_confirmation_still_queued_when_the_webinar_is_cancelled_is_not_sent(
    app, client, create_webinar, editor_headers, smtp_server
):
    webinar = await create_webinar()
    assert (await client.post(f"{BASE}/{webinar['id']}/register", json=visitor("late@example.com"))).status_code == 201
    cancel = await client.put(f"{BASE}/{webinar['id']}", json={"status": "cancelled"}, headers=editor_headers)
    assert cancel.status_code == 200

    recorder, port = smtp_server
    assert await _deliver_now(app, port) == 1
    [message] = recorder.to("late@example.com")
    assert message["Subject"].startswith("Cancelled")
    async with app.state.db.session(write=False) as session:
        statuses = sorted((await session.exec(select(OutgoingMail.status))).all())
    assert statuses == ["sent", "skipped"]


async def test_a_control_character_in_a_visitor_field_is_422_and_no_registration_is_made(app, client, create_webinar):
    webinar = await create_webinar()
    url = f"{BASE}/{webinar['id']}/register"
    for field in ("first_name", "last_name", "company"):
        response = await client.post(url, json=visitor(**{field: "Grace\u0000"}))
        assert response.status_code == 422 and response.json()["error"]["field"] == field, field
    assert await _registrations(app, webinar["id"]) == []


async def test_the_cancellation_is_queued_as_a_template_and_rendered_when_sent(
    app, client, create_webinar, editor_headers, smtp_server
):
    webinar = await create_webinar()
    assert (await client.post(f"{BASE}/{webinar['id']}/register", json=visitor("late@example.com"))).status_code == 201
    cancel = await client.put(f"{BASE}/{webinar['id']}", json={"status": "cancelled"}, headers=editor_headers)
    assert cancel.status_code == 200
    async with app.state.db.session(write=False) as session:
        rows = (await session.exec(select(OutgoingMail).order_by(OutgoingMail.id))).all()
    assert [(row.template, row.message, row.params) for row in rows] == [  # nothing rendered in the request
        ("webinars.confirmation", None, {"registration_id": 1}), ("webinars.cancellation", None, {"registration_id": 1})
    ]
    renamed = {"title": {"en": "Lead scoring, renamed"}}
    assert (await client.put(f"{BASE}/{webinar['id']}", json=renamed, headers=editor_headers)).status_code == 200

    recorder, port = smtp_server
    assert await _deliver_now(app, port) == 1
    [message] = recorder.to("late@example.com")
    assert message["Subject"] == "Cancelled: Lead scoring, renamed"  # the webinar as it is when sent
