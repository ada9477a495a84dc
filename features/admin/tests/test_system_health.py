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
                await queue_template(session, template="test.greeting", recipient=address, params={"to": address})
            else:
                await queue_mail(session, message=build_message(app.state.settings, to=recipient, subject="Hi", text="x"))


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


# --- the shape, the overall status, the time limits ----------------------------------------------

CHECKS = {"database", "disk", "upload_dir", "smtp", "workers", "queues", "providers", "backups"}


def _disk(free_percent: float, total_blocks: int = 1_000_000):
    """A statvfs answer with `free_percent` of the disk free to unprivileged users."""
    from types import SimpleNamespace

    return SimpleNamespace(f_frsize=4096, f_blocks=total_blocks, f_bavail=int(total_blocks * free_percent / 100))


def _probes(app, **seams):
    from features.admin.probes import SystemProbes

    app.state.system_probes = SystemProbes(**seams)
    return app.state.system_probes


async def _beat(app) -> None:
    from shared.jobs import JobContext, JobRunner

    context = JobContext(database=app.state.db, settings=app.state.settings, mailer=app.state.mailer)
    await JobRunner(context, [], mode="standalone").run_due_jobs()


async def _backup(app, *, hours_ago: float, status: str = "succeeded", error: str | None = None) -> None:
    from datetime import timedelta

    from features.admin.models import BackupRun
    from shared.db import utcnow

    started = utcnow() - timedelta(hours=hours_ago)
    async with app.state.db.session() as session:
        session.add(BackupRun(trigger="scheduled", status=status, started_at=started, error=error, name="b",
                              finished_at=None if status == "running" else started + timedelta(seconds=3)))


async def test_system_health_answers_the_worst_status_and_eight_checks_each_with_status_and_message(
    client, admin_headers
):
    body = (await client.get("/api/v1/admin/system-health", headers=admin_headers)).json()

    assert set(body["checks"]) == CHECKS
    assert all(check["status"] in {"healthy", "warning", "unhealthy"} and check["message"]
               for check in body["checks"].values())
    # Nothing listens on the test's SMTP port and no worker runs: both unhealthy, so the whole is.
    assert body["checks"]["smtp"]["status"] == "unhealthy" and body["checks"]["workers"]["status"] == "unhealthy"
    assert body["status"] == "unhealthy"
    assert {"version", "started_at", "uptime_seconds"} <= set(body)


async def test_system_health_is_healthy_when_every_check_is_and_warning_when_the_worst_is(
    app, client, admin_headers, mailbox
):
    _probes(app, statvfs=lambda _path: _disk(50))
    await _beat(app)
    await _backup(app, hours_ago=1)

    healthy = (await client.get("/api/v1/admin/system-health", headers=admin_headers)).json()
    assert {name: check["status"] for name, check in healthy["checks"].items()} == dict.fromkeys(CHECKS, "healthy")
    assert healthy["status"] == "healthy"

    _probes(app, statvfs=lambda _path: _disk(5))
    warning = (await client.get("/api/v1/admin/system-health", headers=admin_headers)).json()
    assert warning["checks"]["disk"]["status"] == "warning" and warning["status"] == "warning"


async def test_a_hanging_smtp_server_times_out_its_check_and_the_endpoint_still_answers_promptly(
    app, client, admin_headers
):
    """A server that accepts and never says a word: the smtp check gives up at 3 s, nothing waits longer."""
    import asyncio
    import time

    held = []

    async def accept_and_stay_silent(reader, writer):
        held.append(writer)

    await client.get("/api/v1/health")  # an app's first request pays its warm-up (about a second): not timed here
    server = await asyncio.start_server(accept_and_stay_silent, "127.0.0.1", 0)
    app.state.settings.smtp_port = server.sockets[0].getsockname()[1]
    try:
        started = time.monotonic()
        response = await client.get("/api/v1/admin/system-health", headers=admin_headers)
        elapsed = time.monotonic() - started
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()

    assert response.status_code == 200 and held  # it did connect
    assert 2.9 < elapsed < 3.0 + 1.0  # the SMTP limit plus a margin, far inside the 5 s check limit
    smtp = response.json()["checks"]["smtp"]
    assert smtp["status"] == "unhealthy" and smtp["message"] == "timed out after 3 s"
    assert response.json()["checks"]["database"]["status"] == "healthy"  # the others answered meanwhile


async def test_a_hung_disk_times_out_the_disk_check_under_its_limit_holding_one_thread(app, client, admin_headers):
    import threading
    import time

    release, calls = threading.Event(), []

    def hung_statvfs(_path):
        calls.append(threading.get_ident())
        release.wait(10)
        return _disk(50)

    _probes(app, statvfs=hung_statvfs, check_timeout=0.5)
    await client.get("/api/v1/health")  # the app's warm-up, not timed
    try:
        for _ in range(2):
            started = time.monotonic()
            body = (await client.get("/api/v1/admin/system-health", headers=admin_headers)).json()
            assert time.monotonic() - started < 0.5 + 1.0
            assert body["checks"]["disk"] == {"status": "unhealthy", "message": "timed out after 0.5 s",
                                              "filesystem_of": None, "free_bytes": None, "total_bytes": None, "free_percent": None}
    finally:
        release.set()
    assert len(calls) == 1 and calls[0] != threading.get_ident()  # in a thread, and not one more per request
