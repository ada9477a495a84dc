"""The background job runner.

Slices register periodic jobs. A runner lives inside the API process (WORKER_ENABLED) or
alone (`magnetiq worker`); any number may run side by side, because a run is claimed
atomically in the database. Each runner records a heartbeat that system-health shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import case, delete, literal, or_, update
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.config import Settings
from shared.db import CommitHook, Database, JSONDocument, UTCDateTime, delete_batch, utcnow
from shared.dialect import insert_or_update
from shared.mail import Mailer, deliver_due_mail

logger = logging.getLogger("magnetiq.jobs")

STALE_HEARTBEAT = timedelta(hours=1)  # a heartbeat this old is deleted: its runner is gone
DEFAULT_LEASE = timedelta(minutes=5)


class JobSchedule(SQLModel, table=True):
    __tablename__ = "job_schedules"

    name: str = Field(primary_key=True, max_length=100)
    next_run_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    locked_by: str | None = Field(default=None, max_length=100)
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=500)


class WorkerHeartbeat(SQLModel, table=True):
    __tablename__ = "worker_heartbeats"

    worker_id: str = Field(primary_key=True, max_length=100)
    hostname: str = Field(max_length=255)
    pid: int
    mode: str = Field(max_length=16)  # "in-process" or "standalone"
    jobs: list[str] = Field(default_factory=list, sa_type=JSONDocument)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


@dataclass(frozen=True)
class JobContext:
    database: Database
    settings: Settings
    mailer: Mailer
    clock: Callable[[], datetime] = utcnow  # what a job takes as "now"; tests move it instead of sleeping


MORE_WORK = True  # what a job's run returns when work it could do at once is left (it ran out of time)


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    interval: timedelta
    # Returns MORE_WORK when it stopped with work left that is due: the runner then goes round at
    # once instead of waiting WORKER_POLL_SECONDS, so a long task runs in short, stoppable turns.
    run: Callable[[JobContext], Awaitable[object]]
    # How long a claim holds before another runner may assume this one died mid-run.
    lease: timedelta = DEFAULT_LEASE
    # The runner renews the claim every third of the lease while a run lasts: the lease then bounds
    # how long a killed runner's claim stalls the job, not how long one run may take.
    renew_lease: bool = False


class JobRunner:
    def __init__(self, context: JobContext, jobs: Sequence[PeriodicJob], *, mode: str) -> None:
        self.context = context
        self.jobs = {job.name: job for job in jobs}
        self.mode = mode
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.more_work = False  # a job of the last cycle returned MORE_WORK

    async def run_forever(self, stop: asyncio.Event) -> None:
        logger.info("worker started", extra={"worker_id": self.worker_id, "jobs": sorted(self.jobs)})
        while not stop.is_set():
            try:
                await self.run_due_jobs()
            except Exception:
                logger.exception("worker cycle failed")
            if self.more_work:
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.context.settings.worker_poll_seconds)
        await self._forget_heartbeat()
        logger.info("worker stopped", extra={"worker_id": self.worker_id})

    async def run_due_jobs(self) -> list[str]:
        """One cycle: heartbeat, then every due job this runner manages to claim. Returns their names."""
        await self._beat()
        ran = []
        self.more_work = False
        for job in self.jobs.values():
            if await self._claim(job):
                if await self._run(job) is MORE_WORK:
                    self.more_work = True
                ran.append(job.name)
        return ran

    async def run_if_due(self, names: Iterable[str]) -> None:
        """Runs each named job this runner knows that is due and not claimed by another runner: what a
        committed transaction made due (run_after_commit), run after the response, with no worker.

        Again while it is due once a run ends: a request that found the job running left its turn to
        this run (with no worker, nobody else would take it)."""
        for name in names:
            job = self.jobs.get(name)
            try:
                while job is not None and await self._claim(job):
                    await self._run(job)
            except Exception:  # a busy database: the job stays due and a worker's runner takes it
                logger.exception("job after commit failed", extra={"job": name})

    async def _beat(self) -> None:
        async with self.context.database.session() as session:
            beat = await session.get(WorkerHeartbeat, self.worker_id)
            if beat is None:
                beat = WorkerHeartbeat(
                    worker_id=self.worker_id, hostname=socket.gethostname(), pid=os.getpid(),
                    mode=self.mode, jobs=sorted(self.jobs),
                )
            beat.last_seen_at = utcnow()
            session.add(beat)
            # Runners that stopped without saying goodbye (killed, crashed) fade out of the list.
            await session.exec(  # type: ignore[call-overload]
                delete(WorkerHeartbeat).where(col(WorkerHeartbeat.last_seen_at) < utcnow() - STALE_HEARTBEAT)
            )

    async def _forget_heartbeat(self) -> None:
        async with self.context.database.session() as session:
            beat = await session.get(WorkerHeartbeat, self.worker_id)
            if beat is not None:
                await session.delete(beat)

    async def _claim(self, job: PeriodicJob) -> bool:
        now = utcnow()
        async with self.context.database.session() as session:
            if await session.get(JobSchedule, job.name) is None:
                # Two runners may meet a new job at once (on PostgreSQL nothing serializes them first).
                await session.exec(  # type: ignore[call-overload]
                    insert_or_update(session, JobSchedule.__table__)
                    .values(name=job.name, next_run_at=now)
                    .on_conflict_do_nothing(index_elements=["name"])
                )
            result = await session.exec(  # type: ignore[call-overload]
                update(JobSchedule)
                .where(JobSchedule.name == job.name, JobSchedule.next_run_at <= now)
                .where(or_(col(JobSchedule.locked_until).is_(None), col(JobSchedule.locked_until) < now))
                .values(locked_by=self.worker_id, locked_until=now + job.lease, last_started_at=now)
            )
            return result.rowcount == 1

    async def _run(self, job: PeriodicJob) -> object:
        error, result = None, None
        renewer = asyncio.create_task(self._keep_claim(job)) if job.renew_lease else None
        try:
            result = await job.run(self.context)
        except Exception as exc:
            error = f"{type(exc).__name__}: {str(exc)[:400]}"
            logger.exception("job failed", extra={"job": job.name})
        finally:
            if renewer is not None:
                renewer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewer
        finished = utcnow()
        # Made due again while it ran (run_after_commit: the run may have begun before that change
        # committed): it stays due, so it runs once more.
        next_run_at = case(
            (col(JobSchedule.next_run_at) > col(JobSchedule.last_started_at), col(JobSchedule.next_run_at)),
            else_=literal(finished + job.interval, UTCDateTime()),
        )
        async with self.context.database.session() as session:
            await session.exec(  # type: ignore[call-overload]
                update(JobSchedule)
                .where(JobSchedule.name == job.name, JobSchedule.locked_by == self.worker_id)
                .values(
                    locked_by=None, locked_until=None, last_finished_at=finished, next_run_at=next_run_at,
                    last_error=error,
                )
            )
        return result


    async def _keep_claim(self, job: PeriodicJob) -> None:
        while True:
            await asyncio.sleep(job.lease.total_seconds() / 3)
            try:
                async with self.context.database.session() as session:
                    await session.exec(  # type: ignore[call-overload]
                        update(JobSchedule)
                        .where(JobSchedule.name == job.name, JobSchedule.locked_by == self.worker_id)
                        .values(locked_until=utcnow() + job.lease)
                    )
            except Exception:  # a busy database: the next renewal comes well before the lease ends
                logger.warning("job lease renewal failed", extra={"job": job.name})


# Set on a session whose transaction made jobs due (their names); the commit hook runs them then.
DUE_AFTER_COMMIT = "magnetiq_jobs_due_after_commit"


async def run_after_commit(session: AsyncSession, *, job: PeriodicJob) -> None:
    """Makes `job` due now, in the session's transaction: a rollback asks nothing. Once it commits, a
    request runs the job after its response (due_jobs_hook: no worker needed); should that never
    happen (the process stopped first), the schedule row says it is due and the next runner takes it."""
    await make_due(session, job=job, at=utcnow())
    session.info.setdefault(DUE_AFTER_COMMIT, set()).add(job.name)


async def make_due(session: AsyncSession, *, job: PeriodicJob, at: datetime) -> None:
    """Has `job` run from `at` on, whatever its schedule said, in the session's transaction; a run
    going on then keeps it (a job's own run asking to be tried again later, say)."""
    statement = insert_or_update(session, JobSchedule.__table__).values(name=job.name, next_run_at=at)
    await session.exec(  # type: ignore[call-overload]
        statement.on_conflict_do_update(index_elements=["name"], set_={"next_run_at": statement.excluded.next_run_at})
    )


def due_jobs_hook(runner: JobRunner) -> CommitHook:
    """The Database commit hook that hands on the jobs a committed transaction made due to `runner`."""

    def after_commit(info: dict[str, Any]) -> Callable[[], Awaitable[None]] | None:
        names = info.pop(DUE_AFTER_COMMIT, None)
        return partial(runner.run_if_due, sorted(names)) if names else None

    return after_commit


def heartbeat_stale_after(settings: Settings) -> timedelta:
    """A runner beats before every cycle, and a cycle's job holds its lease at most: a beat older than
    that plus two polls means the runner stopped or is stuck (system health flags it)."""
    return DEFAULT_LEASE + timedelta(seconds=2 * settings.worker_poll_seconds)


async def worker_status(database: Database) -> dict[str, list[dict]]:
    """Heartbeats and job schedules, for system health."""
    async with database.session(write=False) as session:
        beats = (await session.exec(select(WorkerHeartbeat).order_by(col(WorkerHeartbeat.started_at)))).all()
        schedules = (await session.exec(select(JobSchedule).order_by(col(JobSchedule.name)))).all()
    return {
        "workers": [beat.model_dump() for beat in beats],
        "jobs": [schedule.model_dump(exclude={"locked_by"}) for schedule in schedules],
    }


async def runners_seen_since(database: Database, since: datetime) -> list[WorkerHeartbeat]:
    """The runners (API processes included: they beat too) that recorded a heartbeat since then."""
    async with database.session(write=False) as session:
        found = await session.exec(
            select(WorkerHeartbeat).where(col(WorkerHeartbeat.last_seen_at) >= since)
            .order_by(col(WorkerHeartbeat.started_at))
        )
        return list(found.all())


async def prune_idle_schedules(session: AsyncSession, *, idle_since: datetime, limit: int) -> int:
    """Deletes up to `limit` schedules not started since then: jobs renamed or removed leave them
    behind (every job the code has runs at least daily, and a deleted row is simply made again)."""
    return await delete_batch(
        session, JobSchedule,
        or_(col(JobSchedule.locked_until).is_(None), col(JobSchedule.locked_until) < idle_since),
        or_(
            col(JobSchedule.last_started_at) < idle_since,
            col(JobSchedule.last_started_at).is_(None) & (col(JobSchedule.next_run_at) < idle_since),
        ),
        limit=limit,
    )


async def _deliver_mail(context: JobContext) -> None:
    await deliver_due_mail(context.database, context.mailer)


# A short lease, renewed while a batch lasts (an SMTP server that hangs makes it long): a killed
# runner's claim holds the outbox up for two minutes, not DEFAULT_LEASE.
DELIVER_MAIL_JOB = PeriodicJob(
    name="deliver_mail", interval=timedelta(seconds=0), run=_deliver_mail, lease=timedelta(seconds=120),
    renew_lease=True,
)
