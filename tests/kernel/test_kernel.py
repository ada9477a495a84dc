import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlmodel import select

from shared.events import EventBus, LeadCaptured, UserRemoved
from shared.jobs import JobContext, JobRunner, JobSchedule, PeriodicJob, WorkerHeartbeat
from shared.ratelimit import SlidingWindowLimiter, client_address


def test_limiter_allows_the_limit_then_says_when_to_retry():
    now = [1000.0]
    limiter = SlidingWindowLimiter(3, 60, clock=lambda: now[0])
    assert [limiter.hit("a") for _ in range(3)] == [None, None, None]
    assert limiter.hit("a") == 60
    assert limiter.hit("b") is None  # per client
    now[0] += 30
    assert limiter.hit("a") == 30
    now[0] += 31
    assert limiter.hit("a") is None


def test_forwarded_for_is_believed_only_from_trusted_proxies():
    class FakeRequest:
        def __init__(self, peer, forwarded):
            self.client = type("C", (), {"host": peer})()
            self.headers = {"x-forwarded-for": forwarded}

    spoofed = FakeRequest("203.0.113.9", "1.2.3.4")
    assert client_address(spoofed, []) == "203.0.113.9"
    assert client_address(spoofed, ["10.0.0.0/8"]) == "203.0.113.9"
    proxied = FakeRequest("10.0.0.2", "1.2.3.4, 198.51.100.7, 10.0.0.3")
    assert client_address(proxied, ["10.0.0.0/8"]) == "198.51.100.7"


async def test_event_bus_delivers_to_subscribers_in_the_publishers_session_with_the_settings(session, settings):
    bus, seen = EventBus(settings), []

    async def record(event, event_session, event_settings):
        seen.append((event.source, event_session is session, event_settings is settings))

    bus.subscribe(LeadCaptured, record)
    await bus.publish(
        LeadCaptured(email="a@example.com", first_name="A", last_name="B", company=None, language="en",
                     consent_marketing=False, source="webinar:1"),
        session,
    )
    assert seen == [("webinar:1", True, True)]


async def test_publishing_with_no_subscribers_is_harmless(session, settings):
    """No handler for the event: nothing is called, nothing is written, and the publisher goes on."""
    bus, called = EventBus(settings), []

    async def other(event, _session, _settings) -> None:
        called.append(event)

    bus.subscribe(UserRemoved, other)  # a subscriber to another event type only
    await bus.publish(
        LeadCaptured(email="a@example.com", first_name="A", last_name="B", company=None, language="en",
                     consent_marketing=False, source="booking:1"),
        session,
    )
    assert called == []
    assert not session.new and not session.dirty and not session.deleted
    await bus.publish(UserRemoved(user_id=1), session)
    assert called == [UserRemoved(user_id=1)]  # the bus still delivers what has a subscriber


async def test_parallel_runners_run_a_due_job_exactly_once(app):
    runs = []

    async def slow_job(_context):
        runs.append(1)
        await asyncio.sleep(0.2)

    job = PeriodicJob(name="count_me", interval=timedelta(hours=1), run=slow_job)
    context = JobContext(database=app.state.db, settings=app.state.settings, mailer=app.state.mailer)
    runners = [JobRunner(context, [job], mode="in-process") for _ in range(4)]
    results = await asyncio.gather(*(runner.run_due_jobs() for runner in runners))
    assert runs == [1]
    assert sorted(len(r) for r in results) == [0, 0, 0, 1]
    # Not due again until its interval has passed.
    assert await runners[0].run_due_jobs() == []
    async with app.state.db.session(write=False) as session:
        schedule = await session.get(JobSchedule, "count_me")
        beats = (await session.exec(select(WorkerHeartbeat))).all()
    assert schedule.last_finished_at is not None and schedule.locked_by is None
    assert len(beats) == 4


async def test_a_failing_job_is_recorded_and_rescheduled(app):
    async def broken(_context):
        raise ValueError("nope")

    context = JobContext(database=app.state.db, settings=app.state.settings, mailer=app.state.mailer)
    runner = JobRunner(context, [PeriodicJob(name="broken", interval=timedelta(seconds=0), run=broken)], mode="x")
    assert await runner.run_due_jobs() == ["broken"]
    async with app.state.db.session(write=False) as session:
        schedule = await session.get(JobSchedule, "broken")
    assert schedule.last_error.startswith("ValueError") and schedule.locked_until is None
    assert await runner.run_due_jobs() == ["broken"]


async def test_a_job_made_due_while_it_runs_runs_once_more_and_only_after_a_commit(app):
    from shared.jobs import due_jobs_hook, run_after_commit

    runs, go_on = [], asyncio.Event()

    async def job_run(_context):
        runs.append(1)
        if len(runs) == 1:
            await go_on.wait()

    job = PeriodicJob(name="on_demand", interval=timedelta(days=7), run=job_run)
    context = JobContext(database=app.state.db, settings=app.state.settings, mailer=app.state.mailer)
    runner = JobRunner(context, [job], mode="after-commit")
    handed_on = []  # what each request runs after its response
    database = replace(app.state.db, commit_hooks=[due_jobs_hook(runner)], hand_on=handed_on.append)

    async with database.session() as session:
        await run_after_commit(session, job=job)
    first = asyncio.create_task(handed_on.pop()())
    while not runs:
        await asyncio.sleep(0.01)
    async with database.session() as session:  # a second request, while the first one's run goes on
        await run_after_commit(session, job=job)
    await handed_on.pop()()  # finds the job running: leaves it to that run
    assert runs == [1]
    go_on.set()
    await first
    assert runs == [1, 1]  # the second request's change is covered by a run that began after it
    assert await JobRunner(context, [job], mode="standalone").run_due_jobs() == []  # and then it waits

    with pytest.raises(LookupError):
        async with database.session() as session:
            await run_after_commit(session, job=job)
            raise LookupError("rolled back")
    assert handed_on == [] and await JobRunner(context, [job], mode="standalone").run_due_jobs() == []


