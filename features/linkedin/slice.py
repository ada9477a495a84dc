"""What the linkedin slice brings to the app (read by src/magnetiq/registry.py)."""

from features.linkedin import api, models
from features.linkedin.router import router
from shared.slices import Slice

SLICE = Slice(
    name="linkedin",
    routers=(router,),
    models=models,
    jobs=api.JOBS,
    openapi_tags=({"name": "linkedin", "description": "LinkedIn: connected members, posts, scheduling, engagement."},),
)
