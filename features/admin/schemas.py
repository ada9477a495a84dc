from datetime import datetime
from typing import Any

from pydantic import BaseModel

from features.health.api import DetailedHealth


class MailOutboxCounts(BaseModel):
    pending: int
    sent: int
    failed: int
    skipped: int  # rendered from a template that found nothing to send any more


class MailDeliveryError(BaseModel):
    """The newest failed delivery attempt of the outbox (addresses in its reason replaced by `<address>`)."""

    outbox_id: int
    template: str | None  # None: a message queued already rendered
    status: str  # pending: it will be retried at next_attempt_at; failed: attempts used up
    attempts: int
    failed_at: datetime
    next_attempt_at: datetime | None
    reason: str


class SystemHealth(BaseModel):
    health: DetailedHealth
    started_at: datetime
    uptime_seconds: float
    python_version: str
    worker_enabled_in_api: bool
    workers: list[dict[str, Any]]
    jobs: list[dict[str, Any]]
    mail_outbox: MailOutboxCounts
    last_mail_error: MailDeliveryError | None
