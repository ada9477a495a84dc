from datetime import datetime
from typing import Any

from pydantic import BaseModel

from features.health.api import DetailedHealth


class MailOutboxCounts(BaseModel):
    pending: int
    sent: int
    failed: int
    skipped: int  # rendered from a template that found nothing to send any more


class SystemHealth(BaseModel):
    health: DetailedHealth
    started_at: datetime
    uptime_seconds: float
    python_version: str
    worker_enabled_in_api: bool
    workers: list[dict[str, Any]]
    jobs: list[dict[str, Any]]
    mail_outbox: MailOutboxCounts
