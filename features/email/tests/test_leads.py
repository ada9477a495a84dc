"""Leads become contacts: double opt-in for consent, no_consent without it, nobody silently resubscribed."""

import pytest
from sqlalchemy import update
from sqlmodel import select

from features.email.leads import record_lead
from features.email.models import Contact
from shared.events import LeadCaptured
from shared.mail import OutgoingMail

from .factories import CONTACTS, link_in, opt_in_mails, sources_of, stored_contact, visitor


async def test_double_opt_in_end_to_end_from_a_webinar_registration(app, client, mailbox, webinar, viewer_headers):
    url = await webinar()
    response = await client.post(url, json=visitor(" Grace@Example.COM ", language="de"))
    assert response.status_code == 201
    contact = await stored_contact(app, "grace@example.com")
    assert contact.status == "pending" and contact.language == "de" and contact.consent_at is None
    webinar_id = url.split("/")[-2]
    assert await sources_of(app, contact.id) == {f"webinar:{webinar_id}"}

    [mail] = opt_in_mails(mailbox, "grace@example.com")
    assert mail["Subject"] == "Bitte bestätigen Sie Ihr Abonnement" and mail["Content-Language"] == "de"
    assert "Hallo Grace" in mail.get_body(("plain",)).get_content()
    path = link_in(mail, "confirm")

    for _ in range(3):  # a mail scanner, a link preview, the person
        page = await client.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert '<html lang="de">' in page.text
        assert '<form method="post"><button type="submit">Ja, abonnieren</button></form>' in page.text
    assert (await stored_contact(app, "grace@example.com")).status == "pending"

    confirmed = await client.post(path)
    assert confirmed.status_code == 200 and "Abonnement bestätigt" in confirmed.text
    contact = await stored_contact(app, "grace@example.com")
    assert contact.status == "subscribed" and contact.consent_origin == "double_opt_in" and contact.consent_at
    view = (await client.get(f"{CONTACTS}/{contact.id}", headers=viewer_headers)).json()
    assert view["status"] == "subscribed" and view["sources"] == [f"webinar:{webinar_id}"]
    assert "<form" not in (await client.get(path)).text  # already confirmed: nothing left to press


async def test_a_lead_without_consent_is_recorded_as_no_consent_and_mailed_nothing(app, client, mailbox, webinar):
    url = await webinar()
    await client.post(url, json=visitor(consent_marketing=False))
    contact = await stored_contact(app, "grace@example.com")
    assert contact.status == "no_consent" and contact.first_name == "Grace" and contact.company == "Navy"
    assert opt_in_mails(mailbox, "grace@example.com") == []


async def test_a_known_address_only_gains_the_new_source(app, client, mailbox, webinar, create_contact):
    await create_contact("grace@example.com", first_name="G.", status="subscribed")
    one, two = await webinar("one"), await webinar("two")
    await client.post(one, json=visitor())
    await client.post(two, json=visitor(first_name="Other", consent_marketing=False))
    contact = await stored_contact(app, "grace@example.com")
    assert contact.status == "subscribed" and contact.first_name == "G." and contact.consent_origin == "staff"
    assert await sources_of(app, contact.id) == {"staff", f"webinar:{one.split('/')[-2]}", f"webinar:{two.split('/')[-2]}"}
    assert opt_in_mails(mailbox, "grace@example.com") == []


async def test_a_no_consent_contact_who_now_consents_becomes_pending_and_is_asked_once(app, client, mailbox, webinar):
    one, two, three = await webinar("one"), await webinar("two"), await webinar("three")
    await client.post(one, json=visitor(consent_marketing=False))
    await client.post(two, json=visitor(consent_marketing=True))
    assert (await stored_contact(app, "grace@example.com")).status == "pending"
    await client.post(three, json=visitor(consent_marketing=True))  # already pending: not asked again
    assert len(opt_in_mails(mailbox, "grace@example.com")) == 1


