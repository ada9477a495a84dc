"""What the whitepapers slice brings to the app (read by src/magnetiq/registry.py)."""

from features.whitepapers import api, models
from features.whitepapers.router import router
from shared.slices import Slice

SLICE = Slice(
    name="whitepapers",
    routers=(router,),
    models=models,
    jobs=api.JOBS,
    mail_templates=api.MAIL_TEMPLATES,
    openapi_tags=(
        {"name": "whitepapers", "description": "Whitepapers behind a lead form, downloaded by signed link."},
    ),
)
