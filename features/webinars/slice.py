"""What the webinars slice brings to the app (read by src/magnetiq/registry.py)."""

from features.webinars import api, models
from features.webinars.router import router
from shared.slices import Slice

SLICE = Slice(
    name="webinars",
    routers=(router,),
    models=models,
    jobs=api.JOBS,
    mail_templates=api.MAIL_TEMPLATES,
    openapi_tags=({"name": "webinars", "description": "Webinars and their registrations (lead capture)."},),
)
