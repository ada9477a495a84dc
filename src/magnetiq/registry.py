"""Every slice of the application and every table: what the shell, Alembic and the tests read.

Adding a slice: create `features/<name>/` with a `slice.py` that declares `SLICE`, and add its
name to `SLICE_NAMES`. Plain imports, no try/except: a slice that fails to import fails loudly.
"""

import importlib

from sqlmodel import SQLModel

import shared.db
import shared.jobs
import shared.mail
import shared.oauth
import shared.ratelimit  # noqa: F401 (the kernel's own tables)
from shared.slices import Slice

# In the order their routes are matched: the hottest (public reads, lead forms) first.
SLICE_NAMES = (
    "pages", "media", "webinars", "whitepapers", "bookings", "email", "linkedin", "twitter", "health", "auth", "admin",
)

SLICES: tuple[Slice, ...] = tuple(importlib.import_module(f"features.{name}.slice").SLICE for name in SLICE_NAMES)

metadata = SQLModel.metadata

MODEL_MODULES = tuple(slice_.models for slice_ in SLICES if slice_.models is not None)
