"""The mail kernel against a real SMTP server: templates rendered at delivery, one session per batch."""

from sqlmodel import select

from shared.mail import Mailer, OutgoingMail, build_message, deliver_due_mail, queue_mail, queue_template


def _mailer(app, templates) -> Mailer:
    return Mailer(app.state.settings, templates)


async def _rows(app) -> dict[str, OutgoingMail]:
    async with app.state.db.session(write=False) as session:
        return {row.recipient: row for row in (await session.exec(select(OutgoingMail))).all()}


async def test_a_template_is_rendered_when_sent_with_what_is_stored_then(app, mailbox):
    seen = []

    async def greeting(session, settings, params):
        seen.append(params)
        return build_message(settings, to=params["to"], subject=f"Grüße, {params['name']}", text="Hallo")

    async with app.state.db.session() as session:
        await queue_template(
            session, template="test.greeting", recipient="ann@example.com", params={"to": "ann@example.com", "name": "Ann"}
        )
    [queued] = (await _rows(app)).values()
    assert queued.message is None and queued.subject == ""  # nothing rendered at queue time

    assert await deliver_due_mail(app.state.db, _mailer(app, {"test.greeting": greeting})) == 1
    [message] = mailbox.to("ann@example.com")
    assert message["Subject"] == "Grüße, Ann"
    assert message.get_body(preferencelist=("plain",)).get_content().strip() == "Hallo"
    sent = (await _rows(app))["ann@example.com"]
    assert sent.status == "sent" and sent.subject == "Grüße, Ann" and seen == [{"to": "ann@example.com", "name": "Ann"}]


async def test_a_template_with_nothing_left_to_send_is_skipped_and_an_unknown_one_retried(app, mailbox):
    async def gone(session, settings, params):
        return None

    async with app.state.db.session() as session:
        await queue_template(session, template="test.gone", recipient="gone@example.com", params={})
        await queue_template(session, template="test.unknown", recipient="unknown@example.com", params={})
        await queue_mail(session, message=build_message(app.state.settings, to="plain@example.com", subject="Hi", text="x"))

    assert await deliver_due_mail(app.state.db, _mailer(app, {"test.gone": gone})) == 1
    rows = await _rows(app)
    assert rows["gone@example.com"].status == "skipped"
    assert rows["unknown@example.com"].params == {}  # still pending: kept for the next attempt
    unknown = rows["unknown@example.com"]
    assert unknown.status == "pending" and unknown.attempts == 1 and unknown.last_error.startswith("LookupError")
    assert rows["plain@example.com"].status == "sent"
    assert [m["To"] for m in mailbox.messages] == ["plain@example.com"]


async def test_a_batch_goes_out_over_one_smtp_session(app, mailbox):
    async with app.state.db.session() as session:
        for n in range(5):
            await queue_mail(session, message=build_message(app.state.settings, to=f"r{n}@example.com", subject="Hi", text="x"))
    assert await deliver_due_mail(app.state.db, app.state.mailer) == 5
    assert len(mailbox.messages) == 5 and mailbox.sessions == 1
    rows = (await _rows(app)).values()
    assert {row.status for row in rows} == {"sent"}
    # Delivered: a record of who, what and when remains, not a copy of the body and its links.
    assert {(row.message, row.params) for row in rows} == {(None, None)} and all(row.subject == "Hi" for row in rows)


async def test_a_refused_recipient_is_retried_later_without_holding_up_the_batch(app, mailbox):
    mailbox.refused.add("r1@example.com")
    async with app.state.db.session() as session:
        for n in range(3):
            await queue_mail(session, message=build_message(app.state.settings, to=f"r{n}@example.com", subject="Hi", text="x"))
    assert await deliver_due_mail(app.state.db, app.state.mailer) == 2
    assert sorted(m["To"] for m in mailbox.messages) == ["r0@example.com", "r2@example.com"]
    assert mailbox.sessions == 1  # the session was reset (RSET) and reused, not reopened
    rows = await _rows(app)
    refused = rows["r1@example.com"]
    assert refused.status == "pending" and refused.attempts == 1 and refused.next_attempt_at is not None
    assert refused.last_error.startswith("SMTPRecipientsRefused")
    assert rows["r0@example.com"].status == rows["r2@example.com"].status == "sent"


