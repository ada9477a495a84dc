"""Tables of the admin slice: the record of every backup, manual or scheduled."""

from datetime import datetime

from sqlalchemy import CheckConstraint
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime, utcnow


class BackupRun(SQLModel, table=True):
    """One backup attempt: system health shows the newest one's age and outcome."""

    __tablename__ = "backup_runs"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'succeeded', 'failed')", name="status_known"),
        CheckConstraint("trigger IN ('manual', 'scheduled')", name="trigger_known"),
    )

    id: int | None = Field(default=None, primary_key=True)
    trigger: str = Field(max_length=16)
    status: str = Field(default="running", max_length=16)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The backup's own name (a directory or .tar under BACKUP_DIR or the path given), never its parent path.
    name: str | None = Field(default=None, max_length=255)
    size_bytes: int | None = None
    database_sha256: str | None = Field(default=None, max_length=64)
    revision: str | None = Field(default=None, max_length=32)
    error: str | None = Field(default=None, max_length=500)
