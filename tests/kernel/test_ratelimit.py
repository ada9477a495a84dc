"""Public-write limits shared by every process on one database: counted in a SQLite file beside it."""

from httpx import ASGITransport, AsyncClient

from shared.ratelimit import CounterFile, SharedWindowLimiter, SlidingWindowLimiter

WINDOW_START = 60 * 16_667.0  # a minute boundary, so the clock below reads 20 s into a window


def _pair(tmp_path, clock, limit=3):
    """Two limiters on one counter file, each with its own connection: two processes."""
    path = str(tmp_path / "db.sqlite-ratelimit")
    return [SharedWindowLimiter(CounterFile(path), "register", limit, 60, clock=clock) for _ in range(2)]


def test_processes_share_one_count_and_are_told_when_to_retry(tmp_path):
    now = [WINDOW_START + 20]
    first, second = _pair(tmp_path, lambda: now[0])
    assert [first.hit("198.51.100.7"), second.hit("198.51.100.7"), first.hit("198.51.100.7")] == [None] * 3
    assert second.hit("198.51.100.7") == 60  # the other process saw the three hits
    assert first.hit("203.0.113.9") is None  # per client
    now[0] += 59
    assert first.hit("198.51.100.7") is not None
    now[0] += 1
    assert second.hit("198.51.100.7") is None


def test_the_window_slides_rather_than_resetting_at_the_minute(tmp_path):
    now = [WINDOW_START + 55]
    limiter, _ = _pair(tmp_path, lambda: now[0])
    assert [limiter.hit("a") for _ in range(3)] == [None] * 3  # three hits at the end of one minute
    now[0] += 10  # 5 s into the next: those hits still count almost fully
    wait = limiter.hit("a")
    assert wait is not None and 0 < wait <= 60


def test_asking_whether_a_client_is_past_the_limit_counts_nothing(tmp_path):
    # What RefusedAttemptLimit.check asks before an attempt is judged.
    now = [WINDOW_START + 20]
    shared, _ = _pair(tmp_path, lambda: now[0], limit=2)
    for limiter in (shared, SlidingWindowLimiter(2, 60, clock=lambda: now[0])):
        assert [limiter.hit("a", record=False) for _ in range(5)] == [None] * 5
        assert [limiter.hit("a"), limiter.hit("a")] == [None, None]
        assert limiter.hit("a", record=False) is not None


def test_buckets_are_separate(tmp_path):
    now = [WINDOW_START + 20]
    path = str(tmp_path / "c")
    register = SharedWindowLimiter(CounterFile(path), "register", 1, 60, clock=lambda: now[0])
    download = SharedWindowLimiter(CounterFile(path), "download", 1, 60, clock=lambda: now[0])
    assert register.hit("a") is None and download.hit("a") is None
    assert register.hit("a") is not None


def test_without_its_file_a_process_still_limits_on_its_own(tmp_path, caplog):
    counters = CounterFile(str(tmp_path / "missing-dir" / "c"))  # cannot be created
    limiter = SharedWindowLimiter(counters, "register", 2, 60)
    with caplog.at_level("WARNING", logger="magnetiq.ratelimit"):
        assert [limiter.hit("a"), limiter.hit("a")] == [None, None]
        assert limiter.hit("a") is not None
    assert len(caplog.records) == 1  # said once, not on every request


async def test_two_api_processes_on_one_database_allow_the_limit_once(app, app_factory, settings):
    settings.rate_limit_public_per_minute = 2
    other = app_factory(settings)
    body = {"email": "someone@example.com"}
    try:
        async with (
            AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as one,
            AsyncClient(transport=ASGITransport(app=other), base_url="http://t") as two,
        ):
            assert (await one.post("/api/v1/auth/forgot-password", json=body)).status_code == 202
            assert (await two.post("/api/v1/auth/forgot-password", json=body)).status_code == 202
            refused = await one.post("/api/v1/auth/forgot-password", json=body)
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "RATE_LIMITED"
    finally:
        await other.state.db.dispose()


# --- counted in the database (PostgreSQL: several machines) -----------------------------------------------
# DatabaseWindowLimiter is what a PostgreSQL app uses; these tests run it on the suite's engine (SQLite's
# apps keep their side file, but the limiter's statements run there too).


async def _database_pair(app, settings, clock, limit=3, bucket="register"):
    """Two limiters on two engines of one database: two machines."""
    from shared.db import create_engine
    from shared.ratelimit import DatabaseCounters, DatabaseWindowLimiter

    other = create_engine(settings.database_url)
    limiters = [DatabaseWindowLimiter(DatabaseCounters(engine), bucket, limit, 60, clock=clock)
                for engine in (app.state.db.engine, other)]
    return limiters, other


async def test_machines_on_one_database_share_one_count_and_are_told_when_to_retry(app, settings):
    now = [WINDOW_START + 20]
    (first, second), other = await _database_pair(app, settings, lambda: now[0])
    try:
        assert [await first.hit("198.51.100.7"), await second.hit("198.51.100.7"), await first.hit("198.51.100.7")] == [None] * 3
        assert await second.hit("198.51.100.7") == 60
        assert await first.hit("203.0.113.9") is None  # per client
        assert await first.hit("198.51.100.7", record=False) is not None  # asking counts nothing, and is refused
        now[0] += 45  # 5 s into the next window: the previous one still counts for 55/60 of its hits
        assert 0 < await second.hit("198.51.100.7") <= 60
        now[0] += 60
        assert await first.hit("198.51.100.7") is None
    finally:
        await other.dispose()


async def test_concurrent_hits_from_two_machines_allow_the_limit_exactly(app, settings):
    import asyncio

    now = [WINDOW_START + 20]
    (first, second), other = await _database_pair(app, settings, lambda: now[0], limit=5)
    try:
        answers = await asyncio.gather(*(limiter.hit("a") for _ in range(10) for limiter in (first, second)))
    finally:
        await other.dispose()
    assert sum(answer is None for answer in answers) == 5  # the check and the count never interleave


async def test_windows_no_estimate_reads_are_pruned(app, settings):
    from sqlalchemy import func
    from sqlmodel import select

    from shared.ratelimit import RateLimitHits

    now = [WINDOW_START + 20]
    (limiter, _), other = await _database_pair(app, settings, lambda: now[0])
    try:
        for client in ("a", "b", "c"):
            await limiter.hit(client)
        now[0] += 180  # three windows later: the hits' window is of no use
        await limiter.hit("d")
        async with app.state.db.session(write=False) as session:
            rows = (await session.exec(select(RateLimitHits.client))).all()
            assert rows == ["d"], rows
            assert (await session.exec(select(func.count()).select_from(RateLimitHits))).one() == 1
    finally:
        await other.dispose()
