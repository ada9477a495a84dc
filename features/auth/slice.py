"""What the auth slice brings to the app (read by src/magnetiq/registry.py)."""

from features.auth import api, models
from features.auth.router import router
from shared.slices import Slice

SLICE = Slice(
    name="auth",
    routers=(router,),
    models=models,
    jobs=api.JOBS,
    mail_templates=api.MAIL_TEMPLATES,
    openapi_tags=({"name": "auth", "description": "Logins, tokens, password resets."},),
)
