"""What the media slice brings to the app (read by src/magnetiq/registry.py)."""

from features.media import api, models
from features.media.public import router as public_router
from features.media.router import router
from shared.slices import Slice

SLICE = Slice(
    name="media",
    routers=(public_router, router),
    models=models,
    jobs=api.JOBS,
    openapi_tags=(
        {"name": "media", "description": "Uploads: verified, deduplicated files (staff)."},
        {"name": "public media", "description": "Uploaded files at stable public URLs."},
    ),
)
