from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from features.health import service
from features.health.schemas import DetailedHealth, Health
from shared.config import SettingsDep
from shared.db import DatabaseDep
from shared.errors import error_responses

router = APIRouter(prefix="/api/v1/health", tags=["health"], responses=error_responses(500))


async def get_schema_probe(request: Request) -> service.SchemaProbe:
    """The process's probe, made on first use (its memory of a healthy answer is per process)."""
    state = request.app.state
    if getattr(state, "schema_probe", None) is None:
        state.schema_probe = service.SchemaProbe()
    return state.schema_probe


SchemaProbeDep = Annotated[service.SchemaProbe, Depends(get_schema_probe)]
UNHEALTHY = {
    "model": Health,
    "description": "Unhealthy: the database is unreachable or its schema is not at the newest migration",
}


@router.get("", response_model=Health, response_model_exclude_none=True, responses={503: UNHEALTHY})
async def read_health(
    database: DatabaseDep, settings: SettingsDep, probe: SchemaProbeDep, response: Response
) -> Health:
    """Liveness: the process answers and its database is at the newest migration (503 when not).

    `degraded` (still 200): the database is there but every connection was busy for the pool timeout."""
    health = await service.basic_health(database, settings, probe)
    if health.status == "unhealthy":
        response.status_code = 503
    return health


@router.get("/detailed", response_model=DetailedHealth)
async def read_detailed_health(database: DatabaseDep, settings: SettingsDep) -> DetailedHealth:
    """Readiness: database reachable, migrations at head, upload directory writable."""
    return await service.detailed_health(database, settings)
