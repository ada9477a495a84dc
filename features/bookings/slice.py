"""What the bookings slice brings to the app (read by src/magnetiq/registry.py)."""

from features.bookings import api, models
from features.bookings.router import public_router, router
from shared.slices import Slice

SLICE = Slice(
    name="bookings",
    routers=(public_router, router),
    models=models,
    jobs=api.JOBS,
    mail_templates=api.MAIL_TEMPLATES,
    subscriptions=api.SUBSCRIPTIONS,
    settings_check=api.settings_problem,
    openapi_tags=({"name": "bookings", "description": "Consultation bookings in business hours."},),
)
