from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from features.health.api import DetailedHealth
from shared.examples import example_of
from shared.social_schemas import SocialAccountsHealth

_OUTBOX_EXAMPLE = {"pending": 2, "sent": 148, "failed": 1, "skipped": 3}


class MailOutboxCounts(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_OUTBOX_EXAMPLE]})

    pending: int
    sent: int
    failed: int
    skipped: int  # rendered from a template that found nothing to send any more


_MAIL_ERROR_EXAMPLE = {
    "outbox_id": 311, "template": "webinars.confirmation", "status": "pending", "attempts": 2,
    "failed_at": "2030-01-20T08:29:58Z", "next_attempt_at": "2030-01-20T08:33:58Z",
    "reason": "SMTPRecipientsRefused: {'<address>': (550, '5.1.1 Mailbox unavailable')}",
}


class MailDeliveryError(BaseModel):
    """The newest failed delivery attempt of the outbox (addresses in its reason replaced by `<address>`)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_MAIL_ERROR_EXAMPLE]})

    outbox_id: int
    template: str | None  # None: a message queued already rendered
    status: str  # pending: it will be retried at next_attempt_at; failed: attempts used up
    attempts: int
    failed_at: datetime
    next_attempt_at: datetime | None
    reason: str


class SystemHealth(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "health": example_of(DetailedHealth),
                    "started_at": "2030-01-20T06:00:00Z",
                    "uptime_seconds": 9015.4,
                    "python_version": "3.11.9",
                    "worker_enabled_in_api": True,
                    "workers": [
                        {
                            "worker_id": "web-1:4242:9f2c4a1b", "hostname": "web-1", "pid": 4242, "mode": "in-process",
                            "jobs": ["deliver_mail", "publish_due_pages"], "started_at": "2030-01-20T06:00:00Z",
                            "last_seen_at": "2030-01-20T08:30:10Z",
                        }
                    ],
                    "jobs": [
                        {
                            "name": "deliver_mail", "next_run_at": "2030-01-20T08:30:15Z", "locked_until": None,
                            "last_started_at": "2030-01-20T08:30:10Z", "last_finished_at": "2030-01-20T08:30:11Z",
                            "last_error": None,
                        }
                    ],
                    "mail_outbox": _OUTBOX_EXAMPLE,
                    "last_mail_error": _MAIL_ERROR_EXAMPLE,
                    "social_accounts": {"linkedin": example_of(SocialAccountsHealth),
                                        "twitter": example_of(SocialAccountsHealth)},
                }
            ]
        }
    )

    health: DetailedHealth
    started_at: datetime
    uptime_seconds: float
    python_version: str
    worker_enabled_in_api: bool
    workers: list[dict[str, Any]]
    jobs: list[dict[str, Any]]
    mail_outbox: MailOutboxCounts
    last_mail_error: MailDeliveryError | None
    social_accounts: dict[str, SocialAccountsHealth]  # per network: expiring tokens show here before they die