async def test_non_ascii_subjects_are_encoded_and_calendar_parts_name_their_method(app, mailbox):
    from datetime import UTC, datetime, timedelta

    from shared.calendar import ics_invite

    invite = ics_invite(
        uid="u-1@example.com",
        summary="Termin",
        description="d",
        starts_at=datetime(2030, 1, 1, tzinfo=UTC),
        duration=timedelta(minutes=30),
        timezone_name="Europe/Berlin",
        organizer_email="a@example.com",
        attendee_email="b@example.com",
    )
    message = build_message(
        app.state.settings,
        to="b@example.com",
        subject="Bestätigung „Termin“",
        text="Grüße",
        attachments=(invite,),
        language="de",
    )
    raw = message.as_bytes()
    assert raw.isascii()  # plain SMTP: headers encoded (RFC 2047), bodies transfer-encoded
    async with app.state.db.session() as session:
        await queue_mail(session, message=message)
    await deliver_due_mail(app.state.db, app.state.mailer)
    [received] = mailbox.to("b@example.com")
    assert received["Subject"] == "Bestätigung „Termin“" and received["Content-Language"] == "de"
    [part] = list(received.iter_attachments())
    assert part.get_content_type() == "text/calendar" and part.get_param("method") == "REQUEST"
    assert received.get_body(preferencelist=("plain",)).get_content().strip() == "Grüße"


async def test_a_request_that_queued_mail_starts_delivery_once_it_commits_and_one_that_failed_sends_nothing(
    app, client, mailbox
):
    """No handler asks for delivery: the request's commit hook starts it; a rollback hands nothing on."""
    from fastapi import APIRouter

    from shared.db import WriteSession
    from shared.errors import Conflict

    routes = APIRouter()

    @routes.post("/api/v1/test/mail/{outcome}")
    async def queue_one(outcome: str, session: WriteSession) -> dict:
        message = build_message(app.state.settings, to=f"{outcome}@example.com", subject="Hi", text="x")
        await queue_mail(session, message=message)
        if outcome == "refused":
            raise Conflict()
        return {}

    app.include_router(routes)
    assert (await client.post("/api/v1/test/mail/refused")).status_code == 409
    assert (await client.post("/api/v1/test/mail/kept")).status_code == 200
    assert [m["To"] for m in mailbox.messages] == ["kept@example.com"]  # delivered by the time it answered
    assert set(await _rows(app)) == {"kept@example.com"}


async def test_a_handler_with_units_of_work_of_its_own_starts_delivery_after_each_commit_and_not_after_a_rollback(
    app, client, mailbox
):
    """A handler that opens its own units of work (the CSV import does) hands on like a WriteSession."""
    from fastapi import APIRouter

    from shared.db import DatabaseDep

    routes = APIRouter()

    @routes.post("/api/v1/test/units")
    async def queue_in_units(database: DatabaseDep) -> dict:
        async with database.session() as session:
            await queue_mail(session, message=build_message(app.state.settings, to="kept@example.com", subject="Hi", text="x"))
        try:
            async with database.session() as session:
                message = build_message(app.state.settings, to="dropped@example.com", subject="Hi", text="x")
                await queue_mail(session, message=message)
                raise LookupError
        except LookupError:
            pass
        return {}

    app.include_router(routes)
    assert (await client.post("/api/v1/test/units")).status_code == 200
    assert [m["To"] for m in mailbox.messages] == ["kept@example.com"]  # delivered by the time it answered
    assert set(await _rows(app)) == {"kept@example.com"}
    # Outside a request nothing is started: the worker's polling delivers (and tests deliver by hand).
    async with app.state.db.session() as session:
        await queue_mail(session, message=build_message(app.state.settings, to="later@example.com", subject="Hi", text="x"))
    assert [m["To"] for m in mailbox.messages] == ["kept@example.com"]
    assert await deliver_due_mail(app.state.db, app.state.mailer) == 1


