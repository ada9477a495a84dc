from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.health_checks import CheckResult

Status = Literal["healthy", "degraded", "unhealthy"]

_HEALTH_EXAMPLE = {"status": "healthy", "version": "2.0.0", "environment": "production"}


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


class ServiceCheck(CheckResult):
    """One service of /health/detailed: `healthy`, `warning` or `unhealthy`, and when not healthy why."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "healthy"},
                                        {"status": "unhealthy", "message": "upload directory is not writable"}]}
    )


class DatabaseService(ServiceCheck):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"status": "healthy", "type": "SQLite", "version": "3.40.1", "size_bytes": 1331200},
        {"status": "healthy", "type": "PostgreSQL", "version": "15.18", "size_bytes": 9073123},
    ]})

    type: str = "SQLite"  # or "PostgreSQL"
    version: str | None = None  # of the engine (SQLite's library, PostgreSQL's server)
    size_bytes: int | None = None  # SQLite's main file; PostgreSQL's pg_database_size


class FilesystemService(ServiceCheck):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "healthy", "database_size_mb": 1.27}]})

    database_size_mb: float | None = None  # SQLite: the file and its write-ahead log; PostgreSQL: pg_database_size


class MigrationsService(ServiceCheck):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"status": "healthy", "revision": "0006", "head_revision": "0006", "at_head": True}
    ]})

    revision: str | None = None
    head_revision: str | None = None
    at_head: bool | None = None


_SERVICES_EXAMPLE = {
    "database": {"status": "healthy", "type": "SQLite", "version": "3.40.1", "size_bytes": 1331200},
    "filesystem": {"status": "healthy", "database_size_mb": 1.27},
    "migrations": {"status": "healthy", "revision": "0006", "head_revision": "0006", "at_head": True},
    "upload_dir": {"status": "healthy"},
}


class Services(BaseModel):
    """The seed's `database` and `filesystem`, then the checks beyond the seed."""

    model_config = ConfigDict(json_schema_extra={"examples": [_SERVICES_EXAMPLE]})

    database: DatabaseService
    filesystem: FilesystemService
    migrations: MigrationsService
    upload_dir: ServiceCheck


class DetailedHealth(HealthBase):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {**_HEALTH_EXAMPLE, "services": _SERVICES_EXAMPLE}
    ]})

    services: Services
