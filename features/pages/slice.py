"""What the pages slice brings to the app (read by src/magnetiq/registry.py)."""

from features.pages import api, models
from features.pages.public import PublicPageFastPath
from features.pages.public import router as public_router
from features.pages.router import router
from shared.slices import Slice

SLICE = Slice(
    name="pages",
    routers=(public_router, router),  # public reads first: routes are matched in order
    models=models,
    jobs=api.JOBS,
    middleware=(PublicPageFastPath,),  # answers cached public pages before routing
    openapi_tags=(
        {"name": "pages", "description": "Multilingual pages with revisions (staff)."},
        {"name": "public pages", "description": "Published pages for visitors, cached."},
    ),
)
