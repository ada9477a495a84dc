"""System health: eight checks, run side by side, each under its own time limit (SystemProbes.check_timeout).

Each answers `healthy`, `warning` or `unhealthy` (the vocabulary of /health/detailed), a short message
and its details; the overall status is the worst of them."""

from __future__ import annotations

import platform
from datetime import datetime

import aiosmtplib
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from features.admin import service
from features.admin.probes import SystemProbes
from features.admin.schemas import (
    BackupsCheck,
    DatabaseCheck,
    DiskCheck,
    JobState,
    ProvidersCheck,
    QueuesCheck,
    SmtpCheck,
    SystemChecks,
    SystemHealth,
    UploadDirCheck,
    WorkerRunner,
    WorkersCheck,
)
from features.email import api as email_api
from features.health import api as health_api
from features.linkedin import api as linkedin_api
from features.twitter import api as twitter_api
from shared.config import Settings
from shared.db import Database
from shared.health_checks import run_checks, worst
from shared.jobs import heartbeat_stale_after, worker_status
from shared.migrations import current_revision, head_revision

DISK_WARNING_PERCENT = 10.0
DISK_UNHEALTHY_PERCENT = 2.0


async def check_database(database: Database, settings: Settings, probes: SystemProbes) -> DatabaseCheck:
    """Reachable, its size and WAL's, at migration head, and PRAGMA quick_check (kept a few minutes)."""
    state = await health_api.database_state(database)
    if state == "unreachable":
        return DatabaseCheck(status="unhealthy", message=health_api.DATABASE_UNREACHABLE, reachable=False)
    sizes = await probes.flights.run("database_file_sizes", health_api.database_file_sizes, settings)
    try:
        revision = None if state == "busy" else await current_revision(database)
        facts = None if state == "busy" else await health_api.engine_facts(database)
    except (PoolTimeout, SQLAlchemyError):
        state, revision, facts = "busy", None, None
    if sizes is None and facts is not None:  # PostgreSQL: no file here; pg_database_size, and the WAL is the server's
        sizes = (facts.size_bytes, None)
    quick = await probes.quick_check(settings)
    head = head_revision()
    details = DatabaseCheck(
        status="healthy", reachable=True,
        engine=facts.name if facts else None, version=facts.version if facts else None,
        size_bytes=sizes[0] if sizes else None, wal_bytes=sizes[1] if sizes else None,
        quick_check=quick.result if quick else "running", quick_check_at=quick.at if quick else None,
        revision=revision, head_revision=head, migrations_at_head=None if state == "busy" else revision == head,
    )
    if quick is not None and quick.result != "ok":
        return details.model_copy(update={"status": "unhealthy", "message": f"quick_check: {quick.result}"})
    if details.migrations_at_head is False:
        return details.model_copy(update={"status": "unhealthy", "message": health_api.SCHEMA_NOT_AT_HEAD})
    if state == "busy":
        return details.model_copy(update={"status": "warning", "message": health_api.DATABASE_BUSY})
    return details.model_copy(update={"message": f"reachable, at migration head, quick_check {details.quick_check}"})


async def check_disk(settings: Settings, probes: SystemProbes) -> DiskCheck:
    """Free space of the file system under the data directory (SQLite: the database's; PostgreSQL: UPLOAD_DIR's)."""
    free, total = await probes.disk_space(settings)
    exact = free / total * 100 if total else 0.0  # compared unrounded: 1.96 % is below 2 %
    status = "unhealthy" if exact < DISK_UNHEALTHY_PERCENT else "warning" if exact < DISK_WARNING_PERCENT else "healthy"
    percent = round(exact, 1)
    return DiskCheck(status=status, message=f"{percent}% free ({free / 1024**3:.1f} GiB)",
                     filesystem_of="database" if settings.is_sqlite else "upload_dir",
                     free_bytes=free, total_bytes=total, free_percent=percent)


async def check_upload_dir(settings: Settings, probes: SystemProbes) -> UploadDirCheck:
    if await probes.flights.run("upload_dir_writable", health_api.upload_dir_writable, settings.upload_dir):
        return UploadDirCheck(status="healthy", message="writable", writable=True)
    return UploadDirCheck(status="unhealthy", message=health_api.UPLOAD_DIR_NOT_WRITABLE, writable=False)


async def check_smtp(settings: Settings, probes: SystemProbes) -> SmtpCheck:
    """The SMTP server answers connect, EHLO, NOOP and QUIT within SystemProbes.smtp_timeout."""
    where = {"host": settings.smtp_host, "port": settings.smtp_port}
    try:
        elapsed = await probes.smtp_round_trip(settings)
    except TimeoutError:  # aiosmtplib's own timeouts are TimeoutErrors too
        return SmtpCheck(status="unhealthy", message=f"timed out after {probes.smtp_timeout:g} s", **where)
    except aiosmtplib.SMTPResponseException as exc:
        return SmtpCheck(status="unhealthy", message=f"answered {exc.code}: {exc.message[:100]}", **where)
    except (aiosmtplib.SMTPException, OSError) as exc:
        return SmtpCheck(status="unhealthy", message=f"connection failed ({type(exc).__name__})", **where)
    return SmtpCheck(status="healthy", message="answered EHLO and NOOP", elapsed_ms=elapsed, **where)