async def test_forget_recipient_removes_every_message_to_that_address_only(app, mailbox):
    from sqlalchemy import update

    from shared.mail import forget_recipient

    async with app.state.db.session() as session:
        for recipient in ("kept@example.com", "gone@example.com"):
            await queue_mail(session, message=build_message(app.state.settings, to=recipient, subject="Hi", text="x"))
    assert await deliver_due_mail(app.state.db, _mailer(app, {})) == 2
    async with app.state.db.session() as session:
        for recipient in ("gone@example.com", "gone@bücher.example", "kept@example.com", "failed@example.com"):
            await queue_template(session, template="test.any", recipient=recipient, params={})
        await session.exec(update(OutgoingMail).where(OutgoingMail.recipient == "failed@example.com").values(status="failed"))
    async with app.state.db.session() as session:
        assert await forget_recipient(session, address="gone@example.com") == 2  # sent, and still queued
        assert await forget_recipient(session, address="gone@bücher.example") == 1  # stored in punycode
        assert await forget_recipient(session, address="failed@example.com") == 1
    async with app.state.db.session(write=False) as session:
        left = sorted((row.recipient, row.status) for row in (await session.exec(select(OutgoingMail))).all())
    assert left == [("kept@example.com", "pending"), ("kept@example.com", "sent")]


async def test_deliveries_running_side_by_side_never_send_a_message_twice(app, mailbox):
    import asyncio

    async with app.state.db.session() as session:
        for n in range(12):
            await queue_mail(session, message=build_message(app.state.settings, to=f"p{n}@example.com", subject="Hi", text="x"))

    async def deliver_until_done():
        sent = 0
        while delivered := await deliver_due_mail(app.state.db, app.state.mailer, batch_size=2):
            sent += delivered
        return sent

    counts = await asyncio.gather(*(deliver_until_done() for _ in range(3)))
    assert sum(counts) == 12
    assert sorted(m["To"] for m in mailbox.messages) == sorted(f"p{n}@example.com" for n in range(12))
    assert {row.claimed_until for row in (await _rows(app)).values()} == {None}  # every claim let go


async def test_each_message_is_marked_sent_before_the_next_one_leaves(app, settings):
    """A process killed mid-batch re-sends only what it had not marked: here, while the server holds
    the third message, the first two are already recorded as sent."""
    import asyncio
    import threading

    from aiosmtpd.controller import Controller

    holding, release = threading.Event(), threading.Event()
    received: list[str] = []

    class HoldsTheThird:
        async def handle_DATA(self, server, session, envelope) -> str:
            if len(received) == 2:
                holding.set()
                while not release.is_set():
                    await asyncio.sleep(0.01)
            received.extend(envelope.rcpt_tos)
            return "250 OK"

    controller = Controller(HoldsTheThird(), hostname="127.0.0.1", port=settings.smtp_port)
    controller.start()
    try:
        async with app.state.db.session() as session:
            for n in range(5):
                await queue_mail(session, message=build_message(settings, to=f"k{n}@example.com", subject="Hi", text="x"))
        delivery = asyncio.create_task(deliver_due_mail(app.state.db, app.state.mailer))
        while not holding.is_set():
            await asyncio.sleep(0.01)
        statuses = {address: row.status for address, row in (await _rows(app)).items()}
        release.set()
        assert await delivery == 5
    finally:
        controller.stop()
    assert statuses == {"k0@example.com": "sent", "k1@example.com": "sent", "k2@example.com": "pending",
                        "k3@example.com": "pending", "k4@example.com": "pending"}
    assert {row.status for row in (await _rows(app)).values()} == {"sent"}
