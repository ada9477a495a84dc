"""What the health slice brings to the app (read by src/magnetiq/registry.py)."""

from features.health.router import router
from shared.slices import Slice

SLICE = Slice(
    name="health",
    routers=(router,),
    openapi_tags=({"name": "health", "description": "Liveness and readiness."},),
)
