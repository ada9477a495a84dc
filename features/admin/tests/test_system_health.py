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
    assert body["health"]["version"] == "2.0.0"
    assert [w["mode"] for w in body["workers"]] == ["standalone"]
    assert [j["name"] for j in body["jobs"]] == ["noop"]
    assert body["mail_outbox"] == {"pending": 0, "sent": 0, "failed": 0, "skipped": 0}
    assert "secret" not in response.text.lower()


async def test_system_health_is_for_admins_only(client, editor_headers):
    assert (await client.get("/api/v1/admin/system-health", headers=editor_headers)).status_code == 403
    assert (await client.get("/api/v1/admin/system-health")).status_code == 401
