"""System health's body: `status` (the worst check) and `checks`, each with a status, a message and its details.

A check's details are optional: one that timed out answers only `unhealthy` and "timed out after N s"."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from features.email.api import CampaignBacklog
from shared.examples import example_of
from shared.health_checks import CheckResult, CheckStatus
from shared.social_schemas import PostQueue, SocialAccountsHealth


def _examples(*examples: dict) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


class WorkerRunner(BaseModel):
    model_config = _examples({
        "worker_id": "web-1:4242:9f2c4a1b", "hostname": "web-1", "pid": 4242, "mode": "in-process",
        "jobs": ["deliver_mail", "publish_due_pages"], "started_at": "2030-01-20T06:00:00Z",
        "last_seen_at": "2030-01-20T08:30:10Z", "stale": False,
    })

    worker_id: str
    hostname: str
    pid: int
    mode: str  # in-process (WORKER_ENABLED in an API process) or standalone (`magnetiq worker`)
    jobs: list[str]
    started_at: datetime
    last_seen_at: datetime
    stale: bool  # no heartbeat for longer than a job's lease plus two polls: stopped or stuck


class JobState(BaseModel):
    model_config = _examples({
        "name": "deliver_mail", "next_run_at": "2030-01-20T08:30:15Z", "locked_until": None,
        "last_started_at": "2030-01-20T08:30:10Z", "last_finished_at": "2030-01-20T08:30:11Z", "last_error": None,
    })

    name: str
    next_run_at: datetime
    locked_until: datetime | None
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_error: str | None


class MailQueue(BaseModel):
    model_config = _examples({"due": 0, "pending": 2, "sent": 148, "failed": 1, "failed_last_day": 0, "skipped": 3})

    due: int  # pending and due now: what the worker should be sending
    pending: int
    sent: int
    failed: int  # attempts used up
    failed_last_day: int  # of those, failed in the last 24 hours (they make the check a warning)
    skipped: int  # rendered from a template that found nothing to send any more


_MAIL_ERROR_EXAMPLE = {
    "outbox_id": 311, "template": "webinars.confirmation", "status": "pending", "attempts": 2,
    "failed_at": "2030-01-20T08:29:58Z", "next_attempt_at": "2030-01-20T08:33:58Z",
    "reason": "SMTPRecipientsRefused: {'<address>': (550, '5.1.1 Mailbox unavailable')}",
}


class MailDeliveryError(BaseModel):
    """The newest failed delivery attempt of the outbox (addresses in its reason replaced by `<address>`)."""

    model_config = _examples(_MAIL_ERROR_EXAMPLE)

    outbox_id: int
    template: str | None  # None: a message queued already rendered
    status: str  # pending: it will be retried at next_attempt_at; failed: attempts used up
    attempts: int
    failed_at: datetime
    next_attempt_at: datetime | None
    reason: str


class BackupRunView(BaseModel):
    """One row of `backup_runs`: a backup's outcome, by name (never the directory it went to)."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": 41, "trigger": "scheduled", "status": "succeeded", "started_at": "2030-01-20T03:00:00Z",
        "finished_at": "2030-01-20T03:00:04Z", "name": "magnetiq-20300120T030000Z", "size_bytes": 52_428_800,
        "revision": "0012", "error": None,
    }]})

    id: int
    trigger: str  # manual (`magnetiq backup`) or scheduled (the worker, BACKUP_DIR)
    status: str  # running, succeeded, failed
    started_at: datetime
    finished_at: datetime | None
    name: str | None
    size_bytes: int | None
    revision: str | None
    error: str | None


class DatabaseCheck(CheckResult):
    model_config = _examples({
        "status": "healthy", "message": "reachable, at migration head, quick_check ok", "reachable": True,
        "engine": "SQLite", "version": "3.40.1", "size_bytes": 52_428_800, "wal_bytes": 4_120_032, "quick_check": "ok",
        "quick_check_at": "2030-01-20T08:28:00Z", "revision": "0012", "head_revision": "0012",
        "migrations_at_head": True,
    })

    reachable: bool | None = None
    engine: str | None = None  # "SQLite" or "PostgreSQL"
    version: str | None = None  # SQLite's library or PostgreSQL's server
    size_bytes: int | None = None  # SQLite: the file; PostgreSQL: pg_database_size
    wal_bytes: int | None = None  # SQLite's write-ahead log; none on PostgreSQL (the server manages its WAL)
    # "ok", "running" (its answer comes with a later call) or the first problem: SQLite's PRAGMA quick_check,
    # PostgreSQL's data checksum failures counted in pg_stat_database (none to count when checksums are off)
    quick_check: str | None = None
    quick_check_at: datetime | None = None  # when that answer was had: it is kept a few minutes per process
    revision: str | None = None
    head_revision: str | None = None
    migrations_at_head: bool | None = None


