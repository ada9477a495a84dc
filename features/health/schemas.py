from typing import Literal

from pydantic import BaseModel, ConfigDict

Status = Literal["healthy", "degraded", "unhealthy"]

_HEALTH_EXAMPLE = {"status": "healthy", "version": "2.0.0", "environment": "production"}
_CHECK_EXAMPLE = {"status": "healthy", "detail": None}
_DATABASE_EXAMPLE = {
    "status": "healthy", "detail": None, "revision": "0006", "head_revision": "0006", "migrations_at_head": True,
    "size_bytes": 1_327_104,
}


class HealthBase(BaseModel):
    status: Status
    version: str
    environment: str


class Health(HealthBase):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                _HEALTH_EXAMPLE,
                {**_HEALTH_EXAMPLE, "status": "unhealthy",
                 "detail": "the database schema is not at the newest migration; run `magnetiq db upgrade`"},
            ]
        }
    )

    detail: str | None = None  # only when unhealthy: what is wrong and what to run


class Check(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [_CHECK_EXAMPLE, {"status": "unhealthy", "detail": "upload directory is not writable"}]
        }
    )

    status: Status
    detail: str | None = None


class DatabaseCheck(Check):
    model_config = ConfigDict(json_schema_extra={"examples": [_DATABASE_EXAMPLE]})

    revision: str | None = None
    head_revision: str | None = None
    migrations_at_head: bool = False
    size_bytes: int | None = None


class DetailedHealth(HealthBase):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**_HEALTH_EXAMPLE, "database": _DATABASE_EXAMPLE, "upload_dir": _CHECK_EXAMPLE}]
        }
    )

    database: DatabaseCheck
    upload_dir: Check
