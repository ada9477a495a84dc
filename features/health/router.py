from fastapi import APIRouter

from features.health import service
from features.health.schemas import DetailedHealth, Health
from shared.config import SettingsDep
from shared.db import DatabaseDep
from shared.errors import error_responses

router = APIRouter(prefix="/api/v1/health", tags=["health"], responses=error_responses(500))


@router.get("", response_model=Health)
async def read_health(settings: SettingsDep) -> Health:
    """Liveness: the process answers."""
    return service.basic_health(settings)


@router.get("/detailed", response_model=DetailedHealth)
async def read_detailed_health(database: DatabaseDep, settings: SettingsDep) -> DetailedHealth:
    """Readiness: database reachable, migrations at head, upload directory writable."""
    return await service.detailed_health(database, settings)
