"""What the email slice brings to the app (read by src/magnetiq/registry.py)."""

from features.email import api, models
from features.email.contacts_router import router as contacts_router
from features.email.public import router as public_router
from features.email.router import router
from features.email.tracking import router as tracking_router
from shared.slices import Slice

SLICE = Slice(
    name="email",
    routers=(public_router, tracking_router, contacts_router, router),
    models=models,
    jobs=api.JOBS,
    mail_templates=api.MAIL_TEMPLATES,
    subscriptions=api.SUBSCRIPTIONS,
    openapi_tags=(
        {"name": "email", "description": "Email marketing: contacts (double opt-in), templates, campaigns."},
    ),
)