async def test_unsubscribed_and_bounced_contacts_are_never_silently_resubscribed(app, client, mailbox, webinar):
    url = await webinar()
    for email, status in (("gone@example.com", "unsubscribed"), ("dead@example.com", "bounced")):
        await client.post(url, json=visitor(email, consent_marketing=False))
        async with app.state.db.session() as session:
            await session.exec(update(Contact).where(Contact.email == email).values(status=status))
        other = await webinar(f"again-{status}")
        await client.post(other, json=visitor(email, consent_marketing=True))
        contact = await stored_contact(app, email)
        assert contact.status == status
        assert len(await sources_of(app, contact.id)) == 2
        assert opt_in_mails(mailbox, email) == []


async def test_the_opt_in_mail_is_not_sent_once_the_contact_is_no_longer_pending(app, client, smtp_server, webinar):
    from shared.mail import deliver_due_mail

    url = await webinar()  # nothing listens on the SMTP port yet: the mails wait in the outbox
    await client.post(url, json=visitor())
    async with app.state.db.session() as session:
        await session.exec(update(Contact).values(status="unsubscribed"))
        await session.exec(update(OutgoingMail).values(next_attempt_at=OutgoingMail.created_at))
    recorder, port = smtp_server
    app.state.settings.smtp_port = port
    await deliver_due_mail(app.state.db, app.state.mailer)
    async with app.state.db.session(write=False) as session:
        rows = {row.template: row.status for row in (await session.exec(select(OutgoingMail))).all()}
    assert rows["email.opt_in"] == "skipped" and opt_in_mails(recorder, "grace@example.com") == []


def _lead(email="lead@example.com", consent=True, source="webinar:1") -> LeadCaptured:
    return LeadCaptured(email=email, first_name="Lea", last_name="D", company=None, language="en",
                        consent_marketing=consent, source=source)


async def _statements_of(app, leads: list[LeadCaptured]) -> list[tuple[int, int]]:
    """(statements, trips to the driver's thread) each lead costs, as SQLite and aiosqlite see them
    (the handler bypasses SQLAlchemy's events)."""
    seen: list[tuple[int, int]] = []
    async with app.state.db.session() as session:
        driver = (await (await session.connection()).get_raw_connection()).driver_connection
        run_in_thread, trips = driver._execute, []

        async def counted(fn, *args, **kwargs):
            trips.append(fn)
            return await run_in_thread(fn, *args, **kwargs)

        for lead in leads:
            statements: list[str] = []
            trips.clear()
            await driver.set_trace_callback(statements.append)
            driver._execute = counted
            await record_lead(lead, session, app.state.settings)
            driver._execute = run_in_thread
            await driver.set_trace_callback(None)
            seen.append((len(statements), len(trips)))
    return seen


@pytest.mark.sqlite_only  # counts trips to aiosqlite's thread, or SQLite's write lock: SQLite's mechanism
async def test_a_lead_costs_one_trip_to_the_driver_at_most_and_its_other_writes_ride_with_the_next(app):
    new_without, new_with, known, known_consents = await _statements_of(app, [
        _lead("a@example.com", consent=False), _lead("b@example.com"), _lead("b@example.com", source="booking:1"),
        _lead("a@example.com", source="booking:2"),
    ])
    assert new_without == (0, 0)  # the contact and its source are deferred: no trip of its own
    # The transaction's BEGIN and a's two deferred writes ride ahead of the next trip: b's contact,
    # source, a no_consent contact asked again (none); b's opt-in mail is deferred in turn.
    assert new_with == (1 + 2 + 3, 1)
    assert known == (1 + 3, 1)  # b's opt-in mail; a contact (none), the source, asked again (none: pending)
    assert known_consents == (3, 1)  # ... asked again; its opt-in mail goes with the commit
    async with app.state.db.session(write=False) as session:
        mails = (await session.exec(select(OutgoingMail).where(OutgoingMail.template == "email.opt_in"))).all()
    assert sorted(mail.recipient for mail in mails) == ["a@example.com", "b@example.com"]
    assert (await stored_contact(app, "a@example.com")).status == "pending"
