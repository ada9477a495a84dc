async def test_system_health_shows_workers_jobs_and_mail_queue(app, client, admin_headers):
    from shared.jobs import JobContext, JobRunner, PeriodicJob

    async def noop(_context):
        return None

    from datetime import timedelta

    context = JobContext(database=app.state.db, settings=app.state.settings, mailer=app.state.mailer)
    await JobRunner(context, [PeriodicJob(name="noop", interval=timedelta(minutes=1), run=noop)], mode="standalone").run_due_jobs()

    response = await client.get("/api/v1/admin/system-health", headers=admin_headers)
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == "2.0.0"
    workers = body["checks"]["workers"]
    assert workers["status"] == "healthy" and workers["message"] == "1 runner"
    assert [(w["mode"], w["stale"]) for w in workers["runners"]] == [("standalone", False)]
    assert [j["name"] for j in workers["jobs"]] == ["noop"]
    assert body["checks"]["queues"]["mail"] == {"due": 0, "pending": 0, "sent": 0, "failed": 0, "failed_last_day": 0,
                                                "skipped": 0}
    assert "secret" not in response.text.lower()


async def test_system_health_is_for_admins_only(client, editor_headers):
    assert (await client.get("/api/v1/admin/system-health", headers=editor_headers)).status_code == 403
    assert (await client.get("/api/v1/admin/system-health")).status_code == 401


async def _queue(app, *recipients: str) -> None:
    from shared.mail import build_message, queue_mail, queue_template

    async with app.state.db.session() as session:
        for recipient in recipients:
            if recipient.startswith("template:"):
                address = recipient.removeprefix("template:")
                await queue_template(session, "test.greeting", recipient=address, params={"to": address})
            else:
                await queue_mail(session, build_message(app.state.settings, to=recipient, subject="Hi", text="x"))


async def test_system_health_shows_the_last_delivery_error_without_the_recipients_address(
    app, client, admin_headers, mailbox
):
    from shared.mail import Mailer, build_message, deliver_due_mail

    async def greeting(session, settings, params):
        return build_message(settings, to=params["to"], subject="Hello", text="x")

    mailbox.refused.add("ada.lovelace@example.com")
    await _queue(app, "template:ada.lovelace@example.com", "bob@example.com")
    assert await deliver_due_mail(app.state.db, Mailer(app.state.settings, {"test.greeting": greeting})) == 1

    response = await client.get("/api/v1/admin/system-health", headers=admin_headers)

    assert response.status_code == 200
    queues = response.json()["checks"]["queues"]
    error = queues["last_mail_error"]
    assert error["template"] == "test.greeting" and error["status"] == "pending" and error["attempts"] == 1
    assert error["failed_at"] and error["next_attempt_at"] > error["failed_at"]
    assert error["reason"].startswith("SMTPRecipientsRefused") and "550" in error["reason"]
    assert "<address>" in error["reason"]
    assert "ada.lovelace" not in response.text and "example.com" not in error["reason"]
    assert queues["mail"] == {"due": 0, "pending": 1, "sent": 1, "failed": 0, "failed_last_day": 0, "skipped": 0}


async def test_system_health_shows_no_delivery_error_until_one_happens_then_the_newest(app, client, admin_headers):
    from datetime import timedelta

    from sqlmodel import select

    from shared.db import utcnow
    from shared.mail import OutgoingMail, deliver_due_mail

    body = (await client.get("/api/v1/admin/system-health", headers=admin_headers)).json()
    assert body["checks"]["queues"]["last_mail_error"] is None

    await _queue(app, "first@example.com")
    await deliver_due_mail(app.state.db, app.state.mailer)  # nothing listens on the SMTP port
    async with app.state.db.session() as session:  # the first failure an hour ago; the second one is newer
        [first] = (await session.exec(select(OutgoingMail))).all()
        first.last_error_at, first.last_error = utcnow() - timedelta(hours=1), "SMTPDataError: an older failure"
        session.add(first)
    await _queue(app, "second@example.com")
    await deliver_due_mail(app.state.db, app.state.mailer)  # only the second is due: the first waits for its retry

    body = (await client.get("/api/v1/admin/system-health", headers=admin_headers)).json()
    error = body["checks"]["queues"]["last_mail_error"]
    assert error["template"] is None and error["attempts"] == 1 and error["status"] == "pending"
    assert "older" not in error["reason"] and error["reason"].startswith("SMTP")
