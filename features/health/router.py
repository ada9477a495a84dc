from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from features.health import service
from features.health.schemas import DetailedHealth, Health
from shared.config import SettingsDep
from shared.db import DatabaseDep
from shared.errors import error_responses
from shared.health_checks import SingleFlight

router = APIRouter(prefix="/api/v1/health", tags=["health"], responses=error_responses(500))


async def get_schema_probe(request: Request) -> service.SchemaProbe:
    """The process's probe, made on first use (its memory of a healthy answer is per process)."""
    state = request.app.state
    if getattr(state, "schema_probe", None) is None:
        state.schema_probe = service.SchemaProbe()
    return state.schema_probe


SchemaProbeDep = Annotated[service.SchemaProbe, Depends(get_schema_probe)]


async def get_health_flights(request: Request) -> SingleFlight:
    """The process's threads for blocking probes: one per probe at most, even while a disk hangs."""
    state = request.app.state
    if getattr(state, "health_flights", None) is None:
        state.health_flights = SingleFlight()
    return state.health_flights


HealthFlightsDep = Annotated[SingleFlight, Depends(get_health_flights)]
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


@router.get("/detailed", response_model=DetailedHealth, response_model_exclude_none=True)
async def read_detailed_health(
    database: DatabaseDep, settings: SettingsDep, flights: HealthFlightsDep
) -> DetailedHealth:
    """Readiness in the seed's shape: `services` database, filesystem, migrations at head, upload directory writable.

    Each service answers `healthy`, `warning` or `unhealthy` within 5 s; never a path or an error text."""
    return await service.detailed_health(database, settings, flights)