async def check_workers(database: Database, settings: Settings, probes: SystemProbes) -> WorkersCheck:
    """Every runner with its last heartbeat (stale ones flagged) and every job's last run."""
    found, now, stale_after = await worker_status(database), probes.clock(), heartbeat_stale_after(settings)
    runners = [WorkerRunner(**beat, stale=now - beat["last_seen_at"] > stale_after) for beat in found["workers"]]
    jobs = [JobState(**job) for job in found["jobs"]]
    live, failed = [r for r in runners if not r.stale], [j.name for j in jobs if j.last_error]
    status, message = "healthy", f"{len(live)} runner{'s' * (len(live) != 1)}"
    if not live:
        status, message = "unhealthy", "no live worker: mail, campaigns and scheduled posts wait"
    elif len(live) < len(runners):
        status, message = "warning", f"{len(runners) - len(live)} of {len(runners)} runners stale"
    elif failed:
        status, message = "warning", f"last run failed: {', '.join(failed)}"
    return WorkersCheck(status=status, message=message, worker_enabled_in_api=settings.worker_enabled,
                        runners=runners, jobs=jobs)


async def check_queues(database: Database, probes: SystemProbes) -> QueuesCheck:
    """Transactional mail due and failed, campaign recipients pending, posts due and `unknown`."""
    async with database.session(write=False) as session:
        mail = await service.mail_queue(session, now=probes.clock())
        last_error = await service.last_mail_error(session)
        campaigns = await email_api.campaign_backlog(session)
        posts = {"linkedin": await linkedin_api.post_queue(session), "twitter": await twitter_api.post_queue(session)}
    unknown = sum(queue.unknown for queue in posts.values())
    notes = []
    if mail.failed_last_day:
        notes.append(f"{mail.failed_last_day} mail failed for good in the last day")
    if unknown:
        notes.append(f"{unknown} post{'s' * (unknown != 1)} unknown: check the provider, then reset")
    message = "; ".join(notes) or (
        f"{mail.due} mail due, {campaigns.recipients_pending} campaign recipients pending, "
        f"{sum(queue.due for queue in posts.values())} posts due")
    return QueuesCheck(status="warning" if notes else "healthy", message=message, mail=mail,
                       last_mail_error=last_error, campaigns=campaigns, posts=posts)


async def check_providers(database: Database, settings: Settings) -> ProvidersCheck:
    """LinkedIn and X accounts whose token ends soon or that must be connected again."""
    async with database.session(write=False) as session:
        networks = {"linkedin": await linkedin_api.accounts_health(session, settings=settings),
                    "twitter": await twitter_api.accounts_health(session, settings=settings)}
    notes = []
    for name, health in networks.items():
        problems = [f"{count} {state}" for state, count in (("expiring", health.expiring),
                                                            ("to reconnect", health.reconnect_required)) if count]
        if problems:
            notes.append(f"{name}: {', '.join(problems)}")
    active = sum(health.active for health in networks.values())
    return ProvidersCheck(status="warning" if notes else "healthy",
                          message="; ".join(notes) or f"{active} accounts active", **networks)


async def check_backups(database: Database, settings: Settings, probes: SystemProbes) -> BackupsCheck:
    """The newest backup's outcome and the last success's age (a warning past twice BACKUP_INTERVAL_HOURS).

    Without BACKUP_DIR the same rule holds for backups taken by hand (`magnetiq backup`), and never
    having had one is a warning that says BACKUP_DIR is not set."""
    async with database.session(write=False) as session:
        last = await service.latest_backup(session)
        success = last if last is None or last.status == "succeeded" else await service.latest_backup(
            session, status="succeeded")
    interval, scheduled = settings.backup_interval_hours, bool(settings.backup_dir)
    succeeded_at = (success.finished_at or success.started_at) if success else None
    age = round((probes.clock() - succeeded_at).total_seconds() / 3600, 1) if succeeded_at else None
    check = BackupsCheck(status="warning", scheduled=scheduled, interval_hours=interval, last_run=last,
                         last_success_at=succeeded_at, last_success_age_hours=age)
    off = "" if scheduled else " (BACKUP_DIR is not set: no backup is scheduled)"
    if last is None:
        message = ("no backup has run yet" if scheduled else
                   "no backup has ever run and BACKUP_DIR is not set: set it, or run `magnetiq backup PATH`")
    elif last.status == "failed":
        message = f"the last backup failed: {(last.error or 'no reason recorded')[:200]}"
    elif age is None:
        message = "no backup has succeeded yet" + off
    elif age > 2 * interval:
        message = f"the last successful backup is {age} h old, more than twice BACKUP_INTERVAL_HOURS{off}"
    else:
        running = "a backup is running; " if last.status == "running" else ""
        return check.model_copy(update={"status": "healthy", "message": f"{running}last succeeded {age} h ago{off}"})
    return check.model_copy(update={"message": message})


async def system_health(database: Database, settings: Settings, probes: SystemProbes, *,
                        started_at: datetime) -> SystemHealth:
    checks = SystemChecks(**await run_checks({
        "database": (DatabaseCheck, check_database(database, settings, probes)),
        "disk": (DiskCheck, check_disk(settings, probes)),
        "upload_dir": (UploadDirCheck, check_upload_dir(settings, probes)),
        "smtp": (SmtpCheck, check_smtp(settings, probes)),
        "workers": (WorkersCheck, check_workers(database, settings, probes)),
        "queues": (QueuesCheck, check_queues(database, probes)),
        "providers": (ProvidersCheck, check_providers(database, settings)),
        "backups": (BackupsCheck, check_backups(database, settings, probes)),
    }, time_limit=probes.check_timeout))
    return SystemHealth(
        status=worst(getattr(checks, name).status for name in SystemChecks.model_fields),
        version=health_api.VERSION, started_at=started_at,
        uptime_seconds=round((probes.clock() - started_at).total_seconds(), 1),
        python_version=platform.python_version(), checks=checks,
    )
