"""What the admin slice brings to the app (read by src/magnetiq/registry.py)."""

from features.admin import models
from features.admin.analytics_router import router as analytics_router
from features.admin.backups import SCHEDULED_BACKUP_JOB
from features.admin.maintenance import MAINTENANCE_JOBS
from features.admin.router import router
from shared.slices import Slice

SLICE = Slice(
    name="admin",
    routers=(router, analytics_router),
    models=models,
    jobs=(SCHEDULED_BACKUP_JOB, *MAINTENANCE_JOBS),
    openapi_tags=({"name": "admin", "description": "User administration, system health, analytics and backups."},),
)