class DiskCheck(CheckResult):
    model_config = _examples({"status": "healthy", "message": "38.2% free", "filesystem_of": "database",
                              "free_bytes": 41_020_000_000, "total_bytes": 107_374_182_400, "free_percent": 38.2})

    # SQLite: the database file's; PostgreSQL: UPLOAD_DIR's (the server's disk is the server's to watch)
    filesystem_of: Literal["database", "upload_dir"] | None = None

    free_bytes: int | None = None
    total_bytes: int | None = None
    free_percent: float | None = None


class UploadDirCheck(CheckResult):
    model_config = _examples({"status": "healthy", "message": "writable", "writable": True})

    writable: bool | None = None


class SmtpCheck(CheckResult):
    model_config = _examples({"status": "healthy", "message": "answered EHLO and NOOP", "host": "smtp.example.com",
                              "port": 587, "elapsed_ms": 41.7})

    host: str | None = None
    port: int | None = None
    elapsed_ms: float | None = None


class WorkersCheck(CheckResult):
    model_config = _examples({"status": "healthy", "message": "1 runner", "worker_enabled_in_api": True,
                              "runners": [example_of(WorkerRunner)], "jobs": [example_of(JobState)]})

    worker_enabled_in_api: bool | None = None
    runners: list[WorkerRunner] | None = None
    jobs: list[JobState] | None = None


class QueuesCheck(CheckResult):
    model_config = _examples({
        "status": "warning", "message": "1 post unknown", "mail": example_of(MailQueue),
        "last_mail_error": _MAIL_ERROR_EXAMPLE, "campaigns": example_of(CampaignBacklog),
        "posts": {"linkedin": example_of(PostQueue), "twitter": {"due": 0, "unknown": 0}},
    })

    mail: MailQueue | None = None
    last_mail_error: MailDeliveryError | None = None
    campaigns: CampaignBacklog | None = None
    posts: dict[str, PostQueue] | None = None  # per network


class ProvidersCheck(CheckResult):
    model_config = _examples({"status": "warning", "message": "linkedin: 1 expiring",
                              "linkedin": example_of(SocialAccountsHealth),
                              "twitter": {"configured": False, "active": 0, "expiring": 0, "reconnect_required": 0}})

    linkedin: SocialAccountsHealth | None = None
    twitter: SocialAccountsHealth | None = None


class BackupsCheck(CheckResult):
    model_config = _examples({
        "status": "healthy", "message": "last backup succeeded 5.5 h ago", "scheduled": True, "interval_hours": 24,
        "last_run": example_of(BackupRunView), "last_success_at": "2030-01-20T03:00:04Z", "last_success_age_hours": 5.5,
    })

    scheduled: bool | None = None  # BACKUP_DIR is set: the worker backs up every interval_hours
    interval_hours: float | None = None
    last_run: BackupRunView | None = None
    last_success_at: datetime | None = None
    last_success_age_hours: float | None = None


class SystemChecks(BaseModel):
    model_config = _examples({
        "database": example_of(DatabaseCheck), "disk": example_of(DiskCheck), "upload_dir": example_of(UploadDirCheck),
        "smtp": example_of(SmtpCheck), "workers": example_of(WorkersCheck), "queues": example_of(QueuesCheck),
        "providers": example_of(ProvidersCheck), "backups": example_of(BackupsCheck),
    })

    database: DatabaseCheck
    disk: DiskCheck
    upload_dir: UploadDirCheck
    smtp: SmtpCheck
    workers: WorkersCheck
    queues: QueuesCheck
    providers: ProvidersCheck
    backups: BackupsCheck


class SystemHealth(BaseModel):
    model_config = _examples({
        "status": "warning", "version": "2.0.0", "started_at": "2030-01-20T06:00:00Z", "uptime_seconds": 9015.4,
        "python_version": "3.11.9", "checks": example_of(SystemChecks),
    })

    status: CheckStatus  # the worst of the checks
    version: str
    started_at: datetime
    uptime_seconds: float
    python_version: str
    checks: SystemChecks
