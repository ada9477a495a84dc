"""Every table of the application, for Alembic and test setup.

Plain imports, no try/except: a slice whose models fail to import must fail loudly.
"""

from sqlmodel import SQLModel

import features.auth.models
import features.bookings.models
import features.media.models
import features.pages.models
import features.webinars.models
import features.whitepapers.models
import shared.cache
import shared.db
import shared.jobs
import shared.mail  # noqa: F401

metadata = SQLModel.metadata

MODEL_MODULES = (
    features.auth.models, features.bookings.models, features.media.models, features.pages.models,
    features.webinars.models, features.whitepapers.models,
)