async def test_worker_runs_inside_the_api_process_when_enabled(settings):
    from httpx import ASGITransport, AsyncClient

    from magnetiq.app import create_app
    from tests.factories import create_schema

    settings.worker_enabled = True
    settings.worker_poll_seconds = 0.05
    app = create_app(settings)
    await create_schema(app)
    async with app.router.lifespan_context(app), AsyncClient(transport=ASGITransport(app=app), base_url="http://t"):
        for _ in range(100):
            async with app.state.db.session(write=False) as session:
                beats = (await session.exec(select(WorkerHeartbeat))).all()
            if beats:
                break
            await asyncio.sleep(0.05)
    assert beats and beats[0].mode == "in-process"


async def test_an_api_process_without_the_worker_beats_but_runs_no_job(settings):
    """So `magnetiq restore` can tell it is running (features/admin/restore.py)."""
    from httpx import ASGITransport, AsyncClient

    from magnetiq.app import create_app
    from shared.jobs import JobSchedule
    from tests.factories import create_schema

    settings.worker_enabled = False
    settings.worker_poll_seconds = 0.05
    app = create_app(settings)
    await create_schema(app)
    async with app.router.lifespan_context(app), AsyncClient(transport=ASGITransport(app=app), base_url="http://t"):
        for _ in range(100):
            async with app.state.db.session(write=False) as session:
                beats = (await session.exec(select(WorkerHeartbeat))).all()
            if beats:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        async with app.state.db.session(write=False) as session:
            schedules = (await session.exec(select(JobSchedule))).all()
    assert [(beat.mode, beat.jobs) for beat in beats] == [("api", [])]
    assert schedules == []
    async with app.state.db.session(write=False) as session:
        assert (await session.exec(select(WorkerHeartbeat))).all() == [], "a clean stop takes its heartbeat along"
    await app.state.db.dispose()


async def test_mail_kicks_during_a_delivery_make_it_run_once_more_not_in_parallel(app):
    from shared.mail import DeliveryKicker

    calls, running = [], []

    class SlowMailer:
        settings = app.state.settings

    kicker = DeliveryKicker()

    async def fake_deliver(database, mailer):
        running.append(1)
        assert len(running) == 1  # never two at once
        calls.append(1)
        await asyncio.sleep(0.05)
        running.pop()

    import shared.mail as mail_module

    original = mail_module.deliver_due_mail
    mail_module.deliver_due_mail = fake_deliver
    try:
        await asyncio.gather(*(kicker.run(app.state.db, SlowMailer()) for _ in range(10)))
    finally:
        mail_module.deliver_due_mail = original
    assert len(calls) == 2  # the first run, then one more round for all the kicks it saw


async def test_a_renewed_lease_holds_through_a_run_longer_than_the_lease(app):
    runs = []

    async def long_job(_context):
        runs.append(1)
        await asyncio.sleep(1.5)

    job = PeriodicJob(
        name="long_turn", interval=timedelta(seconds=0), run=long_job, lease=timedelta(seconds=0.6), renew_lease=True
    )
    context = JobContext(database=app.state.db, settings=app.state.settings, mailer=app.state.mailer)
    first, second = (JobRunner(context, [job], mode="x") for _ in range(2))
    running = asyncio.create_task(first.run_due_jobs())
    await asyncio.sleep(1.0)  # past the lease: only its renewal keeps the second runner out
    assert await second.run_due_jobs() == []
    assert await running == ["long_turn"]
    assert runs == [1]
    async with app.state.db.session(write=False) as session:
        schedule = await session.get(JobSchedule, "long_turn")
    assert schedule.locked_by is None and schedule.locked_until is None


async def test_a_killed_runners_claim_on_mail_and_campaigns_lapses_within_two_minutes(app):
    """A runner killed mid-run never releases its claim: until it lapses nobody sends mail or campaigns."""
    from features.email.api import JOBS as EMAIL_JOBS
    from shared.jobs import DELIVER_MAIL_JOB

    jobs = [DELIVER_MAIL_JOB, *(job for job in EMAIL_JOBS if job.name == "email.send_campaigns")]
    assert len(jobs) == 2
    context = JobContext(database=app.state.db, settings=app.state.settings, mailer=app.state.mailer)
    dead = JobRunner(context, jobs, mode="x")
    for job in jobs:
        assert await dead._claim(job)  # claimed, then the process is killed: nothing releases it
        assert job.renew_lease  # a run that outlasts the short lease still keeps it
    async with app.state.db.session(write=False) as session:
        for job in jobs:
            schedule = await session.get(JobSchedule, job.name)
            assert schedule.locked_until - schedule.last_started_at <= timedelta(minutes=2), job.name
