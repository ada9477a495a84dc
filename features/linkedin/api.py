"""The linkedin slice's api (what other slices and the shell may import)."""

from features.linkedin.accounts import accounts_health
from features.linkedin.service import post_queue
from features.linkedin.worker import JOBS

__all__ = ["JOBS", "accounts_health", "post_queue"]
