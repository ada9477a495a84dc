from typing import Literal

from pydantic import BaseModel

Status = Literal["healthy", "degraded", "unhealthy"]


class HealthBase(BaseModel):
    status: Status
    version: str
    environment: str


class Health(HealthBase):
    detail: str | None = None  # only when unhealthy: what is wrong and what to run


class Check(BaseModel):
    status: Status
    detail: str | None = None


class DatabaseCheck(Check):
    revision: str | None = None
    head_revision: str | None = None
    migrations_at_head: bool = False
    size_bytes: int | None = None


class DetailedHealth(HealthBase):
    database: DatabaseCheck
    upload_dir: Check
